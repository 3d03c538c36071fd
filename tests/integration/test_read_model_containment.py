"""One account whose stored history cannot be applied blocks nothing else: the read
models serve every other account, its own lots, gains and holdings refuse (exit 1)
naming the event, its audit trail still reads, and a rebuild rebuilds the others."""

from __future__ import annotations

import json
import zlib

import pytest
from sqlalchemy import create_engine, inspect, select, text, update

from lotline.application.commands import LoadScenario
from lotline.application.handlers.setup import load_scenario
from lotline.application.lotline import Lotline
from lotline.domain.account import Account
from lotline.domain.security import Security
from lotline.projections.tracking import Projection, ReadModels

FIRM = """
as_of: 2026-01-02
users:
  - {id: root, role: admin}
  - {id: ipc, role: policy_committee}
  - {id: alice, role: advisor}
  - {id: bob, role: advisor}
  - {id: olivia, role: overlay_manager}
securities:
  - {symbol: VTI, asset_class: us_equity, wash_group: us-total-market}
  - {symbol: BND, asset_class: bonds}
prices:
  2026-03-02: {VTI: "110.00", BND: "70.00"}
models:
  - {id: us, weights: {VTI: "1"}}
  - {id: bonds, weights: {BND: "1"}}
templates:
  - id: t
    classes:
      us_equity: {weight: "0.6", model: us, drift_limit: "0.05"}
      bonds: {weight: "0.4", model: bonds, drift_limit: "0.05"}
accounts:
  - {id: A, advisor: alice, template: t, opened: 2026-01-02, cash: "100000"}
  - {id: B, advisor: bob, template: t, opened: 2026-01-02, cash: "100000"}
trades:
  - {account: A, date: 2026-02-02, side: buy, symbol: VTI, quantity: '20', price: '100'}
  - {account: B, date: 2026-02-02, side: buy, symbol: VTI, quantity: '30', price: '100'}
  - {account: A, date: 2026-02-16, side: sell, symbol: VTI, quantity: '10', price: '110'}
  - {account: B, date: 2026-02-16, side: sell, symbol: VTI, quantity: '5', price: '120'}
  - {account: A, date: 2026-02-20, side: buy, symbol: BND, quantity: '10', price: '70'}
  - {account: B, date: 2026-02-20, side: buy, symbol: BND, quantity: '10', price: '70'}
"""

AS_OF = ("--as-of", "2026-03-02")
READS = (("lots", *AS_OF), ("gains", "--year", "2026"), ("holdings", *AS_OF))


def _answers(cli, account: str) -> dict[str, dict]:
    answers = {}
    for read in (*READS, ("audit",)):
        result = cli(read[0], account, *read[1:], "--json")
        assert result.code == 0, (read, result.err)
        answers[read[0]] = result.json()
    return answers


def _rows_of(url: str, account: str) -> dict[str, list]:
    """Every read-model row that belongs to the account."""
    engine = create_engine(url)
    try:
        out = {}
        with engine.connect() as c:
            for table in sorted(inspect(engine).get_table_names()):
                if table.startswith("lotline_") or table in ("projection_tracking", "read_model_failures"):
                    continue
                columns = {col["name"] for col in inspect(engine).get_columns(table)}
                if "account_id" not in columns:
                    continue
                rows = c.execute(text(f"SELECT * FROM {table} WHERE account_id = :a"), {"a": account})
                out[table] = sorted(tuple(str(v) for v in r) for r in rows)
        return out
    finally:
        engine.dispose()


def _a_trade(url: str, side: str = "sell", symbol: str = "VTI") -> tuple[int, dict]:
    """A trade of A's as stored: its position and its JSON."""
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            rows = c.execute(text("SELECT id, topic, state FROM lotline_events ORDER BY id")).all()
    finally:
        engine.dispose()
    for position, topic, state in rows:
        if topic.endswith("TradeRecorded"):
            raw = bytes(state)
            data = json.loads(zlib.decompress(raw) if raw[:1] == b"x" else raw)
            if data["side"] == side and data["symbol"] == symbol and data["trade_id"].startswith("A/"):
                return position, data
    raise AssertionError(f"A has no {side} of {symbol}")


