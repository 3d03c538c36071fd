"""A unit of work: the aggregates one command (or one whole scenario file) reads and
changes, committed together with any key credentials in one transaction, or not at
all."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError

from lotline.domain.aggregate import Aggregate, replayed
from lotline.domain.errors import UnknownEntity
from lotline.domain.user import KeyCredential
from lotline.infrastructure.aggregate_store import AggregateStore

A = TypeVar("A", bound=Aggregate)

KINDS = {"Security": "symbol", "Model": "model", "TargetTemplate": "template", "Account": "account", "User": "user"}


class UnitOfWork:
    def __init__(self, store: AggregateStore) -> None:
        self._store = store
        self._aggregates: dict[UUID, Aggregate] = {}
        self._missing: set[UUID] = set()
        self.keys_issued: list[KeyCredential] = []  # credentials of keys issued by this unit of work
        self.keys_revoked: list[str] = []  # ids of keys it revoked: their credentials go

    def find(self, cls: type[A], key: str) -> A | None:
        aggregate_id = cls.id_for(key)  # type: ignore[attr-defined]
        if aggregate_id in self._aggregates:
            return self._aggregates[aggregate_id]  # type: ignore[return-value]
        if aggregate_id in self._missing:
            return None
        try:
            # Our projector, not the library's: the same, without its check of every event
            # against a runtime Protocol (a tenth of loading an account).
            aggregate = self._store.repository.get(aggregate_id, projector_func=replayed)
        except AggregateNotFoundError:
            self._missing.add(aggregate_id)
            return None
        self._aggregates[aggregate_id] = aggregate
        return aggregate

    def known_missing(self, cls: type[A], key: str) -> None:
        """The aggregate was just found not to exist (read for many at once): `find`
        answers None without reading it again."""
        aggregate_id = cls.id_for(key)  # type: ignore[attr-defined]
        if aggregate_id not in self._aggregates:
            self._missing.add(aggregate_id)

    def get(self, cls: type[A], key: str, field: str | None = None) -> A:
        aggregate = self.find(cls, key)
        if aggregate is None:
            kind = KINDS.get(cls.__name__, cls.__name__.lower())
            raise UnknownEntity(f"unknown {kind} {key!r}", field)
        return aggregate

    def add(self, aggregate: Aggregate) -> None:
        self._aggregates[aggregate.id] = aggregate
        self._missing.discard(aggregate.id)

    def mapping(self, cls: type[A]) -> Mapping[str, A]:
        return _Lookup(self, cls)

    def changed(self) -> list[Aggregate]:
        return [a for a in self._aggregates.values() if a.pending_events]

    def pending_event_count(self) -> int:
        return sum(len(a.pending_events) for a in self._aggregates.values())


class _Lookup(Mapping[str, Any]):
    """A read-only mapping from business keys to aggregates, loaded on demand."""

    def __init__(self, uow: UnitOfWork, cls: type[Aggregate]) -> None:
        self._uow = uow
        self._cls = cls

    def __getitem__(self, key: str) -> Any:
        found = self._uow.find(self._cls, key)
        if found is None:
            raise KeyError(key)
        return found

    def __iter__(self) -> Iterator[str]:
        raise TypeError("aggregates are looked up by key, not listed")

    def __len__(self) -> int:
        raise TypeError("aggregates are looked up by key, not counted")
