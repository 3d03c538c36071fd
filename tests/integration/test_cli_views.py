"""The command line as a professional reads it: the blotter (and its CSV for the desk),
the listings of what exists, the exceptions of a day, tables that fit 80 columns, and
the same refusal of a non-trading day everywhere."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest

from tests.integration.test_rebalance_behaviour import DAY, FINALS, HOLDINGS, POLICY, account, date_of
from tests.market import closes, write_wide_csv

SATURDAY = "2026-03-07"
BOB = '  - {id: B, advisor: bob, template: balanced, opened: 2026-02-27, cash: "50000"}\n'


@pytest.fixture
def firm(cli, tmp_path):
    assert cli.load(POLICY).code == 0
    assert cli.load("users:\n  - {id: bob, role: advisor}\n", "--as", "root").code == 0
    prices = write_wide_csv(tmp_path / "prices.csv", closes(["VTI", "ITOT", "SCHB", "VOO", "BND", "AGG", "VGIT"],
                                                             date_of(DAY), 300, finals=FINALS))
    assert cli("prices", "load", str(prices), "--as", "olivia").code == 0
    account(cli, HOLDINGS)
    account(cli, '  - {id: N, advisor: alice, template: balanced, opened: 2026-02-27, cash: "100000"}\n')
    assert cli.load("accounts:\n" + BOB, "--as", "bob").code == 0
    assert cli.load(f'cash_requests:\n  - {{account: H, amount: "15000", date: {DAY}, by: {DAY}}}\n',
                    "--as", "alice").code == 0
    return cli


def decided(firm):
    result = firm("rebalance", "--date", DAY, "--as", "olivia", "--json")
    assert result.code == 0, result.err
    return result.json()


# --- the blotter -------------------------------------------------------------------------

def test_the_blotter_carries_value_reason_estimated_tax_and_its_csv_matches_the_json(firm):
    decided(firm)
    orders = firm("orders", "--date", DAY, "--json").json()["orders"]
    sells = [o for o in orders if o["side"] == "sell"]
    assert orders and sells
    for o in orders:
        assert {"account", "side", "symbol", "quantity", "value", "reason", "status"} <= set(o)
        assert ({"realised_gain", "estimated_tax"} <= set(o)) == (o["side"] == "sell")
    # H is taxable at the default rates: a sell of gains costs tax, at most the short-term rate.
    for o in sells:
        gain, tax = Decimal(o["realised_gain"]), Decimal(o["estimated_tax"])
        assert (tax > 0) == (gain > 0) and abs(tax) <= abs(gain) * Decimal("0.37") + Decimal("0.01")
    result = firm("orders", "--date", DAY, "--csv")
    assert result.code == 0
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert len(rows) == len(orders)
    by_id = {o["order_id"]: o for o in orders}
    for row in rows:
        o = by_id[row["order_id"]]
        for key in ("account", "side", "symbol", "quantity", "value", "reason", "status", "realised_gain",
                    "estimated_tax", "price", "date"):
            assert row[key] == str(o.get(key, "")), key
    firm("approve", "--date", DAY, "--as", "olivia")
    firm("fill", "--date", DAY, "--as", "olivia")
    filled = list(csv.DictReader(io.StringIO(firm("orders", "--date", DAY, "--csv").out)))
    assert {r["status"] for r in filled} == {"filled"} and all(r["fill_price"] for r in filled)


def test_the_blotter_table_shows_money_and_totals(firm):
    decided(firm)
    result = firm("orders", "--date", DAY)
    assert result.code == 0
    assert re.search(r"\$\d{1,3}(,\d{3})*\.\d\d", result.out)
    assert "Totals by day" in result.out and "Totals by account" in result.out


# --- listings ------------------------------------------------------------------------------

def test_accounts_lists_value_cash_drift_and_last_decision_and_an_advisor_sees_only_their_own(firm):
    decided(firm)
    listed = firm("accounts", "--json").json()["accounts"]
    assert [a["account"] for a in listed] == ["B", "H", "N"]
    n = next(a for a in listed if a["account"] == "N")
    assert n["total_value"] == "100000.00" and n["cash"] == "100000.00"
    assert n["worst_drift"]["outside"] and n["worst_drift"]["asset_class"] == "cash"
    assert n["last_decision"]["decision_id"] == f"N/{DAY}" and n["last_decision"]["trade"]
    mine = firm("accounts", "--as", "alice", "--json").json()["accounts"]
    assert [a["account"] for a in mine] == ["H", "N"]
    assert firm("accounts", "--as", "alice", "--advisor", "bob", "--json").json()["accounts"] == []
    assert [a["account"] for a in firm("accounts", "--advisor", "bob", "--json").json()["accounts"]] == ["B"]
    assert firm("accounts", "--template", "nothing", "--json").json()["accounts"] == []


def test_listings_of_what_exists(firm):
    users = {u["user"]: u["roles"] for u in firm("users", "--json").json()["users"]}
    assert users["alice"] == ["advisor"] and "olivia" in users
    assert firm("users", "list", "--json").json() == firm("users", "--json").json()
    securities = {s["symbol"]: s for s in firm("securities", "--json").json()["securities"]}
    assert securities["VTI"]["asset_class"] == "us_equity" and securities["VTI"]["last_close"] == FINALS["VTI"]
    models = {m["model"]: m for m in firm("models", "--json").json()["models"]}
    assert models["us-core"]["weights"] == {"SCHB": "0.5", "VTI": "0.5"}
    (template,) = firm("templates", "--json").json()["templates"]
    assert template["template"] == "balanced" and template["accounts"] == 3
    assert {c["asset_class"] for c in template["classes"]} == {"us_equity", "bonds", "cash"}
    spans = {s["symbol"]: s for s in firm("prices", "--json").json()["symbols"]}
    assert spans["VTI"]["last"] == DAY and spans["VTI"]["last_close"] == FINALS["VTI"]
    vti = firm("prices", "VTI", "--since", DAY, "--json").json()
    assert vti == {"symbol": "VTI", "closes": [{"date": DAY, "close": FINALS["VTI"]}]}
    assert firm("prices", "NOPE", "--json").code == 2


def test_cash_requests_open_and_by_advisor(firm):
    (request,) = firm("cash-requests", "--open", "--json").json()["cash_requests"]
    assert request["account"] == "H" and request["amount"] == "15000.00" and not request["fulfilled"]
    assert request["by"] == DAY
    assert firm("cash-requests", "--as", "bob", "--json").json()["cash_requests"] == []
    decided(firm)
    firm("approve", "--date", DAY, "--as", "olivia")
    firm("fill", "--date", DAY, "--as", "olivia")
    assert firm("cash-requests", "--open", "--json").json()["cash_requests"] == []
    assert firm("cash-requests", "--json").json()["cash_requests"][0]["fulfilled"]


# --- exceptions ----------------------------------------------------------------------------

def test_exceptions_name_drift_cash_requests_waiting_decisions_failures_and_stale_prices(firm):
    assert firm.load("securities:\n  - {symbol: VXUS, asset_class: us_equity, wash_group: vxus}\n", "--as", "ipc").code == 0
    account(firm, '  - {id: F, advisor: alice, template: balanced, opened: 2026-02-27, cash: "1000",\n'
                  '     lots: [{symbol: VXUS, quantity: "10", cost_basis: "600", acquired: 2025-01-02}]}\n')
    before = firm("exceptions", "--date", DAY, "--json")
    assert before.code == 0
    report = before.json()
    assert {"date", "drift", "cash_requests", "decisions", "stale_prices"} <= set(report)
    outside = {(d["account"], d["asset_class"]) for d in report["drift"]}
    assert ("N", "cash") in outside  # all cash against a 2% target
    n_cash = next(d for d in report["drift"] if d["account"] == "N" and d["asset_class"] == "cash")
    assert Decimal(n_cash["excess"]) == abs(Decimal(n_cash["drift"])) - Decimal(n_cash["drift_limit"])
    assert [r["account"] for r in report["cash_requests"]] == ["H"]
    assert [s["account"] for s in report["stale_prices"]] == ["F"]
    assert report["stale_prices"][0]["symbols"][0] == {"symbol": "VXUS", "last_close": None}
    decided(firm)
    after = firm("exceptions", "--date", DAY, "--json").json()
    states = {d["account"]: d["state"] for d in after["decisions"]}
    assert states["F"] == "failed" and states["N"] == "proposed"
    assert firm("exceptions", "--date", DAY).code == 0
    # H's account changes after the analysis: its decision goes stale on release, and says why.
    assert firm.load(f'cash_movements:\n  - {{account: H, date: {DAY}, amount: "100", reason: "gift"}}\n',
                     "--as", "alice").code == 0
    firm("approve", "--date", DAY, "--account", "H", "--as", "olivia")
    stale = {d["account"]: d for d in firm("exceptions", "--date", DAY, "--json").json()["decisions"]}
    assert stale["H"]["state"] == "stale" and stale["H"]["reason"]
    mine = firm("exceptions", "--date", DAY, "--as", "bob", "--json").json()
    assert [d["account"] for d in mine["decisions"]] == ["B"]  # bob's all-cash account waits for release
    assert all(item["account"] == "B" for key in ("drift", "cash_requests", "decisions", "stale_prices")
               for item in mine[key])


# --- one width, one refusal, plain help ----------------------------------------------------

def test_tables_fit_80_columns_without_cut_headers(firm, monkeypatch):
    decided(firm)
    firm("approve", "--date", DAY, "--account", "H", "--as", "olivia")
    firm("fill", "--date", DAY, "--as", "olivia")
    monkeypatch.setenv("COLUMNS", "80")
    for args in (("orders", "--date", DAY), ("holdings", "H", "--as-of", DAY), ("accounts",), ("audit", "H"),
                 ("lots", "H"), ("gains", "H", "--year", "2026"), ("exceptions", "--date", DAY),
                 ("audit", "--firm", "--as", "root"), ("settings",), ("models",), ("templates",), ("securities",),
                 ("users",), ("cash-requests",), ("prices",)):
        result = firm(*args)
        assert result.code == 0, (args, result.err)
        lines = result.out.splitlines()
        assert lines and max(len(line) for line in lines) <= 80, args
        assert "…" not in result.out, args
    wide = firm("orders", "--date", DAY, "--wide").out
    assert "est. tax" in wide and "order" in wide


@pytest.mark.parametrize("command", [("approve",), ("reject", "--reason", "x"), ("fill",), ("cancel", "--reason", "x"),
                                     ("orders",), ("rebalance",)])
def test_every_command_of_a_trading_day_refuses_a_saturday_the_same_way(firm, command):
    result = firm(*command, "--date", SATURDAY, "--as", "olivia")
    assert result.code == 2
    assert result.err.strip() == f"lotline: bad input: date: {SATURDAY} is not an NYSE trading day"


def test_version_negative_values_and_plain_help(firm, capsys):
    from lotline.application.cli import main

    capsys.readouterr()
    assert main(["--version"]) == 0
    assert re.match(r"lotline \d+\.\d+", capsys.readouterr().out)
    refused = firm("settings", "risk_aversion", "-5", "--reason", "test", "--as", "olivia")
    assert refused.code == 2 and "-5" in refused.err and "No such option" not in refused.err
    assert firm("settings", "--bogus").code == 2
    for command in ("approve", "orders", "settings", "accounts", "rebalance"):
        text = firm(command, "--help").out
        assert "<str>" not in text and "<bool>" not in text and "<list" not in text, command


def _on_a_terminal(firm, *args: str) -> str:
    """Runs `lotline ARGS` with stdout and stderr on a pseudo-terminal; what it showed."""
    import os
    import pty
    import subprocess
    import sys

    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "TERM": "xterm"}
    process = subprocess.Popen([sys.executable, "-m", "lotline.application", *args, "--store", firm.url],
                               stdout=slave, stderr=slave, stdin=subprocess.DEVNULL, env=env)
    os.close(slave)
    shown = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed with the process
            break
        if not chunk:
            break
        shown += chunk
    process.wait(timeout=300)
    os.close(master)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode(errors="replace"))  # without colours


def test_progress_shows_the_total_on_a_terminal_and_never_with_json(firm):
    shown = _on_a_terminal(firm, "rebalance", "--date", DAY, "--as", "olivia")
    assert re.search(r"\b\d/3\b", shown) and "/?" not in shown  # three accounts, known before the first
    assert "Rebalance" in shown
    quiet = _on_a_terminal(firm, "verify", "--as", "root", "--json")
    assert quiet.lstrip().startswith("{") and "Verifying" not in quiet
