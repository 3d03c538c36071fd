"""Tracked read models. Each projection applies every event exactly once: its rows and
its tracking position are written in one transaction, and a writer that finds the
position moved under it (another process caught up first) rolls back and retries.

One event that a read model cannot apply stops neither the other read models nor the
other accounts. A batch is applied whole (the fast path); when a projection raises,
the batch is rolled back and applied again event by event, each event of each
projection inside a savepoint: the event that raises is recorded in
`read_model_failures` (read model, account, position, type, error) and that read
model skips the account from then on, until `projections rebuild`. An event that
cannot even be decoded is recorded the same way for every read model that reads its
type (the audit trail shows it as a row instead).

An event that starts a new stream and whose rows depend on no earlier event (a night's
decision, a failed analysis) is applied by the writer that records it, in the same
transaction (`apply_recorded`), when every read model that reads it can: the night's
workers then project their own decisions from the events in memory, and the catch-up,
finding the event marked in `inline_applied`, neither decodes nor applies it again and
drops the mark as its position passes. The rows are the ones the catch-up would have
written (the same `apply`, the same position), so a rebuild gives them back as they are."""

from __future__ import annotations

import gc
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, Text, func, select, type_coerce, update
from sqlalchemy.orm import Session

from lotline.domain.account import Account
from lotline.domain.aggregate import DomainEvent
from lotline.domain.decision import Decision
from lotline.infrastructure.store_errors import STORE_UNAVAILABLE

tracking_metadata = MetaData()

