"""Tracked read models. Each projection applies every event exactly once: its rows and
its tracking position are written in one transaction, and a writer that finds the
position moved under it (another process caught up first) rolls back and retries."""

from __future__ import annotations

import gc
from operator import itemgetter
from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, select, type_coerce, update
from sqlalchemy.orm import Session

from domain.aggregate import DomainEvent

tracking_metadata = MetaData()

projection_tracking = Table(
    "projection_tracking",
    tracking_metadata,
    Column("name", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
)

BATCH = 5000
BATCH_BYTES = 4_000_000


class _Notification:
    __slots__ = ("id", "originator_id", "originator_version", "topic", "state")

    def __init__(self, id: int, originator_id: Any, originator_version: int, topic: str, state: bytes) -> None:
        self.id = id
        self.originator_id = originator_id.hex() if isinstance(originator_id, (bytes, memoryview)) else originator_id
        self.originator_version = originator_version
        self.topic = topic
        self.state = bytes(state) if isinstance(state, memoryview) else state


class Projection(ABC):
    """A read model: its tables, how an event changes them, and how to empty them."""

    name: str
    metadata: MetaData
    # The event classes this read model reads (None: every event); the others never reach it.
    handles: frozenset[type] | None = None

    @abstractmethod
    def apply(self, session: Session, event: DomainEvent, position: int) -> None: ...

    def begin_batch(self, session: Session) -> None:
        """Called before a batch; a projection may load state it keeps in memory."""

    def end_batch(self, session: Session) -> None:
        """Called after a batch, before commit; a projection may flush buffered rows."""

    def forget(self) -> None:
        """Another process moved this read model on: drop whatever is kept in memory."""

    def clear(self, session: Session) -> None:
        for table in reversed(self.metadata.sorted_tables):
            session.execute(table.delete())


class ReadModels:
    """Keeps a set of projections caught up with the event store."""

    def __init__(self, recorder: Any, mapper: Any, projections: Sequence[Projection]) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.projections = list(projections)
        self._created = False
        self._written: dict[str, int] = {}  # the position this process last wrote, per read model

    def create_tables(self) -> None:
        if self._created:
            return
        with self.recorder.transaction(commit=True) as session:
            connection = session.connection()
            tracking_metadata.create_all(connection, checkfirst=True)
            for projection in self.projections:
                projection.metadata.create_all(connection, checkfirst=True)
            known = set(session.execute(select(projection_tracking.c.name)).scalars())
            for projection in self.projections:
                if projection.name not in known:
                    session.execute(projection_tracking.insert().values(name=projection.name, position=0))
        self._created = True

    def catch_up(self) -> int:
        """Applies every event not yet applied; returns how many notifications were read."""
        self.create_tables()
        total = 0
        # Books held in memory are millions of live objects; the cyclic collector would
        # walk all of them again and again (it halved the throughput). The projections
        # make few cycles: collect only the young generation while catching up.
        collecting = gc.isenabled()
        gc.disable()
        try:
            while True:
                read = self._apply_batch()
                if read == 0:
                    return total
                total += read
                gc.collect(1)
        finally:
            if collecting:
                gc.enable()

    def _apply_batch(self) -> int:
        names = [p.name for p in self.projections]
        with self.recorder.transaction(commit=True) as session:
            # The first statement writes, so the transaction holds the write lock from
            # here on (SQLite) or locks the tracking rows (PostgreSQL).
            session.execute(
                update(projection_tracking)
                .where(projection_tracking.c.name.in_(names))
                .values(position=projection_tracking.c.position)
            )
            positions = dict(
                session.execute(
                    select(projection_tracking.c.name, projection_tracking.c.position)
                    .where(projection_tracking.c.name.in_(names))
                ).all()
            )
            for projection in self.projections:
                mine = self._written.get(projection.name)
                if mine is not None and mine != positions[projection.name]:
                    projection.forget()
                    self._written.pop(projection.name)
            start = min(positions.values(), default=0)
            notifications = self._select_notifications(session, start)
            if not notifications:
                return 0
            events = [(n.id, self.mapper.to_domain_event(n)) for n in notifications]
            for projection in self.projections:
                done = positions[projection.name]
                pending = events if done < events[0][0] else [(p, e) for p, e in events if p > done]
                last = pending[-1][0] if pending else None
                if projection.handles is not None:
                    pending = [(p, e) for p, e in pending if type(e) in projection.handles]
                if last is None:
                    continue
                projection.begin_batch(session)
                for position, event in pending:
                    projection.apply(session, event, position)
                projection.end_batch(session)
                session.execute(
                    update(projection_tracking)
                    .where(projection_tracking.c.name == projection.name)
                    .values(position=last)
                )
                self._written[projection.name] = last
            return len(notifications)

    def _select_notifications(self, session: Session, after: int) -> list[Any]:
        # Core, not the recorder's ORM query: a projection reads every event ever
        # recorded, and building ORM objects for each costs more than the projection.
        table = self.recorder.events_record_cls.__table__
        # The id as the database holds it (16 bytes on SQLite, a uuid on PostgreSQL): the
        # mapper splices its text into the event's JSON, so a UUID object is not needed.
        raw_id = type_coerce(table.c.originator_id, LargeBinary) if session.bind.dialect.name == "sqlite" else table.c.originator_id
        query = (
            select(table.c.id, raw_id, table.c.originator_version, table.c.topic, table.c.state)
            .where(table.c.id > after)
            .order_by(table.c.id)
            .limit(BATCH)
        )
        notifications = []
        size = 0
        for row in session.execute(query):
            notifications.append(_Notification(*row))
            size += len(row[4])
            # Decisions are large once decoded (every lot they read): cap a batch by bytes too.
            if size > BATCH_BYTES:
                break
        return notifications

    def rebuild(self) -> int:
        """Empties every read model and applies the whole history again."""
        self.create_tables()
        with self.recorder.transaction(commit=True) as session:
            for projection in self.projections:
                projection.clear(session)
                session.execute(
                    update(projection_tracking).where(projection_tracking.c.name == projection.name).values(position=0)
                )
                self._written[projection.name] = 0
        return self.catch_up()


def _marks(connection: Any, count: int) -> list[str] | None:
    style = connection.dialect.paramstyle
    if style == "qmark":
        return ["?"] * count
    if style in ("format", "pyformat"):
        return ["%s"] * count
    return None


def bulk_delete(session: Session, table: Table, columns: tuple[str, ...], keys: list[tuple]) -> None:
    """Deletes rows by key through the driver's executemany: one indexed lookup per key
    (SQLite scans the whole table for a row-value IN list)."""
    if not keys:
        return
    connection = session.connection()
    marks = _marks(connection, len(columns))
    if marks is None:
        for key in keys:
            session.execute(table.delete().where(*(table.c[c] == v for c, v in zip(columns, key))))
        return
    condition = " AND ".join(f"{c} = {m}" for c, m in zip(columns, marks))
    connection.exec_driver_sql(f"DELETE FROM {table.name} WHERE {condition}", [tuple(k) for k in keys])


def bulk_insert(session: Session, table: Table, rows: list[dict[str, Any]]) -> None:
    """Many rows through the driver's executemany, without SQLAlchemy's per-row
    parameter processing (values must already be what the driver takes: str, int,
    date, bool)."""
    if not rows:
        return
    connection = session.connection()
    columns = list(rows[0])
    marks = _marks(connection, len(columns))
    if marks is None:
        session.execute(table.insert(), rows)
        return
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(marks)})"
    values = itemgetter(*columns)
    connection.exec_driver_sql(sql, [values(row) for row in rows] if len(columns) > 1 else [(values(row),) for row in rows])
