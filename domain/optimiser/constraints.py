"""Constraints on the trade list, each a small object that can be checked alone.

Linear constraints (cash, class drift, gain budget) are affine in the dollars traded:
``affine(portfolio)`` gives coefficients on dollars bought per security and sold per
lot plus a constant, the constraint being ``coefficients @ trades + constant <= 0``;
``excess`` evaluates it for given trades (positive: breached, in dollars). The solver
maps the same coefficients onto its variables, so what is solved is what is checked.

All of them are soft with an exact (linear) penalty: a slack per row, priced far above
anything a trade can gain, so it is zero whenever the constraint can hold and the
smallest possible breach when it cannot (a cash request larger than the account, a
do-not-hold sale that forces gains past the budget). A breach is reported by name.
The penalties are ordered: required cash over the gain budget over drift limits.

Wash-sale and round-trip rules are not convex; they are checked on a solution and
resolved by fixing trade directions and solving again (Moehle, Kochenderfer, Boyd and
Ang, "Tax-aware portfolio construction via convex optimization", 2021).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lotline.domain.optimiser.inputs import CASH_CLASS, ClassLimit
from lotline.domain.optimiser.portfolio import Portfolio, cached_property

# Per unit of breach as a fraction of account value (the objective's unit). Trades
# gain at most a few units per unit of weight (tax rates below 1 times gain ratios,
# 2*gamma*variance for risk), so these are exact penalties with a wide margin.
REQUIRED_CASH_PENALTY = 1e5
GAIN_BUDGET_PENALTY = 1e4
DRIFT_PENALTY = 1e3


@dataclass(frozen=True, eq=False)
class AffineRows:
    """coefficients_buy @ buys + coefficients_sell @ sells + constant <= 0 (dollars)."""

    names: tuple[str, ...]
    buy: np.ndarray  # (r, n)
    sell: np.ndarray  # (r, m)
    constant: np.ndarray  # (r,)
    penalty: np.ndarray  # (r,)

    def excess(self, buys: np.ndarray, sells: np.ndarray) -> np.ndarray:
        return self.buy @ buys + self.sell @ sells + self.constant

    @cached_property
    def slack_columns(self) -> np.ndarray:
        """(r, r): each row's slack, scaled so a breach of t costs penalty * t."""
        return -np.diag(1.0 / self.penalty)

    @cached_property
    def per_trade(self) -> np.ndarray:
        """(r, n + m): the buy coefficients, then the sale ones."""
        return np.concatenate([self.buy, self.sell], axis=1)

    @staticmethod
    def stack(parts: list[AffineRows], n: int, m: int) -> AffineRows:
        if not parts:
            return AffineRows((), np.zeros((0, n)), np.zeros((0, m)), np.zeros(0), np.zeros(0))
        return AffineRows(
            names=tuple(name for part in parts for name in part.names),
            buy=np.vstack([part.buy for part in parts]),
            sell=np.vstack([part.sell for part in parts]),
            constant=np.concatenate([part.constant for part in parts]),
            penalty=np.concatenate([part.penalty for part in parts]),
        )


def _cash_after(portfolio: Portfolio) -> tuple[np.ndarray, np.ndarray, float]:
    """Post-trade cash as coefficients on buys and sells plus a constant."""
    cost = portfolio.settings.trading_cost
    return (
        np.full(portfolio.security_count, -(1.0 + cost)),
        np.full(portfolio.lot_count, 1.0 - cost),
        portfolio.cash,
    )


@dataclass(frozen=True)
class CashFloor:
    """Cash after trades and their costs covers the reserve and due cash requests."""

    required_cash: float
    name: str = field(default="required_cash", init=False)

    def affine(self, portfolio: Portfolio) -> AffineRows:
        buy, sell, constant = _cash_after(portfolio)
        # required - cash_after <= 0
        return AffineRows(
            (self.name,),
            -buy[None, :],
            -sell[None, :],
            np.array([self.required_cash - constant]),
            np.array([REQUIRED_CASH_PENALTY]),
        )

    def excess(self, portfolio: Portfolio, buys: np.ndarray, sells: np.ndarray) -> float:
        return float(self.affine(portfolio).excess(buys, sells)[0])


