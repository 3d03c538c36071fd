"""The service layer: each use case is a few lines that authorise the actor, load
aggregates, call one domain method and commit. A missing aggregate becomes a named
error; a concurrent writer makes the command run again against the new state."""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Sequence
from datetime import date, datetime, timezone
from typing import Any, TypeVar

from eventsourcing.persistence import IntegrityError
from sqlalchemy import select

from lotline.application.authorisation import authorise, authorise_read
from lotline.application.store import EventStore
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.account import Account
from lotline.domain.errors import ConcurrencyConflict, UnknownEntity
from lotline.domain.roles import Permission
from lotline.infrastructure import market as market_table
from lotline.infrastructure import prices as price_table
from lotline.infrastructure.eventstore import store_env, store_url
from lotline.projections.audit import AuditTrail, audit_events
from lotline.projections.decisions import DecisionsAndOrders
from lotline.projections.directory import Directory, accounts, users
from lotline.projections.lots import LotsAndGains
from lotline.projections.tracking import Projection, ReadModels

T = TypeVar("T")

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
        self.store = EventStore(env=store_env(self.url))
        self.clock = clock
        self.read_models = ReadModels(self.store.recorder, self.store.mapper, self.projections(self.store))
        with self.store.recorder.transaction(commit=True) as session:
            price_table.create_tables(session.connection())
            market_table.create_tables(session.connection())

    @staticmethod
    def projections(store: EventStore) -> Sequence[Projection]:
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

    def execute(self, work: Callable[[UnitOfWork], T]) -> T:
        """Runs `work` in a fresh unit of work and commits it; when another writer got
        there first, runs it again against the new state."""
        for _ in range(ATTEMPTS):
            uow = UnitOfWork(self.store)
            result = work(uow)
            try:
                self.commit(uow)
            except IntegrityError:
                # Back off a little, by a jittered amount, so two writers stop colliding.
                time.sleep(random.uniform(0.001, 0.02))
                continue
            return result
        raise ConcurrencyConflict(f"another writer kept changing the same records; gave up after {ATTEMPTS} attempts")

    def commit(self, uow: UnitOfWork) -> None:
        with self.store.recorder.transaction(commit=True) as session:
            changed = uow.changed()
            if changed:
                self.store.save(*changed)
            price_table.record_closes(session, uow.closes)

    # --- reading -------------------------------------------------------------------

    def catch_up(self) -> None:
        self.read_models.catch_up()

    def rebuild_projections(self, user: str) -> tuple[int, list[dict[str, Any]]]:
        """Rebuilds every read model; returns the events read and those a read model could
        not apply (their accounts' reads refuse; every other account is rebuilt)."""
        uow = UnitOfWork(self.store)
        authorise(uow, user, Permission.REBUILD_PROJECTIONS, self.today(), self.clock())
        read = self.read_models.rebuild()
        return read, self.read_models.failures()

    def user_ids(self) -> list[str]:
        """Users in the order they were added."""
        self.catch_up()
        with self.store.recorder.transaction(commit=False) as session:
            return list(session.execute(select(users.c.user_id).order_by(users.c.added_at)).scalars())

    def account_row(self, account_id: str) -> Any:
        self.catch_up()
        with self.store.recorder.transaction(commit=False) as session:
            row = session.execute(select(accounts).where(accounts.c.account_id == account_id)).first()
        if row is None:
            raise UnknownEntity(f"unknown account {account_id!r}", "account")
        return row

    def authorise_account_read(self, user: str, account_id: str) -> Any:
        row = self.account_row(account_id)
        authorise_read(UnitOfWork(self.store), user, account_id, row.advisor)
        return row

    def audit(self, account_id: str, user: str, since: date | None = None, until: date | None = None) -> list[dict[str, Any]]:
        self.authorise_account_read(user, account_id)
        query = select(audit_events).where(audit_events.c.account_id == account_id).order_by(audit_events.c.position)
        if since is not None:
            query = query.where(audit_events.c.effective_date >= since)
        if until is not None:
            query = query.where(audit_events.c.effective_date <= until)
        with self.store.recorder.transaction(commit=False) as session:
            rows = session.execute(query).all()
        return [
            {
                "position": row.position,
                "type": row.type,
                "timestamp": row.timestamp,
                "effective_date": row.effective_date.isoformat(),
                "actor": row.actor,
                "role": row.role,
                "reason": row.reason,
                "data": json.loads(row.data),
            }
            for row in rows
        ]

    def account_for(self, uow: UnitOfWork, account_id: str, field: str = "account") -> Account:
        return uow.get(Account, account_id, field)


