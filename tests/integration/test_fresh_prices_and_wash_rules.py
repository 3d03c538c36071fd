"""The day always completes: an account without fresh closes is recorded as failed and
the others decide; the wash-sale bookkeeping knows every security an account bought,
and counts a transferred lot by the date it was acquired. Every decision made here must
replay (the `cli` fixture replays them all at teardown)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from tests.integration.test_rebalance_behaviour import FINALS, HOLDINGS, POLICY
from tests.market import closes, write_wide_csv

DAY = "2026-03-02"  # the last day of the loaded closes
NEXT = "2026-03-03"  # a trading day without closes until a test loads some


@pytest.fixture
def firm(cli, tmp_path):
    assert cli.load(POLICY).code == 0
    symbols = ["VTI", "ITOT", "SCHB", "VOO", "BND", "AGG", "VGIT"]
    prices = write_wide_csv(tmp_path / "prices.csv", closes(symbols, date.fromisoformat(DAY), 300, finals=FINALS))
    assert cli("prices", "load", str(prices), "--as", "olivia").code == 0
    return cli


def add_accounts(cli, text):
    loaded = cli.load("accounts:\n" + text, "--as", "alice")
    assert loaded.code == 0, loaded.err


def load_closes(cli, tmp_path, on, finals):
    path = write_wide_csv(tmp_path / f"closes-{on}.csv",
                          {s: [(date.fromisoformat(on), Decimal(c))] for s, c in finals.items()})
    loaded = cli("prices", "load", str(path), "--as", "olivia")
    assert loaded.code == 0, loaded.err


def rebalance(cli, on, *accounts):
    result = cli("rebalance", "--date", on, *[a for account in accounts for a in ("--account", account)],
                 "--as", "olivia", "--json")
    assert result.code == 0, result.err
    return result.json()


def orders_of(cli, account_id, on=DAY):
    return cli("orders", "--date", on, "--account", account_id, "--json").json()["orders"]


STALE = """  - id: OLD
    advisor: alice
    template: balanced
    opened: 2024-01-02
    cash: "2000"
    lots:
      - {symbol: VTI,  quantity: "100", cost_basis: "24000", acquired: 2024-01-02}
      - {symbol: SCHB, quantity: "1200", cost_basis: "24000", acquired: 2024-01-02}
      - {symbol: BND,  quantity: "300", cost_basis: "21000", acquired: 2024-01-02}
      - {symbol: VGIT, quantity: "330", cost_basis: "19800", acquired: 2024-01-02}
      - {symbol: VOO,  quantity: "10", cost_basis: "5000", acquired: 2024-01-02}
      - {symbol: AGG,  quantity: "50", cost_basis: "5000", acquired: 2024-01-02}
