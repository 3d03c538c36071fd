"""`lotline verify`: every stored event is chained to the one before it, in the same
transaction as the event, and the head is kept apart; any edit, deletion, insertion or
reordering made directly in the store is found, at its position."""

from __future__ import annotations

import json
import re
import zlib

import pytest
from sqlalchemy import create_engine, text

from tests.scenarios import CONTRACT_EXAMPLE

HEAD = re.compile(r"^(\d+) events verified, head (\d+):([0-9a-f]{64})$")


@pytest.fixture
def firm(cli):
    assert cli.load(CONTRACT_EXAMPLE).code == 0
    return cli


def _sql(url: str, statement: str, **params):
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            result = connection.execute(text(statement), params)
            return result.all() if result.returns_rows else None
    finally:
        engine.dispose()


def _state(url: str, position: int) -> dict:
    (row,) = _sql(url, "SELECT state FROM lotline_events WHERE id = :p", p=position)
    raw = bytes(row[0])
    return json.loads(zlib.decompress(raw) if raw[:1] == b"x" else raw)


def _write_state(url: str, position: int, state: dict) -> None:
    _sql(url, "UPDATE lotline_events SET state = :s WHERE id = :p", s=json.dumps(state, separators=(",", ":")).encode(),
         p=position)


def _position_of(url: str, topic_suffix: str) -> int:
    rows = _sql(url, "SELECT id FROM lotline_events WHERE topic LIKE :t ORDER BY id", t=f"%{topic_suffix}")
    return rows[0][0]


def _verify(cli, *extra):
    return cli("verify", "--as", "carol", *extra)


def test_an_untouched_history_verifies_and_prints_its_head(firm):
    result = _verify(firm)
    assert result.code == 0, result.err
    match = HEAD.match(result.out.strip().splitlines()[-1])
    (count,) = _sql(firm.url, "SELECT count(*) FROM lotline_events")[0]
    assert match and int(match.group(1)) == count and int(match.group(2)) == count
    document = _verify(firm, "--json").json()
    assert document["intact"] is True and document["events"] == count
    assert document["head"] == f"{match.group(2)}:{match.group(3)}"
    assert _verify(firm, "--expect-head", document["head"]).code == 0


@pytest.mark.parametrize("tamper", ["actor", "trade_price", "swap_versions", "reorder"])
def test_an_event_edited_in_the_store_is_found_at_its_position(firm, tamper):
    url = firm.url
    trade = _position_of(url, "Account.TradeRecorded")
    if tamper == "actor":
        state = _state(url, trade)
        _write_state(url, trade, {**state, "actor": "mallory"})
        expected = trade
    elif tamper == "trade_price":
        state = _state(url, trade)
        _write_state(url, trade, {**state, "price": "999.99"})
        expected = trade
    elif tamper == "swap_versions":
        rows = _sql(url, "SELECT id, originator_id, originator_version FROM lotline_events WHERE id >= :p ORDER BY id",
                    p=trade)
        account = rows[0][1]
        first, second = [r for r in rows if r[1] == account][:2]
        _sql(url, "UPDATE lotline_events SET originator_version = -1 WHERE id = :i", i=first[0])
        _sql(url, "UPDATE lotline_events SET originator_version = :v WHERE id = :i", v=first[2], i=second[0])
        _sql(url, "UPDATE lotline_events SET originator_version = :v WHERE id = :i", v=second[2], i=first[0])
        expected = first[0]
    else:  # two neighbouring events trade places
        a, b = _sql(url, "SELECT id, state, topic FROM lotline_events WHERE id IN (:x, :y) ORDER BY id", x=trade, y=trade + 1)
        _sql(url, "UPDATE lotline_events SET state = :s, topic = :t WHERE id = :i", s=b[1], t=b[2], i=a[0])
        _sql(url, "UPDATE lotline_events SET state = :s, topic = :t WHERE id = :i", s=a[1], t=a[2], i=b[0])
        expected = trade
    result = _verify(firm)
    assert result.code == 1
    assert f"position {expected}" in result.err and len(result.err.strip().splitlines()) == 1


def test_a_deleted_event_is_found_even_the_newest(firm):
    url = firm.url
    (newest,) = _sql(url, "SELECT max(id) FROM lotline_events")[0]
    _sql(url, "DELETE FROM lotline_events WHERE id = :p", p=newest)
    result = _verify(firm)
    assert result.code == 1 and f"position {newest}" in result.err
    _sql(url, "DELETE FROM event_chain WHERE position = :p", p=newest)  # covering the tracks: the head still knows
    result = _verify(firm)
    assert result.code == 1 and f"position {newest}" in result.err and "head" in result.err