projection_tracking = Table(
    "projection_tracking",
    tracking_metadata,
    Column("name", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
)

# Events a read model could not apply: that account's reads refuse naming the event
# (projections/failures.py); the read model skips the account until a rebuild. An event
# of no account (account_id NULL) blocks no account's reads.
read_model_failures = Table(
    "read_model_failures",
    tracking_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("projection", String(64), nullable=False),
    Column("account_id", String(128), nullable=True, index=True),
    Column("position", Integer, nullable=False),
    Column("event_type", String(128), nullable=False),
    Column("originator_id", String(36), nullable=False),
    Column("error", Text, nullable=False),
)

# Events a read model has already applied, written by the transaction that recorded
# them: the read model's catch-up skips them, and drops each mark once past it.
inline_applied = Table(
    "inline_applied",
    tracking_metadata,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("projection", String(64), primary_key=True),
)

ERROR_CHARS = 500

BATCH = 5000
BATCH_BYTES = 4_000_000
# A stored state starting with zlib's header byte is compressed (eventstore.py), about six
# to one: counted as its JSON, else a batch of decisions decodes to half a gigabyte and a
# night's memory grows with its accounts up to BATCH.
COMPRESSED_RATIO = 6


class _Notification:
    __slots__ = ("id", "originator_id", "originator_version", "topic", "state")

    def __init__(self, id: int, originator_id: Any, originator_version: int, topic: str, state: bytes) -> None:
        self.id = id
        self.originator_id = originator_id.hex() if isinstance(originator_id, (bytes, memoryview)) else originator_id
        self.originator_version = originator_version
        self.topic = topic
        self.state = bytes(state) if isinstance(state, memoryview) else state


@dataclass(frozen=True)
class Unreadable:
    """A stored event that cannot be decoded (bad JSON, an unknown type, a field that
    does not validate): what is known of it without decoding."""

    position: int
    originator_id: str
    account_id: str | None
    event_type: str
    error: str  # "cannot be read: ..."
    fields: dict[str, Any] = field(default_factory=dict)  # whatever of its JSON could be read
    topic: str = ""  # the stored topic (its class may no longer exist)


class Projection(ABC):
    """A read model: its tables, how an event changes them, and how to empty them."""

    name: str
    metadata: MetaData
    # The event classes this read model reads (None: every event); the others never reach it.
    handles: frozenset[type] | None = None

    @abstractmethod
    def apply(self, session: Session, event: DomainEvent, position: int) -> None: ...

    def applies_inline(self, event: DomainEvent) -> bool:
        """Whether this read model can apply the event as it is recorded, before the
        read model has caught up with the events before it: the event's rows must depend
        on no earlier event (no update of an earlier row, no lookup of one)."""
        return False

    def inline_copy(self) -> Projection:
        """A fresh instance for applying recorded events, sharing nothing kept in memory
        with this one (the recording's transaction may yet be rolled back)."""
        return type(self)()

    def begin_batch(self, session: Session) -> None:
        """Called before a batch; a projection may load state it keeps in memory."""

    def end_batch(self, session: Session) -> None:
        """Called after a batch, before commit; a projection may flush buffered rows."""

    def forget(self) -> None:
        """Another process moved this read model on, or a batch was rolled back: drop
        whatever is kept in memory."""

    def clear(self, session: Session) -> None:
        for table in reversed(self.metadata.sorted_tables):
            session.execute(table.delete())

    def apply_unreadable(self, session: Session, event: Unreadable) -> bool:
        """An event of a type this read model reads that cannot be decoded. True when the
        read model shows it itself (it is then not recorded as this read model's failure);
        by default it is a failure, for its account."""
        return False

    # --- failures ----------------------------------------------------------------------

    @property
    def failed_accounts(self) -> set[str]:
        """Accounts this read model could not apply an event to (read only). Their later
        events are not passed to `apply`; an event applied to many accounts (a split)
        should leave them out itself. Reloaded from `read_model_failures` every batch;
        emptied by a rebuild."""
        try:
            return self._tracking_failed_accounts
        except AttributeError:
            self._tracking_failed_accounts: set[str] = set()
            return self._tracking_failed_accounts

    def report_failure(self, account_id: str, error: str) -> None:
        """Called from `apply`: the event being applied cannot be applied to `account_id`
        (one of several accounts it touches), and the rest of it is applied. The account
        is recorded as failing at this event's position and skipped from then on."""
        self.failed_accounts.add(account_id)
        self._reported().append((account_id, str(error)))

    def _reported(self) -> list[tuple[str, str]]:
        try:
            return self._tracking_reported
        except AttributeError:
            self._tracking_reported: list[tuple[str, str]] = []
            return self._tracking_reported


class _FastPathFailed(Exception):
    """A projection raised while a batch was applied whole: apply it again with care."""


# Errors of the database or the process itself, not of one event: never recorded
# against an event, they stop the catch-up as before.
_NOT_THE_EVENT = (*STORE_UNAVAILABLE, MemoryError, RecursionError)


class ReadModels:
    """Keeps a set of projections caught up with the event store."""

    def __init__(self, recorder: Any, mapper: Any, projections: Sequence[Projection]) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.projections = list(projections)
        self._created = False
        self._written: dict[str, int] = {}  # the position this process last wrote, per read model
        self._kinds: dict[str, type | None] = {}  # a stored topic's event class (None: not resolved)

    def create_tables(self) -> None:
        if self._created:
            return
        with self.recorder.transaction(commit=True) as session:
            connection = session.connection()
            tracking_metadata.create_all(connection, checkfirst=True)
            outdated = self._drop_outdated(connection)
            for projection in self.projections:
                projection.metadata.create_all(connection, checkfirst=True)
            if outdated:
                # Read models are disposable: one whose tables a newer version reshaped is
                # built again from the history.
                session.execute(update(projection_tracking).where(projection_tracking.c.name.in_(outdated))
                                .values(position=0))
            known = set(session.execute(select(projection_tracking.c.name)).scalars())
            for projection in self.projections:
                if projection.name not in known:
                    session.execute(projection_tracking.insert().values(name=projection.name, position=0))
        self._created = True

    def _drop_outdated(self, connection: Any) -> list[str]:
        """Drops the tables of each read model whose stored columns differ from its
        declared ones (a read model changed shape in a newer version)."""
        from sqlalchemy import inspect

        inspector = inspect(connection)
        existing = set(inspector.get_table_names())
        outdated = []
        for projection in self.projections:
            for table in projection.metadata.sorted_tables:
                if table.name in existing and {c["name"] for c in inspector.get_columns(table.name)} != set(table.c.keys()):
                    outdated.append(projection.name)
                    break
        for name in outdated:
            projection = next(p for p in self.projections if p.name == name)
            projection.metadata.drop_all(connection, checkfirst=True)
            connection.execute(read_model_failures.delete().where(read_model_failures.c.projection == name))
            connection.execute(inline_applied.delete().where(inline_applied.c.projection == name))
        return outdated

    # --- applied by the writer ----------------------------------------------------------

    def apply_recorded(self, recorded: Sequence[tuple[int, Any]]) -> int:
        """Applies events just recorded (position, event), inside the transaction that
        recorded them, to every read model that reads them, and marks them applied; only
        events every such read model `applies_inline`, of no account a read model has
        failed. Returns how many. Anything a read model raises (or reports) leaves them
        all to the catch-up, which records the failure as it always does; an error of
        the database itself is the recording's. Needs `create_tables` done."""
        if not self._created:
            return 0
        chosen: list[tuple[int, Any, list[Projection]]] = []
        for position, event in recorded:
            readers = [p for p in self.projections if p.handles is None or type(event) in p.handles]
            if readers and all(p.applies_inline(event) for p in readers):
                chosen.append((position, event, readers))
        if not chosen:
            return 0
        with self.recorder.transaction(commit=True) as session:
            # A failure another process's catch-up records for one of these accounts after
            # this look is missed: that account's reads refuse all the same (naming the
            # failure), and its rebuild gives the read model back as the catch-up would.
            self._load_failures(session)
            chosen = [(position, event, readers) for position, event, readers in chosen
                      if not any(getattr(event, "account_id", None) in p.failed_accounts for p in readers)]
            if not chosen:
                return 0
            savepoint = session.begin_nested()
            try:
                marks = []
                for projection in self.projections:
                    mine = [(position, event) for position, event, readers in chosen if projection in readers]
                    if not mine:
                        continue
                    fresh = projection.inline_copy()
                    fresh.begin_batch(session)
                    for position, event in mine:
                        fresh.apply(session, event, position)
                    fresh.end_batch(session)
                    if fresh._reported():
                        raise _FastPathFailed(f"{projection.name} reported a failure")
                    marks += [{"position": position, "projection": projection.name} for position, _ in mine]
                bulk_insert(session, inline_applied, marks)
            except _NOT_THE_EVENT:
                raise
            except Exception:  # noqa: BLE001 - the catch-up applies them, or records why not
                savepoint.rollback()
                return 0
            savepoint.commit()
        return len(chosen)

    def _marked(self, session: Session, first: int, last: int) -> dict[str, set[int]]:
        """The positions between `first` and `last` each read model has applied already."""
        marked: dict[str, set[int]] = {}
        rows = session.execute(
            select(inline_applied.c.projection, inline_applied.c.position)
            .where(inline_applied.c.position >= first, inline_applied.c.position <= last)
        )
        for name, position in rows:
            marked.setdefault(name, set()).add(position)
        return marked

    def _kind_of(self, topic: str) -> type | None:
        """The event class a stored topic names; None when it names none (any longer)."""
        if topic not in self._kinds:
            from lotline.infrastructure.eventstore import resolve_event_topic

            try:
                self._kinds[topic] = resolve_event_topic(topic)
            except Exception:  # noqa: BLE001
                self._kinds[topic] = None
        return self._kinds[topic]

    def _applied_everywhere(self, notification: Any, marked: dict[str, set[int]], positions: dict[str, int]) -> bool:
        """Whether every read model still behind the notification that reads its type has
        applied it already: then it is not even decoded."""
        kind = self._kind_of(notification.topic)
        if kind is None:  # decoded (and found unreadable) as any other
            return False
        position = notification.id
        for projection in self.projections:
            if positions[projection.name] >= position:
                continue
            if projection.handles is not None and kind not in projection.handles:
                continue
            if position not in marked.get(projection.name, ()):
                return False
        return True

    def catch_up(self, progress: Callable[[int], None] | None = None, batch_bytes: int | None = None) -> int:
        """Applies every event not yet applied; returns how many notifications were read
        (told to `progress` batch by batch). Each batch is one transaction, holding the
        write lock on SQLite: `batch_bytes` smaller than `BATCH_BYTES` keeps that short
        while other processes record (the night's pool)."""
        self.create_tables()
        if self._caught_up():
            return 0
        total = 0
        # Books held in memory are millions of live objects; the cyclic collector would
        # walk all of them again and again (it halved the throughput). The projections
        # make few cycles: collect only the young generation while catching up.
        collecting = gc.isenabled()
        gc.disable()
        try:
            while True:
                read = self._apply_batch(batch_bytes)
                if read == 0:
                    return total
                total += read
                if progress is not None:
                    progress(read)
                gc.collect(1)
        finally:
            if collecting:
                gc.enable()

    def _caught_up(self) -> bool:
        """Whether every read model has applied the newest event: read in a read-only
        transaction, so a read of a caught-up store takes no write lock (it does not wait
        behind a writer such as the night's run on SQLite). Only when behind does
        `_batch` take the lock and decode events."""
        names = [p.name for p in self.projections]
        table = self.recorder.events_record_cls.__table__
        with self.recorder.transaction(commit=False) as session:
            newest = session.execute(select(func.max(table.c.id))).scalar()
            positions = dict(session.execute(
                select(projection_tracking.c.name, projection_tracking.c.position)
                .where(projection_tracking.c.name.in_(names))
            ).all())
        return len(positions) == len(names) and all(p >= (newest or 0) for p in positions.values())

    def _apply_batch(self, batch_bytes: int | None = None) -> int:
        try:
            return self._batch(careful=False, batch_bytes=batch_bytes)
        except _FastPathFailed:
            # The batch was rolled back: what the projections hold in memory may be half
            # applied. Drop it, and apply the batch again one event at a time.
            for projection in self.projections:
                projection.forget()
            self._written.clear()
            return self._batch(careful=True, batch_bytes=batch_bytes)

    def _batch(self, careful: bool, batch_bytes: int | None = None) -> int:
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
            notifications = self._select_notifications(session, start, batch_bytes)
            if not notifications:
                return 0
            read, last = len(notifications), notifications[-1].id
            marked = self._marked(session, notifications[0].id, last)
            if marked:
                notifications = [n for n in notifications if not self._applied_everywhere(n, marked, positions)]
            events, errors = self._decode(notifications)
            self._load_failures(session)
            if careful or errors:
                self._apply_carefully(session, positions, last, notifications, events, errors, marked)
            else:
                try:
                    self._apply_whole(session, positions, last, events, marked)
                except _NOT_THE_EVENT:
                    raise
                except Exception as error:
                    raise _FastPathFailed(str(error)) from error
            if marked:
                # Every read model behind `last` is at `last` now; those ahead passed it before.
                session.execute(inline_applied.delete().where(inline_applied.c.position <= last))
            return read

    def _decode(self, notifications: list[Any]) -> tuple[list[tuple[int, Any]], dict[int, Exception]]:
        """Each notification decoded on its own: one that cannot be is None, its error kept."""
        decode = self.mapper.to_domain_event
        try:
            return [(n.id, decode(n)) for n in notifications], {}
        except Exception:
            pass
        events: list[tuple[int, Any]] = []
        errors: dict[int, Exception] = {}
        for n in notifications:
            try:
                events.append((n.id, decode(n)))
            except _NOT_THE_EVENT:
                raise
            except Exception as error:
                events.append((n.id, None))
                errors[n.id] = error
        return events, errors

    def _load_failures(self, session: Session) -> None:
        """Each read model's failed accounts, as recorded (another process may have added some)."""
        failed: dict[str, set[str]] = {}
        rows = session.execute(
            select(read_model_failures.c.projection, read_model_failures.c.account_id)
            .where(read_model_failures.c.account_id.is_not(None))
            .distinct()
        )
        for name, account_id in rows:
            failed.setdefault(name, set()).add(account_id)
        for projection in self.projections:
            accounts = projection.failed_accounts
            accounts.clear()
            accounts.update(failed.get(projection.name, ()))

    def _apply_whole(self, session: Session, positions: dict[str, int], last: int, events: list[tuple[int, Any]],
                     marked: dict[str, set[int]]) -> None:
        """The fast path: each projection applies the whole batch (up to `last`, but what
        it applied already), then flushes it once."""
        for projection in self.projections:
            done = positions[projection.name]
            if done >= last:
                continue
            pending = events if not events or done < events[0][0] else [(p, e) for p, e in events if p > done]
            applied = marked.get(projection.name)
            if applied:
                pending = [(p, e) for p, e in pending if p not in applied]
            if projection.handles is not None:
                pending = [(p, e) for p, e in pending if type(e) in projection.handles]
            failed = projection.failed_accounts
            if failed:
                oids = {Account.id_for(a) for a in failed}
                pending = [(p, e) for p, e in pending if not _skipped(e, failed, oids)]
            reported = projection._reported()
            reported.clear()
            projection.begin_batch(session)
            for position, event in pending:
                projection.apply(session, event, position)
                if reported:
                    # The account's later events in this batch must not reach it: apply
                    # the batch again one event at a time.
                    raise _FastPathFailed(f"{projection.name} reported a failure at event {position}")
            projection.end_batch(session)
            if reported:
                raise _FastPathFailed(f"{projection.name} reported a failure while writing a batch")
            session.execute(
                update(projection_tracking)
                .where(projection_tracking.c.name == projection.name)
                .values(position=last)
            )
            self._written[projection.name] = last

    def _apply_carefully(
        self, session: Session, positions: dict[str, int], last: int, notifications: list[Any],
        events: list[tuple[int, Any]], errors: dict[int, Exception], marked: dict[str, set[int]],
    ) -> None:
        """One event at a time, each projection's change inside its own savepoint and
        written before the next event: an event that raises is rolled back and recorded
        as that read model's failure for its account, and the others go on."""
        from lotline.projections.failures import AccountResolver

        active = [p for p in self.projections if positions[p.name] < last]
        for projection in active:
            projection._reported().clear()
            projection.begin_batch(session)
        accounts = AccountResolver(session)
        for notification, (position, event) in zip(notifications, events):
            if event is None:
                self._apply_unreadable(session, positions, active, notification, errors[position], accounts, marked)
                continue
            account_id = accounts.of(event)
            kind = type(event)
            for projection in active:
                if position <= positions[projection.name] or position in marked.get(projection.name, ()):
                    continue
                if projection.handles is not None and kind not in projection.handles:
                    continue
                if account_id is not None and account_id in projection.failed_accounts:
                    continue
                self._apply_one(session, projection, position, event, account_id)
        for projection in active:
            session.execute(
                update(projection_tracking).where(projection_tracking.c.name == projection.name).values(position=last)
            )
            self._written[projection.name] = last

    def _apply_one(self, session: Session, projection: Projection, position: int, event: Any, account_id: str | None) -> None:
        reported = projection._reported()
        savepoint = session.begin_nested()
        try:
            projection.apply(session, event, position)
            projection.end_batch(session)
        except _NOT_THE_EVENT:
            raise
        except Exception as error:
            savepoint.rollback()
            self._restart(session, projection)
            self._record(session, projection, account_id, position, type(event).__name__, event.originator_id,
                         describe(error))
            return
        savepoint.commit()
        for failed, error in reported:
            self._record(session, projection, failed, position, type(event).__name__, event.originator_id, error)
        reported.clear()

    def _apply_unreadable(
        self, session: Session, positions: dict[str, int], active: list[Projection], notification: Any,
        error: Exception, accounts: Any, marked: dict[str, set[int]],
    ) -> None:
        from lotline.projections.failures import salvage, topic_type

        fields = salvage(notification.state)
        originator = _uuid(notification.originator_id)
        item = Unreadable(
            position=notification.id,
            originator_id=str(originator) if originator is not None else str(notification.originator_id),
            account_id=accounts.of_unreadable(originator, fields),
            event_type=topic_type(notification.topic),
            error=f"cannot be read: {describe(error)}"[:ERROR_CHARS],
            fields=fields,
            topic=str(notification.topic),
        )
        kind = self._kind_of(notification.topic)  # None: every read model might have read it
        for projection in active:
            if item.position <= positions[projection.name] or item.position in marked.get(projection.name, ()):
                continue
            if kind is not None and projection.handles is not None and kind not in projection.handles:
                continue
            if item.account_id is not None and item.account_id in projection.failed_accounts:
                continue
            savepoint = session.begin_nested()
            try:
                shown = projection.apply_unreadable(session, item)
                if shown:
                    projection.end_batch(session)
            except _NOT_THE_EVENT:
                raise
            except Exception:
                savepoint.rollback()
                self._restart(session, projection)
                shown = False
            else:
                savepoint.commit()
            if not shown:
                self._record(session, projection, item.account_id, item.position, item.event_type,
                             item.originator_id, item.error)

    @staticmethod
    def _restart(session: Session, projection: Projection) -> None:
        """After a rolled-back event: what the projection holds may be half applied."""
        projection._reported().clear()
        projection.forget()
        projection.begin_batch(session)

    @staticmethod
    def _record(session: Session, projection: Projection, account_id: str | None, position: int, event_type: str,
                originator_id: Any, error: str) -> None:
        session.execute(read_model_failures.insert().values(
            projection=projection.name, account_id=account_id, position=position, event_type=event_type[:128],
            originator_id=str(originator_id)[:36], error=" ".join(str(error).split())[:ERROR_CHARS],
        ))
        if account_id is not None:
            projection.failed_accounts.add(account_id)

    def failures(self) -> list[dict[str, Any]]:
        """Every event a read model could not apply, oldest first."""
        self.create_tables()
        with self.recorder.transaction(commit=False) as session:
            rows = session.execute(
                select(read_model_failures).order_by(read_model_failures.c.position, read_model_failures.c.id)
            ).all()
        return [
            {"read_model": r.projection, "account": r.account_id, "position": r.position, "type": r.event_type,
             "originator_id": r.originator_id, "error": r.error}
            for r in rows
        ]

    def _select_notifications(self, session: Session, after: int, batch_bytes: int | None = None) -> list[Any]:
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
        cap = BATCH_BYTES if batch_bytes is None else batch_bytes
        notifications = []
        size = 0
        for row in session.execute(query):
            notifications.append(_Notification(*row))
            state = row[4]
            size += len(state) * (COMPRESSED_RATIO if state[:1] == b"x" else 1)
            # Decisions are large once decoded (every lot they read): cap a batch by bytes too.
            if size > cap:
                break
        return notifications

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Empties every read model, and the record of what they failed, and applies the
        whole history again."""
        self.create_tables()
        with self.recorder.transaction(commit=True) as session:
            session.execute(read_model_failures.delete())
            session.execute(inline_applied.delete())
            for projection in self.projections:
                projection.clear(session)
                projection.failed_accounts.clear()
                session.execute(
                    update(projection_tracking).where(projection_tracking.c.name == projection.name).values(position=0)
                )
                self._written[projection.name] = 0
        return self.catch_up(progress)


def describe(error: BaseException) -> str:
    """An error as one line: a Lotline error as its message, anything else with its type."""
    from pydantic import ValidationError

    from lotline.domain.errors import LotlineError

    if isinstance(error, LotlineError):
        text = str(error)
    elif isinstance(error, ValidationError):
        # Each field and what is wrong with it, without echoing the stored input.
        problems = [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" if e["loc"] else e["msg"]
                    for e in error.errors(include_url=False, include_input=False)]
        text = f"invalid {error.title}: {'; '.join(problems)}"
    else:
        text = f"{type(error).__name__}: {error}"
    return " ".join(text.split())[:ERROR_CHARS]


def _skipped(event: Any, failed: set[str], failed_oids: set[Any]) -> bool:
    """Whether the event belongs to an account this read model has failed."""
    owner = type(event).aggregate_class
    if owner is Account:
        return event.originator_id in failed_oids
    if owner is Decision:
        return getattr(event, "account_id", None) in failed
    return False


def _uuid(value: Any) -> UUID | None:
    if isinstance(value, UUID):
        return value
    try:
        return UUID(str(value))
    except ValueError:
        return None


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
    if connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg":
        _copy(connection, table, columns, rows)
        return
    marks = _marks(connection, len(columns))
    if marks is None:
        session.execute(table.insert(), rows)
        return
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join(marks)})"
    values = itemgetter(*columns)
    connection.exec_driver_sql(sql, [values(row) for row in rows] if len(columns) > 1 else [(values(row),) for row in rows])


def _copy(connection: Any, table: Table, columns: list[str], rows: list[dict[str, Any]]) -> None:
    """PostgreSQL: the rows in one COPY, in the connection's transaction. executemany is an
    INSERT per row for the server (a night's catch-up writes some 25 order rows a
    decision): COPY costs the server and the client a fraction of it."""
    values = itemgetter(*columns)
    with connection.connection.driver_connection.cursor() as cursor:
        with cursor.copy(f"COPY {table.name} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(values(row) if len(columns) > 1 else (values(row),))
