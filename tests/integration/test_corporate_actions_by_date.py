"""Splits and dividends reach every account by date, whatever order they, the accounts
and their trades were recorded in: in the lots read model, in holdings (built from the
history) and after a rebuild alike. A split that would make a recorded sale impossible
is refused, naming the sale."""

from __future__ import annotations

from tests.helpers import store_contents

FIRM = """
as_of: 2026-01-05
users:
  - {id: root, role: admin}
  - {id: ipc, role: policy_committee}
  - {id: alice, role: advisor}
  - {id: olivia, role: overlay_manager}
  - {id: carol, role: compliance}
securities:
  - {symbol: VTI, asset_class: us_equity}
  - {symbol: BND, asset_class: bonds}
prices:
  2026-01-05: {VTI: "250.00", BND: "72.50"}
  2026-01-21: {VTI: "126.00", BND: "73.00"}
models:
  - {id: us-core, weights: {VTI: "1"}}
  - {id: bonds-core, weights: {BND: "1"}}
templates:
  - id: balanced
    classes:
      us_equity: {weight: "0.60", model: us-core}
      bonds:     {weight: "0.38", model: bonds-core}
      cash:      {weight: "0.02"}
"""

ACCOUNTS = """
accounts:
  - id: ACC-1
    advisor: alice
    template: balanced
    opened: 2026-01-05
    cash: "10000.00"
    lots: [{symbol: VTI, quantity: "10", cost_basis: "2000.00", acquired: 2025-01-02}]
  - id: ACC-2
    advisor: alice
    template: balanced
    opened: 2026-01-05
    cash: "5000.00"
    lots: [{symbol: BND, quantity: "40", cost_basis: "2900.00", acquired: 2025-03-03}]
"""

TRADES = """
trades:
  - {account: ACC-1, date: 2026-01-06, side: buy, symbol: VTI, quantity: "10", price: "250.00"}
  - {account: ACC-1, date: 2026-01-20, side: sell, symbol: VTI, quantity: "35", price: "125.00"}
"""

SPLIT = """
splits:
  - {symbol: VTI, date: 2026-01-10, ratio: "2"}
"""


def _reads(cli, account="ACC-1"):
    lots = cli("lots", account, "--as", "carol", "--json")
    gains = cli("gains", account, "--year", "2026", "--as", "carol", "--json")
    holdings = cli("holdings", account, "--as-of", "2026-01-21", "--as", "carol", "--json")
    for result in (lots, gains, holdings):
        assert result.code == 0, result.err
    return lots.json(), gains.json(), holdings.json()


def test_one_file_with_accounts_trades_and_a_split_leaves_every_read_working(cli):
    assert cli.load(FIRM + ACCOUNTS + TRADES + SPLIT).code == 0
    lots, gains, holdings = _reads(cli)
    # 10 held + 10 bought, doubled on 2026-01-10, then 35 sold: 5 left.
    assert [(lot["symbol"], lot["quantity"]) for lot in lots["lots"]] == [("VTI", "5")]
    assert {p["symbol"]: p["quantity"] for p in holdings["positions"]}["VTI"] == "5"
    assert len(gains["realizations"]) == 2
    for command in (("audit", "ACC-1"), ("orders",), ("audit", "ACC-2"), ("lots", "ACC-2")):
        assert cli(*command, "--as", "carol", "--json").code == 0
    assert cli("rebalance", "--date", "2026-01-21", "--as", "olivia", "--json").code == 0
    assert cli("projections", "rebuild", "--as", "root").code == 0
    assert _reads(cli)[:2] == (lots, gains)


def test_the_same_history_in_three_files_gives_the_same_books(cli):
    for part, user in ((FIRM + ACCOUNTS, ()), (SPLIT, ("--as", "olivia")), (TRADES, ("--as", "olivia"))):
        result = cli.load(part, *user)
        assert result.code == 0, result.err
    in_parts = _reads(cli)
    lots, gains, holdings = in_parts
    assert [(lot["symbol"], lot["quantity"], lot["cost_basis"]) for lot in lots["lots"]] == [("VTI", "5", "625.00")]
    # 20 shares of the first lot (basis 2000) and 15 of the second (basis 1875 of 2500).
    assert [(r["quantity"], r["cost_basis"], r["proceeds"]) for r in gains["realizations"]] == [
        ("20", "2000.00", "2500.00"), ("15", "1875.00", "1875.00")]
    assert lots["cash"] == holdings["cash"] == "11875.00"
    assert cli("projections", "rebuild", "--as", "root").code == 0
    assert _reads(cli) == in_parts


