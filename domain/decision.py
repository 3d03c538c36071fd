"""A recorded decision: everything one analysis read, what it found, and what it proposed.
Complete enough that `replay` can rebuild the inputs and check the result years later."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from pydantic import BaseModel, ConfigDict, TypeAdapter

from lotline.domain.aggregate import Actor, Aggregate, DomainEvent, aggregate_id
from lotline.domain.errors import InvalidInput, RuleRefused
from lotline.domain.parameters import Parameters
from lotline.domain.vocabulary import FORMER_REASONS, INSTRUCTIONS, OrderReason, OrderStatus, Trigger

# The triggers under their former names (the application's until it names them `Trigger`).
CASH_REQUEST = Trigger.CASH_REQUEST
RESTRICTION = Trigger.RESTRICTION
DRIFT_LIMIT = Trigger.DRIFT_LIMIT
NET_BENEFIT = Trigger.NET_BENEFIT
NO_TRADE = Trigger.NO_TRADE
BELOW_THRESHOLD = Trigger.BENEFIT_BELOW_THRESHOLD
NO_ORDERS = Trigger.NO_ORDERS_AFTER_ROUNDING


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class LotRecord(_Record):
    lot_id: str
    symbol: str
    quantity: Decimal
    cost_basis: Decimal
    acquired: dt.date
    holding_period_start: dt.date
    wash_sale_adjustment: Decimal = Decimal(0)


@lru_cache(maxsize=1)
def _lot_records() -> TypeAdapter[tuple[LotRecord, ...]]:
    return TypeAdapter(tuple[LotRecord, ...])


def lot_records(lots: Sequence[object]) -> tuple[LotRecord, ...]:
    """Lots as a decision records them, from objects with a lot's fields (the ledger's
    TaxLot): validated in one pass, as each would be alone (a decision holds an
    account's every lot: one by one they took a twentieth of the night's time)."""
    return _lot_records().validate_python(lots, from_attributes=True)


class LotRelief(_Record):
    lot_id: str
    quantity: Decimal


class ProposedOrder(_Record):
    order_id: str
    side: str  # buy | sell
    symbol: str
    quantity: Decimal
    price: Decimal
    value: Decimal
    reason: OrderReason
    mandatory: bool = False
    # Spelt the British way, unlike the other identifiers (Realization, realized_gains):
    # a stored event's field, renamed only with an upcaster.
    realised_gain: Decimal = Decimal(0)
    lots: tuple[LotRelief, ...] = ()


class ObjectiveRecord(_Record):
    """Objective terms in dollars."""

    tracking: Decimal
    tax: Decimal
    cost: Decimal
    total: Decimal


class DecisionInputs(_Record):
    """What the analysis read, by version and digest where it is stored elsewhere, inline otherwise."""

    account_version: int
    template_id: str
    template_version: int
    model_versions: dict[str, int]
    security_versions: dict[str, int]
    settings_version: int
    settings: dict[str, Decimal]
    market_digest: str
    risk_digest: str
    tax_status: str
    parameters: Parameters
    cash: Decimal
    lots: tuple[LotRecord, ...]
    prices: dict[str, Decimal]
    total_value: Decimal
    required_cash: Decimal
    gain_budget_remaining: Decimal | None
    optimiser: dict[str, str]
    libraries: dict[str, str]


class ClassPosition(_Record):
    asset_class: str
    weight: Decimal
    target_weight: Decimal
    drift_limit: Decimal | None


class DecisionOutcome(_Record):
    """What the analysis concluded."""

    trade: bool
    reasons: tuple[Trigger, ...]
    benefit: Decimal
    threshold: Decimal
    before: ObjectiveRecord
    after: ObjectiveRecord
    classes: tuple[ClassPosition, ...]
    orders: tuple[ProposedOrder, ...]  # proposed when trade, else what it would have done
    notes: tuple[str, ...] = ()
    solves: int = 0
    # What the analysis could not weigh as it should (e.g. a price history shorter than
    # the risk model's look-back). Added later: a decision recorded before has none,
    # which the default reads as such, so no upcaster is needed.
    warnings: tuple[str, ...] = ()


def decision_id(account_id: str, on: dt.date, attempt: int = 1) -> str:
    """`ACC-1/2026-03-02`; a redo of that day's decision is `ACC-1/2026-03-02/r2`."""
    base = f"{account_id}/{on.isoformat()}"
    return base if attempt == 1 else f"{base}/r{attempt}"


# A decision in one of these states can be redone the same day (`rebalance --redo`).
REDOABLE = frozenset({OrderStatus.REJECTED, OrderStatus.CANCELLED, OrderStatus.STALE, OrderStatus.UNFILLED, "failed"})


