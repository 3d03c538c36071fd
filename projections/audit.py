"""The audit trail: every event of the store, oldest first, with the kind and business
id of what it changed (a user, a security, a model, a template, the firm's settings, a
symbol's prices, an account, a decision, a scenario file), the account it belongs to
(an account's events and its decisions'), who acted, under which role, how the actor
was established (`auth`) and for whom an admin acted (`on_behalf_of`), when it was
recorded and the business date it took effect. `audit ACCOUNT` reads an account's
rows; `audit --firm` reads them all."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from uuid import UUID

from pydantic import BaseModel
from sqlalchemy import Column, Date, Integer, MetaData, String, Table, Text, select
from sqlalchemy.orm import Session

from lotline.domain.account import Account
from lotline.domain.decision import Decision, decision_id
from lotline.domain.aggregate import ENVELOPE, DomainEvent
from lotline.domain.model import Model
from lotline.domain.price_series import PriceSeries
from lotline.domain.scenario_file import ScenarioFile
from lotline.domain.security import Security
from lotline.domain.settings import FirmSettings
from lotline.domain.template import TargetTemplate
from lotline.domain.user import User
from lotline.projections.tracking import Projection, Unreadable, bulk_insert

metadata = MetaData()

audit_events = Table(
    "audit_events",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("originator_id", String(36), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("entity_id", String(200), nullable=False),
    Column("account_id", String(128), nullable=True, index=True),
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

# What each stream is, from its first event: the kind of aggregate and its business id.
audit_streams = Table(
    "audit_streams",
    metadata,
    Column("originator_id", String(36), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("entity_id", String(200), nullable=False),
)

# The kinds of aggregate, as `audit --firm --kind` names them, and each one's business
# id as its first event gives it.
KINDS: dict[type, tuple[str, Any]] = {
    User: ("user", lambda e: e.user_id),
    Security: ("security", lambda e: e.symbol),
    Model: ("model", lambda e: e.model_id),
    TargetTemplate: ("template", lambda e: e.template_id),
    FirmSettings: ("settings", lambda e: "firm"),
    PriceSeries: ("prices", lambda e: e.symbol),
    Account: ("account", lambda e: e.account_id),
    Decision: ("decision", lambda e: decision_id(e.account_id, e.date)),
    ScenarioFile: ("scenario_file", lambda e: e.sha256),
}
AUDIT_KINDS = tuple(kind for kind, _ in KINDS.values())
STREAMS_KEPT = 200_000  # streams whose kind and id are kept in memory between batches


def kind_of(aggregate_class: type | None) -> str:
    if aggregate_class in KINDS:
        return KINDS[aggregate_class][0]
    return aggregate_class.__name__.lower() if aggregate_class is not None else "unknown"


class AuditTrail(Projection):
    name = "audit"
    metadata = metadata

    def __init__(self) -> None:
        self._streams: dict[str, tuple[str, str]] = {}  # originator id -> (kind, business id)
        self._new_streams: list[dict] = []
        self._rows: list[dict] = []

    def _stream(self, session: Session, event: DomainEvent) -> tuple[str, str]:
        """The kind and business id of the event's aggregate: named by its first event,
        remembered in `audit_streams` for the later ones."""
        originator = str(event.originator_id)
        known = self._streams.get(originator)
        if known is not None:
            return known
        owner = type(event).aggregate_class
        if event.originator_version == 1:
            return self._remember(originator, kind_of(owner), _first_key(event))
        known = self._lookup(session, originator)
        if known is not None:
            return known
        # Its first event could not be read: what this one says, else the stream id.
        return self._remember(originator, kind_of(owner), _later_key(event) or originator)

    def _remember(self, originator: str, kind: str, key: str) -> tuple[str, str]:
        self._streams[originator] = (kind, key[:200])
        self._new_streams.append({"originator_id": originator, "kind": kind, "entity_id": key[:200]})
        return self._streams[originator]

    def _lookup(self, session: Session, originator: str) -> tuple[str, str] | None:
        self._flush_streams(session)
        row = session.execute(select(audit_streams.c.kind, audit_streams.c.entity_id)
                              .where(audit_streams.c.originator_id == originator)).first()
        if row is None:
            return None
        self._streams[originator] = (row.kind, row.entity_id)
        return self._streams[originator]

    def begin_batch(self, session: Session) -> None:
        if len(self._streams) > STREAMS_KEPT:
            self._streams = {}

    def applies_inline(self, event: DomainEvent) -> bool:
        # A stream's first event names the stream itself; a later one looks it up.
        return event.originator_version == 1

    def apply(self, session: Session, event: DomainEvent, position: int) -> None:
        kind, key = self._stream(session, event)
        self._rows.append(dict(
            position=position,
            originator_id=str(event.originator_id),
            kind=kind,
            entity_id=key[:200],
            account_id=account_of(event, kind, key),
            type=type(event).__name__,
            timestamp=event.timestamp.isoformat(),
            effective_date=event.effective_date,
            actor=event.actor,
            role=event.role,
            reason=event.reason,
            data=event_data(event),
            auth=event.auth,
            on_behalf_of=event.on_behalf_of,
        ))

    def apply_unreadable(self, session: Session, event: Unreadable) -> bool:
        """An event that cannot be decoded still has its row in the trail: its position,
        its type, and why it cannot be read."""
        fields = event.fields
        self.end_batch(session)  # the earlier rows, for the date below
        kind, key = (self._streams.get(event.originator_id) or self._lookup(session, event.originator_id)
                     or (_kind_of_topic(event.topic), event.originator_id))
        self._rows.append(dict(
            position=event.position,
            originator_id=event.originator_id,
            kind=kind,
            entity_id=(event.account_id if kind == "account" and event.account_id else key)[:200],
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
    def _last_date(session: Session, account_id: str | None) -> dt.date:
        """An unreadable event's date, when it cannot be read either: its account's last
        (the trail's last, for an event of no account)."""
        query = select(audit_events.c.effective_date).order_by(audit_events.c.position.desc()).limit(1)
        if account_id is not None:
            query = query.where(audit_events.c.account_id == account_id)
        found = session.execute(query).scalar()
        return found or dt.date(1970, 1, 1)

    def _flush_streams(self, session: Session) -> None:
        bulk_insert(session, audit_streams, self._new_streams)
        self._new_streams = []

    def end_batch(self, session: Session) -> None:
        self._flush_streams(session)
        bulk_insert(session, audit_events, self._rows)
        self._rows = []

    def forget(self) -> None:
        self._streams = {}
        self._new_streams = []
        self._rows = []

    def clear(self, session: Session) -> None:
        super().clear(session)
        self.forget()


def account_of(event: DomainEvent, kind: str, key: str) -> str | None:
    """The account an event belongs to: an account's own, or its decisions' (the day's
    analyses belong to the account's trail); None for an event of no account."""
    if type(event).aggregate_class is Decision:
        return event.account_id
    return key if kind == "account" else None


def event_data(event: DomainEvent) -> str:
    """What the trails (and the Kafka relay) show of an event as its data, as JSON: its
    own fields, a decision as its summary."""
    if isinstance(event, Decision.DecisionRecorded):
        return _summary(event)
    return event.model_dump_json(exclude=ENVELOPE)


def stream_of(first_event: DomainEvent) -> tuple[str, str]:
    """The kind and business id of a stream, as its first event names them."""
    return kind_of(type(first_event).aggregate_class), _first_key(first_event)


def _first_key(event: DomainEvent) -> str:
    """The business id a stream's first event gives (its stream id when it names none)."""
    owner = type(event).aggregate_class
    try:
        return str(KINDS[owner][1](event))
    except (KeyError, AttributeError):
        return str(event.originator_id)


def _later_key(event: DomainEvent) -> str | None:
    """A business id a later event names itself, when its stream's first cannot be read."""
    if type(event).aggregate_class is Decision and hasattr(event, "date"):
        return decision_id(event.account_id, event.date)
    for name in ("account_id", "symbol", "user_id", "model_id", "template_id", "sha256"):
        value = getattr(event, name, None)
        if isinstance(value, str) and type(event).aggregate_class is not Decision:
            return value
    return None


def _kind_of_topic(topic: str) -> str:
    """The kind a stored topic names (`domain.account:Account.Vanished`: account), even
    when its class no longer exists."""
    owner = str(topic).rsplit(":", 1)[-1].split(".", 1)[0]
    return next((kind for cls, (kind, _) in KINDS.items() if cls.__name__ == owner), "unknown")


def _text(value: object, limit: int) -> str | None:
    return value[:limit] if isinstance(value, str) and value else None


def _date(value: object) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


class DecisionSummary(BaseModel):
    """A decision in the trails and on Kafka: what was decided and from which inputs. Its
    full record (every lot and price it read) stays in the event store, shown by
    `lotline explain`."""

    decision_id: str
    date: dt.date
    trade: bool
    reasons: list[str]
    benefit: str
    orders: int
    account_version: int
    template_version: int | None
    market_digest: str
    risk_digest: str


def _summary(event: Decision.DecisionRecorded) -> str:
    outcome, inputs = event.outcome, event.inputs
    return DecisionSummary(
        decision_id=event.decision_id, date=event.date, trade=outcome.trade, reasons=[str(r) for r in outcome.reasons],
        benefit=str(outcome.benefit), orders=len(outcome.orders), account_version=inputs.account_version,
        template_version=inputs.template_version, market_digest=inputs.market_digest, risk_digest=inputs.risk_digest,
    ).model_dump_json()
