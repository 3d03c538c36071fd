"""What the optimiser hands back. Floats: the caller quantises at the boundary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from lotline.domain.vocabulary import OrderReason


class BuyOrder(NamedTuple):
    symbol: str
    shares: float
    dollars: float
    reason: OrderReason = OrderReason.REBALANCE  # why (see ``reasons``)


class SellOrder(NamedTuple):
    """The shares sold from one lot. A security's sale is one order however many lots
    it relieves: its lots share the order's reason (see ``reasons``)."""

    lot_id: str
    symbol: str
    shares: float
    dollars: float
    reason: OrderReason = OrderReason.REBALANCE
    gain: float = 0.0  # realised gain (negative: a loss) of the shares sold
    mandatory: bool = False


@dataclass(frozen=True)
class ObjectiveTerms:
    """The objective in dollars: tracking risk, tax and trading cost, and their sum."""

    tracking: float
    tax: float
    cost: float
    total: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", self.tracking + self.tax + self.cost)


@dataclass(frozen=True)
class ContinuousSolution:
    """The last solve before rounding: dollars per security bought and per lot sold."""

    buys: tuple[tuple[str, float], ...]
    sells: tuple[tuple[str, float], ...]
    objective: ObjectiveTerms
    penalty: float  # dollars of penalised constraint breaches (zero unless softened)
    status: str
    iterations: int
    # Directions the wash-sale and round-trip rules shut before this solve.
    no_buy: tuple[str, ...] = ()  # symbols
    no_sell: tuple[str, ...] = ()  # lot ids

    def as_orders(self, problem) -> tuple[tuple[BuyOrder, ...], tuple[SellOrder, ...]]:
        """Unrounded orders (fractional shares), e.g. to score with evaluate_objective."""
        prices = {s.symbol: s.price for s in problem.securities}
        lots = {lot.lot_id: lot for lot in problem.lots}
        buys = tuple(BuyOrder(symbol, d / prices[symbol], d) for symbol, d in self.buys)
        sells = tuple(
            SellOrder(lot_id, lots[lot_id].symbol, d / prices[lots[lot_id].symbol], d) for lot_id, d in self.sells
        )
        return buys, sells


@dataclass(frozen=True)
class OptimisationResult:
    buys: tuple[BuyOrder, ...]
    sells: tuple[SellOrder, ...]
    objective_before: ObjectiveTerms
    objective_after: ObjectiveTerms
    softened: tuple[str, ...]  # e.g. "drift_limit:bonds", "gain_budget", "must_exit:XYZ"
    solves: int
    cash_after: float
    continuous: ContinuousSolution
    # Directions fixed after a solve, e.g. "wash_sale:us-agg:sales_kept".
    resolved: tuple[str, ...] = ()
    iterations: int = 0  # interior-point iterations over all solves
    # Dollars the trade list saves: objective before minus after.
    benefit: float = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "benefit", self.objective_before.total - self.objective_after.total)
