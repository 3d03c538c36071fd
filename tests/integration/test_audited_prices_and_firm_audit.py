"""Prices are recorded facts (who loaded which closes, when, from which file), corrected
only with a reason; decisions and fills keep the prices they used; reasons are required;
`audit --firm` shows every event of the store to compliance and admin."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import csv
import hashlib
import io

import pytest
from sqlalchemy import create_engine, text

from tests.helpers import store_contents
from tests.integration.test_rebalance_behaviour import DAY, FINALS, HOLDINGS, POLICY, account, date_of
from tests.market import closes, write_wide_csv

NEXT = "2026-03-03"
SYMBOLS = ["VTI", "ITOT", "SCHB", "VOO", "BND", "AGG", "VGIT"]
CORRECT = ("--correct", "--reason", "vendor corrected the close")


@pytest.fixture
def firm(cli, tmp_path):
    assert cli.load(POLICY).code == 0
    prices = write_wide_csv(tmp_path / "prices.csv", closes(SYMBOLS, date_of(DAY), 300, finals=FINALS))
    loaded = cli("prices", "load", str(prices), "--as", "olivia")
    assert loaded.code == 0, loaded.err
    return cli  # the cli fixture replays every decision the test made


def price_events(cli):
    trail = cli("audit", "--firm", "--kind", "prices", "--as", "carol", "--json")
    assert trail.code == 0, trail.err
    return trail.json()["events"]


def close_file(cli, name, *rows):
    return cli.write(name, "date,symbol,close\n" + "".join(f"{d},{s},{c}\n" for d, s, c in rows))


def refused(cli, code, *args):
    """The command exits `code` with one line on stderr and records nothing."""
    before = store_contents(cli.url)
    result = cli(*args)
    assert result.code == code, (result.code, result.err)
    assert len(result.err.strip().splitlines()) == 1, result.err
    assert store_contents(cli.url) == before
    return result.err.strip()


def vti_close(cli, on=DAY):
    result = cli("holdings", "H", "--as-of", on, "--json")
    assert result.code == 0, result.err
    holdings = result.json()
    return next(p["price"] for p in holdings["positions"] if p["symbol"] == "VTI")


# --- prices as events ----------------------------------------------------------------------

def test_a_price_load_records_who_when_the_source_digest_and_the_closes(firm):
    path = close_file(firm, "next.csv", (NEXT, "VTI", "301.50"), (NEXT, "BND", "73.10"))
    before = len(price_events(firm))
    loaded = firm("prices", "load", str(path), "--as", "olivia", "--json")
    assert loaded.code == 0, loaded.err
    assert loaded.json()["recorded"] == 2
    events = price_events(firm)[before:]
    assert [(e["type"], e["id"]) for e in events] == [("ClosesRecorded", "BND"), ("ClosesRecorded", "VTI")]
    vti = events[1]
    assert (vti["actor"], vti["role"], vti["kind"]) == ("olivia", "overlay_manager", "prices")
    # When: by the store's clock (LOTLINE_NOW pins only the business date).
    recorded = datetime.fromisoformat(vti["timestamp"])
    assert abs(datetime.now(timezone.utc) - recorded) < timedelta(minutes=10)
    assert vti["data"]["source"] == "next.csv"
    assert vti["data"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert vti["data"]["closes"] == [[NEXT, "301.50"]]

    # The same file again, or the same closes written otherwise, records nothing.
    for again in (path, close_file(firm, "same.csv", (NEXT, "VTI", "301.5"), (NEXT, "BND", "73.100"))):
        before = store_contents(firm.url)
        result = firm("prices", "load", str(again), "--as", "olivia", "--json")
        assert result.code == 0, result.err
        assert (result.json()["recorded"], result.json()["unchanged"]) == (0, 2)
        assert store_contents(firm.url) == before


def test_a_close_that_differs_from_the_recorded_one_is_refused_naming_both(firm):
    path = close_file(firm, "differs.csv", (NEXT, "BND", "73.10"), (DAY, "VTI", "301.00"))
    err = refused(firm, 1, "prices", "load", str(path), "--as", "olivia")
    assert err.startswith("lotline: refused: file: close of VTI on 2026-03-02 is recorded as 300.00, not 301.00"), err
    assert "--correct --reason" in err
    # Nothing of the file was recorded, the new BND close neither.
    assert all(e["data"]["source"] != "differs.csv" for e in price_events(firm))


def test_a_correction_records_old_and_new_with_the_reason_and_replay_still_holds(firm):
    account(firm, HOLDINGS)
    account(firm, '  - {id: N, advisor: alice, template: balanced, opened: 2026-02-27, cash: "100000"}\n')
    decided = firm("rebalance", "--date", DAY, "--as", "olivia", "--json")
    assert decided.code == 0, decided.err
    decision = next(d for d in decided.json()["decisions"] if d["account"] == "N")
    vti_buy = next(o for o in firm("orders", "--account", "N", "--json").json()["orders"] if o["symbol"] == "VTI")
    assert vti_buy["price"] == "300.00"

    path = close_file(firm, "correction.csv", (DAY, "VTI", "310.00"))
    # No reason, a blank one: bad input. Not the overlay manager: refused.
    assert "reason: required" in refused(firm, 2, "prices", "load", str(path), "--as", "olivia", "--correct")
    assert "reason: required" in refused(firm, 2, "prices", "load", str(path), "--as", "olivia", "--correct",
                                         "--reason", "  ")
    for user in ("alice", "ipc", "carol", "root", "system"):
        refused(firm, 1, "prices", "load", str(path), "--as", user, *CORRECT)

    corrected = firm("prices", "load", str(path), "--as", "olivia", *CORRECT, "--json")
    assert corrected.code == 0, corrected.err
    assert (corrected.json()["recorded"], corrected.json()["corrected"]) == (0, 1)
    event = price_events(firm)[-1]
    assert (event["type"], event["id"], event["actor"], event["reason"]) == (
        "CloseCorrected", "VTI", "olivia", "vendor corrected the close")
    assert (event["data"]["date"], event["data"]["old"], event["data"]["new"]) == (DAY, "300.00", "310.00")
    assert event["data"]["source"] == "correction.csv"

    # Reads use the corrected close; the decision made before replays identically.
    assert vti_close(firm) == "310.00"
    replayed = firm("replay", decision["decision_id"], "--json")
    assert replayed.code == 0 and replayed.json()["identical"] is True
    assert vti_buy == next(o for o in firm("orders", "--account", "N", "--json").json()["orders"]
                           if o["symbol"] == "VTI")
    # A new analysis on a later day values at the corrected close.
    assert firm("settings", "max_price_age_days", "1", "--as", "olivia", "--reason", "no closes yet").code == 0
    account(firm, '  - {id: M, advisor: alice, template: balanced, opened: 2026-02-27, cash: "100000"}\n')
    assert firm("rebalance", "--date", NEXT, "--account", "M", "--as", "olivia").code == 0
    later = next(o for o in firm("orders", "--account", "M", "--date", NEXT, "--json").json()["orders"]
                 if o["symbol"] == "VTI")
    assert later["price"] == "310.00"
    # The same correction again records nothing.
    before = store_contents(firm.url)
    assert firm("prices", "load", str(path), "--as", "olivia", *CORRECT).code == 0
    assert store_contents(firm.url) == before


def test_a_correction_after_the_fill_leaves_the_recorded_fill_price(firm):
    account(firm, '  - {id: N, advisor: alice, template: balanced, opened: 2026-02-27, cash: "100000"}\n')
    assert firm("rebalance", "--date", DAY, "--as", "olivia").code == 0
    assert firm("approve", "--date", DAY, "--as", "olivia").code == 0
    assert firm("fill", "--date", DAY, "--as", "olivia").code == 0
    filled = {o["symbol"]: o["fill_price"] for o in firm("orders", "--account", "N", "--json").json()["orders"]}
    lots = firm("lots", "N", "--json").json()
    assert filled["VTI"] == "300.00"
    path = close_file(firm, "correction.csv", (DAY, "VTI", "310.00"))
    assert firm("prices", "load", str(path), "--as", "olivia", *CORRECT).code == 0
    assert {o["symbol"]: o["fill_price"] for o in firm("orders", "--account", "N", "--json").json()["orders"]} == filled
    assert firm("lots", "N", "--json").json() == lots
    fills = [e for e in firm("audit", "N", "--json").json()["events"] if e["type"] == "OrderFilled"]
    assert "300.00" in {e["data"]["price"] for e in fills}


def test_scenario_prices_are_recorded_the_same_way(cli):
    assert cli.load(POLICY).code == 0
    path = cli.write("closes.yaml", f'prices:\n  {DAY}: {{VTI: "300.00", BND: "73.00"}}\n')
    loaded = cli("load", str(path), "--as", "olivia", "--json")
    assert loaded.code == 0, loaded.err
    assert loaded.json()["prices"] == 2
    events = price_events(cli)
    assert [(e["id"], e["actor"], e["data"]["source"]) for e in events] == [("BND", "olivia", "closes.yaml"),
                                                                            ("VTI", "olivia", "closes.yaml")]
    assert {e["data"]["sha256"] for e in events} == {hashlib.sha256(path.read_bytes()).hexdigest()}
    # The same close in another file: no price event (the file itself is recorded as loaded).
    again = cli.write("again.yaml", f'prices:\n  {DAY}: {{VTI: "300"}}\n')
    assert cli("load", str(again), "--as", "olivia").code == 0
    assert price_events(cli) == events
    # A different close: refused, naming the symbol, the date and both values.
    differs = cli.write("differs.yaml", f'prices:\n  {DAY}: {{VTI: "305.00", BND: "73.00"}}\n')
    err = refused(cli, 1, "load", str(differs), "--as", "olivia")
    assert f"prices.{DAY}.VTI: close of VTI on {DAY} is recorded as 300.00, not 305.00" in err, err


def test_projections_rebuild_rebuilds_the_closes(firm):
    account(firm, HOLDINGS)
    path = close_file(firm, "correction.csv", (DAY, "VTI", "310.00"))
    assert firm("prices", "load", str(path), "--as", "olivia", *CORRECT).code == 0
    table = _prices_table(firm.url)
    assert (date_of(DAY).isoformat(), "VTI", "310.00") in {(str(d), s, c) for s, d, c, _ in table}
    engine = create_engine(firm.url)
    with engine.begin() as connection:  # the read model lost
        connection.execute(text("DELETE FROM prices"))
    engine.dispose()
    rebuilt = firm("projections", "rebuild", "--as", "root")
    assert rebuilt.code == 0, rebuilt.err
    assert _prices_table(firm.url) == table
    assert vti_close(firm) == "310.00"


def test_closes_a_store_kept_as_rows_before_price_events_are_recorded_as_events(cli):
    assert cli.load(POLICY).code == 0
    account(cli, HOLDINGS)
    engine = create_engine(cli.url)
    with engine.begin() as connection:  # the table as stores before price events had it
        connection.execute(text("DROP TABLE prices"))
        connection.execute(text("CREATE TABLE prices (id INTEGER PRIMARY KEY, date DATE NOT NULL, "
                                "symbol VARCHAR(32) NOT NULL, close VARCHAR(40) NOT NULL)"))
        rows = [(DAY, "VTI", "299.00"), ("2026-02-27", "VTI", "298.00")] + [(DAY, s, FINALS[s]) for s in SYMBOLS]
        for n, (day, symbol, close) in enumerate(rows, start=1):  # VTI's close of DAY twice: the later row wins
            connection.execute(text("INSERT INTO prices (id, date, symbol, close) VALUES (:n, :d, :s, :c)"),
                               {"n": n, "d": date_of(day), "s": symbol, "c": close})
    engine.dispose()
    assert vti_close(cli) == "300.00"  # the latest row won, as it did
    events = price_events(cli)
    assert [(e["id"], e["actor"], e["role"], e["data"]["source"]) for e in events] == [
        (symbol, "system", "system", "before price events") for symbol in sorted(SYMBOLS)]
    assert events[-1]["data"]["closes"] == [["2026-02-27", "298.00"], [DAY, "300.00"]]
    # From then on they are recorded facts like any other.
    path = close_file(cli, "differs.csv", (DAY, "VTI", "301.00"))
    assert "recorded as 300.00, not 301.00" in refused(cli, 1, "prices", "load", str(path), "--as", "olivia")
    before = store_contents(cli.url)
    assert cli("audit", "--firm", "--as", "carol").code == 0  # opened again: nothing more to adopt
    assert store_contents(cli.url) == before


def _prices_table(url):
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return sorted(tuple(r) for r in connection.execute(text("SELECT symbol, date, close, version FROM prices")))
    finally:
        engine.dispose()


# --- reasons -------------------------------------------------------------------------------

def test_reject_settings_cancel_and_corrections_need_a_reason(firm):
    account(firm, '  - {id: N, advisor: alice, template: balanced, opened: 2026-02-27, cash: "100000"}\n')
    assert firm("rebalance", "--date", DAY, "--as", "olivia").code == 0
    path = close_file(firm, "correction.csv", (DAY, "VTI", "310.00"))
    for blank in ((), ("--reason", ""), ("--reason", "   ")):
        for command in (("reject", "--date", DAY), ("settings", "trade_threshold_bp", "7"),
                        ("cancel", "--date", DAY), ("prices", "load", str(path), "--correct")):
            err = refused(firm, 2, *command, *blank, "--as", "olivia")
            assert err.startswith("lotline: bad input: reason: required"), (command, err)
    rejected = firm("reject", "--date", DAY, "--reason", "client on holiday", "--as", "olivia")
    assert rejected.code == 0, rejected.err
    assert firm("settings", "trade_threshold_bp", "7", "--reason", "fewer small trades", "--as", "olivia").code == 0
    trail = firm("audit", "--firm", "--as", "carol", "--json").json()["events"]
    assert next(e for e in trail if e["type"] == "OrdersRejected")["reason"] == "client on holiday"
    assert next(e for e in trail if e["type"] == "SettingChanged")["reason"] == "fewer small trades"


# --- audit --firm ----------------------------------------------------------------------------

@pytest.fixture
def busy_firm(firm):
    account(firm, HOLDINGS)
    assert firm("settings", "trade_threshold_bp", "7", "--reason", "fewer small trades", "--as", "olivia").code == 0
    assert firm("rebalance", "--date", DAY, "--as", "olivia").code == 0
    return firm


def test_the_firm_audit_holds_every_event_of_the_store_oldest_first(busy_firm):
    firm = busy_firm
    document = firm("audit", "--firm", "--as", "carol", "--json").json()
    events = document["events"]
    positions = [e["position"] for e in events]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    engine = create_engine(firm.url)
    with engine.connect() as connection:
        stored = list(connection.execute(text("SELECT id FROM lotline_events ORDER BY id")).scalars())
    engine.dispose()
    assert positions == stored
    assert {e["kind"] for e in events} == {"user", "security", "model", "template", "settings", "prices", "account",
                                           "decision", "scenario_file"}
    for e in events:
        assert {"position", "kind", "id", "type", "timestamp", "effective_date", "actor", "role", "reason",
                "data"} <= set(e)
    by_kind = {}
    for e in events:
        by_kind.setdefault(e["kind"], e)  # the first event of each kind
    assert (by_kind["user"]["id"], by_kind["user"]["type"]) == ("root", "Added")
    assert by_kind["security"]["id"] == "VTI" and by_kind["model"]["id"] == "us-core"
    assert by_kind["template"]["id"] == "balanced" and by_kind["settings"]["id"] == "firm"
    assert by_kind["decision"]["id"] == f"H/{DAY}" and by_kind["decision"]["account"] == "H"
    assert "inputs" not in by_kind["decision"]["data"]  # a decision appears as its summary
    assert all(e.get("account") == "H" for e in events if e["kind"] in ("account", "decision"))
    assert all("account" not in e for e in events if e["kind"] not in ("account", "decision"))
    # The account's own trail is the firm's rows of that account, in the same shape as ever.
    own = firm("audit", "H", "--as", "carol", "--json").json()["events"]
    keys = ("position", "type", "timestamp", "effective_date", "actor", "role", "on_behalf_of", "auth", "reason", "data")
    assert own == [{k: e[k] for k in keys} for e in events if e.get("account") == "H"]


def test_the_firm_audit_filters_by_kind_actor_and_effective_date(busy_firm):
    firm = busy_firm
    read = lambda *args: firm("audit", "--firm", *args, "--as", "root", "--json").json()["events"]  # noqa: E731
    everything = read()
    users = read("--kind", "user")
    assert users and {e["kind"] for e in users} == {"user"}
    assert users == [e for e in everything if e["kind"] == "user"]
    assert read("--kind", "decision") == [e for e in everything if e["kind"] == "decision"]
    olivia = read("--actor", "olivia")
    assert olivia == [e for e in everything if e["actor"] == "olivia"]
    assert {e["kind"] for e in olivia} == {"prices", "settings", "decision"}
    assert read("--actor", "olivia", "--kind", "settings") == [e for e in olivia if e["kind"] == "settings"]
    assert read("--actor", "nobody") == []
    policy = read("--until", "2025-12-31")  # the policy file's as_of is 2025-01-02
    assert policy and all(e["effective_date"] <= "2025-12-31" for e in policy)
    assert {e["kind"] for e in policy} >= {"user", "security", "model", "template"}
    recent = read("--since", "2026-01-01", "--until", DAY)
    assert recent == [e for e in everything if "2026-01-01" <= e["effective_date"] <= DAY]


def test_the_firm_audit_prints_csv_with_a_header(busy_firm):
    firm = busy_firm
    events = firm("audit", "--firm", "--kind", "prices", "--as", "carol", "--json").json()["events"]
    printed = firm("audit", "--firm", "--kind", "prices", "--as", "carol", "--csv")
    assert printed.code == 0, printed.err
    rows = list(csv.reader(io.StringIO(printed.out)))
    assert rows[0] == ["position", "kind", "id", "account", "type", "timestamp", "effective_date", "actor", "role",
                       "reason", "data", "on_behalf_of", "auth"]
    assert [int(r[0]) for r in rows[1:]] == [e["position"] for e in events]
    assert {r[1] for r in rows[1:]} == {"prices"}


@pytest.mark.parametrize("user,code", [("carol", 0), ("root", 0), ("system", 0), ("alice", 1), ("olivia", 1),
                                       ("ipc", 1), ("mallory", 1)])
def test_the_firm_audit_is_for_compliance_admin_and_system(firm, user, code):
    result = firm("audit", "--firm", "--as", user)
    assert result.code == code, result.err
    if code:
        assert result.err.startswith("lotline: refused:") and result.out == ""


@pytest.mark.parametrize("args,message", [
    (("--firm", "--kind", "trades"), "kind: unknown kind 'trades' (one of user, security, model, template, settings, "
                                     "prices, account, decision, scenario_file)"),
    (("H", "--firm"), "give an account or --firm, not both"),
    (("--kind", "user"), "add --firm"),
    ((), "account: required"),
    (("--firm", "--since", "yesterday"), "since: must be a date YYYY-MM-DD"),
])
def test_bad_firm_audit_options_are_bad_input(firm, args, message):
    result = firm("audit", *args, "--as", "carol")
    assert result.code == 2 and message in result.err, result.err
