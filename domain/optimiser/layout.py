"""Which trades are decision variables in one solve, and in what order.

Variables are dollars traded as fractions of account value: a buy per buyable
security, a sale per sellable lot. They are grouped by wash group, then by security
(its buy first, then its lots in input order), because the group's specific risk
couples exactly those (securities of one wash group are one risk, see ``portfolio``):
the solver exploits that block structure (see ``qp``), one segment per group.

Trades that are not free are constants: a do-not-hold lot is sold in full, a lot that
may not be sold stays, a direction ruled out after an earlier solve stays shut, and a
lot the presolve settles (see ``presolve``) is sold in full or kept. Only do-not-hold
sales are *forced* (mandatory); the presolve's lots are the solver's business alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lotline.domain.optimiser.portfolio import Portfolio, cached_property


@dataclass(frozen=True)
class Directions:
    """Trades ruled out by an earlier solve: no buying these securities, no selling
    these lots (indices into the portfolio's securities and lots)."""

    no_buy: frozenset[int] = frozenset()
    no_sell: frozenset[int] = frozenset()

    def also(self, no_buy=(), no_sell=()) -> Directions:
        return Directions(self.no_buy | frozenset(no_buy), self.no_sell | frozenset(no_sell))


# Key of the portfolio's last permissions under shut directions (``derived``).
_LAST_PERMISSIONS = "layout.last_permissions"


@dataclass(frozen=True, eq=False)
class TradePermissions:
    """What today's rules allow, before any optimisation."""

    buyable: np.ndarray  # (n,) bool
    sellable: np.ndarray  # (m,) bool: a free decision
    forced: np.ndarray  # (m,) bool: sold in full, no decision
    blocked_exits: tuple[str, ...]  # do-not-hold symbols with a lot that may not be sold

    @classmethod
    def of(cls, portfolio: Portfolio, directions: Directions = Directions()) -> TradePermissions:
        today = portfolio.derived.get(cls)
        if today is None:
            today = portfolio.derived[cls] = cls._today(portfolio)
        if not (directions.no_buy or directions.no_sell):
            return today
        # A solve lays out the same directions twice (in full, then presolved).
        last = portfolio.derived.get(_LAST_PERMISSIONS)
        if last is not None and last[0] is directions:
            return last[1]
        buyable, sellable = today.buyable, today.sellable
        if directions.no_buy:
            buyable = buyable.copy()
            buyable[list(directions.no_buy)] = False
        if directions.no_sell:
            sellable = sellable.copy()
            sellable[list(directions.no_sell)] = False
        permissions = cls(buyable, sellable, today.forced, today.blocked_exits)
        portfolio.derived[_LAST_PERMISSIONS] = (directions, permissions)
        return permissions

    @classmethod
    def _today(cls, portfolio: Portfolio) -> TradePermissions:
        exit_lot = portfolio.must_exit[portfolio.lot_security]
        has_value = portfolio.value > 0
        buyable = portfolio.can_buy & ~portfolio.must_exit
        # A do-not-hold sale goes out even where the wash rule would block the loss:
        # the restriction is the client's or compliance's, the wash sale only defers
        # the loss into the replacement's basis.
        forced = exit_lot & portfolio.can_sell & has_value
        loss_blocked = portfolio.loss_sale_blocked & (portfolio.gain < 0)
        sellable = portfolio.can_sell & ~exit_lot & has_value & ~loss_blocked
        stuck = exit_lot & ~portfolio.can_sell & has_value
        blocked = tuple(
            portfolio.symbols[i] for i in sorted(set(portfolio.lot_security[stuck].tolist()))
        )
        return cls(buyable, sellable, forced, blocked)


@dataclass(frozen=True, eq=False)
class Layout:
    portfolio: Portfolio
    permissions: TradePermissions
    variable_security: np.ndarray  # (N,) security of each trade variable
    variable_lot: np.ndarray  # (N,) lot of each sale variable, -1 for a buy
    signs: np.ndarray  # (N,) +1 buy, -1 sale
    segment_starts: np.ndarray  # (S,) first variable of each traded wash group
    segment_security: np.ndarray  # (S,) the segment's first security
    segment_group: np.ndarray  # (S,) which wash group
    forced_sells: np.ndarray  # (m,) dollars sold without a decision (mandatory)
    # (m,) dollars of lots the presolve sells in full outside the solve, None if none.
    presold_sells: np.ndarray | None = None
    # (N,) each variable's index into securities then lots (n + lot for a sale).
    trade_index: np.ndarray | None = None
    # (N,) each variable's wash group.
    group_of_variable: np.ndarray | None = None

    @cached_property
    def variable_group(self) -> np.ndarray:
        """The wash group of each trade variable."""
        if self.group_of_variable is not None:
            return self.group_of_variable
        return self.portfolio.wash_group[self.variable_security]

    @property
    def size(self) -> int:
        return int(self.signs.shape[0])

    @cached_property
    def constant_sells(self) -> np.ndarray:
        """Dollars sold per lot that are constants of the solve: forced and presold."""
        if self.presold_sells is None:
            return self.forced_sells
        return self.forced_sells + self.presold_sells

    @cached_property
    def is_buy(self) -> np.ndarray:
        return self.variable_lot < 0

    @cached_property
    def buy_positions(self) -> np.ndarray:
        return (self.variable_lot < 0).nonzero()[0]

    @cached_property
    def sell_positions(self) -> np.ndarray:
        return (self.variable_lot >= 0).nonzero()[0]

    def upper_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions and upper bounds (fractions of V) of the sale variables."""
        sells = self.sell_positions
        return sells, self.portfolio.value[self.variable_lot[sells]] / self.portfolio.total_value

    def trades(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Dollars bought per security and sold per lot, forced sales included."""
        p = self.portfolio
        dollars = np.maximum(z[: self.size], 0.0) * p.total_value
        buys = np.zeros(p.security_count)
        sells = self.constant_sells.copy()
        buy_positions, sell_positions = self.buy_positions, self.sell_positions
        buys[self.variable_security[buy_positions]] = dollars[buy_positions]
        sell_lots = self.variable_lot[sell_positions]
        # A sale never exceeds its lot, whatever the solver's last digits say.
        sells[sell_lots] = np.minimum(dollars[sell_positions], p.value[sell_lots])
        return buys, sells

    def variable_keys(self) -> np.ndarray:
        """A stable integer per variable: the lot for a sale, lots + security for a buy."""
        return self._keys

    @cached_property
    def _keys(self) -> np.ndarray:
        m = self.portfolio.lot_count
        return np.where(self.variable_lot >= 0, self.variable_lot, m + self.variable_security)

    @cached_property
    def _position_of_key(self) -> np.ndarray:
        # Keys are below lots + securities: a lookup table beats sorting them.
        table = np.full(self.portfolio.lot_count + self.portfolio.security_count, -1, dtype=np.intp)
        table[self._keys] = np.arange(self.size)
        return table

    def positions_in(self, other: Layout) -> np.ndarray:
        """Where each of this layout's variables sits in ``other`` (which must have it)."""
        return other._position_of_key[self._keys]

    def gather(self, per_buy: np.ndarray, per_sell: np.ndarray) -> np.ndarray:
        """One coefficient per variable from a per-security (buys) and a per-lot
        (sales) array; the last axis indexes securities / lots."""
        return self.gather_joined(np.concatenate([per_buy, per_sell], axis=-1))

    def gather_joined(self, per_trade: np.ndarray) -> np.ndarray:
        """``gather`` from one array whose last axis runs over securities, then lots."""
        return per_trade.take(self._trade_index, axis=-1)

    @cached_property
    def _trade_index(self) -> np.ndarray:
        if self.trade_index is not None:
            return self.trade_index
        n = self.portfolio.security_count
        return np.where(self.variable_lot < 0, self.variable_security, n + self.variable_lot)

    @classmethod
    def of(
        cls,
        portfolio: Portfolio,
        directions: Directions = Directions(),
        presold: np.ndarray | None = None,
        kept: np.ndarray | None = None,
    ) -> Layout:
        """``presold`` / ``kept``: free lots (indices) to sell in full / not to sell, as
        constants rather than decisions."""
        permissions = TradePermissions.of(portfolio, directions)
        sellable = permissions.sellable
        presold_sells = None
        if kept is not None and len(kept):
            sellable = sellable.copy()
            sellable[kept] = False
        if presold is not None and len(presold):
            if sellable is permissions.sellable:
                sellable = sellable.copy()
            sellable[presold] = False
            presold_sells = np.zeros(portfolio.lot_count)
            presold_sells[presold] = portfolio.value[presold]
        # Every possible trade in layout order (``_every_trade``), those free today.
        candidate, security, lot, group = _every_trade(portfolio)
        free = np.concatenate([permissions.buyable, sellable])[candidate]
        candidate, security, lot, group = candidate[free], security[free], lot[free], group[free]
        signs = np.where(lot < 0, 1.0, -1.0)
        if len(security):
            new_segment = np.ones(len(security), dtype=bool)
            new_segment[1:] = group[1:] != group[:-1]
            starts = new_segment.nonzero()[0]
        else:
            starts = np.zeros(0, dtype=np.intp)
        return cls(
            portfolio=portfolio,
            permissions=permissions,
            variable_security=security,
            variable_lot=lot,
            signs=signs,
            segment_starts=starts,
            segment_security=security[starts],
            segment_group=group[starts],
            forced_sells=_forced_sells(portfolio, permissions),
            presold_sells=presold_sells,
            trade_index=candidate,
            group_of_variable=group,
        )


def _forced_sells(portfolio: Portfolio, permissions: TradePermissions) -> np.ndarray:
    """Dollars sold per lot without a decision today, the do-not-hold lots in full
    (the same whatever directions are shut): once per analysis."""
    forced = portfolio.derived.get(_forced_sells)
    if forced is None:
        forced = portfolio.derived[_forced_sells] = np.where(permissions.forced, portfolio.value, 0.0)
    return forced


def _every_trade(portfolio: Portfolio) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every buy (one per security) and sale (one per lot) in layout order: by wash
    group, security, buy before sales, sales in lot order; computed once per analysis.
    A layout's variables are those of its free trades, in this order (the keys are
    unique, so sorting a subset keeps this order). Returns each trade's index into
    securities then lots (``n + lot`` for a sale), its security, lot (-1: a buy) and
    wash group."""
    cached = portfolio.derived.get(_every_trade)
    if cached is None:
        n, m = portfolio.security_count, portfolio.lot_count
        security = np.concatenate([np.arange(n), portfolio.lot_security]).astype(np.intp)
        lot = np.concatenate([np.full(n, -1, dtype=np.intp), np.arange(m)]).astype(np.intp)
        order = np.lexsort((lot, security, portfolio.wash_group[security]))
        candidate = np.where(lot[order] < 0, security[order], n + lot[order])
        security, lot = security[order], lot[order]
        cached = portfolio.derived[_every_trade] = (candidate, security, lot, portfolio.wash_group[security])
    return cached
