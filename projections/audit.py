"""The audit trail: every event of every account, oldest first, with who acted, under
which role, when it was recorded and the business date it took effect."""

from __future__ import annotations

from sqlalchemy import Column, Date, Integer, MetaData, String, Table, Text, select
from sqlalchemy.orm import Session

from domain.account import Account
from domain.decision import Decision
from domain.aggregate import ENVELOPE, DomainEvent
from projections.directory import accounts
from projections.tracking import Projection, bulk_insert

metadata = MetaData()

audit_events = Table(
    "audit_events",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("originator_id", String(36), nullable=False),
    Column("account_id", String(128), nullable=False, index=True),
    Column("type", String(64), nullable=False),
    Column("timestamp", String(40), nullable=False),
    Column("effective_date", Date, nullable=False),
    Column("actor", String(128), nullable=False),
    Column("role", String(64), nullable=False),
    Column("reason", Text, nullable=True),
    Column("data", Text, nullable=False),
)


class AuditTrail(Projection):
    name = "audit"
    metadata = metadata

    def __init__(self) -> None:
        self._accounts: dict = {}
        self._rows: list[dict] = []

    def _account_id(self, session: Session, originator_id) -> str:
        if originator_id not in self._accounts:
            self._accounts = dict(session.execute(select(accounts.c.originator_id, accounts.c.account_id)).all())
        return self._accounts[originator_id]

    def apply(self, session: Session, event: DomainEvent, position: int) -> None:
        owner = type(event).aggregate_class
        if owner is Decision:
            account_id = event.account_id  # the day's analyses belong to the account's trail
        elif owner is Account:
            if isinstance(event, Account.Opened):
                self._accounts[event.originator_id] = event.account_id
            account_id = self._account_id(session, event.originator_id)
        else:
            return
        self._rows.append(dict(
            position=position,
            originator_id=str(event.originator_id),
            account_id=account_id,
            type=type(event).__name__,
            timestamp=event.timestamp.isoformat(),
            effective_date=event.effective_date,
            actor=event.actor,
            role=event.role,
            reason=event.reason,
            data=_summary(event) if isinstance(event, Decision.DecisionRecorded) else event.model_dump_json(exclude=ENVELOPE),
        ))

    def end_batch(self, session: Session) -> None:
        bulk_insert(session, audit_events, self._rows)
        self._rows = []

    def clear(self, session: Session) -> None:
        super().clear(session)
        self._accounts = {}


def _summary(event: Decision.DecisionRecorded) -> str:
    """A decision in the trail: what was decided and from which inputs. Its full record
    (every lot and price it read) stays in the event store, shown by `lotline explain`."""
    import json

    outcome, inputs = event.outcome, event.inputs
    return json.dumps({
        "decision_id": event.decision_id, "date": event.date.isoformat(), "trade": outcome.trade,
        "reasons": list(outcome.reasons), "benefit": str(outcome.benefit), "orders": len(outcome.orders),
        "account_version": inputs.account_version, "template_version": inputs.template_version,
        "market_digest": inputs.market_digest, "risk_digest": inputs.risk_digest,
    })