def _store(url: str, position: int, state: bytes) -> None:
    """Overwrite one stored event behind Lotline's back."""
    from eventsourcing_sqlalchemy.models import StoredEventRecord  # noqa: F401  (the table's shape)

    engine = create_engine(url)
    try:
        with engine.begin() as c:
            c.execute(text("UPDATE lotline_events SET state = :state WHERE id = :id"), {"state": state, "id": position})
    finally:
        engine.dispose()


def _drop_read_models(url: str) -> None:
    from lotline.projections import audit, decisions, directory, lots, tracking

    engine = create_engine(url)
    try:
        for metadata in (decisions.metadata, lots.metadata, audit.metadata, directory.metadata, tracking.tracking_metadata):
            metadata.drop_all(engine)
    finally:
        engine.dispose()


def _refused_naming(result, position: int, what: str) -> None:
    assert result.code == 1, result.out + result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"lotline: refused: account A cannot be read: event {position} (TradeRecorded)"), lines[0]
    assert what in lines[0], lines[0]


def _later_trade_for_b(cli) -> None:
    result = cli.load("trades:\n  - {account: B, date: 2026-03-02, side: buy, symbol: BND, quantity: '4', price: '70'}\n",
                      "--as", "olivia")
    assert result.code == 0, result.err


def test_a_sale_the_account_cannot_make_blocks_only_that_account(cli):
    assert cli.load(FIRM).code == 0
    b_before = _answers(cli, "B")
    b_rows = _rows_of(cli.url, "B")
    position, data = _a_trade(cli.url)
    data["quantity"] = "35"  # A holds 20
    _store(cli.url, position, json.dumps(data, separators=(",", ":")).encode())

    rebuilt = cli("projections", "rebuild", "--as", "root")
    assert rebuilt.code == 0, rebuilt.err
    assert "1 event could not be applied" in rebuilt.out and "refuse until it is repaired: A." in rebuilt.out
    assert f"event {position} (TradeRecorded, account A), lots read model: quantity: cannot sell 35 VTI" in rebuilt.out

    assert _rows_of(cli.url, "B") == b_rows
    assert _answers(cli, "B") == b_before
    for read in READS:
        _refused_naming(cli(read[0], "A", *read[1:]), position,
                        "cannot be applied to the lots read model: quantity: cannot sell 35 VTI: the account holds 20")
    _refused_naming(cli("orders", "--account", "A"), position, "cannot sell 35 VTI")
    assert cli("orders", "--json").code == 0
    assert cli("orders", "--account", "B", "--json").code == 0

    trail = cli("audit", "A", "--json")
    assert trail.code == 0, trail.err
    sale = next(e for e in trail.json()["events"] if e["position"] == position)
    assert sale["type"] == "TradeRecorded" and sale["data"]["quantity"] == "35"
    assert any(e["type"] == "TradeRecorded" and e["position"] > position for e in trail.json()["events"])

    # Later events go on: B's are applied; A's reads still refuse.
    _later_trade_for_b(cli)
    lots = cli("lots", "B", *AS_OF, "--json").json()["lots"]
    assert sorted((lot["symbol"], lot["quantity"]) for lot in lots) == [("BND", "10"), ("BND", "4"), ("VTI", "25")]
    assert cli("lots", "A", *AS_OF).code == 1

    # Repaired, and rebuilt: A reads again.
    data["quantity"] = "10"
    _store(cli.url, position, json.dumps(data, separators=(",", ":")).encode())
    again = cli("projections", "rebuild", "--as", "root", "--json")
    assert again.code == 0 and again.json()["failures"] == []
    assert cli("lots", "A", *AS_OF).code == 0