def load_scenario(service: Lotline, path: Any, as_user: str | None) -> dict[str, Any]:
    """Applies a scenario file all or nothing; returns events and closes recorded. A
    file whose SHA-256 equals that of a file already loaded is skipped as a whole: the
    summary then says so (`skipped`), with when and by whom it was loaded."""
    import hashlib
    from pathlib import Path

    from lotline.application.loading import ScenarioLoader
    from lotline.application.scenario import read_scenario
    from lotline.domain.errors import InvalidInput
    from lotline.domain.scenario_file import ScenarioFile

    scenario = read_scenario(path, service.today())  # today: the file's date when it gives no as_of
    try:
        sha256 = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}", "file") from None
    file_name = Path(path).name
    known = service.user_ids()

    def holders(symbols: set[str]) -> set[str]:
        from lotline.projections.lots import accounts_holding

        with service.store.recorder.transaction(commit=False) as session:
            return accounts_holding(session, symbols)

    def work(uow: UnitOfWork) -> dict[str, Any]:
        loaded = uow.find(ScenarioFile, sha256)
        if loaded is not None:
            if as_user is not None:
                authorise_read(uow, as_user, None, None)
            return {"skipped": True, "sha256": sha256, "loaded_as": loaded.file_name, "loaded_at": loaded.loaded_at,
                    "loaded_by": ", ".join(loaded.loaded_by), "events": 0, "prices": 0, "entries_skipped": 0}
        loader = ScenarioLoader(uow, scenario, as_user, known, service.today(), service.clock(), holders)
        loader.run()
        events, prices = uow.pending_event_count(), len(uow.closes)
        loader.record_file(file_name, sha256, events, prices)
        return {"skipped": False, "sha256": sha256, "events": events, "prices": prices,
                "entries_skipped": loader.entries_skipped}

    return service.execute(work)


def load_prices(service: Lotline, path: Any, user: str) -> int:
    """Loads a price file all or nothing; returns the closes recorded (corrections included)."""
    from lotline.application.price_files import read_price_file
    from lotline.domain.security import Security

    closes = read_price_file(path)

    def work(uow: UnitOfWork) -> int:
        authorise(uow, user, Permission.MANAGE_MARKET, service.today(), service.clock())
        for symbol in sorted({s for _, s, _ in closes}):
            if uow.find(Security, symbol) is None:
                raise UnknownEntity(f"unknown symbol {symbol!r}", "file")
        uow.closes.extend(closes)
        return len(closes)

    return service.execute(work)


def firm_settings(service: Lotline, user: str) -> dict[str, Any]:
    from lotline.domain.settings import SETTINGS, FirmSettings, effective_settings

    uow = UnitOfWork(service.store)
    authorise_read(uow, user, None, None)
    values = effective_settings(uow.find(FirmSettings, "firm"))
    return {key: {"value": str(values[key]), "default": SETTINGS[key].default, "description": SETTINGS[key].description}
            for key in sorted(SETTINGS)}


def change_setting(service: Lotline, key: str, value: str, user: str, reason: str | None = None) -> None:
    from lotline.domain.settings import FirmSettings

    def work(uow: UnitOfWork) -> None:
        actor = authorise(uow, user, Permission.MANAGE_MARKET, service.today(), service.clock(), reason)
        settings = uow.find(FirmSettings, "firm")
        if settings is None:
            settings = FirmSettings.create(actor)
            uow.add(settings)
        settings.change(key, value, actor)

    service.execute(work)
