"""What a backtest measures: taxes netted year by year as the US rules net them, with
losses carried forward; the tax of liquidating at the end; the independent wash-sale
check; tracking error, drift, turnover and tax alpha."""

from datetime import date, timedelta
from decimal import Decimal

import pytest

from lotline.domain.backtest_metrics import (
    Acquisition,
    Gain,
    LossSale,
    liquidation_tax,
    mean_abs_class_drift,
    net_year,
    tax_alpha_annual,
    taxes_by_year,
    tracking_error_annual,
    turnover_annual,
    wash_sale_violations,
)

ST, LT = Decimal("0.37"), Decimal("0.20")
D = Decimal


def test_gains_of_each_term_are_taxed_at_their_own_rate():
    assert net_year(D(1000), D(2000), ST, LT).tax == D(370) + D(400)


def test_a_short_term_loss_offsets_a_long_term_gain_and_the_excess_carries_as_short_term():
    offset = net_year(D(-300), D(1000), ST, LT)
    assert (offset.tax, offset.carry_short, offset.carry_long) == (D(140), 0, 0)
    excess = net_year(D(-1500), D(1000), ST, LT)
    assert (excess.tax, excess.carry_short, excess.carry_long) == (0, D(-500), 0)


def test_a_long_term_loss_offsets_a_short_term_gain_and_the_excess_carries_as_long_term():
    excess = net_year(D(200), D(-1000), ST, LT)
    assert (excess.tax, excess.carry_short, excess.carry_long) == (0, 0, D(-800))


def test_losses_carry_forward_into_later_years():
    gains = [Gain(date(2024, 3, 1), "short", D(-10_000)), Gain(date(2025, 6, 1), "long", D(15_000)),
             Gain(date(2026, 6, 1), "short", D(1_000))]
    taxes, carry_short, carry_long = taxes_by_year(gains, ST, LT, [2024, 2025, 2026])
    assert taxes == {2024: D("0.00"), 2025: D("1000.00"), 2026: D("370.00")}
    assert (carry_short, carry_long) == (0, 0)


def test_a_loss_still_carried_at_the_end_is_reported():
    _, carry_short, carry_long = taxes_by_year([Gain(date(2024, 3, 1), "long", D(-700))], ST, LT, [2024, 2025])
    assert (carry_short, carry_long) == (0, D(-700))


def test_liquidation_nets_unrealised_gains_with_the_last_year_and_values_losses_at_the_rates():
    realised = [Gain(date(2026, 2, 1), "short", D(1000))]  # taxed 370 already
    # Selling everything realises a long-term loss of 2,000: 1,000 offsets the short-term
    # gain (-370), the other 1,000 is worth its long-term rate (-200).
    assert liquidation_tax(realised, [Gain(date(2026, 12, 31), "long", D(-2000))], D(0), D(0), ST, LT) == D("-570.00")
    # Unrealised gains are taxed at their term's rate.
    assert liquidation_tax([], [Gain(date(2026, 12, 31), "long", D(5000))], D(0), D(0), ST, LT) == D("1000.00")
    # A loss carried into the year offsets them.
    assert liquidation_tax([], [Gain(date(2026, 12, 31), "long", D(5000))], D(-1000), D(0), ST, LT) == D("800.00")


SALE = date(2026, 3, 2)


def test_a_loss_sale_with_a_purchase_of_its_wash_group_within_30_days_either_side_is_a_violation():
    loss = [LossSale("L1", "us-total", SALE)]
    for days in (-30, -1, 0, 1, 30):
        assert wash_sale_violations([Acquisition("L9", "us-total", SALE + timedelta(days=days))], loss) == 1
    for days in (-31, 31):
        assert wash_sale_violations([Acquisition("L9", "us-total", SALE + timedelta(days=days))], loss) == 0


def test_another_wash_group_and_the_lot_sold_itself_do_not_count():
    loss = [LossSale("L1.2", "us-total", SALE)]
    assert wash_sale_violations([Acquisition("L2", "sp500", SALE)], loss) == 0
    # The lot's own purchase (and the lot it was carved from) is not a replacement.
    assert wash_sale_violations([Acquisition("L1", "us-total", SALE - timedelta(days=5))], loss) == 0
    assert wash_sale_violations([Acquisition("L12", "us-total", SALE - timedelta(days=5))], loss) == 1


def test_each_loss_sale_counts_once():
    buys = [Acquisition(f"B{i}", "g", SALE + timedelta(days=i)) for i in range(3)]
    assert wash_sale_violations(buys, [LossSale("L1", "g", SALE), LossSale("L2", "g", SALE)]) == 2


def test_tracking_error_is_the_annualised_deviation_of_the_daily_differences():
    assert tracking_error_annual([0.01, -0.02, 0.005], [0.01, -0.02, 0.005]) == 0
    te = tracking_error_annual([0.01, 0.0, 0.01, 0.0], [0.0, 0.0, 0.0, 0.0])
    assert te == pytest.approx((0.01 ** 2 * 4 / 4 / 3) ** 0.5 * 252 ** 0.5)


def test_drift_turnover_and_tax_alpha():
    assert mean_abs_class_drift([{"a": 0.01, "b": -0.03}, {"a": 0.0, "b": 0.02}]) == pytest.approx(0.015)
    # 252 days trading 100,000 on a 100,000 account: half of it bought, half sold, once a year.
    assert turnover_annual(100_000.0, 100_000.0, 252) == pytest.approx(0.5)
    # 2,000 more after tax on 100,000 over two years: 1% a year.
    assert tax_alpha_annual(D(112_000), D(110_000), D(100_000), 504) == D("0.0100")
