"""The threshold rebalancer: trades a class back to target only when it leaves its
drift limit, sells first-in first-out, harvests losses above 5% on harvest days, and
keeps the rules every decision keeps."""

from datetime import date

from lotline.domain.threshold import Account, ClassBand, Holding, Lot, plan
from lotline.domain.vocabulary import OrderReason

OLD, MID, NEW = date(2020, 1, 2), date(2022, 1, 3), date(2024, 1, 2)


def _account(lots, cash=0.0, *, equity_target=0.6, bonds_target=0.4, limit=0.05, bnd_can_buy=True,
             required=0.0, harvest=True):
    holdings = [
        Holding("VTI", "us_equity", "total", 100.0, equity_target * 0.5),
        Holding("VOO", "us_equity", "sp500", 100.0, equity_target * 0.5),
        Holding("BND", "bonds", "agg", 50.0, bonds_target, can_buy=bnd_can_buy),
    ]
    bands = [ClassBand("us_equity", equity_target, limit), ClassBand("bonds", bonds_target, limit),
             ClassBand("cash", 0.0, 0.03)]
    return Account(holdings, lots, cash, required, bands, min_trade_value=100.0, harvest=harvest)


def _balanced():
    return [Lot("E1", "VTI", 30, 2400.0, OLD, tax_rate=0.2), Lot("E2", "VOO", 30, 2400.0, OLD, tax_rate=0.2),
            Lot("B1", "BND", 80, 3600.0, OLD, tax_rate=0.2)]


def test_within_its_bands_an_account_is_left_alone():
    result = plan(_account(_balanced()), harvest_day=False)
    assert result.buys == [] and result.sells == []


def test_a_class_outside_its_band_goes_back_to_target_selling_the_oldest_lots_first():
    lots = [Lot("E-new", "VTI", 40, 3600.0, NEW), Lot("E-old", "VTI", 40, 2000.0, OLD),
            Lot("E-mid", "VOO", 20, 1500.0, MID), Lot("B1", "BND", 40, 2000.0, OLD)]
    # us_equity 10,000 of 12,000 = 83% against 60%: sell 2,800 of equity, buy bonds.
    result = plan(_account(lots), harvest_day=False)
    assert result.band_exits == ("bonds", "us_equity")
    assert [(s.lot_id, s.shares) for s in result.sells] == [("E-old", 28.0)]
    assert all(s.reason == OrderReason.DRIFT_LIMIT for s in result.sells)
    assert [(b.symbol, b.shares) for b in result.buys] == [("BND", 56.0)]


def test_a_harvest_day_sells_lots_losing_more_than_5_percent_into_another_wash_group():
    lots = [Lot("E1", "VTI", 30, 3300.0, MID, tax_rate=0.37),  # 9% loss: harvested
            Lot("E2", "VOO", 30, 3100.0, MID, tax_rate=0.37),  # 3% loss: kept
            Lot("B1", "BND", 80, 3600.0, OLD, tax_rate=0.2)]
    result = plan(_account(lots), harvest_day=True)
    assert [(s.lot_id, s.reason) for s in result.sells] == [("E1", OrderReason.HARVEST)]
    assert [(b.symbol, b.shares) for b in result.buys] == [("VOO", 30.0)]
    assert round(result.benefit, 2) == round(300 * 0.37, 2)
    # The same account on any other day: nothing to do.
    assert plan(_account(lots), harvest_day=False).sells == []


def test_no_harvest_where_harvesting_is_off_or_the_sale_would_wash():
    lots = [Lot("E1", "VTI", 30, 3300.0, MID, tax_rate=0.37), Lot("E2", "VOO", 30, 3000.0, MID),
            Lot("B1", "BND", 80, 3600.0, OLD)]
    assert plan(_account(lots, harvest=False), harvest_day=True).sells == []
    blocked = [Lot("E1", "VTI", 30, 3300.0, MID, loss_sale_blocked=True), *lots[1:]]
    assert plan(_account(blocked), harvest_day=True).sells == []


def test_a_band_exit_never_buys_what_it_may_not_and_never_loss_sells_a_group_bought_lately():
    lots = [Lot("E1", "VTI", 50, 6000.0, OLD, loss_sale_blocked=True),  # at a loss, group bought lately
            Lot("E2", "VOO", 50, 4000.0, OLD), Lot("B1", "BND", 40, 2000.0, OLD)]
    result = plan(_account(lots, bnd_can_buy=False), harvest_day=False)
    assert {s.lot_id for s in result.sells} == {"E2"}
    assert result.buys == []  # BND may not be bought: the proceeds stay cash


def test_cash_for_the_reserve_and_requests_is_raised_from_the_most_overweight_class():
    result = plan(_account(_balanced(), required=1000.0), harvest_day=False)
    raised = sum(s.shares * {"VTI": 100, "VOO": 100, "BND": 50}[s.symbol] for s in result.sells)
    assert raised >= 1000.0
    assert all(s.mandatory and s.reason == OrderReason.CASH_REQUEST for s in result.sells)


def test_orders_are_whole_shares_and_small_ones_are_dropped():
    lots = [Lot("E1", "VTI", 31, 2400.0, OLD), Lot("E2", "VOO", 30, 2400.0, OLD), Lot("B1", "BND", 61, 2000.0, OLD)]
    result = plan(_account(lots, limit=0.02), harvest_day=False)
    for order in [*result.buys, *result.sells]:
        assert order.shares == int(order.shares)
        assert order.shares * {"VTI": 100, "VOO": 100, "BND": 50}[order.symbol] >= 100
