"""The objective, one term per reason to trade or not: tracking risk, tax, trading cost.

Each term does two things, and both come from the same definition:

- ``value(portfolio, buys, sells)``: its cost in dollars for given trades (dollars
  bought per security, dollars sold per lot). ``evaluate_objective`` sums these; it
  scores the rounded orders, the continuous solution and the benchmark alike.
- ``qp_part(layout)``: the same cost as a function of the solver's variables, in
  fractions of account value V: linear coefficients, a constant (trades that are not
  decisions, like do-not-hold sales and presold lots), and for tracking risk the
  structured Hessian.

For any trades, sum of qp parts * V == sum of values (tested).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lotline.domain.optimiser.layout import Layout
from lotline.domain.optimiser.portfolio import Portfolio


@dataclass(frozen=True, eq=False)
class QPPart:
    linear: np.ndarray  # (N,) per variable
    constant: float = 0.0
    # Hessian = M' (diag(alpha) + loadings loadings') M over the layout's segments.
    alpha: np.ndarray | None = None  # (S,)
    loadings: np.ndarray | None = None  # (S, k)


@dataclass(frozen=True)
class TrackingRisk:
    """gamma * (w - w*)' Sigma (w - w*): variance of the post-trade weights around the
    blended target, Sigma from the risk model, cash riskless. gamma = 10 makes a 1%
    tracking error weigh 0.1% of value.

    Weights are of the value that remains after any cash requested out (V'), and the
    cost is in dollars of it: a withdrawal is raised from the account and the rest is
    held to the target. Alternatives a class may hold (harvest substitutes) have no
    target weight, so this term is also what brings them back to the chosen model once
    the move pays."""

    risk_aversion: float
    name: str = field(default="tracking", init=False)

    def deviation(self, portfolio: Portfolio, buys: np.ndarray, sells: np.ndarray) -> np.ndarray:
        holdings, _ = portfolio.post_trade(buys, sells)
        return holdings / portfolio.remaining_value - portfolio.target

    def variance(self, portfolio: Portfolio, deviation: np.ndarray) -> float:
        exposure = portfolio.loadings.T @ deviation
        return float(deviation @ (portfolio.specific * deviation) + exposure @ exposure)

    def value(self, portfolio: Portfolio, buys: np.ndarray, sells: np.ndarray) -> float:
        deviation = self.deviation(portfolio, buys, sells)
        return self.risk_aversion * self.variance(portfolio, deviation) * portfolio.remaining_value

    def qp_part(self, layout: Layout) -> QPPart:
        p = layout.portfolio
        gamma = self.risk_aversion
        remaining = p.remaining_value
        # Variables are fractions of V, weights fractions of V': one unit of a variable
        # moves a weight by V / V' (1 without a withdrawal), and the cost in units of V
        # is the variance times V' / V.
        stretch = p.total_value / remaining
        shrink = remaining / p.total_value
        # Deviation before the free trades (forced and presold sales already applied),
        # per wash group: the members of one group are one risk.
        e0 = (p.holding - p.per_security(layout.constant_sells)) / remaining - p.target
        e0 = np.bincount(p.wash_group, weights=e0, minlength=len(p.wash_groups))
        specific, loadings = p.group_specific, p.group_loadings
        exposure = loadings.T @ e0
        gradient = 2.0 * gamma * (specific * e0 + loadings @ exposure)
        traded = layout.segment_group
        return QPPart(
            linear=layout.signs * gradient[layout.variable_group],
            constant=gamma * shrink * float(e0 @ (specific * e0) + exposure @ exposure),
            alpha=2.0 * gamma * stretch * specific[traded],
            loadings=np.sqrt(2.0 * gamma * stretch) * loadings[traded],
        )


@dataclass(frozen=True)
class TaxCost:
    """Tax on realised gains, lot by lot, at the rate that applies if sold today.

    Linear in the dollars sold: selling a fraction of a lot realises that fraction of
    its gain. A loss is a benefit (negative cost) only where harvesting is on; nothing
    is taxed in a tax-deferred or tax-exempt account."""

    taxable: bool
    harvest_losses: bool
    name: str = field(default="tax", init=False)

    def rate_per_dollar(self, portfolio: Portfolio) -> np.ndarray:
        """Tax per dollar sold, per lot (once per analysis: every solve and score asks)."""
        rate = portfolio.derived.get(self)
        if rate is None:
            rate = portfolio.derived[self] = self._rate_per_dollar(portfolio)
        return rate

    def _rate_per_dollar(self, portfolio: Portfolio) -> np.ndarray:
        if not self.taxable:
            return np.zeros(portfolio.lot_count)
        rate = portfolio.tax_rate * portfolio.gain_ratio
        return rate if self.harvest_losses else np.maximum(rate, 0.0)

    def value(self, portfolio: Portfolio, buys: np.ndarray, sells: np.ndarray) -> float:
        return float(self.rate_per_dollar(portfolio) @ sells)

    def qp_part(self, layout: Layout) -> QPPart:
        p = layout.portfolio
        rate = self.rate_per_dollar(p)
        return QPPart(
            linear=layout.gather(np.zeros(p.security_count), rate),
            constant=float(rate @ layout.constant_sells) / p.total_value,
        )


@dataclass(frozen=True)
class TradingCost:
    """Commissions and spread: a fixed fraction of every dollar traded, each side."""

    cost_per_dollar: float
    name: str = field(default="cost", init=False)

    def value(self, portfolio: Portfolio, buys: np.ndarray, sells: np.ndarray) -> float:
        return self.cost_per_dollar * float(buys.sum() + sells.sum())

    def qp_part(self, layout: Layout) -> QPPart:
        p = layout.portfolio
        return QPPart(
            linear=np.full(layout.size, self.cost_per_dollar),
            constant=self.cost_per_dollar * float(layout.constant_sells.sum()) / p.total_value,
        )


# Per unit sold (fraction of V) of a lot whose short-term gain turns long term within
# the firm's wait: above anything selling it could gain for net benefit (tax rates
# times gain ratios, 2 * gamma * variance per unit of weight: a few units at most),
# far below every constraint's penalty (``constraints``). So it is sold only where a
# constraint (cash request, drift limit, gain budget) cannot be met otherwise, and
# then after every other lot that serves.
DEFERRAL_COST = 10.0


@dataclass(frozen=True)
class ShortTermDeferral:
    """The deferral rule as a cost the solver honours; not part of the reported
    objective (it prices no money, only an order of preference)."""

    name: str = field(default="deferral", init=False)

    def per_dollar(self, portfolio: Portfolio) -> np.ndarray:
        cost = portfolio.derived.get(self)
        if cost is None:
            cost = portfolio.derived[self] = self._per_dollar(portfolio)
        return cost

    def _per_dollar(self, portfolio: Portfolio) -> np.ndarray:
        if portfolio.defer_sale is None:
            return np.zeros(portfolio.lot_count)
        return np.where(portfolio.defer_sale, DEFERRAL_COST, 0.0)

    def value(self, portfolio: Portfolio, buys: np.ndarray, sells: np.ndarray) -> float:
        return float(self.per_dollar(portfolio) @ sells)

    def qp_part(self, layout: Layout) -> QPPart:
        p = layout.portfolio
        cost = self.per_dollar(p)
        return QPPart(
            linear=layout.gather(np.zeros(p.security_count), cost),
            constant=float(cost @ layout.constant_sells) / p.total_value,
        )


def solver_terms(settings) -> tuple:
    """What the solver minimises: the objective, plus the rules it honours as costs."""
    return objective_terms(settings) + (ShortTermDeferral(),)


def objective_terms(settings) -> tuple[TrackingRisk, TaxCost, TradingCost]:
    """The design's objective for these settings, in the order ``ObjectiveTerms`` reports."""
    return (
        TrackingRisk(settings.risk_aversion),
        TaxCost(settings.taxable, settings.harvest_losses),
        TradingCost(settings.trading_cost),
    )
