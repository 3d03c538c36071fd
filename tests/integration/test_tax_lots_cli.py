"""Lot accounting through the command line: `lotline load` then `lots`, `gains`,
`holdings` and `prices load`, as the contract's tax rules say."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.helpers import store_contents

FIRM = """
as_of: 2026-01-02
users:
  - {id: root, role: admin}
  - {id: ipc, role: policy_committee}
  - {id: alice, role: advisor}
  - {id: olivia, role: overlay_manager}
securities:
  - {symbol: VTI,  asset_class: us_equity, wash_group: us-total-market}
  - {symbol: ITOT, asset_class: us_equity, wash_group: us-total-market}
  - {symbol: SCHB, asset_class: us_equity, wash_group: us-broad}
  - {symbol: BND,  asset_class: bonds}
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
"""


def trades(*rows: str) -> str:
    return "trades:\n" + "".join(f"  - {row}\n" for row in rows)


def buy(day: str, qty: str, price: str, symbol: str = "VTI") -> str:
    return f"{{account: A, date: {day}, side: buy, symbol: {symbol}, quantity: '{qty}', price: '{price}'}}"


def sell(day: str, qty: str, price: str, symbol: str = "VTI", lots: str = "") -> str:
    extra = f", lots: {lots}" if lots else ""
    return f"{{account: A, date: {day}, side: sell, symbol: {symbol}, quantity: '{qty}', price: '{price}'{extra}}}"


@pytest.fixture
def firm(cli):
    assert cli.load(FIRM).code == 0
    return cli


def lots_of(cli, as_of="2026-12-31"):
    result = cli("lots", "A", "--as-of", as_of, "--json")
    assert result.code == 0, result.err
    return result.json()["lots"]


def gains_of(cli, year="2026"):
    result = cli("gains", "A", "--year", year, "--json")
    assert result.code == 0, result.err
    return result.json()


def test_irs_vita_example_disallows_the_loss_into_the_new_lot(firm):
    # Buy 100 shares for $1,000, sell them for $750, buy 100 again for $800 within 30 days.
    assert firm.load(trades(buy("2026-02-02", "100", "10"), sell("2026-03-02", "100", "7.50"),
                            buy("2026-03-16", "100", "8")), "--as", "olivia").code == 0
    (lot,) = lots_of(firm)
    assert (lot["quantity"], lot["cost_basis"], lot["wash_sale_adjustment"]) == ("100", "1050.00", "250.00")
    assert lot["acquired"] == "2026-03-16"
    assert lot["holding_period_start"] == "2026-02-16"  # moved back by the 28 days the sold shares were held
    gains = gains_of(firm)
    (realization,) = gains["realizations"]
    assert (realization["gain"], realization["disallowed_loss"]) == ("0.00", "250.00")
    assert (gains["short_term"], gains["disallowed_loss"]) == ("0.00", "250.00")


@pytest.mark.parametrize("replacement_day,washed", [
    ("2026-03-31", True),   # day 30 after the sale: inside
    ("2026-04-01", False),  # day 31: outside
])
def test_window_after_the_sale(firm, replacement_day, washed):
    firm.load(trades(buy("2026-01-05", "10", "100"), sell("2026-03-01", "10", "90"), buy(replacement_day, "10", "95")), "--as", "olivia")
    (realization,) = gains_of(firm)["realizations"]
    assert realization["disallowed_loss"] == ("100.00" if washed else "0.00")
    assert realization["gain"] == ("0.00" if washed else "-100.00")


@pytest.mark.parametrize("replacement_day,washed", [
    ("2026-02-10", True),   # 30 days before the sale on 2026-03-12: inside
    ("2026-02-09", False),  # 31 days before: outside
])
def test_window_before_the_sale(firm, replacement_day, washed):
    firm.load(trades(buy("2026-01-05", "10", "100"), buy(replacement_day, "10", "95"),
                     sell("2026-03-12", "10", "90", lots="[{acquired: 2026-01-05, quantity: '10'}]")), "--as", "olivia")
    (realization,) = gains_of(firm)["realizations"]
    assert realization["disallowed_loss"] == ("100.00" if washed else "0.00")


def test_partial_replacement_disallows_pro_rata(firm):
    firm.load(trades(buy("2026-01-05", "100", "10"), sell("2026-03-02", "100", "8"), buy("2026-03-10", "40", "8.50")), "--as", "olivia")
    (realization,) = gains_of(firm)["realizations"]
    assert realization["disallowed_loss"] == "80.00"  # 40 of 100 shares replaced: 40% of the $200 loss
    assert realization["gain"] == "-120.00"
    (lot,) = lots_of(firm)
    assert lot["cost_basis"] == str(Decimal("340.00") + Decimal("80.00"))


def test_replacement_by_another_ticker_of_the_same_wash_group(firm):
    firm.load(trades(buy("2026-01-05", "10", "100"), sell("2026-03-02", "10", "90"), buy("2026-03-05", "8", "120", "ITOT")), "--as", "olivia")
    (realization,) = gains_of(firm)["realizations"]
    assert realization["disallowed_loss"] == "80.00"
    (lot,) = lots_of(firm)
    assert (lot["symbol"], lot["cost_basis"], lot["wash_sale_adjustment"]) == ("ITOT", "1040.00", "80.00")


def test_a_different_wash_group_is_no_replacement(firm):
    firm.load(trades(buy("2026-01-05", "10", "100"), sell("2026-03-02", "10", "90"), buy("2026-03-05", "10", "22", "SCHB")), "--as", "olivia")
    (realization,) = gains_of(firm)["realizations"]
    assert realization["disallowed_loss"] == "0.00"


def test_a_chain_of_losses_carries_every_disallowed_dollar(firm):
    firm.load(trades(
        buy("2026-01-05", "10", "100"), sell("2026-02-02", "10", "90"),   # $100 loss, washed by the next buy
        buy("2026-02-10", "10", "92"), sell("2026-03-02", "10", "85"),    # basis 1020: $170 loss, washed again
        buy("2026-03-09", "10", "86"),
    ), "--as", "olivia")
    realizations = gains_of(firm)["realizations"]
    assert [r["disallowed_loss"] for r in realizations] == ["100.00", "170.00"]
    (lot,) = lots_of(firm)
    assert (lot["cost_basis"], lot["wash_sale_adjustment"]) == ("1030.00", "170.00")


def test_specific_identification_and_term(firm):
    # The advisor's transfer, then the overlay manager's trades: each files their own entries.
    assert firm.load(
        "transfers:\n  - {account: A, date: 2026-01-02, lots: [{symbol: VTI, quantity: '10', cost_basis: '1000', acquired: 2025-01-02}]}\n",
        "--as", "alice").code == 0
    assert firm.load(
        trades(buy("2026-01-05", "10", "150"), sell("2026-01-06", "5", "200", lots="[{acquired: 2026-01-05, quantity: '5'}]"),
               sell("2026-01-07", "5", "200")),
        "--as", "olivia").code == 0
    realizations = gains_of(firm)["realizations"]
    assert [(r["lot_id"], r["term"], r["gain"]) for r in realizations] == [
        ("A/L2", "short", "250.00"),  # the lot named by its acquisition date
        ("A/L1", "long", "500.00"),   # first in, first out; acquired 2025-01-02, sold 2026-01-07: long term
    ]


def test_selling_more_than_held_is_bad_input_and_records_nothing(firm):
    firm.load(trades(buy("2026-01-05", "10", "100")), "--as", "olivia")
    before = store_contents(firm.url)
    result = firm.load(trades(sell("2026-01-06", "11", "100")), "--as", "olivia")
    assert result.code == 2
    assert result.err.startswith("lotline: bad input: trades[0]") and "VTI" in result.err
    assert store_contents(firm.url) == before


def test_split_reaches_every_lot_and_as_of_answers_the_past(firm):
    firm.load(trades(buy("2026-01-05", "10", "100")) + "splits:\n  - {symbol: VTI, date: 2026-06-01, ratio: '2'}\n", "--as", "olivia")
    (before,) = lots_of(firm, "2026-05-29")
    (after,) = lots_of(firm, "2026-06-01")
    assert (before["quantity"], before["cost_basis"]) == ("10", "1000.00")
    assert (after["quantity"], after["cost_basis"]) == ("20", "1000.00")


def test_dividends_arrive_as_cash_on_the_pay_date(firm):
    firm.load(trades(buy("2026-01-05", "100", "70", "BND"))
              + "dividends:\n  - {symbol: BND, ex_date: 2026-02-02, pay_date: 2026-02-05, per_share: '0.21'}\n", "--as", "olivia")
    cash = lambda day: Decimal(firm("lots", "A", "--as-of", day, "--json").json()["cash"])  # noqa: E731
    assert cash("2026-02-04") == Decimal("93000.00")
    assert cash("2026-02-05") == Decimal("93021.00")


def test_holdings_weights_targets_and_drift(firm, tmp_path):
    firm.load(trades(buy("2026-01-05", "100", "100"), buy("2026-01-05", "100", "50", "BND")), "--as", "olivia")
    prices = tmp_path / "closes.csv"
    prices.write_text("Date,VTI,BND,ITOT\n2026-01-05,110,50,\n2026-01-06,120,50,60\n")
    assert firm("prices", "load", str(prices), "--as", "olivia").code == 0
    holdings = firm("holdings", "A", "--as-of", "2026-01-06", "--json").json()
    assert holdings["cash"] == "85000.00" and holdings["total_value"] == "102000.00"
    vti = next(p for p in holdings["positions"] if p["symbol"] == "VTI")
    assert (vti["market_value"], vti["weight"], vti["target_weight"]) == ("12000.00", "0.117647", "0.600000")
    classes = {c["asset_class"]: c for c in holdings["asset_classes"]}
    assert classes["us_equity"]["drift"] == "-0.482353"
    assert classes["cash"]["target_weight"] == "0.000000"
    earlier = firm("holdings", "A", "--as-of", "2026-01-05", "--json").json()
    assert earlier["total_value"] == "101000.00"


def test_price_files_long_format_and_corrections(firm, tmp_path):
    path = tmp_path / "long.csv"
    path.write_text("date,symbol,close\n2026-01-05,VTI,100\n2026-01-05,BND,70\n")
    assert firm("prices", "load", str(path), "--as", "olivia").code == 0
    path.write_text("date,symbol,close\n2026-01-05,VTI,101\n")
    # A recorded close changes only by a correction, with a reason (the contract).
    assert firm("prices", "load", str(path), "--as", "olivia").code == 1
    assert firm("prices", "load", str(path), "--as", "olivia", "--correct", "--reason", "vendor correction").code == 0
    firm.load(trades(buy("2026-01-05", "1", "100")), "--as", "olivia")
    vti = next(p for p in firm("holdings", "A", "--as-of", "2026-01-05", "--json").json()["positions"] if p["symbol"] == "VTI")
    assert vti["market_value"] == "101.00"


@pytest.mark.parametrize("text,message", [
    ("Date,VTI\n2026-01-05,100\n2026-01-06,abc\n", "line 3: close of VTI must be a number, got 'abc'"),
    ("Date,VTI\n2026-01-05,100\n06/01/2026,101\n", "line 3: date must be YYYY-MM-DD, got '06/01/2026'"),
    ("date,symbol,close\n2026-01-05,VTI,-1\n", "line 2: close of VTI must be positive, got '-1'"),
    ("Date,VTI,NOPE\n2026-01-05,100,1\n", "unknown symbol 'NOPE'"),
])
def test_bad_price_rows_are_reported_and_nothing_loaded(firm, tmp_path, text, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    before = store_contents(firm.url)
    result = firm("prices", "load", str(path), "--as", "olivia")
    assert result.code == 2 and message in result.err
    assert store_contents(firm.url) == before


def test_prices_are_the_overlay_managers(firm, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text("Date,VTI\n2026-01-05,100\n")
    assert firm("prices", "load", str(path), "--as", "alice").code == 1
