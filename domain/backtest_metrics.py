"""What a backtest measures, from what it recorded: taxes year by year under the US
netting rules, the after-tax liquidation value, tracking error against the target,
class drift, turnover, tax alpha, and wash-sale violations found by an independent
check over the trades (the ledger's own flags are not read). Pure."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lotline.domain.tax import WASH_SALE_DAYS

ZERO = Decimal(0)
CENT = Decimal("0.01")
TRADING_DAYS_PER_YEAR = 252


@dataclass(frozen=True)
class Gain:
    """A recognised gain (negative: a loss) and its term, "short" or "long"."""

    on: date
    term: str
    amount: Decimal


@dataclass(frozen=True)
class YearTax:
    tax: Decimal
    carry_short: Decimal  # loss carried into the next year, short term (zero or negative)
    carry_long: Decimal


def net_year(short: Decimal, long: Decimal, short_rate: Decimal, long_rate: Decimal,
             value_losses: bool = False) -> YearTax:
    """One year's net short- and long-term gains (carried losses included) taxed as the
    US rules net them: a net loss of one term offsets a net gain of the other; a loss
    left over is carried forward keeping its term. `value_losses`: a loss left over is
    worth its rate now (a liquidation's measure) instead of being carried."""
    if short < 0 <= long:
        long, short = long + short, ZERO
        if long < 0:
            short, long = long, ZERO  # the excess of a short-term loss stays short term
    elif long < 0 <= short:
        short, long = short + long, ZERO
        if short < 0:
            long, short = short, ZERO
    if value_losses:
        return YearTax(short * short_rate + long * long_rate, ZERO, ZERO)
    tax = max(short, ZERO) * short_rate + max(long, ZERO) * long_rate
    return YearTax(tax, min(short, ZERO), min(long, ZERO))


def taxes_by_year(gains: Iterable[Gain], short_rate: Decimal, long_rate: Decimal,
                  years: Sequence[int]) -> tuple[dict[int, Decimal], Decimal, Decimal]:
    """The tax of each year in `years` on the gains realised in it, losses carried
    forward; and the short- and long-term losses still carried after the last."""
    by_year: dict[int, list[Decimal]] = {y: [ZERO, ZERO] for y in years}
    for gain in gains:
        totals = by_year.setdefault(gain.on.year, [ZERO, ZERO])
        totals[0 if gain.term == "short" else 1] += gain.amount
    carry_short = carry_long = ZERO
    taxes = {}
    for year in sorted(by_year):
        short, long = by_year[year]
        result = net_year(short + carry_short, long + carry_long, short_rate, long_rate)
        taxes[year] = result.tax.quantize(CENT)
        carry_short, carry_long = result.carry_short, result.carry_long
    return taxes, carry_short, carry_long


def liquidation_tax(realised_last_year: Sequence[Gain], unrealised: Sequence[Gain], carry_short: Decimal,
                    carry_long: Decimal, short_rate: Decimal, long_rate: Decimal) -> Decimal:
    """The tax of selling everything on the last day, beyond the tax of the last year's
    realised gains: the unrealised gains netted with that year's (and the losses carried
    into it), a loss left over valued at the same rates (so it can be negative).
    `carry_*`: the losses carried into the last year."""
    def totals(gains: Iterable[Gain]) -> tuple[Decimal, Decimal]:
        short = sum((g.amount for g in gains if g.term == "short"), ZERO)
        return short, sum((g.amount for g in gains if g.term != "short"), ZERO)

    short, long = totals(realised_last_year)
    more_short, more_long = totals(unrealised)
    without = net_year(short + carry_short, long + carry_long, short_rate, long_rate).tax
    with_all = net_year(short + more_short + carry_short, long + more_long + carry_long, short_rate, long_rate,
                        value_losses=True).tax
    return (with_all - without).quantize(CENT)


@dataclass(frozen=True)
class Acquisition:
    lot_id: str
    wash_group: str
    on: date


@dataclass(frozen=True)
class LossSale:
    lot_id: str  # the lot sold (a part carved off a lot is `<lot_id>.<n>`)
    wash_group: str
    on: date


def wash_sale_violations(acquisitions: Sequence[Acquisition], loss_sales: Sequence[LossSale]) -> int:
    """Loss sales with an acquisition of the same wash group within 30 calendar days
    before or after, both ends inclusive, other than the purchase of the lot sold itself."""
    by_group: dict[str, list[Acquisition]] = {}
    for a in acquisitions:
        by_group.setdefault(a.wash_group, []).append(a)
    count = 0
    for sale in loss_sales:
        own = _lot_family(sale.lot_id)
        for a in by_group.get(sale.wash_group, ()):
            if abs((a.on - sale.on).days) <= WASH_SALE_DAYS and a.lot_id not in own:
                count += 1
                break
    return count


def _lot_family(lot_id: str) -> set[str]:
    """A lot and those it was carved from (`A.1.2` comes from `A.1` and `A`)."""
    parts = lot_id.split(".")
    return {".".join(parts[:n]) for n in range(1, len(parts) + 1)}


def tracking_error_annual(portfolio: Sequence[float], benchmark: Sequence[float]) -> float:
    """Annualised standard deviation of the daily return differences."""
    diffs = [p - b for p, b in zip(portfolio, benchmark, strict=True)]
    if len(diffs) < 2:
        return 0.0
    mean = sum(diffs) / len(diffs)
    variance = sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)
    return math.sqrt(variance * TRADING_DAYS_PER_YEAR)


def benchmark_return(weights: Mapping[str, float], returns: Mapping[str, float]) -> float:
    """One day's return of the target held at its weights (rebalanced to them daily);
    weight outside `returns` (cash) earns nothing."""
    return sum(w * returns.get(s, 0.0) for s, w in weights.items())


def mean_abs_class_drift(drifts: Sequence[Mapping[str, float]]) -> float:
    """The mean, over days and asset classes, of |class weight - target weight|."""
    values = [abs(d) for day in drifts for d in day.values()]
    return sum(values) / len(values) if values else 0.0


def turnover_annual(traded: float, mean_value: float, days: int) -> float:
    """Half the value bought and sold, as a share of the mean value, per year."""
    if mean_value <= 0 or days <= 0:
        return 0.0
    return traded / 2 / mean_value / (days / TRADING_DAYS_PER_YEAR)


def tax_alpha_annual(after_tax: Decimal, reference_after_tax: Decimal, initial_value: Decimal, days: int) -> Decimal:
    """The difference in after-tax liquidation value, as a fraction of the initial value
    per year."""
    if initial_value <= 0 or days <= 0:
        return ZERO
    years = Decimal(days) / TRADING_DAYS_PER_YEAR
    return ((after_tax - reference_after_tax) / initial_value / years).quantize(Decimal("0.0001"))