"""


# --- fresh closes ---------------------------------------------------------------------------


def test_a_day_without_closes_records_failures_naming_the_symbols_and_proposes_nothing(firm):
    add_accounts(firm, HOLDINGS + STALE)
    day = rebalance(firm, NEXT)
    assert day["decisions"] == []
    failures = {f["account"]: f["reason"] for f in day["failures"]}
    assert set(failures) == {"H", "OLD"}
    assert "no close on 2026-03-03 for BND (last 2026-03-02), SCHB (last 2026-03-02), VGIT (last 2026-03-02), " \
           "VTI (last 2026-03-02)" in failures["H"]
    for symbol in ("AGG", "VOO", "VTI"):
        assert f"{symbol} (last 2026-03-02)" in failures["OLD"]
    assert firm("orders", "--date", NEXT, "--json").json()["orders"] == []
    # Nothing to release, nothing to fill.
    assert firm("approve", "--date", NEXT, "--as", "olivia").code == 0
    assert firm("orders", "--date", NEXT, "--status", "approved", "--json").json()["orders"] == []


def test_accounts_with_fresh_closes_decide_while_the_others_fail(firm, tmp_path):
    # Closes on the day for the template's securities only: VOO and AGG keep the old ones.
    load_closes(firm, tmp_path, NEXT, {"VTI": "301.00", "SCHB": "25.10", "BND": "73.05", "VGIT": "60.02"})
    add_accounts(firm, HOLDINGS + STALE + '  - {id: NEW, advisor: alice, template: balanced, opened: 2026-02-27, '
                 'cash: "100000"}\n')
    day = rebalance(firm, NEXT)
    assert {d["account"] for d in day["decisions"]} == {"H", "NEW"}
    (failure,) = day["failures"]
    assert failure["account"] == "OLD"
    assert "no close on 2026-03-03 for AGG (last 2026-03-02), VOO (last 2026-03-02)" in failure["reason"]
    assert orders_of(firm, "OLD", NEXT) == []
    bought = orders_of(firm, "NEW", NEXT)
    assert bought and {o["price"] for o in bought if o["symbol"] == "VTI"} == {"301.00"}
    # The failed account's reads still work, and show how old each close is.
    holdings = firm("holdings", "OLD", "--as-of", NEXT, "--json").json()
    dates = {p["symbol"]: p["price_date"] for p in holdings["positions"]}
    assert dates == {"VTI": NEXT, "SCHB": NEXT, "BND": NEXT, "VGIT": NEXT, "VOO": DAY, "AGG": DAY}


def test_a_security_never_priced_is_named_with_none(firm):
    assert firm.load("securities:\n  - {symbol: VEA, asset_class: intl_equity, wash_group: intl-developed}\n",
                     "--as", "ipc").code == 0
    add_accounts(firm, HOLDINGS.replace("id: H", "id: X")
                 + '      - {symbol: VEA, quantity: "10", cost_basis: "500", acquired: 2024-01-02}\n')
    (failure,) = rebalance(firm, DAY)["failures"]
    assert failure["account"] == "X" and "no close on 2026-03-02 for VEA (none)" in failure["reason"]


def test_max_price_age_days_lets_an_older_close_through(firm):
    add_accounts(firm, HOLDINGS)
    assert firm("settings", "max_price_age_days", "--json").json() == {"max_price_age_days": "0"}
    assert rebalance(firm, NEXT)["failures"]
    for bad in ("-1", "1.5", "x"):
        assert firm("settings", "max_price_age_days", bad, "--as", "olivia", "--reason", "r").code == 2
    assert firm("settings", "max_price_age_days", "3", "--as", "olivia", "--reason", "closes arrive late").code == 0
    day = rebalance(firm, NEXT)  # the failed account is analysed again
    assert day["failures"] == [] and [d["account"] for d in day["decisions"]] == ["H"]
    explained = firm("explain", day["decisions"][0]["decision_id"], "--json").json()
    assert explained["date"] == NEXT
    # Three days do not reach back four: Friday's closes do not serve the next Tuesday.
    assert firm("settings", "max_price_age_days", "0", "--as", "olivia", "--reason", "closes on time").code == 0
    assert rebalance(firm, "2026-03-04")["failures"]
    assert firm("settings", "max_price_age_days", "1", "--as", "olivia", "--reason", "a day late").code == 0
    (failure,) = rebalance(firm, "2026-03-04")["failures"]
    assert "no close on 2026-03-04 or the 1 day before for BND (last 2026-03-02)" in failure["reason"]


def test_holdings_name_the_date_of_each_close(firm):
    add_accounts(firm, HOLDINGS)
    on_day = firm("holdings", "H", "--as-of", DAY, "--json").json()
    assert {p["price_date"] for p in on_day["positions"]} == {DAY}
    later = firm("holdings", "H", "--as-of", NEXT, "--json").json()
    assert {(p["price"], p["price_date"]) for p in later["positions"]} == \
           {(p["price"], DAY) for p in on_day["positions"]}


# --- the wash-sale bookkeeping ------------------------------------------------------------------


def test_an_account_that_bought_and_sold_a_security_neither_held_nor_targeted_is_analysed(firm):
    add_accounts(firm, HOLDINGS.replace("id: H", "id: B").replace('cash: "2000"', 'cash: "20000"'))
    assert firm.load("trades:\n"
                     "  - {account: B, date: 2026-02-10, side: buy, symbol: ITOT, quantity: '100', price: '135'}\n"
                     "  - {account: B, date: 2026-02-20, side: sell, symbol: ITOT, quantity: '100', price: '128'}\n",
                     "--as", "olivia").code == 0
    day = rebalance(firm, DAY)
    assert day["failures"] == []
    assert [d["account"] for d in day["decisions"]] == ["B"]
    # The ITOT loss of ten days ago: nothing of its wash group (VTI, ITOT) is bought.
    assert not [o for o in orders_of(firm, "B") if o["symbol"] in ("VTI", "ITOT") and o["side"] == "buy"]


def test_a_loss_realised_from_a_transferred_lot_blocks_buying_its_wash_group(firm):
    add_accounts(firm, '  - {id: T, advisor: alice, template: balanced, opened: 2025-01-02, cash: "100000"}\n')
    # The advisor's transfer, then the overlay manager's recorded sale.
    assert firm.load("transfers:\n  - {account: T, date: 2026-02-02, lots: [{symbol: ITOT, quantity: '100', "
                     "cost_basis: '15000', acquired: 2025-03-03}]}\n", "--as", "alice").code == 0
    assert firm.load("trades:\n  - {account: T, date: 2026-02-20, side: sell, symbol: ITOT, quantity: '100', "
                     "price: '128'}\n", "--as", "olivia").code == 0
    rebalance(firm, DAY)
    orders = orders_of(firm, "T")
    assert [o for o in orders if o["side"] == "buy"]
    assert not [o for o in orders if o["symbol"] in ("VTI", "ITOT") and o["side"] == "buy"]


def transferred(days_before):
    """An account opened long ago whose AGG lot stands at a loss, and a BND lot (same wash
    group) transferred in with it but acquired `days_before` the analysis day."""
    acquired = date.fromordinal(date.fromisoformat(DAY).toordinal() - days_before).isoformat()
    return f"""  - id: A{days_before}
    advisor: alice
    template: balanced
    opened: 2025-01-02
    cash: "60000"
    lots:
      - {{symbol: AGG, quantity: "100", cost_basis: "12000", acquired: 2025-01-02}}
      - {{symbol: BND, quantity: "200", cost_basis: "14600", acquired: {acquired}}}