def test_an_event_that_cannot_be_decoded_still_shows_in_the_audit_trail(cli):
    assert cli.load(FIRM).code == 0
    b_before = _answers(cli, "B")
    b_rows = _rows_of(cli.url, "B")
    position, _ = _a_trade(cli.url)
    _store(cli.url, position, b"\x00 not an event {")
    _drop_read_models(cli.url)  # every read model rebuilt by the next command, from the first event

    assert _answers(cli, "B") == b_before
    assert _rows_of(cli.url, "B") == b_rows
    for read in READS:
        _refused_naming(cli(read[0], "A", *read[1:]), position, "cannot be read:")

    trail = cli("audit", "A", "--json")
    assert trail.code == 0, trail.err
    events = trail.json()["events"]
    (bad,) = [e for e in events if e["position"] == position]
    assert bad["type"] == "TradeRecorded"
    assert bad["data"]["error"].startswith("cannot be read:")
    assert [e["type"] for e in events].count("TradeRecorded") == 3  # the later ones too
    assert cli("audit", "A").code == 0  # the table too

    rebuilt = cli("projections", "rebuild", "--as", "root", "--json")
    assert rebuilt.code == 0, rebuilt.err
    failures = rebuilt.json()["failures"]
    assert {f["position"] for f in failures} == {position}
    assert {f["account"] for f in failures} == {"A"}
    assert _rows_of(cli.url, "B") == b_rows
    assert _answers(cli, "B") == b_before


def test_a_compressed_event_with_a_broken_stream_is_contained(sqlite_cli):
    cli = sqlite_cli
    assert cli.load(FIRM).code == 0
    assert cli("audit", "B").code == 0  # the read models caught up
    b_rows = _rows_of(cli.url, "B")
    position, _ = _a_trade(cli.url)
    later, _ = _a_trade(cli.url, "buy", "BND")
    _store(cli.url, position, b"x\x9c not zlib at all")
    # And a later event of A's whose type no longer exists.
    engine = create_engine(cli.url)
    try:
        with engine.begin() as c:
            c.execute(text("UPDATE lotline_events SET topic = 'domain.account:Account.Vanished' WHERE id = :id"),
                      {"id": later})
    finally:
        engine.dispose()
    rebuilt = cli("projections", "rebuild", "--as", "root", "--json")
    assert rebuilt.code == 0, rebuilt.err
    failures = rebuilt.json()["failures"]
    assert {(f["position"], f["account"]) for f in failures} == {(position, "A"), (later, "A")}
    # A type no read model knows is every read model's failure but the audit trail's (and
    # the lots read model's, which skips A since its first failure).
    assert {f["read_model"] for f in failures if f["position"] == position} == {"lots"}
    assert {f["read_model"] for f in failures if f["position"] == later} == {"directory", "decisions"}
    assert _rows_of(cli.url, "B") == b_rows
    _refused_naming(cli("gains", "A", "--year", "2026"), position, "cannot be read: error: Error -3")
    trail = cli("audit", "A", "--json").json()["events"]
    assert [e["type"] for e in trail if e["position"] in (position, later)] == ["TradeRecorded", "Vanished"]


class _Probe(Projection):
    """Reports account A as failing at a split; raises on every trade of `raise_for`."""

    name = "probe"

    def __init__(self, name: str, raise_for: str | None = None) -> None:
        from sqlalchemy import MetaData

        self.name = name
        self.metadata = MetaData()
        self.seen: dict[int, tuple[str, object]] = {}  # position: (type, originator)
        self.raise_for = raise_for

    def apply(self, session, event, position):
        if isinstance(event, Security.SplitRecorded) and self.raise_for is None:
            self.report_failure("A", "cannot split A's lots")
        elif isinstance(event, Account.TradeRecorded) and event.originator_id == Account.id_for(self.raise_for or "-"):
            raise ValueError("no such trade")
        self.seen[position] = (type(event).__name__, event.originator_id)

    def trades(self, account: str) -> list[int]:
        return sorted(p for p, (kind, oid) in self.seen.items() if kind == "TradeRecorded" and oid == Account.id_for(account))


