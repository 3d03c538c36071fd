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
from lotline.domain.price_series import PriceSeries
from lotline.infrastructure.aggregate_store import AggregateStore
from lotline.infrastructure.credentials import Credentials
from lotline.infrastructure.eventstore import store_env
from lotline.infrastructure.integrity import Head, Verification, newest_recorded_time
from lotline.infrastructure.integrity import seal as seal_chain
from lotline.infrastructure.integrity import verify as verify_chain
from lotline.infrastructure.market import MarketSnapshots
from lotline.infrastructure.store_urls import create_private_file, store_url
from lotline.projections.audit import AuditTrail
from lotline.projections.decisions import DecisionsAndOrders
from lotline.projections.directory import Directory
from lotline.projections.lots import LotsAndGains
from lotline.projections.prices import ClosingPrices, RecordedCloses
from lotline.projections.targets import AccountTargets
from lotline.projections.tracking import Projection, ReadModels
from lotline.projections.views import Views

T = TypeVar("T")

Progress = Callable[[int], None]
"""Told, as a long command goes, how many more accounts it has finished."""

ATTEMPTS = 20
# About ten decisions a transaction (a decision counts some 25 KB of JSON): on SQLite the
# pool's workers wait for the write lock no longer than a few of their own commits.
CATCH_UP_BESIDE_WRITERS_BYTES = 256_000


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


class Lotline:
    def __init__(
        self,
        url: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        environ: dict[str, str] | None = None,
        business_day: Callable[[], date] | None = None,
        store_settings: dict[str, str] | None = None,
    ) -> None:
        """`clock`: the machine's time (a test may pin it); the times recorded come from
        the store's clock built on it (`clock()`). `business_day`: today's date for
        commands that default to it (`LOTLINE_NOW` pins it); else the store's date.
        `store_settings`: more of the event store's settings (a backtest's private store
        caches its aggregates: `AGGREGATE_CACHE_MAXSIZE`)."""
        self.url = store_url(url, dict(os.environ) if environ is None else environ)
        create_private_file(self.url)
        self.store = AggregateStore(env={**store_env(self.url), **(store_settings or {})})
        self._machine_clock = clock
        self._business_day = business_day
        # The store's clock never goes back past the newest time the store recorded.
        self._floor = newest_recorded_time(self.store.recorder)
        self.read_models = ReadModels(self.store.recorder, self.store.mapper, self.projections(self.store))
        self.views = Views(self.store.recorder)
        self.prices = ClosingPrices(self.store.recorder)
        self.snapshots = MarketSnapshots(self.store)
        self.credentials = Credentials(self.store)
        with self.store.recorder.transaction(commit=True):
            kept_as_rows = self.prices.create_tables()
            self.snapshots.create_tables()
            self.credentials.create_tables()
        if kept_as_rows:
            self._adopt_closes_kept_as_rows()

    @staticmethod
    def projections(store: AggregateStore) -> Sequence[Projection]:
        return (Directory(), AuditTrail(), LotsAndGains(store.repository.get), DecisionsAndOrders(), RecordedCloses(),
                AccountTargets())

    def _adopt_closes_kept_as_rows(self) -> None:
        """A store written before closes were events: its closes recorded as events once."""
        from lotline.application.price_records import adopt_closes_kept_as_rows

        adopt_closes_kept_as_rows(self)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Lotline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def clock(self) -> datetime:
        """The store's clock: the machine's time, never before the newest time the store
        has recorded (nor before the last time this process read), in UTC."""
        now = self._machine_clock()
        if not isinstance(now, datetime):  # a date: its start
            now = datetime.combine(now, datetime.min.time(), timezone.utc)
        now = now.astimezone(timezone.utc) if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)
        if self._floor is not None and now < self._floor:
            now = self._floor
        self._floor = now
        return now

    def today(self) -> date:
        """The business date commands default to."""
        return self._business_day() if self._business_day is not None else self.clock().date()

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
        """Saves what the units of work changed in one transaction, the closes of their
        price events and the key credentials written with them (IntegrityError, and
        nothing saved, when another writer got there first). The read models that can
        take the new events as they are recorded (a night's decisions) get them in the
        same transaction: the writer projects what it has in memory, and the catch-up
        skips them (once this process has made or checked the read models' tables)."""
        with self.store.recorder.transaction(commit=True):
            changed = [aggregate for uow in units for aggregate in uow.changed()]
            price_events = [e for a in changed if isinstance(a, PriceSeries) for e in a.pending_events]
            if changed:
                recordings = self.store.save(*changed)
                self.read_models.apply_recorded([(r.notification.id, r.domain_event) for r in recordings])
            self.prices.record(price_events)
            self.credentials.record([c for uow in units for c in uow.keys_issued],
                                    [key_id for uow in units for key_id in uow.keys_revoked])

    # --- reading -------------------------------------------------------------------

    def reading(self) -> AbstractContextManager[object]:
        """One read transaction: reads of the views and prices inside it see one state."""
        return self.store.recorder.transaction(commit=False)

    def catch_up(self) -> None:
        """Brings every read model up to the latest event (done before a read)."""
        self.read_models.catch_up()

    def catch_up_beside_writers(self) -> None:
        """`catch_up` while other processes record (the night's pool workers), in short
        transactions: on SQLite each holds the write lock the workers record under."""
        self.read_models.catch_up(batch_bytes=CATCH_UP_BESIDE_WRITERS_BYTES)

    # --- integrity -----------------------------------------------------------------

    def verify(self, expect_head: str | None = None, progress: Progress | None = None) -> Verification:
        """Recomputes the integrity chain over the whole history (streamed) and checks
        the head and every stored market snapshot."""
        with self.store.recorder.transaction(commit=False) as session:
            result = verify_chain(session.connection(), self.store.recorder.events_record_cls.__table__,
                                  expect_head, progress)
        if result.intact:
            for digest, day in self.snapshots.altered():
                result.problem = (f"the market snapshot of {day.isoformat()} ({digest[:12]}) no longer matches its "
                                  "digest: it was edited in the store")
                result.position = None
                break
        return result

    def seal(self) -> Head | None:
        """Chains the history recorded before the chain existed (once, by an admin)."""
        with self.store.recorder.transaction(commit=True) as session:
            return seal_chain(session, self.store.recorder.events_record_cls.__table__, self.clock)