"""


def agg_sales(cli, account_id):
    decision = f"{account_id}/{DAY}"
    explained = cli("explain", decision, "--json").json()
    listed = explained.get("orders_proposed", explained.get("orders_considered"))
    from_explain = [o for o in listed if o["symbol"] == "AGG" and o["side"] == "sell"]
    from_orders = [o for o in orders_of(cli, account_id) if o["symbol"] == "AGG" and o["side"] == "sell"]
    return from_explain, from_orders


def test_a_lot_acquired_within_30_days_blocks_a_loss_sale_in_its_wash_group_whenever_it_arrived(firm):
    add_accounts(firm, transferred(10) + transferred(30) + transferred(31))
    day = rebalance(firm, DAY)
    assert day["failures"] == []
    assert agg_sales(firm, "A10") == ([], [])
    assert agg_sales(firm, "A30") == ([], [])  # the window's first day counts
    considered, proposed = agg_sales(firm, "A31")
    assert considered and proposed
    assert {r["lot_id"] for o in considered for r in o["lots"]} == {"A31/L1"}
    assert all(any("-term loss of" in s for s in o["explanation"]) for o in considered)
    # And the fills go through: no lot is carved under an order.
    assert firm("approve", "--date", DAY, "--as", "olivia").code == 0
    filled = firm("fill", "--date", DAY, "--as", "olivia")
    assert filled.code == 0, filled.err