@dataclass(frozen=True)
class ApprovalPolicy:
    """Which proposed decisions are released (`approve`): every one an instruction
    demands (a cash request, a restriction, a breached drift limit); the others only
    when `mandatory_only` is off and their net benefit is at least `min_benefit` dollars."""

    mandatory_only: bool
    min_benefit: Decimal

    def __post_init__(self) -> None:
        if self.min_benefit < 0:
            raise InvalidInput(f"must not be negative, got {self.min_benefit}", "min_benefit")


@dataclass(frozen=True)
class Releasability:
    """Whether a decision may be released under a policy, and if not, why it is held back."""

    releasable: bool
    why_not: str | None = None

    def __bool__(self) -> bool:
        return self.releasable


class Decision(Aggregate):
    """The analyses of one account on one day: failed attempts, then at most one recorded
    decision, then its orders' release and fills. A stream of its own, so an account's
    stream stays small however many days it has been analysed, and a second decision
    for the same account and day collides with the first in the store."""

    decision_id: str
    account_id: str
    date: dt.date
    recorded: DecisionRecorded | None
    attempts: int  # decisions recorded for the day: a redo is the second
    failures: list[str]
    status: dict[str, OrderStatus]  # order id -> where it stands, over every attempt
    fill_prices: dict[str, Decimal]
    why_not: str | None  # why the current decision went stale or unfilled

    class _Event(DomainEvent):
        account_id: str

        def _init(self, decision: Decision) -> None:
            if decision.version == 0:
                decision.decision_id = decision_id(self.account_id, self.date)  # type: ignore[attr-defined]
                decision.account_id = self.account_id
                decision.date = self.date  # type: ignore[attr-defined]
                decision.recorded = None
                decision.attempts = 0
                decision.failures = []
                decision.status = {}
                decision.fill_prices = {}
                decision.why_not = None

    class AnalysisFailed(_Event):
        """The day's analysis could not be made; the night goes on, a re-run retries."""

        date: dt.date
        failure: str

        def apply(self, decision: Decision) -> None:
            self._init(decision)
            decision.failures.append(self.failure)

    class DecisionRecorded(_Event):
        """One analysis of the account on one day, with every input it read. A redo
        names the decision it supersedes; that one's orders are then superseded."""

        # v1 named orders `drift`, `cash` and `model_change`, and could call a sale
        # realising a gain a `harvest`: v2 has the contract's seven codes.
        class_version = 2
        decision_id: str
        date: dt.date
        inputs: DecisionInputs
        outcome: DecisionOutcome
        supersedes: str | None = None

        @staticmethod
        def upcast_v1_v2(state: dict) -> dict:
            """The former codes read as the contract's: `cash` as `cash_request`,
            `model_change` as `transition`; `drift`, and a `harvest` sale that realised
            no loss, as `drift_limit` where a drift limit triggered the decision (v1
            did not record which class each order restored) and `rebalance` otherwise."""
            outcome = state["outcome"]
            moved = OrderReason.DRIFT_LIMIT if Trigger.DRIFT_LIMIT in outcome["reasons"] else OrderReason.REBALANCE
            orders = []
            for order in outcome["orders"]:
                reason = order["reason"]
                if reason == "drift" or (reason == OrderReason.HARVEST and order["side"] == "sell"
                                         and Decimal(order.get("realised_gain", "0")) >= 0):
                    reason = moved
                orders.append({**order, "reason": str(FORMER_REASONS.get(reason, reason))})
            return {**state, "outcome": {**outcome, "orders": orders}}

        def apply(self, decision: Decision) -> None:
            self._init(decision)
            if decision.recorded is not None:
                for order in decision.recorded.outcome.orders:
                    if order.order_id in decision.status:
                        decision.status[order.order_id] = OrderStatus.SUPERSEDED
            decision.recorded = self
            decision.decision_id = self.decision_id
            decision.attempts += 1
            decision.why_not = None
            if self.outcome.trade:
                decision.status.update({order.order_id: OrderStatus.PROPOSED for order in self.outcome.orders})

    class OrdersApproved(DomainEvent):
        account_id: str
        order_ids: tuple[str, ...]

        def apply(self, decision: Decision) -> None:
            decision.status.update({order_id: OrderStatus.APPROVED for order_id in self.order_ids})

    class OrdersRejected(DomainEvent):
        account_id: str
        order_ids: tuple[str, ...]

        def apply(self, decision: Decision) -> None:
            decision.status.update({order_id: OrderStatus.REJECTED for order_id in self.order_ids})

    class OrdersCancelled(DomainEvent):
        """Approved orders withdrawn before they were filled."""

        account_id: str
        order_ids: tuple[str, ...]

        def apply(self, decision: Decision) -> None:
            decision.status.update({order_id: OrderStatus.CANCELLED for order_id in self.order_ids})

    class DecisionWentStale(DomainEvent):
        """The account changed after the analysis: its orders no longer go out."""

        account_id: str
        order_ids: tuple[str, ...]
        why: str

        def apply(self, decision: Decision) -> None:
            decision.status.update({order_id: OrderStatus.STALE for order_id in self.order_ids})
            decision.why_not = self.why

    class DecisionUnfilled(DomainEvent):
        """The approved orders could not be executed together; none was."""

        account_id: str
        order_ids: tuple[str, ...]
        why: str

        def apply(self, decision: Decision) -> None:
            decision.status.update({order_id: OrderStatus.UNFILLED for order_id in self.order_ids})
            decision.why_not = self.why

    class OrderFilled(DomainEvent):
        account_id: str
        order_id: str
        price: Decimal

        def apply(self, decision: Decision) -> None:
            decision.status[self.order_id] = OrderStatus.FILLED
            decision.fill_prices[self.order_id] = self.price

    @staticmethod
    def id_for(key: str):
        return aggregate_id("decision", key)

    @classmethod
    def first_failure(cls, account_id: str, on: dt.date, failure: str, actor: Actor) -> Decision:
        return cls._start(cls.id_for(decision_id(account_id, on)), cls.AnalysisFailed, actor,
                          account_id=account_id, date=on, failure=failure[:2000])

    @classmethod
    def first_record(cls, account_id: str, on: dt.date, inputs: DecisionInputs, outcome: DecisionOutcome,
                     actor: Actor) -> Decision:
        key = decision_id(account_id, on)
        return cls._start(cls.id_for(key), cls.DecisionRecorded, actor, account_id=account_id, decision_id=key,
                          date=on, inputs=inputs, outcome=outcome)

    def fail(self, failure: str, actor: Actor) -> None:
        self._check_undecided()
        self._trigger(self.AnalysisFailed, actor, account_id=self.account_id, date=self.date, failure=failure[:2000])

    def fail_redo(self, failure: str, actor: Actor) -> None:
        """A redo whose analysis could not be made: recorded; the current decision stays."""
        if self.state() not in REDOABLE:
            raise RuleRefused(f"{self.decision_id} is {self.state()} and cannot be redone", "account")
        self._trigger(self.AnalysisFailed, actor, account_id=self.account_id, date=self.date, failure=failure[:2000])

    def record(self, inputs: DecisionInputs, outcome: DecisionOutcome, actor: Actor) -> None:
        self._check_undecided()
        self._trigger(self.DecisionRecorded, actor, account_id=self.account_id, decision_id=self.decision_id,
                      date=self.date, inputs=inputs, outcome=outcome)

    def order(self, order_id: str) -> ProposedOrder:
        assert self.recorded is not None
        for order in self.recorded.outcome.orders:
            if order.order_id == order_id:
                return order
        raise InvalidInput(f"unknown order {order_id!r}", "order")

    def redo(self, inputs: DecisionInputs, outcome: DecisionOutcome, actor: Actor) -> None:
        """A new decision for the day, replacing one that was rejected, cancelled, went
        stale, was left unfilled, or could not be made."""
        current = self.state()
        if current not in REDOABLE:
            raise RuleRefused(
                f"{self.decision_id} is {current}; only a rejected, cancelled, stale, unfilled or failed decision "
                "can be redone", "account")
        if self.recorded is None:
            self.record(inputs, outcome, actor)
            return
        self._trigger(self.DecisionRecorded, actor, account_id=self.account_id,
                      decision_id=decision_id(self.account_id, self.date, self.attempts + 1), date=self.date,
                      inputs=inputs, outcome=outcome, supersedes=self.decision_id)

    def state(self) -> str:
        """The day's decision as a whole: `failed` (none could be made), `no_trade`, or
        the status its orders share (they move together)."""
        if self.recorded is None:
            return "failed"
        orders = self.recorded.outcome.orders if self.recorded.outcome.trade else ()
        if not orders:
            return "no_trade"
        statuses = [self.status.get(o.order_id, OrderStatus.PROPOSED) for o in orders]
        for status in (OrderStatus.FILLED, OrderStatus.UNFILLED, OrderStatus.STALE, OrderStatus.CANCELLED,
                       OrderStatus.REJECTED, OrderStatus.APPROVED):
            if status in statuses:
                return status
        return OrderStatus.PROPOSED

    def orders_in(self, status: str) -> tuple[str, ...]:
        """The current decision's orders in `status`."""
        if self.recorded is None or not self.recorded.outcome.trade:
            return ()
        return tuple(o.order_id for o in self.recorded.outcome.orders if self.status.get(o.order_id) == status)

    def releasable(self, policy: ApprovalPolicy) -> Releasability:
        """Whether the day's decision goes out under `policy`: it has proposed orders,
        and an instruction demands it or (`mandatory_only` off) its net benefit is at
        least the policy's minimum."""
        if not self.orders_in(OrderStatus.PROPOSED):
            return Releasability(False, f"{self.decision_id} has no proposed orders (it is {self.state()})")
        assert self.recorded is not None
        outcome = self.recorded.outcome
        if INSTRUCTIONS.intersection(outcome.reasons):
            return Releasability(True)
        if policy.mandatory_only:
            return Releasability(False, "no cash request, restriction or drift limit demands it, and only such "
                                        "decisions are released")
        if outcome.benefit < policy.min_benefit:
            return Releasability(False, f"no cash request, restriction or drift limit demands it, and its net "
                                        f"benefit {outcome.benefit} is below the minimum {policy.min_benefit}")
        return Releasability(True)

    def approve(self, order_ids: Sequence[str], actor: Actor) -> None:
        self._trigger(self.OrdersApproved, actor, account_id=self.account_id,
                      order_ids=self._in_status(order_ids, OrderStatus.PROPOSED))

    def reject(self, order_ids: Sequence[str], actor: Actor) -> None:
        self._trigger(self.OrdersRejected, actor, account_id=self.account_id,
                      order_ids=self._in_status(order_ids, OrderStatus.PROPOSED))

    def filled(self, order_id: str, price: Decimal, actor: Actor) -> None:
        self._in_status([order_id], OrderStatus.APPROVED)
        self._trigger(self.OrderFilled, actor, account_id=self.account_id, order_id=order_id, price=price)

    def cancel(self, actor: Actor) -> tuple[str, ...]:
        """Withdraws the approved orders, all of them: a trade list goes out together."""
        order_ids = self.orders_in(OrderStatus.APPROVED)
        if order_ids:
            self._trigger(self.OrdersCancelled, actor, account_id=self.account_id, order_ids=order_ids)
        return order_ids

    def go_stale(self, why: str, actor: Actor) -> tuple[str, ...]:
        """The account changed after the analysis: its open orders are stale."""
        order_ids = self.orders_in(OrderStatus.PROPOSED) + self.orders_in(OrderStatus.APPROVED)
        if order_ids:
            self._trigger(self.DecisionWentStale, actor, account_id=self.account_id, order_ids=order_ids, why=why[:2000])
        return order_ids

    def leave_unfilled(self, why: str, actor: Actor) -> tuple[str, ...]:
        """None of the approved orders could be executed: recorded with the reason."""
        order_ids = self.orders_in(OrderStatus.APPROVED)
        if order_ids:
            self._trigger(self.DecisionUnfilled, actor, account_id=self.account_id, order_ids=order_ids, why=why[:2000])
        return order_ids

    def _in_status(self, order_ids: Sequence[str], status: str) -> tuple[str, ...]:
        for order_id in order_ids:
            current = self.status.get(order_id)
            if current is None:
                raise InvalidInput(f"unknown order {order_id!r}", "order")
            if current != status:
                raise RuleRefused(f"order {order_id} is {current}, not {status}", "order")
        return tuple(order_ids)

    def _check_undecided(self) -> None:
        if self.recorded is not None:
            raise RuleRefused(f"{self.decision_id} is already decided", "date")