@dataclass(frozen=True)
class ClassDriftLimits:
    """|W_c - W*_c| <= limit for every asset class with a limit, cash included (cash's
    weight is the cash after trades plus any security classed as cash). Weights are of
    the value that remains after any cash requested out, and the cash class holds what
    remains of the cash: a withdrawal leaves the rest of the account within its limits."""

    limits: tuple[ClassLimit, ...]

    def affine(self, portfolio: Portfolio) -> AffineRows:
        n, m = portfolio.security_count, portfolio.lot_count
        value = portfolio.remaining_value
        names: list[str] = []
        buy_rows, sell_rows, constants = [], [], []
        cash_buy, cash_sell, cash_now = _cash_after(portfolio)
        for limit in self.limits:
            members = portfolio.class_members(limit.asset_class).astype(np.float64)
            # Class value after trades = weights on buys and sells + current value.
            buy = members.copy()
            sell = -members[portfolio.lot_security] if m else np.zeros(0)
            current = float(members @ portfolio.holding)
            if limit.asset_class == CASH_CLASS:
                buy = buy + cash_buy
                sell = sell + cash_sell
                current += cash_now - portfolio.withdrawal
            upper = (limit.target_weight + limit.drift_limit) * value
            lower = (limit.target_weight - limit.drift_limit) * value
            name = f"drift_limit:{limit.asset_class}"
            names += [name, name]
            buy_rows += [buy, -buy]
            sell_rows += [sell, -sell]
            constants += [current - upper, lower - current]
        if not names:
            return AffineRows.stack([], n, m)
        return AffineRows(
            tuple(names),
            np.array(buy_rows).reshape(len(names), n),
            np.array(sell_rows).reshape(len(names), m),
            np.array(constants),
            np.full(len(names), DRIFT_PENALTY),
        )

    def excess(self, portfolio: Portfolio, buys: np.ndarray, sells: np.ndarray) -> dict[str, float]:
        """The larger breach of each class's two sides, in dollars."""
        rows = self.affine(portfolio)
        values = rows.excess(buys, sells)
        out: dict[str, float] = {}
        for name, v in zip(rows.names, values):
            out[name] = max(out.get(name, -np.inf), float(v))
        return out


@dataclass(frozen=True)
class GainBudget:
    """Net realised gain of this trade list within what is left of the annual budget.

    A budget already overspent (negative remainder) forbids further net gains; it does
    not force loss sales to win it back."""

    remaining: float
    name: str = field(default="gain_budget", init=False)

    def affine(self, portfolio: Portfolio) -> AffineRows:
        return AffineRows(
            (self.name,),
            np.zeros((1, portfolio.security_count)),
            portfolio.gain_ratio[None, :],
            np.array([-max(self.remaining, 0.0)]),
            np.array([GAIN_BUDGET_PENALTY]),
        )

    def excess(self, portfolio: Portfolio, buys: np.ndarray, sells: np.ndarray) -> float:
        return float(self.affine(portfolio).excess(buys, sells)[0])


def linear_constraints(problem) -> list:
    """The design's linear constraints for a problem."""
    constraints: list = [CashFloor(problem.required_cash)]
    if problem.class_limits:
        constraints.append(ClassDriftLimits(tuple(problem.class_limits)))
    if problem.gain_budget_remaining is not None and problem.settings.taxable:
        constraints.append(GainBudget(problem.gain_budget_remaining))
    return constraints


# --- same-day rules, resolved by fixing directions ---------------------------------


@dataclass(frozen=True)
class Conflict:
    """A buy and a sale the rules forbid together today, and which side stays."""

    rule: str
    key: str  # the wash group or the security
    buy_dollars: float
    sell_dollars: float
    sale_is_mandatory: bool
    keep_sales: bool
    securities_to_stop_buying: tuple[int, ...]  # shut if the sale side stays
    lots_to_stop_selling: tuple[int, ...]  # shut if the buy side stays


@dataclass(frozen=True)
class Settlement:
    """Directions to fix for the next solve."""

    no_buy: tuple[int, ...]
    no_sell: tuple[int, ...]
    notes: tuple[str, ...]