def test_an_inserted_event_is_found(firm):
    url = firm.url
    (newest,) = _sql(url, "SELECT max(id) FROM lotline_events")[0]
    row = _sql(url, "SELECT originator_id, originator_version, topic, state FROM lotline_events WHERE id = :p", p=newest)[0]
    _sql(url, "INSERT INTO lotline_events (id, originator_id, originator_version, topic, state) "
              "VALUES (:i, :o, :v, :t, :s)", i=newest + 1, o=row[0], v=row[1] + 1000, t=row[2], s=row[3])
    result = _verify(firm)
    assert result.code == 1 and f"position {newest + 1}" in result.err


def test_a_head_kept_outside_the_store_finds_a_rewritten_chain(firm):
    before = _verify(firm, "--json").json()["head"]
    assert firm.load("cash_movements:\n  - {account: ACC-1, date: 2026-01-13, amount: '10.00'}\n", "--as", "alice").code == 0
    after = _verify(firm, "--json").json()["head"]
    assert after != before
    result = _verify(firm, "--expect-head", before)
    assert result.code == 1 and before in result.err


def test_a_tampered_market_snapshot_is_found(firm, tmp_path):
    from tests.market import closes, write_wide_csv
    from tests.integration.test_rebalance_behaviour import date_of

    prices = write_wide_csv(tmp_path / "p.csv", closes(["VTI", "ITOT", "SCHB", "BND"], date_of("2026-03-02"), 30))
    assert firm("prices", "load", str(prices), "--as", "olivia").code == 0
    assert firm("rebalance", "--date", "2026-03-02", "--as", "olivia").code == 0
    (digest, payload) = _sql(firm.url, "SELECT digest, payload FROM market_snapshots")[0]
    _sql(firm.url, "UPDATE market_snapshots SET payload = :p WHERE digest = :d", p=payload.replace("1", "2", 1), d=digest)
    result = _verify(firm)
    assert result.code == 1 and digest[:12] in result.err
    _sql(firm.url, "UPDATE market_snapshots SET payload = :p WHERE digest = :d", p=payload, d=digest)
    assert _verify(firm).code == 0


def test_only_compliance_admin_and_system_verify(firm):
    for user, code in (("carol", 0), ("root", 0), ("system", 0), ("alice", 1), ("olivia", 1)):
        assert firm("verify", "--as", user).code == code, user


def test_a_history_recorded_before_the_chain_is_reported_then_sealed_by_an_admin(firm):
    url = firm.url
    # A store written before the chain existed: its events have no chain entries and no head.
    _sql(url, "DELETE FROM event_chain")
    _sql(url, "DELETE FROM chain_head")
    (before,) = _sql(url, "SELECT max(id) FROM lotline_events")[0]
    assert firm.load("cash_movements:\n  - {account: ACC-1, date: 2026-01-13, amount: '10.00'}\n", "--as", "alice").code == 0
    result = _verify(firm)
    assert result.code == 0, result.err
    assert f"The chain starts at position {before + 1}" in result.out
    assert _verify(firm, "--seal").code == 1  # compliance may not seal
    sealed = firm("verify", "--seal", "--as", "root", "--json")
    assert sealed.code == 0, sealed.err
    document = sealed.json()
    assert document["chained"] == document["events"] and document["first_chained_position"] == 1
    _write_state(url, 2, {**_state(url, 2), "actor": "mallory"})  # an early event is now covered
    assert _verify(firm).code == 1


def test_sealing_never_covers_up_a_tampered_chain(firm):
    trade = _position_of(firm.url, "Account.TradeRecorded")
    _write_state(firm.url, trade, {**_state(firm.url, trade), "price": "1.00"})
    result = firm("verify", "--seal", "--as", "root")
    assert result.code == 1 and f"position {trade}" in result.err


def test_times_are_recorded_by_the_store_clock_and_never_go_back(firm, monkeypatch):
    from datetime import datetime, timezone

    from lotline.application.lotline import Lotline

    monkeypatch.setenv("LOTLINE_NOW", "2019-06-03T10:00:00+00:00")  # the business date only
    assert firm.load("cash_movements:\n  - {account: ACC-1, date: 2026-01-14, amount: '10.00'}\n", "--as", "alice").code == 0
    times = [datetime.fromisoformat(e["timestamp"]) for e in firm("audit", "ACC-1", "--as", "carol", "--json").json()["events"]]
    assert times == sorted(times) and times[-1].year >= 2026
    with Lotline(firm.url, clock=lambda: datetime(2019, 1, 2, tzinfo=timezone.utc)) as slow:
        assert slow.clock() >= times[-1]  # a machine clock behind the store does not take it back


def test_a_new_sqlite_store_is_readable_by_its_owner_only(sqlite_cli, tmp_path):
    import os
    import stat

    assert sqlite_cli.load(CONTRACT_EXAMPLE).code == 0
    path = sqlite_cli.url.removeprefix("sqlite:///")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