def estimated_tax(order: ProposedOrder, inputs: DecisionInputs, on: dt.date,
                  lots: Mapping[str, LotRecord] | None = None) -> Decimal:
    """The tax a sell order is expected to realise at the decision's price: each lot's
    gain at the account's short- or long-term rate (a loss is a negative amount, tax
    saved); nothing on a buy or in an account that is not taxable. An estimate for the
    blotter: the ledger decides the realised gain (wash sales) when the order fills.
    `lots`: the inputs' lots by id, when the caller asks for several orders of a decision."""
    from lotline.domain.parameters import TaxStatus
    from lotline.domain.tax import LONG_TERM, holding_term

    if order.side != "sell" or inputs.tax_status != TaxStatus.TAXABLE:
        return Decimal("0.00")
    if lots is None:
        lots = lots_by_id(inputs)
    tax = inputs.parameters.tax
    total = Decimal(0)
    for relief in order.lots:
        lot = lots.get(relief.lot_id)
        if lot is None or not lot.quantity:
            continue
        gain = relief.quantity * order.price - lot.cost_basis * relief.quantity / lot.quantity
        term = holding_term(lot.holding_period_start, on)
        total += gain * (tax.long_term_rate if term == LONG_TERM else tax.short_term_rate)
    return total.quantize(Decimal("0.01"))


def lots_by_id(inputs: DecisionInputs) -> dict[str, LotRecord]:
    return {lot.lot_id: lot for lot in inputs.lots}
