"""Lotline as a handler works with it: one store of aggregates, its read side, its
clock. `execute(work)` runs `work` in a fresh unit of work and commits it (and runs it
again when another writer got there first); `views` and `prices` read; `snapshots`
keeps each analysis day's market. A command that spans many units of work (the daily
run, the fill) asks for one per account, so one account never stops the others."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import date, datetime, timezone
from typing import TypeVar

from eventsourcing.persistence import IntegrityError

from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.errors import ConcurrencyConflict
from lotline.infrastructure.aggregate_store import AggregateStore
from lotline.infrastructure.credentials import Credentials
from lotline.infrastructure.eventstore import store_env, store_url
from lotline.infrastructure.market import MarketSnapshots
from lotline.projections.audit import AuditTrail
from lotline.projections.decisions import DecisionsAndOrders
from lotline.projections.directory import Directory
from lotline.projections.lots import LotsAndGains
from lotline.projections.prices import ClosingPrices
from lotline.projections.tracking import Projection, ReadModels
from lotline.projections.views import Views

T = TypeVar("T")

Progress = Callable[[int], None]
"""Told, as a long command goes, how many more accounts it has finished."""

ATTEMPTS = 20


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Lotline:
    def __init__(
        self,
        url: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.url = store_url(url, dict(os.environ) if environ is None else environ)
        self.store = AggregateStore(env=store_env(self.url))
        self.clock = clock
        self.read_models = ReadModels(self.store.recorder, self.store.mapper, self.projections(self.store))
        self.views = Views(self.store.recorder)
        self.prices = ClosingPrices(self.store.recorder)
        self.snapshots = MarketSnapshots(self.store)
        self.credentials = Credentials(self.store)
        with self.store.recorder.transaction(commit=True):
            self.prices.create_tables()
            self.snapshots.create_tables()
            self.credentials.create_tables()

    @staticmethod
    def projections(store: AggregateStore) -> Sequence[Projection]:
        return (Directory(), AuditTrail(), LotsAndGains(store.repository.get), DecisionsAndOrders())

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Lotline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def today(self) -> date:
        return self.clock().date()

    # --- writing -------------------------------------------------------------------

    def fresh(self) -> UnitOfWork:
        """A new unit of work: reads aggregates as they are now; commits nothing by itself."""
        return UnitOfWork(self.store)

    def execute(self, work: Callable[[UnitOfWork], T]) -> T:
        """Runs `work` in a fresh unit of work and commits it; when another writer got
        there first, runs it again against the new state."""
        for _ in range(ATTEMPTS):
            uow = self.fresh()
            result = work(uow)
            try:
                self.commit(uow)
            except IntegrityError:
                # Back off a little, by a jittered amount, so two writers stop colliding.
                time.sleep(random.uniform(0.001, 0.02))
                continue
            return result
        raise ConcurrencyConflict(f"another writer kept changing the same records; gave up after {ATTEMPTS} attempts")

    def commit(self, *units: UnitOfWork) -> None:
        """Saves what the units of work changed, their closes and key credentials, in one
        transaction (IntegrityError, and nothing saved, when another writer got there first)."""
        with self.store.recorder.transaction(commit=True):
            changed = [aggregate for uow in units for aggregate in uow.changed()]
            if changed:
                self.store.save(*changed)
            self.prices.record([close for uow in units for close in uow.closes])
            self.credentials.record([c for uow in units for c in uow.keys_issued],
                                    [key_id for uow in units for key_id in uow.keys_revoked])

    # --- reading -------------------------------------------------------------------

    def reading(self) -> AbstractContextManager[object]:
        """One read transaction: reads of the views and prices inside it see one state."""
        return self.store.recorder.transaction(commit=False)

    def catch_up(self) -> None:
        """Brings every read model up to the latest event (done before a read)."""
        self.read_models.catch_up()