class _Tally:
    """One solve's trades per key: a plain class, built several times a solve."""

    def __init__(self, names, buy_key, sale_key, bought, sold, tolerance, forced, sells, counted, counted_key):
        self.names = names
        self.buy_key = buy_key  # key of each security's buy
        self.sale_key = sale_key  # key of each lot's sale, -1 where the rule ignores it
        self.bought = bought  # dollars per key
        self.sold = sold
        self.buying = bought > tolerance
        self.selling = sold > tolerance
        self.both = self.buying & self.selling  # the conflicts
        # For ``mandatory``, asked only of a conflict: the arrays the caller passed.
        self._forced_sales = (forced, sells, tolerance, counted, counted_key)

    # What only a conflict needs, computed when asked: most solves have none.
    @cached_property
    def traded(self) -> np.ndarray:
        return self.buying | self.selling

    @cached_property
    def mandatory(self) -> np.ndarray:
        """A forced sale on the key's sale side."""
        forced, sells, tolerance, counted, counted_key = self._forced_sales
        forced_sold = forced & (sells > tolerance)
        if counted is not None:
            forced_sold = forced_sold[counted]
        mandatory = np.zeros(len(self.names), dtype=bool)
        mandatory[counted_key[forced_sold]] = True
        return mandatory

    @cached_property
    def keep_sales(self) -> np.ndarray:
        # Keep the side carrying more dollars, with the round trip netted out: buying
        # back what was just sold moves no exposure (it is how the relaxation harvests
        # a loss for free), so the sale is weighed against the buying beyond it. Ties
        # keep the sale. Keeping sales shuts only the group's buys and the next solve
        # still chooses whether to sell (through a substitute, or not at all); keeping
        # buys would shut the harvest outright. A mandatory sale always stays.
        bought, sold = self.bought, self.sold
        return self.selling & (~self.buying | self.mandatory | (sold >= bought - sold))


