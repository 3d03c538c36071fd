"""Decisions and the orders they proposed, with each order's status as the overlay
manager releases, rejects, cancels and fills them, as decisions go stale or are left
unfilled, and as a redo supersedes them."""

from __future__ import annotations

import json

from sqlalchemy import Boolean, Column, Date, Integer, MetaData, String, Table, Text, update
from sqlalchemy.orm import Session

from lotline.domain.aggregate import DomainEvent
from lotline.domain.decision import Decision, estimated_tax, lots_by_id
from lotline.domain.vocabulary import OrderStatus
from lotline.projections.tracking import Projection, bulk_insert

metadata = MetaData()

decisions = Table(
    "decisions",
    metadata,
    Column("decision_id", String(200), primary_key=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("date", Date, nullable=False, index=True),
    Column("position", Integer, nullable=False),
    Column("originator_version", Integer, nullable=False),
    Column("trade", Boolean, nullable=False),
    Column("reasons", Text, nullable=False),
    Column("benefit", String(40), nullable=False),
    Column("order_count", Integer, nullable=False),
    Column("superseded_by", String(200), nullable=True),
)

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(220), primary_key=True),
    Column("decision_id", String(200), nullable=False, index=True),
    Column("account_id", String(128), nullable=False, index=True),
    Column("date", Date, nullable=False, index=True),
    Column("side", String(4), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("quantity", String(40), nullable=False),
    Column("price", String(40), nullable=False),
    Column("reason", String(32), nullable=False),
    Column("mandatory", Boolean, nullable=False),
    Column("benefit", String(40), nullable=False),
    Column("status", String(16), nullable=False, index=True),
    Column("lots", Text, nullable=False),
    Column("value", String(40), nullable=False),
    Column("fill_price", String(40), nullable=True),
    Column("status_reason", Text, nullable=True),  # why a decision went stale or was left unfilled
    # A sale's realised gain at the decision's price. New with the contract's reason
    # codes: a store projected before them is reshaped, so rebuilt, and its orders read
    # through the decision event's upcaster with the new codes.
    Column("realised_gain", String(40), nullable=True),
    Column("estimated_tax", String(40), nullable=True),  # the tax a sale's gain is expected to cost
)


class DecisionsAndOrders(Projection):
    name = "decisions"
    metadata = metadata
    handles = frozenset({
        Decision.DecisionRecorded, Decision.OrdersApproved, Decision.OrdersRejected, Decision.OrderFilled,
        Decision.OrdersCancelled, Decision.DecisionWentStale, Decision.DecisionUnfilled,
    })

    def __init__(self) -> None:
        self._decisions: list[dict] = []
        self._orders: list[dict] = []

    def applies_inline(self, event: DomainEvent) -> bool:
        # A decision's rows are inserts; a redo's also updates the decision it supersedes.
        return isinstance(event, Decision.DecisionRecorded) and event.supersedes is None

    def apply(self, session: Session, event: DomainEvent, position: int) -> None:
        match event:
            case Decision.DecisionRecorded():
                outcome = event.outcome
                account_id = event.account_id
                self._decisions.append(dict(
                    decision_id=event.decision_id, account_id=account_id, date=event.date, position=position,
                    originator_version=event.originator_version, trade=outcome.trade,
                    reasons=json.dumps(list(outcome.reasons)), benefit=str(outcome.benefit),
                    order_count=len(outcome.orders) if outcome.trade else 0, superseded_by=None,
                ))
                if event.supersedes:
                    self.end_batch(session)
                    session.execute(update(decisions).where(decisions.c.decision_id == event.supersedes)
                                    .values(superseded_by=event.decision_id))
                    session.execute(update(orders).where(orders.c.decision_id == event.supersedes,
                                                         orders.c.status != OrderStatus.FILLED)
                                    .values(status=OrderStatus.SUPERSEDED))
                if outcome.trade:
                    lots = lots_by_id(event.inputs)
                    for order in outcome.orders:
                        self._orders.append(dict(
                            order_id=order.order_id, decision_id=event.decision_id, account_id=account_id,
                            date=event.date, side=order.side, symbol=order.symbol, quantity=str(order.quantity),
                            price=str(order.price), reason=order.reason, mandatory=order.mandatory,
                            benefit=str(outcome.benefit), status=OrderStatus.PROPOSED,
                            lots=json.dumps([{"lot_id": r.lot_id, "quantity": str(r.quantity)} for r in order.lots]),
                            value=str(order.value), fill_price=None, status_reason=None,
                            realised_gain=str(order.realised_gain) if order.side == "sell" else None,
                            estimated_tax=(str(estimated_tax(order, event.inputs, event.date, lots))
                                           if order.side == "sell" else None),
                        ))
            case Decision.OrdersApproved():
                self._status(session, event.order_ids, OrderStatus.APPROVED)
            case Decision.OrdersRejected():
                self._status(session, event.order_ids, OrderStatus.REJECTED)
            case Decision.OrdersCancelled():
                self._status(session, event.order_ids, OrderStatus.CANCELLED)
            case Decision.DecisionWentStale():
                self._status(session, event.order_ids, OrderStatus.STALE, status_reason=event.why)
            case Decision.DecisionUnfilled():
                self._status(session, event.order_ids, OrderStatus.UNFILLED, status_reason=event.why)
            case Decision.OrderFilled():
                self._status(session, (event.order_id,), OrderStatus.FILLED, fill_price=str(event.price))

    def _status(self, session: Session, order_ids: tuple[str, ...], status: str, **values: str) -> None:
        self.end_batch(session)
        session.execute(update(orders).where(orders.c.order_id.in_(list(order_ids))).values(status=status, **values))

    def end_batch(self, session: Session) -> None:
        bulk_insert(session, decisions, self._decisions)
        bulk_insert(session, orders, self._orders)
        self._decisions, self._orders = [], []

    def forget(self) -> None:
        self._decisions, self._orders = [], []

    def clear(self, session: Session) -> None:
        super().clear(session)
        self._decisions, self._orders = [], []