def test_a_projection_reports_one_account_of_an_event_and_skips_it_from_then_on(sqlite_url, tmp_path):
    from lotline.projections.audit import AuditTrail, audit_events
    from lotline.projections.directory import Directory

    with Lotline(sqlite_url) as lotline:
        for name, body, user in (
            ("firm", FIRM, "system"),  # the bootstrap of the empty store
            ("split", "splits:\n  - {symbol: VTI, date: 2026-02-25, ratio: '2'}\n", "olivia"),
            ("later", "trades:\n"
                      "  - {account: A, date: 2026-03-02, side: buy, symbol: BND, quantity: '1', price: '70'}\n"
                      "  - {account: B, date: 2026-03-02, side: buy, symbol: BND, quantity: '2', price: '70'}\n", "olivia"),
        ):
            path = tmp_path / f"{name}.yaml"
            path.write_text(body)
            load_scenario(LoadScenario(path=path, user=user), lotline)
        reporter, raiser = _Probe("reporter"), _Probe("raiser", raise_for="B")
        models = ReadModels(lotline.store.recorder, lotline.store.mapper, [Directory(), AuditTrail(), reporter, raiser])
        models.catch_up()
        failures = models.failures()
        assert [(f["read_model"], f["account"], f["type"]) for f in failures] == [
            ("raiser", "B", "TradeRecorded"), ("reporter", "A", "SplitRecorded")]
        first_b_trade, split = failures[0]["position"], failures[1]["position"]
        assert failures[1]["error"] == "cannot split A's lots"
        # The reporter applied the split (for the others) and then none of A's events.
        assert reporter.seen[split][0] == "SplitRecorded"
        assert [p > split for p in reporter.trades("A")] == [False, False, False]
        assert [p > split for p in reporter.trades("B")] == [False, False, False, True]
        assert reporter.failed_accounts == {"A"}
        # The raiser failed B at B's first trade and was given none of B's trades after it.
        assert raiser.trades("B") == [] and len(raiser.trades("A")) == 4
        assert raiser.failed_accounts == {"B"}
        with lotline.store.recorder.transaction(commit=False) as session:
            # The other read models applied it.
            trail = set(session.execute(select(audit_events.c.position).where(audit_events.c.account_id == "B")).scalars())
        assert first_b_trade in trail
        # In a later batch the failed accounts are still skipped.
        path = tmp_path / "last.yaml"
        path.write_text("trades:\n  - {account: B, date: 2026-03-03, side: buy, symbol: BND, quantity: '3', price: '70'}\n"
                        "  - {account: A, date: 2026-03-03, side: buy, symbol: BND, quantity: '3', price: '70'}\n")
        load_scenario(LoadScenario(path=path, user="olivia"), lotline)
        models.catch_up()
        assert raiser.trades("B") == [] and len(raiser.trades("A")) == 5
        assert len(reporter.trades("A")) == 3 and len(reporter.trades("B")) == 5
        # A rebuild forgets the failures and tries again.
        reporter.__init__("reporter")
        raiser.__init__("raiser", raise_for="B")
        models.rebuild()
        assert reporter.failed_accounts == {"A"} and raiser.failed_accounts == {"B"}
        assert len(models.failures()) == 2


def test_a_read_model_that_cannot_apply_an_event_stops_no_catch_up(sqlite_url, tmp_path, monkeypatch):
    """The lots read model raising on one account's event: the others' rows are written,
    the catch-up completes, and only that account is failed."""
    from lotline.projections.lots import LotsAndGains, lots

    with Lotline(sqlite_url) as lotline:
        path = tmp_path / "firm.yaml"
        path.write_text(FIRM)
        load_scenario(LoadScenario(path=path), lotline)
        original = LotsAndGains.apply

        def apply(self, session, event, position):
            if isinstance(event, Account.TradeRecorded) and event.originator_id == Account.id_for("A") and event.side == "sell":
                raise RuntimeError("boom")
            return original(self, session, event, position)

        monkeypatch.setattr(LotsAndGains, "apply", apply)
        lotline.read_models.rebuild()
        (failure,) = lotline.read_models.failures()
        assert (failure["account"], failure["read_model"], failure["error"]) == ("A", "lots", "RuntimeError: boom")
        with lotline.store.recorder.transaction(commit=False) as session:
            held = dict(session.execute(select(lots.c.symbol, lots.c.quantity).where(lots.c.account_id == "B")).all())
        assert held == {"VTI": "25", "BND": "10"}
