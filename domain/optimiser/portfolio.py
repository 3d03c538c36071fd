"""The problem as arrays: built once per analysis, shared by every solve and evaluation.

Securities keep the order of ``Problem.securities`` and lots the order of
``Problem.lots``: every output follows them, which keeps results deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from operator import attrgetter

import numpy as np

from lotline.domain.errors import InvalidInput
from lotline.domain.optimiser.inputs import Problem


class cached_property:  # noqa: N801 - a drop-in for functools.cached_property
    """functools.cached_property without its lock: Python 3.11 takes one on every first
    access, a microsecond each, and the optimiser's objects (one analysis, one thread)
    make dozens of first accesses a solve."""

    def __init__(self, func) -> None:
        self.func = func
        self.__doc__ = func.__doc__

    def __set_name__(self, owner, name: str) -> None:
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.func(instance)
        return value


def _field(items, name: str, dtype) -> np.ndarray:
    # fromiter over attrgetter: half the time of building lists of tuples.
    return np.fromiter(map(attrgetter(name), items), dtype, len(items))


@dataclass(frozen=True, eq=False)
class Portfolio:
    problem: Problem
    symbols: tuple[str, ...]
    price: np.ndarray  # (n,)
    target: np.ndarray  # (n,) target weights
    can_buy: np.ndarray  # (n,) bool
    must_exit: np.ndarray  # (n,) bool
    asset_classes: tuple[str, ...]  # per security
    wash_group: np.ndarray  # (n,) int, index into wash_groups
    wash_groups: tuple[str, ...]
    lot_ids: tuple[str, ...]
    lot_security: np.ndarray  # (m,) int
    quantity: np.ndarray  # (m,)
    value: np.ndarray  # (m,) market value today
    basis: np.ndarray  # (m,)
    tax_rate: np.ndarray  # (m,)
    can_sell: np.ndarray  # (m,) bool
    loss_sale_blocked: np.ndarray  # (m,) bool
    holding: np.ndarray  # (n,) market value per security
    cash: float
    total_value: float  # V: holdings plus cash, before trading
    loadings: np.ndarray  # (n, k) risk factor loadings, wash groups merged (``one_risk_per_wash_group``)
    specific: np.ndarray  # (n,) specific variances
    # Per wash group (index of ``wash_groups``): its risk, the risk of its member with
    # the longest history. The solver's segments are groups (see ``layout``).
    group_loadings: np.ndarray | None = None  # (G, k)
    group_specific: np.ndarray | None = None  # (G,)
    defer_sale: np.ndarray | None = None  # (m,) bool: short-term gains days from long term
    withdrawal: float = 0.0  # cash requested out: targets apply to what remains

    @cached_property
    def remaining_value(self) -> float:
        """The value targets and drift limits apply to: V less the cash requested out (a
        request as large as the account leaves a hundredth of it, so weights stay finite)."""
        if self.withdrawal <= 0.0:
            return self.total_value
        return max(self.total_value - self.withdrawal, 0.01 * self.total_value)

    @cached_property
    def gain(self) -> np.ndarray:
        """Gain per lot if sold in full today (negative: a loss)."""
        return self.value - self.basis

    @cached_property
    def gain_ratio(self) -> np.ndarray:
        """Gain per dollar sold: tax and the gain budget are linear in the dollars sold."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.value > 0, self.gain / np.where(self.value > 0, self.value, 1.0), 0.0)

    @cached_property
    def position(self) -> dict[str, int]:
        return dict(zip(self.symbols, range(len(self.symbols))))

    @cached_property
    def lot_position(self) -> dict[str, int]:
        return dict(zip(self.lot_ids, range(len(self.lot_ids))))

    @cached_property
    def derived(self) -> dict:
        """What other modules derive from the portfolio alone (a rule's keys, today's
        trade permissions), keyed by who derives it: computed once per analysis, not
        once per solve. The arrays are shared: read, never written."""
        return {}

    @property
    def settings(self):
        return self.problem.settings

    @property
    def security_count(self) -> int:
        return len(self.symbols)

    @property
    def lot_count(self) -> int:
        return len(self.lot_ids)

    @cached_property
    def class_index(self) -> tuple[dict[str, int], np.ndarray]:
        """Each asset class's number (in order of first appearance), each security's class
        number."""
        names = dict(zip(dict.fromkeys(self.asset_classes), range(len(self.asset_classes))))
        index = np.fromiter(map(names.__getitem__, self.asset_classes), np.intp, len(self.asset_classes))
        return names, index

    def class_members(self, asset_class: str) -> np.ndarray:
        names, index = self.class_index
        if asset_class not in names:
            return np.zeros(self.security_count, dtype=bool)
        return index == names[asset_class]

    def per_security(self, lot_amounts: np.ndarray) -> np.ndarray:
        return np.bincount(self.lot_security, weights=lot_amounts, minlength=self.security_count)

    def post_trade(self, buys: np.ndarray, sells: np.ndarray) -> tuple[np.ndarray, float]:
        """Market value per security and cash after trading (dollars bought per
        security, dollars sold per lot), trading costs paid from cash."""
        cost = self.settings.trading_cost
        holdings = self.holding + buys - self.per_security(sells)
        cash = self.cash - float(buys.sum()) * (1.0 + cost) + float(sells.sum()) * (1.0 - cost)
        return holdings, cash

    @classmethod
    def from_problem(cls, problem: Problem) -> Portfolio:
        securities = problem.securities
        symbols = tuple(map(attrgetter("symbol"), securities))
        position = dict(zip(symbols, range(len(symbols))))
        if len(position) != len(symbols):
            raise InvalidInput("each symbol may appear once", "securities")
        price = _field(securities, "price", np.float64)
        target = _field(securities, "target_weight", np.float64)
        if not np.isfinite(price).all() or (price <= 0).any():
            bad = symbols[int(np.flatnonzero(~(np.isfinite(price) & (price > 0)))[0])]
            raise InvalidInput(f"price of {bad} must be positive", "securities.price")
        if not np.isfinite(target).all():
            raise InvalidInput("target weights must be finite", "securities.target_weight")
        groups = list(map(attrgetter("wash_group"), securities))
        group_index = dict(zip(dict.fromkeys(groups), range(len(groups))))  # in order of first appearance
        wash_group = np.fromiter(map(group_index.__getitem__, groups), np.intp, len(groups))

        lots = problem.lots
        lot_ids = tuple(map(attrgetter("lot_id"), lots))
        if len(set(lot_ids)) != len(lot_ids):
            raise InvalidInput("each lot id may appear once", "lots")
        try:
            lot_security = np.fromiter(map(position.__getitem__, map(attrgetter("symbol"), lots)), np.intp, len(lots))
        except KeyError as missing:
            raise InvalidInput(f"lot of {missing.args[0]!r} has no security", "lots.symbol") from None
        quantity = _field(lots, "quantity", np.float64)
        basis = _field(lots, "cost_basis", np.float64)
        tax_rate = _field(lots, "tax_rate", np.float64)
        can_sell = _field(lots, "can_sell", bool)
        loss_sale_blocked = _field(lots, "loss_sale_blocked", bool)
        if not (np.isfinite(quantity).all() and (quantity >= 0).all()):
            raise InvalidInput("lot quantities must be non-negative", "lots.quantity")
        if not np.isfinite(basis).all():
            raise InvalidInput("cost basis must be finite", "lots.cost_basis")
        if not (np.isfinite(tax_rate).all() and ((tax_rate >= 0) & (tax_rate <= 1)).all()):
            raise InvalidInput("tax rates must be between 0 and 1", "lots.tax_rate")
        value = quantity * price[lot_security] if len(lots) else np.zeros(0)
        holding = np.bincount(lot_security, weights=value, minlength=len(symbols))
        cash = float(problem.cash)
        required = float(problem.required_cash)
        if not (math.isfinite(cash) and math.isfinite(required)):
            raise InvalidInput("must be finite", "cash")
        total_value = cash + float(holding.sum())
        if total_value <= 0:
            raise InvalidInput("the account has no value to optimise", "cash")
        if problem.gain_budget_remaining is not None and not math.isfinite(problem.gain_budget_remaining):
            raise InvalidInput("must be finite or None", "gain_budget_remaining")
        limit_classes = [limit.asset_class for limit in problem.class_limits]
        if len(set(limit_classes)) != len(limit_classes):
            raise InvalidInput("each asset class may have one limit", "class_limits")
        for limit in problem.class_limits:
            if not (math.isfinite(limit.drift_limit) and limit.drift_limit >= 0 and math.isfinite(limit.target_weight)):
                raise InvalidInput(f"limit of {limit.asset_class} must be finite and non-negative", "class_limits")
        loadings, specific = problem.risk.for_symbols(symbols)
        leads = wash_group_leads(problem.risk, symbols, wash_group)
        group_loadings, group_specific = loadings[leads], specific[leads]
        loadings, specific = one_risk_per_wash_group(leads, wash_group, loadings, specific)
        withdrawal = float(problem.withdrawal)
        if not (math.isfinite(withdrawal) and withdrawal >= 0):
            raise InvalidInput("must be finite and not negative", "withdrawal")
        return cls(
            problem=problem,
            symbols=symbols,
            price=price,
            target=target,
            can_buy=_field(securities, "can_buy", bool),
            must_exit=_field(securities, "must_exit", bool),
            asset_classes=tuple(map(attrgetter("asset_class"), securities)),
            wash_group=wash_group,
            wash_groups=tuple(group_index),
            lot_ids=lot_ids,
            lot_security=lot_security,
            quantity=quantity,
            value=value,
            basis=basis,
            tax_rate=tax_rate,
            can_sell=can_sell,
            loss_sale_blocked=loss_sale_blocked,
            holding=holding,
            cash=cash,
            total_value=total_value,
            loadings=np.ascontiguousarray(loadings),
            specific=np.ascontiguousarray(specific),
            group_loadings=np.ascontiguousarray(group_loadings),
            group_specific=np.ascontiguousarray(group_specific),
            defer_sale=_field(lots, "defer_sale", bool),
            withdrawal=withdrawal,
        )


