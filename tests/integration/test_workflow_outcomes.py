"""Every day completes: each decision is released, rejected, cancelled, filled, left
unfilled or goes stale as a whole, with the reason recorded; one that cannot move never
stops the others; a decision that did not go out can be redone the same day."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import create_engine, text

from tests.helpers import store_contents
from tests.integration.test_rebalance_behaviour import DAY, FINALS, HOLDINGS, POLICY, account, date_of
from tests.market import closes, write_wide_csv

NEXT = "2026-03-03"
EQUITY_ONLY = """
templates:
  - id: equity-only
    classes:
      us_equity: {weight: "0.98", model: us-core, max_modification: "0.05", drift_limit: "0.03"}
      cash:      {weight: "0.02", drift_limit: "0.02"}
"""
CASH_ACCOUNTS = """  - {id: N, advisor: alice, template: balanced, opened: 2026-02-27, cash: "100000"}
  - {id: E, advisor: alice, template: equity-only, opened: 2026-02-27, cash: "100000"}
"""


@pytest.fixture
def firm(cli, tmp_path):
    assert cli.load(POLICY).code == 0
    assert cli.load(EQUITY_ONLY, "--as", "ipc").code == 0
    symbols = ["VTI", "ITOT", "SCHB", "VOO", "BND", "AGG", "VGIT"]
    prices = write_wide_csv(tmp_path / "prices.csv", closes(symbols, date_of(DAY), 300, finals=FINALS))
    assert cli("prices", "load", str(prices), "--as", "olivia").code == 0
    return cli  # the cli fixture replays every decision the test made


def _next_day_closes(cli, symbols, scale="1.00"):
    lines = ["date,symbol,close"] + [f"{NEXT},{s},{(Decimal(FINALS[s]) * Decimal(scale)).quantize(Decimal('0.01'))}"
                                     for s in symbols]
    path = cli.write("next.csv", "\n".join(lines) + "\n")
    assert cli("prices", "load", str(path), "--as", "olivia").code == 0


def _orders(cli, account_id, on=DAY):
    return cli("orders", "--account", account_id, "--date", on, "--json").json()["orders"]


def _decide_next_day(cli):
    assert cli("settings", "max_price_age_days", "3", "--reason", "closes arrive late", "--as", "olivia").code == 0
    account(cli, CASH_ACCOUNTS)
    decided = cli("rebalance", "--date", NEXT, "--as", "olivia", "--json")
    assert decided.code == 0, decided.err
    assert {d["account"]: d["trade"] for d in decided.json()["decisions"]} == {"N": True, "E": True}
    assert cli("approve", "--date", NEXT, "--as", "olivia").code == 0


def test_a_decision_without_closes_at_fill_is_left_unfilled_and_the_others_fill(firm):
    _decide_next_day(firm)
    _next_day_closes(firm, ["VTI", "ITOT", "SCHB", "VOO", "BND", "AGG"])  # no VGIT close on the fill day
    filled = firm("fill", "--date", NEXT, "--as", "olivia", "--json")
    assert filled.code == 0, filled.err
    document = filled.json()
    assert [u["account"] for u in document["unfilled"]] == ["N"], document["unfilled"]
    assert "no close on 2026-03-03 for VGIT" in document["unfilled"][0]["reason"]
    assert {o["status"] for o in _orders(firm, "N", NEXT)} == {"unfilled"}
    assert all("VGIT" in o["unfilled_reason"] for o in _orders(firm, "N", NEXT))
    assert firm("lots", "N", "--as", "carol", "--json").json()["lots"] == []
    equity = _orders(firm, "E", NEXT)
    assert {o["status"] for o in equity} == {"filled"}
    assert all(o["fill_price"] == FINALS[o["symbol"]] for o in equity)
    assert document["trades"] == len(equity)


def test_a_decision_that_would_leave_cash_negative_at_the_fill_price_fills_nothing(firm):
    _decide_next_day(firm)
    # Every close 10% above the one the decision was made on: the purchases no longer fit the cash.
    _next_day_closes(firm, ["VTI", "ITOT", "SCHB", "VOO", "BND", "AGG", "VGIT"], scale="1.10")
    document = firm("fill", "--date", NEXT, "--as", "olivia", "--json").json()
    assert sorted(u["account"] for u in document["unfilled"]) == ["E", "N"]
    assert all("cash would be -" in u["reason"] for u in document["unfilled"])
    for account_id in ("N", "E"):
        lots = firm("lots", account_id, "--as", "carol", "--json").json()
        assert lots["lots"] == [] and lots["cash"] == "100000.00"


def test_approve_turns_a_decision_stale_when_a_restriction_was_added_after_the_analysis(firm):
    account(firm, CASH_ACCOUNTS)
    assert firm("rebalance", "--date", DAY, "--as", "olivia").code == 0
    assert any(o["symbol"] == "VGIT" and o["side"] == "buy" for o in _orders(firm, "N"))
    account(firm, '  - {id: N, advisor: alice, template: balanced, parameters: {restrictions: '
                  '[{symbol: VGIT, rule: do_not_buy, reason: "client wish"}]}}\n')
    released = firm("approve", "--date", DAY, "--as", "olivia", "--json").json()
    assert [s["account"] for s in released["stale"]] == ["N"]
    assert {o["status"] for o in _orders(firm, "N")} == {"stale"}
    assert "changed after the analysis" in _orders(firm, "N")[0]["stale_reason"]
    firm("fill", "--date", DAY, "--as", "olivia")
    assert firm("lots", "N", "--as", "carol", "--json").json()["lots"] == []
    redo = firm("rebalance", "--redo", "--account", "N", "--date", DAY, "--reason", "restriction added",
                "--as", "olivia", "--json")
    assert redo.code == 0, redo.err
    assert [d["decision_id"] for d in redo.json()["decisions"]] == ["N/2026-03-02/r2"]
    current = [o for o in _orders(firm, "N") if o["decision_id"] == "N/2026-03-02/r2"]
    assert current and not any(o["symbol"] == "VGIT" and o["side"] == "buy" for o in current)
    assert {o["status"] for o in _orders(firm, "N") if o["decision_id"] == "N/2026-03-02"} == {"superseded"}
    assert firm("approve", "--date", DAY, "--as", "olivia", "--json").json()["orders"] == len(current)
    assert firm("fill", "--date", DAY, "--as", "olivia", "--json").json()["trades"] == len(current)
    symbols = {lot["symbol"] for lot in firm("lots", "N", "--as", "carol", "--json").json()["lots"]}
    assert symbols and "VGIT" not in symbols
    explained = firm("explain", "N/2026-03-02/r2", "--json").json()
    assert explained["account"] == "N"


def test_a_rejected_decision_is_redone_the_same_day_and_a_filled_one_is_not(firm):
    account(firm, CASH_ACCOUNTS)
    assert firm("rebalance", "--date", DAY, "--as", "olivia").code == 0
    assert firm("reject", "--date", DAY, "--account", "N", "--reason", "await the client", "--as", "olivia").code == 0
    assert firm("approve", "--date", DAY, "--account", "E", "--as", "olivia").code == 0
    assert firm("fill", "--date", DAY, "--as", "olivia").code == 0
    before = store_contents(firm.url)
    filled = firm("rebalance", "--redo", "--account", "N", "--account", "E", "--date", DAY, "--reason", "again",
                  "--as", "olivia")
    assert filled.code == 1 and "E/2026-03-02 is filled" in filled.err
    assert firm("rebalance", "--redo", "--account", "N", "--date", DAY, "--as", "olivia").code == 2  # no reason
    assert firm("rebalance", "--redo", "--account", "N", "--date", DAY, "--reason", "x", "--as", "alice").code == 1
    assert store_contents(firm.url) == before
    redone = firm("rebalance", "--redo", "--account", "N", "--date", DAY, "--reason", "client agreed",
                  "--as", "olivia", "--json")
    assert redone.code == 0 and redone.json()["decisions"][0]["decision_id"] == "N/2026-03-02/r2"
    again = firm("rebalance", "--date", DAY, "--as", "olivia", "--json").json()
    assert {d["account"]: d["decision_id"] for d in again["decisions"]} == {"E": "E/2026-03-02", "N": "N/2026-03-02/r2"}
    audit = [e["type"] for e in firm("audit", "N", "--as", "carol", "--json").json()["events"]]
    assert audit.count("DecisionRecorded") == 2 and "OrdersRejected" in audit


def test_cancel_withdraws_approved_orders_together_with_a_reason(firm):
    account(firm, CASH_ACCOUNTS)
    assert firm("rebalance", "--date", DAY, "--as", "olivia").code == 0
    assert firm("approve", "--date", DAY, "--as", "olivia").code == 0
    before = store_contents(firm.url)
    assert firm("cancel", "--date", DAY, "--account", "N", "--as", "olivia").code == 2  # a reason is required
    assert firm("cancel", "--date", DAY, "--account", "N", "--reason", "desk closed", "--as", "alice").code == 1
    assert firm("cancel", "--date", "2026-03-07", "--reason", "x", "--as", "olivia").code == 2  # a Saturday
    assert store_contents(firm.url) == before
    cancelled = firm("cancel", "--date", DAY, "--account", "N", "--reason", "desk closed", "--as", "olivia", "--json")
    assert cancelled.code == 0 and cancelled.json()["accounts"] == 1
    assert {o["status"] for o in _orders(firm, "N")} == {"cancelled"}
    filled = firm("fill", "--date", DAY, "--as", "olivia", "--json").json()
    assert {o["status"] for o in _orders(firm, "E")} == {"filled"} and filled["trades"] == len(_orders(firm, "E"))
    assert firm("lots", "N", "--as", "carol", "--json").json()["lots"] == []
    reasons = [e["reason"] for e in firm("audit", "N", "--as", "carol", "--json").json()["events"]
               if e["type"] == "OrdersCancelled"]
    assert reasons == ["desk closed"]


def test_orders_without_a_date_lists_todays(firm):
    account(firm, CASH_ACCOUNTS)
    assert firm("rebalance", "--date", "2026-02-27", "--account", "E", "--as", "olivia").code == 0
    assert firm("rebalance", "--date", DAY, "--account", "N", "--as", "olivia").code == 0  # today, as pinned
    today = firm("orders", "--json").json()["orders"]
    assert today and {o["account"] for o in today} == {"N"} and {o["date"] for o in today} == {DAY}
    assert {o["account"] for o in firm("orders", "--date", "2026-02-27", "--json").json()["orders"]} == {"E"}
    assert all(Decimal(o["value"]) > 0 for o in today)


def test_a_fractional_position_under_do_not_hold_is_sold_whole_and_cash_stays_positive(firm):
    account(firm, '  - id: F\n    advisor: alice\n    template: balanced\n    opened: 2026-02-27\n    cash: "500"\n'
                  '    lots: [{symbol: SCHB, quantity: "100.7", cost_basis: "2000", acquired: 2025-01-02},\n'
                  '           {symbol: BND, quantity: "100.4", cost_basis: "7000", acquired: 2025-01-02}]\n'
                  '    parameters:\n      restrictions: [{symbol: SCHB, rule: do_not_hold}, {symbol: BND, rule: do_not_hold}]\n'
                  '      trading: {fractional_shares: false}\n')
    assert firm("rebalance", "--date", DAY, "--as", "olivia").code == 0
    sales = {o["symbol"]: o["quantity"] for o in _orders(firm, "F") if o["side"] == "sell"}
    assert sales == {"SCHB": "100.7", "BND": "100.4"}
    assert firm("approve", "--date", DAY, "--as", "olivia").code == 0
    assert firm("fill", "--date", DAY, "--as", "olivia", "--json").json()["unfilled"] == []
    lots = firm("lots", "F", "--as", "carol", "--json").json()
    assert {lot["symbol"] for lot in lots["lots"]} & {"SCHB", "BND"} == set()
    assert Decimal(lots["cash"]) >= 0


def test_every_workflow_command_refuses_a_day_the_exchange_is_closed(firm):
    account(firm, CASH_ACCOUNTS)
    for command in (["approve"], ["reject", "--reason", "x"], ["fill"], ["rebalance"]):
        result = firm(*command, "--date", "2026-03-07", "--as", "olivia")
        assert result.code == 2 and "not an NYSE trading day" in result.err, command


def test_a_read_model_stored_in_an_older_shape_is_rebuilt_from_the_history(firm):
    account(firm, CASH_ACCOUNTS)
    assert firm("rebalance", "--date", DAY, "--as", "olivia").code == 0
    expected = firm("orders", "--json").json()
    engine = create_engine(firm.url)
    with engine.begin() as connection:  # the orders table as an earlier version made it
        connection.execute(text("DROP TABLE orders"))
        connection.execute(text("CREATE TABLE orders (order_id VARCHAR(220) PRIMARY KEY, decision_id VARCHAR(200), "
                                "account_id VARCHAR(128), date DATE, side VARCHAR(4), symbol VARCHAR(32), "
                                "quantity VARCHAR(40), price VARCHAR(40), reason VARCHAR(32), mandatory BOOLEAN, "
                                "benefit VARCHAR(40), status VARCHAR(16), lots TEXT)"))
    engine.dispose()
    assert firm("orders", "--json").json() == expected
