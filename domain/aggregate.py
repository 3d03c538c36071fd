"""The event-sourced aggregate base, in the style of the eventsourcing library's
bank-accounts example: a method guards its invariants, then triggers one event; the
event's `apply` is the only thing that changes state, so replaying the history
rebuilds exactly the same aggregate.

Events are pydantic models (the contract's JSON shapes come straight from them).
Every event carries who acted, under which role, the business (effective) date, a
reason where a person acted, how the actor was established (`auth`) and, where an admin
acted for someone, for whom (`on_behalf_of`). Time comes in from the caller: the domain
has no clock.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, ClassVar, Self
from uuid import NAMESPACE_URL, UUID, uuid5

from pydantic import BaseModel, ConfigDict

from lotline.domain.roles import Role

ID_NAMESPACE = uuid5(NAMESPACE_URL, "https://lotline.dev/ids")


def aggregate_id(kind: str, key: str) -> UUID:
    """Stable ids from business keys, so `ACC-1` names the same aggregate everywhere."""
    return uuid5(ID_NAMESPACE, f"{kind}:{key}")


class Auth(StrEnum):
    """How the acting user was established: taken at its word, or decided by a key."""

    ASSERTED = "asserted"
    KEY = "key"


@dataclass(frozen=True)
class Actor:
    """Who acts, under which role, on which business date, when, and why; how the
    user was established (`auth`); and, when an admin loads an entry on behalf of
    another user, that user (`on_behalf_of`)."""

    user: str
    role: Role
    effective_date: date
    at: datetime
    reason: str | None = None
    auth: Auth = Auth.ASSERTED
    on_behalf_of: str | None = None


class DomainEvent(BaseModel):
    """Base of every recorded event. `class_version` plus `upcast_vN_vN1` static
    methods let the store read old versions of an event forever."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    class_version: ClassVar[int] = 1
    aggregate_class: ClassVar[type[Aggregate] | None] = None

    def __deepcopy__(self, memo: dict[int, Any] | None = None) -> DomainEvent:
        # A recorded event is an immutable fact: a copy of an aggregate (a store that
        # caches aggregates hands out copies) shares its events rather than rebuilding
        # each one, so copying an account costs a list, not its whole history again.
        return self

    originator_id: UUID
    originator_version: int
    timestamp: datetime
    actor: str
    role: str
    effective_date: date
    reason: str | None = None
    # How the actor was established, and for whom an admin acted: absent from events
    # recorded before they were, which read as asserted and on no one's behalf.
    auth: str = Auth.ASSERTED.value
    on_behalf_of: str | None = None

    @classmethod
    def upcast(cls, state: dict[str, Any], version: int) -> dict[str, Any]:
        while version < cls.class_version:
            state = getattr(cls, f"upcast_v{version}_v{version + 1}")(state)
            version += 1
        return state

    def data(self) -> dict[str, Any]:
        """The event's own fields, without the envelope (for audit and Kafka)."""
        return self.model_dump(mode="json", exclude=ENVELOPE)

    def apply(self, aggregate: Any) -> None:
        """Change the aggregate's state. Subclasses override."""

    def mutate(self, aggregate: Aggregate | None) -> Aggregate:
        if aggregate is None:
            assert self.aggregate_class is not None, type(self)
            aggregate = self.aggregate_class.__new__(self.aggregate_class)
            aggregate._init_envelope(self.originator_id)
            aggregate.created_on = self.timestamp
        self.apply(aggregate)
        aggregate.version = self.originator_version
        aggregate.modified_on = self.timestamp
        return aggregate


ENVELOPE = frozenset(
    {"originator_id", "originator_version", "timestamp", "actor", "role", "effective_date", "reason", "auth",
     "on_behalf_of"}
)


def replayed(aggregate: Aggregate | None, events: Iterable[DomainEvent]) -> Aggregate | None:
    """The aggregate as its events leave it, each applied in turn (the first creates it
    from None): how a history rebuilds it. Shaped as the eventsourcing library's
    projector, so the event store's repository uses it too."""
    for event in events:
        aggregate = event.mutate(aggregate)
    return aggregate


class Aggregate:
    """Mutable aggregate whose state changes only through its own events."""

    id: UUID
    version: int
    created_on: datetime
    modified_on: datetime

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for value in vars(cls).values():
            if isinstance(value, type) and issubclass(value, DomainEvent):
                type.__setattr__(value, "aggregate_class", cls)

    def _init_envelope(self, aggregate_id: UUID) -> None:
        self.id = aggregate_id
        self.version = 0
        self._pending: list[DomainEvent] = []

    @classmethod
    def _start(cls, aggregate_id: UUID, event_class: type[DomainEvent], actor: Actor, **data: Any) -> Self:
        aggregate = cls.__new__(cls)
        aggregate._init_envelope(aggregate_id)
        aggregate.created_on = actor.at
        aggregate._trigger(event_class, actor, **data)
        return aggregate

    def _trigger(self, event_class: type[DomainEvent], actor: Actor, **data: Any) -> DomainEvent:
        event = event_class(
            originator_id=self.id,
            originator_version=self.version + 1,
            timestamp=actor.at,
            actor=actor.user,
            role=actor.role.value,
            effective_date=actor.effective_date,
            reason=actor.reason,
            auth=actor.auth.value,
            on_behalf_of=actor.on_behalf_of,
            **data,
        )
        event.mutate(self)
        self._pending.append(event)
        return event

    def collect_events(self) -> list[DomainEvent]:
        events, self._pending = self._pending, []
        return events

    @property
    def pending_events(self) -> tuple[DomainEvent, ...]:
        return tuple(self._pending)