def wash_group_leads(risk, symbols, wash_group: np.ndarray) -> np.ndarray:
    """For each wash group, the member whose risk stands for the group: the one with
    the longest price history, the first in order among equals."""
    history_of = getattr(risk, "history_of", lambda symbol: 0)
    groups = int(wash_group.max()) + 1 if len(wash_group) else 0
    keys = np.array(list(map(history_of, symbols)))
    if groups and keys.dtype.kind in "if" and not np.isnan(keys).any():
        # Sorted by group, longest history first, then order: each group's first.
        order = np.lexsort((np.arange(len(keys)), -keys, wash_group))
        first = np.ones(len(order), dtype=bool)
        first[1:] = wash_group[order[1:]] != wash_group[order[:-1]]
        return order[first].astype(np.intp)
    leads = [-1] * groups
    best = [None] * groups
    for i, (group, key) in enumerate(zip(wash_group.tolist(), map(history_of, symbols))):
        if best[group] is None or key > best[group]:
            best[group], leads[group] = key, i
    return np.array(leads, dtype=np.intp)


def one_risk_per_wash_group(leads: np.ndarray, wash_group: np.ndarray, loadings: np.ndarray, specific: np.ndarray):
    """Securities of one wash group are substantially identical: one risk, perfectly
    correlated, whatever their price histories say. Per security (for scoring and for
    anyone reading the covariance): each member takes its group lead's loadings, and
    the group's specific variance becomes a factor of its own shared by its members,
    so swapping one member for another changes no risk. Groups of one security are
    left as they are. The solver uses the same risk per group (``group_loadings``)."""
    counts = np.bincount(wash_group, minlength=len(leads)) if len(wash_group) else np.zeros(0, int)
    shared = np.flatnonzero(counts > 1)
    if not len(shared):
        return loadings, specific
    loadings = np.array(loadings, dtype=np.float64)
    specific = np.array(specific, dtype=np.float64)
    column_of = np.full(len(leads), -1, dtype=np.intp)
    column_of[shared] = np.arange(len(shared))
    members = np.flatnonzero(column_of[wash_group] >= 0)
    member_lead = leads[wash_group[members]]
    columns = np.zeros((len(wash_group), len(shared)))
    columns[members, column_of[wash_group[members]]] = np.sqrt(np.maximum(specific[member_lead], 0.0))
    loadings[members] = loadings[member_lead]
    specific[members] = 0.0
    return np.hstack([loadings, columns]), specific