def test_a_split_recorded_in_a_later_file_applies_once(cli):
    assert cli.load(FIRM + ACCOUNTS.replace('cash: "10000.00"', 'cash: "10000.00"', 1)).code == 0
    assert cli.load("trades:\n  - {account: ACC-2, date: 2026-01-06, side: buy, symbol: VTI, quantity: '10', "
                    "price: '250.00'}\n", "--as", "olivia").code == 0
    assert cli.load(SPLIT, "--as", "olivia").code == 0
    lots = cli("lots", "ACC-2", "--as", "carol", "--json").json()
    holdings = cli("holdings", "ACC-2", "--as", "carol", "--json").json()
    assert {lot["symbol"]: lot["quantity"] for lot in lots["lots"]}["VTI"] == "20"
    assert {p["symbol"]: p["quantity"] for p in holdings["positions"]}["VTI"] == "20"


def test_a_split_in_the_same_file_as_the_purchase_reaches_the_lots_read_model(cli):
    text = FIRM + ACCOUNTS + ("trades:\n  - {account: ACC-2, date: 2026-01-06, side: buy, symbol: VTI, quantity: '10', "
                              "price: '250.00'}\n") + SPLIT
    assert cli.load(text).code == 0
    lots = cli("lots", "ACC-2", "--as", "carol", "--json").json()
    assert {lot["symbol"]: lot["quantity"] for lot in lots["lots"]}["VTI"] == "20"


def test_a_dividend_recorded_before_the_account_pays_it_in_lots_and_holdings_alike(cli):
    assert cli.load(FIRM + "dividends:\n  - {symbol: BND, ex_date: 2026-01-08, pay_date: 2026-01-12, "
                           "per_share: '0.21'}\n").code == 0
    assert cli.load(ACCOUNTS, "--as", "alice").code == 0
    lots = cli("lots", "ACC-2", "--as", "carol", "--json").json()
    holdings = cli("holdings", "ACC-2", "--as", "carol", "--json").json()
    assert lots["cash"] == holdings["cash"] == "5008.40"  # 40 BND x 0.21


def test_onboarding_an_account_whose_history_straddles_a_recorded_split(cli):
    assert cli.load(FIRM + ACCOUNTS + SPLIT).code == 0
    before = cli("lots", "ACC-2", "--as", "carol", "--json").json()
    # The advisor's account and the overlay manager's trades, loaded by the admin on their behalf.
    onboard = """
accounts:
  - {id: ACC-3, advisor: alice, template: balanced, opened: 2026-01-02, cash: "9000.00", actor: alice}
trades:
  - {account: ACC-3, date: 2026-01-06, side: buy, symbol: VTI, quantity: "10", price: "250.00", actor: olivia}
  - {account: ACC-3, date: 2026-01-15, side: sell, symbol: VTI, quantity: "15", price: "126.00", actor: olivia}
"""
    result = cli.load(onboard, "--as", "root")
    assert result.code == 0, result.err
    lots = cli("lots", "ACC-3", "--as", "carol", "--json").json()
    assert {lot["symbol"]: lot["quantity"] for lot in lots["lots"]}["VTI"] == "5"
    assert cli("lots", "ACC-2", "--as", "carol", "--json").json() == before
    assert cli("lots", "ACC-1", "--as", "carol", "--json").code == 0


def test_a_reverse_split_that_makes_a_recorded_sale_impossible_is_refused_naming_the_sale(cli):
    assert cli.load(FIRM + ACCOUNTS + TRADES + SPLIT).code == 0
    before = store_contents(cli.url)
    result = cli.load("splits:\n  - {symbol: VTI, date: 2026-01-08, ratio: '0.1'}\n", "--as", "olivia")
    assert result.code == 1
    assert "splits[0]" in result.err and "sale of 35 VTI on 2026-01-20 in account ACC-1" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert store_contents(cli.url) == before
    assert _reads(cli)[0]["lots"][0]["quantity"] == "5"


def test_a_reverse_split_in_the_same_file_as_the_sale_is_refused_too(cli):
    result = cli.load(FIRM + ACCOUNTS + TRADES + "splits:\n  - {symbol: VTI, date: 2026-01-08, ratio: '0.1'}\n")
    assert result.code == 1 and "sale of 35 VTI on 2026-01-20" in result.err
    assert store_contents(cli.url)["lotline_events"] == []


def test_an_oversell_in_a_file_is_bad_input_at_its_entry(cli):
    assert cli.load(FIRM + ACCOUNTS).code == 0
    result = cli.load("trades:\n  - {account: ACC-1, date: 2026-01-07, side: sell, symbol: VTI, quantity: '11', "
                      "price: '250.00'}\n", "--as", "olivia")
    assert result.code == 2 and result.err.startswith("lotline: bad input: trades[0].quantity: cannot sell 11 VTI")