class _SameDayRule:
    """A rule over two sides per key (wash group or security): buys of the key's
    securities, sales of its lots (for the wash rule, only loss lots).

    ``conflicts`` lists the keys where a solution trades both sides. ``settle`` fixes
    a direction for every key the solution trades at all: a conflict keeps its larger
    side, a one-sided key keeps the side it chose. Fixing only the conflicts lets new
    ones appear in the next solve (a harvest moves to a neighbour); fixing every traded
    key keeps the analysis at two solves."""

    name = ""

    def __init__(self, remember_last: bool = False) -> None:
        # ``remember_last``: for a caller that never writes to the arrays it passes
        # (the optimiser), which asks breached, conflict_keys and settle of one
        # solve's trades in turn.
        self._remember_last = remember_last
        self._last_tally = None

    def keys(self, portfolio: Portfolio) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """Key names, the key of each security's buy, the key of each lot's sale (-1:
        the rule does not concern that lot)."""
        return self.counted_keys(portfolio)[:3]

    def counted_keys(self, portfolio: Portfolio):
        """``keys``, then the lots the rule counts (a mask, None where all) and their
        keys: once per analysis, the same for every solve's trades."""
        cached = portfolio.derived.get(type(self))
        if cached is None:
            names, buy_key, sale_key = self._keys(portfolio)
            counted = sale_key >= 0
            if counted.all():
                cached = (names, buy_key, sale_key, None, sale_key)
            else:
                cached = (names, buy_key, sale_key, counted, sale_key[counted])
            portfolio.derived[type(self)] = cached
        return cached

    def _keys(self, portfolio: Portfolio) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _tally(self, portfolio, buys, sells, forced, tolerance) -> _Tally:
        # The last tally, matched by identity: it holds the arrays, so an identity
        # cannot be reused while it is kept.
        if not self._remember_last:
            return self._count(portfolio, buys, sells, forced, tolerance)
        last = self._last_tally
        if (last is not None and last[0] is portfolio and last[1] is buys and last[2] is sells
                and last[3] is forced and last[4] == tolerance):
            return last[5]
        tally = self._count(portfolio, buys, sells, forced, tolerance)
        self._last_tally = (portfolio, buys, sells, forced, tolerance, tally)
        return tally

    def _count(self, portfolio, buys, sells, forced, tolerance) -> _Tally:
        names, buy_key, sale_key, counted, counted_key = self.counted_keys(portfolio)
        k = len(names)
        bought = np.bincount(buy_key, weights=buys, minlength=k)
        sold = np.bincount(counted_key, weights=sells if counted is None else sells[counted], minlength=k)
        return _Tally(names, buy_key, sale_key, bought, sold, tolerance, forced, sells, counted, counted_key)

    def breached(self, portfolio, buys, sells, forced, tolerance) -> bool:
        """Whether any key trades both sides: the cheap question the optimiser asks."""
        return bool(self._tally(portfolio, buys, sells, forced, tolerance).both.any())

    def conflict_keys(self, portfolio, buys, sells, forced, tolerance) -> list[str]:
        """The keys where the trades buy and sell, without the detail of ``conflicts``."""
        t = self._tally(portfolio, buys, sells, forced, tolerance)
        return list(map(t.names.__getitem__, t.both.nonzero()[0].tolist()))

    def conflicts(self, portfolio, buys, sells, forced, tolerance) -> list[Conflict]:
        t = self._tally(portfolio, buys, sells, forced, tolerance)
        return [
            Conflict(
                rule=self.name,
                key=t.names[k],
                buy_dollars=float(t.bought[k]),
                sell_dollars=float(t.sold[k]),
                sale_is_mandatory=bool(t.mandatory[k]),
                keep_sales=bool(t.keep_sales[k]),
                securities_to_stop_buying=tuple(np.flatnonzero(t.buy_key == k).tolist()),
                lots_to_stop_selling=tuple(np.flatnonzero(t.sale_key == k).tolist()),
            )
            for k in np.flatnonzero(t.both)
        ]

    def settle(self, portfolio, buys, sells, forced, tolerance, flip=None) -> Settlement:
        """``flip``: the securities (indices) whose conflicts keep the other side (a
        mandatory sale still stays), the choice the optimiser tries when the first one
        leaves a constraint breached; a key flips when one of its securities is named."""
        t = self._tally(portfolio, buys, sells, forced, tolerance)
        no_buy, no_sell, keep_sales = self._shut(portfolio, t, flip)
        notes = tuple(
            f"{self.name}:{t.names[k]}:{'sales_kept' if keep_sales[k] else 'buys_kept'}"
            for k in np.flatnonzero(t.both)
        )
        return Settlement(tuple(no_buy.tolist()), tuple(no_sell.tolist()), notes)

    def shut(self, portfolio, buys, sells, forced, tolerance, flip=None) -> tuple[np.ndarray, np.ndarray]:
        """``settle``'s directions alone: the securities not to buy and the lots not to
        sell (ascending indices)."""
        return self._shut(portfolio, self._tally(portfolio, buys, sells, forced, tolerance), flip)[:2]

    def _shut(self, portfolio, t: _Tally, flip):
        keep_sales = t.keep_sales
        if flip is not None and len(flip):
            flipped = np.zeros(len(t.names), dtype=bool)
            flipped[t.buy_key[np.asarray(sorted(flip), dtype=np.intp)]] = True
            keep_sales = np.where(t.both & ~t.mandatory & flipped, ~keep_sales, keep_sales)
        stop_selling = t.traded & ~keep_sales
        no_buy = keep_sales[t.buy_key].nonzero()[0]
        counted = self.counted_keys(portfolio)[3]
        if counted is None:
            no_sell = stop_selling[t.sale_key].nonzero()[0]
        else:
            no_sell = (counted & stop_selling[np.where(counted, t.sale_key, 0)]).nonzero()[0]
        return no_buy, no_sell, keep_sales

    def sides(self, portfolio, buys, sells, forced, tolerance) -> dict[str, tuple[bool, bool]]:
        """Per key: whether the trades buy it, whether they sell it (the sales the rule
        counts)."""
        t = self._tally(portfolio, buys, sells, forced, tolerance)
        return dict(zip(t.names, zip((t.bought > tolerance).tolist(), (t.sold > tolerance).tolist())))

    def sides_of(self, portfolio, buys, sells, forced, tolerance, keys) -> tuple[list[bool], list[bool]]:
        """``sides`` of the given keys only: whether the trades buy each, whether they
        sell each."""
        t = self._tally(portfolio, buys, sells, forced, tolerance)
        index = portfolio.derived.get((type(self), "index"))
        if index is None:
            index = portfolio.derived[(type(self), "index")] = dict(zip(t.names, range(len(t.names))))
        rows = list(map(index.__getitem__, keys))
        return (t.bought[rows] > tolerance).tolist(), (t.sold[rows] > tolerance).tolist()


class WashSaleRule(_SameDayRule):
    """Never buy and sell at a loss within one wash group on the same day."""

    name = "wash_sale"

    def _keys(self, portfolio):
        lot_group = portfolio.wash_group[portfolio.lot_security]
        return portfolio.wash_groups, portfolio.wash_group, np.where(portfolio.gain < 0, lot_group, -1)


class NoRoundTrip(_SameDayRule):
    """Never buy and sell the same security on the same day."""

    name = "round_trip"

    def _keys(self, portfolio):
        return portfolio.symbols, np.arange(portfolio.security_count), portfolio.lot_security
