"""The programmatic daily workflow: analyse every account, release, reject, fill; one
account's failure never stops the night; a killed run resumes without duplicates."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from decimal import Decimal

import pytest

from lotline.application.commands import RebuildProjections
from lotline.application.demo import build_firm
from lotline.application.handlers.read_models import rebuild_projections
from lotline.application.lotline import Lotline
from tests.conftest import PINNED_NOW
from tests.helpers import read_model_contents, scalar
from tests.integration.test_rebalance_behaviour import DAY, FINALS, HOLDINGS, POLICY, account, date_of
from tests.market import closes, write_wide_csv

START = date(2026, 3, 2)


@pytest.fixture
def firm(cli, tmp_path):
    assert cli.load(POLICY).code == 0
    prices = write_wide_csv(tmp_path / "prices.csv", closes(["VTI", "ITOT", "SCHB", "VOO", "BND", "AGG", "VGIT"],
                                                             date_of(DAY), 300, finals=FINALS))
    assert cli("prices", "load", str(prices), "--as", "olivia").code == 0
    return cli


def _two_kinds_of_decision(cli):
    """H needs nothing; N is all cash (drift); Q only has a net benefit (a harvest)."""
    account(cli, HOLDINGS)
    account(cli, '  - {id: N, advisor: alice, template: balanced, opened: 2026-02-27, cash: "100000"}\n')
    result = cli("rebalance", "--date", DAY, "--as", "olivia", "--json")
    assert result.code == 0, result.err
    return {d["account"]: d for d in result.json()["decisions"]}


def test_approve_releases_whole_decisions_that_pass_the_filters(firm):
    decisions = _two_kinds_of_decision(firm)
    assert decisions["N"]["trade"] and not decisions["H"]["trade"]
    held = firm("approve", "--date", DAY, "--as", "olivia", "--mandatory-only", "--json").json()
    assert held["accounts"] == 1 and held["orders"] == decisions["N"]["orders"]
    statuses = {o["status"] for o in firm("orders", "--account", "N", "--json").json()["orders"]}
    assert statuses == {"approved"}
    assert firm("approve", "--date", DAY, "--as", "alice").code == 1


def test_min_benefit_and_the_default_approval_settings(firm):
    account(firm, '  - {id: N, advisor: alice, template: balanced, opened: 2026-02-27, cash: "100000"}\n')
    firm("rebalance", "--date", DAY, "--as", "olivia")
    assert firm("settings", "approval_mandatory_only", "1", "--as", "olivia", "--reason", "mandatory trades only").code == 0
    assert firm("settings", "approval_mandatory_only", "--json").json() == {"approval_mandatory_only": "1"}
    # N's trade is demanded by its drift: it passes the mandatory-only default.
    assert firm("approve", "--date", DAY, "--as", "olivia", "--json").json()["accounts"] == 1
    assert firm("settings", "approval_mandatory_only", "2", "--as", "olivia", "--reason", "r").code == 2
    assert firm("settings", "trade_threshold_bp", "7", "--as", "alice", "--reason", "r").code == 1


def test_reject_then_nothing_is_filled(firm):
    _two_kinds_of_decision(firm)
    rejected = firm("reject", "--date", DAY, "--account", "N", "--reason", "market closed early", "--as", "olivia", "--json")
    assert rejected.json()["orders"] > 0
    assert {o["status"] for o in firm("orders", "--account", "N", "--json").json()["orders"]} == {"rejected"}
    assert firm("fill", "--date", DAY, "--as", "olivia", "--json").json()["trades"] == 0
    audit = firm("audit", "N", "--json").json()["events"]
    assert audit[-1]["type"] == "OrdersRejected" and audit[-1]["reason"] == "market closed early"


def test_fill_records_trades_with_their_lots_and_meets_cash_requests(firm):
    account(firm, HOLDINGS)
    assert firm.load(f'cash_requests:\n  - {{account: H, amount: "15000", date: {DAY}}}\n', "--as", "alice").code == 0
    firm("rebalance", "--date", DAY, "--as", "olivia")
    proposed = firm("orders", "--account", "H", "--json").json()["orders"]
    assert firm("approve", "--date", DAY, "--as", "olivia").code == 0
    filled = firm("fill", "--date", DAY, "--as", "olivia", "--json").json()
    assert filled["trades"] == len(proposed) and filled["cash_requests_fulfilled"] == 1
    assert {o["status"] for o in firm("orders", "--account", "H", "--json").json()["orders"]} == {"filled"}
    lots = {lot["lot_id"]: Decimal(lot["quantity"]) for lot in firm("lots", "H", "--as-of", DAY, "--json").json()["lots"]}
    for order in proposed:
        for relief in order.get("lots", []):
            before = {"H/L1": 100, "H/L2": 1200, "H/L3": 300, "H/L4": 330}[relief["lot_id"]]
            assert lots.get(relief["lot_id"], Decimal(0)) == before - Decimal(relief["quantity"])
    gains = firm("gains", "H", "--year", "2026", "--json").json()["realizations"]
    assert {g["lot_id"] for g in gains} == {r["lot_id"] for o in proposed for r in o.get("lots", [])}
    events = [e["type"] for e in firm("audit", "H", "--json").json()["events"]]
    assert events.count("TradeExecuted") == events.count("OrderFilled") == len(proposed)
    paid = events.index("CashRequestFulfilled")
    assert events[paid - 1] == "CashWithdrawn" and "TradeExecuted" not in events[paid:]
    # Fulfilled: the next day's analysis sees no request (at the closes of the day before).
    assert firm("settings", "max_price_age_days", "1", "--as", "olivia", "--reason", "closes arrive late").code == 0
    nxt = firm("rebalance", "--date", "2026-03-03", "--account", "H", "--as", "olivia", "--json").json()["decisions"][0]
    assert "cash_request" not in nxt["reasons"]


def test_a_failing_account_is_recorded_and_retried_without_stopping_the_night(firm, tmp_path):
    account(firm, HOLDINGS)
    # SCHZ has no price at all: an account holding it cannot be valued.
    assert firm.load("securities:\n  - {symbol: SCHZ, asset_class: bonds}\n", "--as", "ipc").code == 0
    account(firm, '  - {id: BAD, advisor: alice, template: balanced, opened: 2025-01-02, cash: "1000", '
                  'lots: [{symbol: SCHZ, quantity: "10", cost_basis: "230", acquired: 2025-01-02}]}\n')
    first = firm("rebalance", "--date", DAY, "--as", "olivia", "--json")
    assert first.code == 0
    document = first.json()
    assert [d["account"] for d in document["decisions"]] == ["H"]
    assert document["failures"][0]["account"] == "BAD" and "SCHZ" in document["failures"][0]["reason"]
    assert [e["type"] for e in firm("audit", "BAD", "--json").json()["events"]][-1] == "AnalysisFailed"
    summary = firm("rebalance", "--date", DAY, "--as", "olivia")
    assert "failed BAD" in summary.out.replace("\n", " ")
    prices = tmp_path / "agg.csv"
    prices.write_text(f"date,symbol,close\n{DAY},SCHZ,23\n")
    firm("prices", "load", str(prices), "--as", "olivia")
    again = firm("rebalance", "--date", DAY, "--as", "olivia", "--json").json()
    assert {d["account"] for d in again["decisions"]} == {"H", "BAD"} and again["failures"] == []


def test_two_workers_decide_exactly_as_one(sqlite_url, tmp_path, postgres):
    urls = [sqlite_url, postgres.fresh_database()]
    outcomes = []
    for url, workers in zip(urls, ("1", "2")):
        with Lotline(url, clock=lambda: START) as lotline:
            build_firm(lotline, 120, seed=3, start=START)
        result = subprocess.run([sys.executable, "-m", "lotline.application", "rebalance", "--date", START.isoformat(),
                                 "--workers", workers, "--store", url, "--as", "olivia", "--json"],
                                capture_output=True, text=True, env={**os.environ, "LOTLINE_NOW": PINNED_NOW}, timeout=600)
        assert result.returncode == 0, result.stderr
        outcomes.append(json.loads(result.stdout))
    one, two = ({d["decision_id"]: d for d in o["decisions"]} for o in outcomes)
    assert len(one) == 120 and one == two


def test_a_killed_night_resumes_with_one_decision_per_account_and_no_duplicate_orders(sqlite_url):
    with Lotline(sqlite_url, clock=lambda: START) as lotline:
        build_firm(lotline, 400, seed=5, start=START)
        lotline.catch_up()
    before = scalar(sqlite_url, "SELECT count(*) FROM lotline_events")
    command = [sys.executable, "-m", "lotline.application", "rebalance", "--date", START.isoformat(), "--workers", "1",
               "--store", sqlite_url, "--as", "olivia", "--json"]
    night = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env={**os.environ, "LOTLINE_NOW": PINNED_NOW})
    deadline = time.time() + 120
    # Kill it as soon as its first batch of decisions is committed, long before the last.
    while scalar(sqlite_url, "SELECT count(*) FROM lotline_events") <= before and time.time() < deadline:
        time.sleep(0.01)
    night.send_signal(signal.SIGKILL)
    night.wait()
    partial = scalar(sqlite_url, "SELECT count(*) FROM lotline_events") - before
    assert 0 < partial < 400, "the run was not killed part-way"
    rerun = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "LOTLINE_NOW": PINNED_NOW}, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    with Lotline(sqlite_url) as lotline:
        lotline.catch_up()
        decided = lotline.store.recorder.select_notifications(start=None, limit=100000,
                                                              topics=["domain.decision:Decision.DecisionRecorded"])
        recorded = [lotline.store.mapper.to_domain_event(n) for n in decided]
        days = [(event.account_id, event.date) for event in recorded]
        assert len(days) == len(set(days)) == 400
        rows = scalar(sqlite_url, "SELECT count(*) FROM orders")
        distinct = scalar(sqlite_url, "SELECT count(DISTINCT order_id) FROM orders")
        assert rows == distinct > 0
        incremental = read_model_contents(sqlite_url)
        rebuild_projections(RebuildProjections(user="root"), lotline)
    assert read_model_contents(sqlite_url) == incremental


def test_a_decision_whose_account_changed_after_release_goes_stale_fills_nothing_and_can_be_redone(firm):
    account(firm, HOLDINGS.replace("id: H", "id: X") + "    parameters:\n      restrictions: [{symbol: SCHB, rule: do_not_hold}]\n")
    firm("rebalance", "--date", DAY, "--account", "X", "--as", "olivia")
    firm("approve", "--date", DAY, "--as", "olivia")
    before = firm("lots", "X", "--as", "carol", "--json").json()
    # Between release and fill, the shares were sold outside Lotline (recorded history).
    assert firm.load(f"trades:\n  - {{account: X, date: {DAY}, side: sell, symbol: SCHB, quantity: '1200', price: '25'}}\n",
                     "--as", "olivia").code == 0
    filled = firm("fill", "--date", DAY, "--as", "olivia", "--json").json()
    assert filled["trades"] == 0 and [s["account"] for s in filled["stale"]] == ["X"]
    assert "changed after the analysis" in filled["stale"][0]["reason"]
    statuses = {o["status"] for o in firm("orders", "--account", "X", "--json").json()["orders"]}
    assert statuses == {"stale"}
    lots = firm("lots", "X", "--as", "carol", "--json").json()["lots"]
    assert all(lot["symbol"] != "SCHB" for lot in lots) and len(lots) == len(before["lots"]) - sum(
        1 for lot in before["lots"] if lot["symbol"] == "SCHB")
    redone = firm("rebalance", "--redo", "--account", "X", "--date", DAY, "--reason", "client sold SCHB",
                  "--as", "olivia", "--json")
    assert redone.code == 0, redone.err
    assert [d["decision_id"] for d in redone.json()["decisions"]] == ["X/2026-03-02/r2"]
    statuses = {o["decision_id"]: o["status"] for o in firm("orders", "--account", "X", "--json").json()["orders"]}
    assert statuses.get("X/2026-03-02") == "superseded"


@pytest.mark.parametrize("command", [
    ["holdings", "N", "--as-of", DAY], ["lots", "N", "--as-of", DAY], ["gains", "N", "--year", "2026"],
    ["audit", "N"], ["explain", "N/2026-03-02"], ["replay", "N/2026-03-02"], ["orders", "--account", "N"],
])
def test_every_read_command_is_for_everyone_but_other_advisors(firm, command):
    assert firm.load("users:\n  - {id: bob, role: advisor}\n", "--as", "root").code == 0
    _two_kinds_of_decision(firm)
    for user, code in (("alice", 0), ("carol", 0), ("olivia", 0), ("system", 0), ("bob", 1), ("mallory", 1)):
        result = firm(*command, "--as", user, "--json")
        assert result.code == code, f"{user} {command}: {result.err}"
        if code:
            assert result.out == "" and result.err.startswith("lotline: refused:")


def test_an_advisor_lists_only_the_orders_of_their_own_accounts(firm):
    assert firm.load("users:\n  - {id: bob, role: advisor}\n", "--as", "root").code == 0
    _two_kinds_of_decision(firm)
    assert firm.load('accounts:\n  - {id: B1, advisor: bob, template: balanced, opened: 2026-02-27, cash: "50000"}\n',
                     "--as", "bob").code == 0
    firm("rebalance", "--date", DAY, "--account", "B1", "--as", "olivia")
    everyone = {o["account"] for o in firm("orders", "--as", "carol", "--json").json()["orders"]}
    assert everyone == {"N", "B1"}
    assert {o["account"] for o in firm("orders", "--as", "bob", "--json").json()["orders"]} == {"B1"}
    assert {o["account"] for o in firm("orders", "--as", "alice", "--json").json()["orders"]} == {"N"}


def test_the_read_models_written_on_postgresql_show_what_those_on_sqlite_show(sqlite_url, postgres):
    """PostgreSQL's read models are written by COPY, SQLite's by executemany: the night's
    decisions, orders (booleans, empty fields, dates, JSON) and audit rows read the same."""
    from lotline.application.commands import Rebalance
    from lotline.application.handlers.analysis import rebalance

    shown = []
    for url in (sqlite_url, postgres.fresh_database()):
        with Lotline(url, clock=lambda: START) as lotline:
            build_firm(lotline, 40, seed=3, start=START)
            rebalance(Rebalance(user="olivia", on=START, workers=1), lotline)
            lotline.catch_up()
            orders = lotline.views.orders(on=START)
            shown.append((lotline.views.decisions_of_day(START), orders,
                          [lotline.views.audit_trail(a) for a in sorted({o.account_id for o in orders})]))
    assert shown[0][1] and any(o.estimated_tax is not None for o in shown[0][1])
    assert shown[0] == shown[1]
