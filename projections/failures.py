"""Events a read model could not apply (`read_model_failures`, written by
projections/tracking.py): whose they are, and the check that makes an account's reads
refuse, naming the event, while every other account reads on."""

from __future__ import annotations

import json
import zlib
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from lotline.domain.account import Account
from lotline.domain.errors import AccountHistoryBroken
from lotline.domain.decision import Decision
from lotline.projections.audit import audit_events
from lotline.projections.directory import accounts
from lotline.projections.tracking import read_model_failures


def check_account_readable(session: Session, account_id: str) -> None:
    """Raises AccountHistoryBroken (exit 1) when a read model could not apply an event
    of this account, naming the first such event."""
    row = session.execute(
        select(read_model_failures)
        .where(read_model_failures.c.account_id == account_id)
        .order_by(read_model_failures.c.position, read_model_failures.c.id)
        .limit(1)
    ).first()
    if row is not None:
        raise AccountHistoryBroken(f"account {account_id} cannot be read: {describe_failure(row)}")


def describe_failure(row: Any) -> str:
    """`event 57 (TradeRecorded) cannot be applied to the lots read model: ...`."""
    event = f"event {row.position} ({row.event_type})"
    if row.error.startswith("cannot be read"):
        return f"{event} {row.error}"
    return f"{event} cannot be applied to the {row.projection} read model: {row.error}"


class AccountResolver:
    """The account an event belongs to: a decision's names it; an account's is looked up
    by its id (the directory, else the audit trail); any other event has none."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._known: dict[UUID, str] = {}

    def of(self, event: Any) -> str | None:
        owner = type(event).aggregate_class
        if owner is Decision:
            account_id = getattr(event, "account_id", None)
            if account_id is not None:
                self._known[event.originator_id] = account_id
            return account_id
        if owner is Account:
            if isinstance(event, Account.Opened):
                self._known[event.originator_id] = event.account_id
                return event.account_id
            return self._lookup(event.originator_id)
        return None

    def of_unreadable(self, originator_id: UUID | None, fields: dict[str, Any]) -> str | None:
        named = fields.get("account_id")
        if isinstance(named, str) and named:
            return named
        if originator_id is None:
            return None
        return self._lookup(originator_id)

    def _lookup(self, originator_id: UUID) -> str | None:
        if originator_id in self._known:
            return self._known[originator_id]
        account_id = self.session.execute(
            select(accounts.c.account_id).where(accounts.c.originator_id == originator_id)
        ).scalar()
        if account_id is None:
            account_id = self.session.execute(
                select(audit_events.c.account_id).where(audit_events.c.originator_id == str(originator_id)).limit(1)
            ).scalar()
        if account_id is not None:
            self._known[originator_id] = account_id
        return account_id


def salvage(state: Any) -> dict[str, Any]:
    """Whatever of an undecodable event's stored JSON can be read (nothing: {})."""
    try:
        raw = bytes(state)
        if raw[:1] == b"x":
            raw = zlib.decompress(raw)
        value = json.loads(raw)
    except Exception:
        return {}
    return value if isinstance(value, dict) else {}


def topic_type(topic: str) -> str:
    """The event type a topic names: `domain.account:Account.TradeRecorded` → TradeRecorded."""
    return str(topic).rsplit(":", 1)[-1].rsplit(".", 1)[-1] or "unknown"
