"""The audit trail: every event of every account, oldest first, with who acted, under
which role, how the actor was established (`auth`) and for whom an admin acted
(`on_behalf_of`), when it was recorded and the business date it took effect."""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import Column, Date, Integer, MetaData, String, Table, Text, select
from sqlalchemy.orm import Session

from lotline.domain.account import Account
from lotline.domain.decision import Decision
from lotline.domain.aggregate import ENVELOPE, DomainEvent
from lotline.projections.directory import accounts
from lotline.projections.tracking import Projection, Unreadable, bulk_insert

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
    Column("auth", String(16), nullable=False),
    Column("on_behalf_of", String(128), nullable=True),
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
            auth=event.auth,
            on_behalf_of=event.on_behalf_of,
        ))

    def apply_unreadable(self, session: Session, event: Unreadable) -> bool:
        """An event of an account that cannot be decoded still has its row in the trail:
        its position, its type, and why it cannot be read."""
        if event.account_id is None:
            return False
        fields = event.fields
        self.end_batch(session)  # the account's earlier rows, for the date below
        self._rows.append(dict(
            position=event.position,
            originator_id=event.originator_id,
            account_id=event.account_id,
            type=event.event_type,
            timestamp=_text(fields.get("timestamp"), 40) or "",
            effective_date=_date(fields.get("effective_date")) or self._last_date(session, event.account_id),
            actor=_text(fields.get("actor"), 128) or "",
            role=_text(fields.get("role"), 64) or "",
            reason=_text(fields.get("reason"), 10_000),
            data=json.dumps({"error": event.error}),
            auth=_text(fields.get("auth"), 16) or "",
            on_behalf_of=_text(fields.get("on_behalf_of"), 128),
        ))
        return True

    @staticmethod
    def _last_date(session: Session, account_id: str) -> dt.date:
        """An unreadable event's date, when it cannot be read either: its account's last."""
        found = session.execute(
            select(audit_events.c.effective_date).where(audit_events.c.account_id == account_id)
            .order_by(audit_events.c.position.desc()).limit(1)
        ).scalar()
        return found or dt.date(1970, 1, 1)

    def end_batch(self, session: Session) -> None:
        bulk_insert(session, audit_events, self._rows)
        self._rows = []

    def forget(self) -> None:
        self._accounts = {}
        self._rows = []

    def clear(self, session: Session) -> None:
        super().clear(session)
        self._accounts = {}
        self._rows = []


def _text(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _date(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


def _summary(event: Decision.DecisionRecorded) -> str:
    """A decision in the trail: what was decided and from which inputs. Its full record
    (every lot and price it read) stays in the event store, shown by `lotline explain`."""
    outcome, inputs = event.outcome, event.inputs
    return json.dumps({
        "decision_id": event.decision_id, "date": event.date.isoformat(), "trade": outcome.trade,
        "reasons": list(outcome.reasons), "benefit": str(outcome.benefit), "orders": len(outcome.orders),
        "account_version": inputs.account_version, "template_version": inputs.template_version,
        "market_digest": inputs.market_digest, "risk_digest": inputs.risk_digest,
    })
