"""The integrity chain: every stored event gets a digest, written in the same
transaction as the event, that covers the previous event's digest and the event's
position, stream, version, type, recording time and stored state. The newest position
and digest (the head) are also kept apart from the events. Recomputing the chain from
the first event finds an event edited, deleted, inserted or reordered in the store, and
the head finds the newest events deleted.

What it does not prove: someone who can rewrite the whole events table, the chain and
the head together can compute a new, consistent chain. That is why the head is also
kept outside the store (`verify --expect-head`, and every Kafka batch carries it)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing_sqlalchemy.factory import SQLAlchemyFactory
from eventsourcing_sqlalchemy.recorders import SQLAlchemyApplicationRecorder
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, bindparam, select
from sqlalchemy.orm import Session

GENESIS = "0" * 64
CHUNK = 20_000

chain_metadata = MetaData()

event_chain = Table(
    "event_chain",
    chain_metadata,
    Column("position", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False),
    Column("digest", String(64), nullable=False),
    Column("recorded_at", String(40), nullable=False),
)

chain_head = Table(
    "chain_head",
    chain_metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False),
    Column("digest", String(64), nullable=False),
    Column("recorded_at", String(40), nullable=False),
    Column("first_position", BigInteger, nullable=False),  # where the chain starts (1, or after a history kept before it)
)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def event_digest(previous: str, position: int, originator_id: str, version: int, topic: str, recorded_at: str,
                 state: bytes) -> str:
    """SHA-256 over the previous digest and one stored event, fields separated so no
    two different events encode alike."""
    head = f"{previous}\n{position}\n{originator_id}\n{version}\n{topic}\n{recorded_at}\n{len(state)}\n".encode()
    return hashlib.sha256(head + state).hexdigest()


class StreamIds:
    """Stream ids as the digest spells them, each worked out once (a bounded cache: an
    account's events come many to a batch, and memory stays flat however many streams)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._known: dict[Any, str] = {}
        self._limit = limit

    def __call__(self, raw: Any) -> str:
        key = bytes(raw) if isinstance(raw, memoryview) else raw
        text = self._known.get(key)
        if text is None:
            if len(self._known) >= self._limit:
                self._known.clear()
            text = self._known[key] = canonical_id(key)
        return text


def canonical_id(raw: Any) -> str:
    """An originator id as text, whatever the database returned (a UUID, or 16 bytes on SQLite)."""
    if isinstance(raw, uuid.UUID):
        return str(raw)
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return str(uuid.UUID(bytes=bytes(raw)))
    return str(uuid.UUID(str(raw)))


@dataclass(frozen=True)
class Head:
    position: int
    digest: str
    recorded_at: str
    first_position: int

    def __str__(self) -> str:
        return f"{self.position}:{self.digest}"


def read_head(session: Session | Any, lock: bool = False) -> Head | None:
    query = select(chain_head).where(chain_head.c.id == 1)
    if lock and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    row = session.execute(query).first()
    return None if row is None else Head(row.position, row.digest, row.recorded_at, row.first_position)


def newest_recorded_time(recorder: Any) -> datetime | None:
    """The time the store recorded its newest event at (None for a store without a chain)."""
    with recorder.transaction(commit=False) as session:
        try:
            head = read_head(session)
        except Exception:  # noqa: BLE001 - a store made before the chain has no head table yet
            return None
    return None if head is None else datetime.fromisoformat(head.recorded_at)


def _stamp(now: datetime, head: Head | None) -> str:
    """The store's clock: never before the time of the newest recorded event."""
    stamp = now.astimezone(timezone.utc).isoformat(timespec="microseconds")
    return max(stamp, head.recorded_at) if head is not None else stamp


def append(session: Session, positions: Sequence[int], stored_events: Sequence[StoredEvent],
           clock: Callable[[], datetime] = utc_now) -> Head:
    """Chains newly inserted events; the caller's transaction holds the events table's
    lock, so no other writer moves the head meanwhile."""
    head = read_head(session, lock=True)
    previous = head.digest if head is not None else GENESIS
    recorded_at = _stamp(clock(), head)
    rows = []
    stream = StreamIds()
    for position, event in zip(positions, stored_events):
        previous = event_digest(previous, position, stream(event.originator_id), event.originator_version,
                                event.topic, recorded_at, bytes(event.state))
        rows.append((position, previous, recorded_at))
    if not rows:
        return head  # type: ignore[return-value]
    connection = session.connection()
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    # The driver's executemany: SQLAlchemy's per-row processing would cost the writer more than the hashing.
    connection.exec_driver_sql(f"INSERT INTO {event_chain.name} (position, digest, recorded_at) "
                               f"VALUES ({mark}, {mark}, {mark})", rows)
    last_position, last_digest, _ = rows[-1]
    if head is None:
        session.execute(chain_head.insert().values(id=1, position=last_position, digest=last_digest,
                                                   recorded_at=recorded_at, first_position=positions[0]))
        return Head(last_position, last_digest, recorded_at, positions[0])
    session.execute(chain_head.update().where(chain_head.c.id == 1).values(
        position=last_position, digest=last_digest, recorded_at=recorded_at))
    return Head(last_position, last_digest, recorded_at, head.first_position)


class ChainedApplicationRecorder(SQLAlchemyApplicationRecorder):
    """The library's SQLAlchemy recorder, chaining every event it inserts."""

    clock: Callable[[], datetime] = staticmethod(utc_now)

    def create_table(self) -> None:
        super().create_table()
        with self.transaction(commit=True) as session:
            chain_metadata.create_all(session.connection(), checkfirst=True)

    def select_events(self, originator_id: Any, gt: int | None = None, lte: int | None = None, desc: bool = False,
                      limit: int | None = None) -> list[StoredEvent]:
        """The library's query, in SQLAlchemy Core: the same rows without building an
        ORM object for each (loading an aggregate is most of a night's reads)."""
        if gt is None and lte is None and not desc and limit is None:
            # A whole stream, as an aggregate is loaded: the statement built once.
            query, parameters = self._whole_stream(), {"originator_id": originator_id}
        else:
            table = self.events_record_cls.__table__
            version = table.c.originator_version
            query, parameters = select(table.c.originator_id, version, table.c.topic, table.c.state).where(
                table.c.originator_id == originator_id), {}
            if gt is not None:
                query = query.where(version > gt)
            if lte is not None:
                query = query.where(version <= lte)
            query = query.order_by(version.desc() if desc else version)
            if limit is not None:
                query = query.limit(limit)
        with self.transaction(commit=False) as session:
            return [
                StoredEvent(originator_id=oid, originator_version=v, topic=topic,
                            state=bytes(state) if isinstance(state, memoryview) else state)
                for oid, v, topic, state in session.execute(query, parameters)
            ]

    def _whole_stream(self) -> Any:
        query = self.__dict__.get("_whole_stream_query")
        if query is None:
            table = self.events_record_cls.__table__
            version = table.c.originator_version
            query = self.__dict__["_whole_stream_query"] = (
                select(table.c.originator_id, version, table.c.topic, table.c.state)
                .where(table.c.originator_id == bindparam("originator_id", type_=table.c.originator_id.type))
                .order_by(version))
        return query

    def streams_begun(self, originator_ids: Sequence[Any]) -> set[Any]:
        """Those of the streams that have an event recorded: one query for many (the
        night asks it once per batch of accounts, not once per account)."""
        if not originator_ids:
            return set()
        table = self.events_record_cls.__table__
        query = select(table.c.originator_id).where(table.c.originator_id.in_(list(originator_ids)),
                                                    table.c.originator_version == 1)
        with self.transaction(commit=False) as session:
            return set(session.execute(query).scalars())

    def streams_written_after(self, position: int) -> tuple[int, set[Any]]:
        """The newest position and the streams with an event recorded after `position`:
        one read of the new rows' ids by the position index, nothing decoded (a night's
        bootstrap follows its workers with it instead of catching its read models up)."""
        table = self.events_record_cls.__table__
        with self.transaction(commit=False) as session:
            rows = session.execute(select(table.c.id, table.c.originator_id).where(table.c.id > position)).all()
        return max((row[0] for row in rows), default=position), {row[1] for row in rows}

    def _insert_stored_events(self, session: Session, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int]:
        positions = super()._insert_stored_events(session, stored_events, **kwargs)
        append(session, positions, stored_events, self.clock)
        return positions


class ChainedFactory(SQLAlchemyFactory):
    """`PERSISTENCE_MODULE` for Lotline's stores: the SQLAlchemy factory, chained."""

    application_recorder_class = ChainedApplicationRecorder


# --- verification --------------------------------------------------------------------------


@dataclass
class Verification:
    events: int = 0
    chained: int = 0
    first_chained: int | None = None
    head: Head | None = None
    problem: str | None = None
    position: int | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def _chained_events(connection: Any, table: Table) -> Iterator[tuple]:
    """(position, originator id, version, topic, state, digest, recorded_at), each event
    with its chain entry (None where it has none), in position order, a chunk at a time
    (constant memory). Plain driver rows: this loop is the whole cost of `verify`."""
    events, chain = table.name, event_chain.name
    mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
    sql = (f"SELECT e.id, e.originator_id, e.originator_version, e.topic, e.state, c.digest, c.recorded_at "
           f"FROM {events} e LEFT OUTER JOIN {chain} c ON c.position = e.id "
           f"WHERE e.id > {mark} ORDER BY e.id LIMIT {CHUNK}")
    after = 0
    while True:
        rows = connection.exec_driver_sql(sql, (after,)).fetchall()
        if not rows:
            return
        yield from rows
        after = rows[-1][0]


def _first_orphan_link(connection: Any, table: Table) -> int | None:
    """The first chain entry whose event is gone (deleted from the store)."""
    row = connection.execute(
        select(event_chain.c.position)
        .where(~select(table.c.id).where(table.c.id == event_chain.c.position).exists())
        .order_by(event_chain.c.position).limit(1)
    ).first()
    return None if row is None else int(row[0])


def verify(connection: Any, events_table: Table, expect_head: str | None = None,
           progress: Callable[[int], None] | None = None) -> Verification:
    """Recomputes the chain from the first event, streaming (constant memory); the
    first bad position is named."""
    result = Verification(head=read_head(connection))
    orphan = _first_orphan_link(connection, events_table)
    previous = GENESIS
    last_position = 0
    ids: dict[Any, str] = {}
    sha256 = hashlib.sha256
    for position, raw_id, version, topic, state, digest, recorded_at in _chained_events(connection, events_table):
        if orphan is not None and orphan < position:
            return _fail(result, orphan, "a chained event is missing: deleted from the store")
        if digest is None:
            if result.first_chained is None:  # recorded before the chain existed
                result.events += 1
                continue
            return _fail(result, position, "an event without a chain entry: inserted into the store")
        if result.first_chained is None:
            result.first_chained = position
        # `event_digest`, spelled out rather than called: this loop is the whole cost of
        # `verify`. The writer and `seal` call it, so every integrity test checks the two agree.
        key = bytes(raw_id) if isinstance(raw_id, memoryview) else raw_id
        stream_id = ids.get(key)
        if stream_id is None:
            if len(ids) >= 100_000:
                ids.clear()
            stream_id = ids[key] = canonical_id(key)
        state = bytes(state)
        expected = sha256(f"{previous}\n{position}\n{stream_id}\n{version}\n{topic}\n{recorded_at}\n{len(state)}\n"
                          .encode() + state).hexdigest()
        if expected != digest:
            return _fail(result, position, "the stored event or its chain entry was edited, or an event before it "
                                           "was removed or reordered")
        previous, last_position = digest, position
        result.events += 1
        result.chained += 1
        if progress is not None and result.events % CHUNK == 0:
            progress(CHUNK)
    if orphan is not None:
        return _fail(result, orphan, "a chained event is missing: deleted from the store")
    head = result.head
    if result.chained:
        if head is None:
            return _fail(result, last_position, "the chain head is missing")
        if (head.position, head.digest) != (last_position, previous):
            where = head.position if head.position > last_position else last_position
            return _fail(result, where, f"the head says {head}, the chain ends at {last_position}:{previous}: "
                                        "the newest events were deleted or the head was changed")
    elif head is not None:
        return _fail(result, head.position, f"the head says {head} but no event is chained")
    if expect_head is not None:
        actual = f"{last_position}:{previous}" if result.chained else "0:" + GENESIS
        if expect_head.strip() != actual:
            expected_position = expect_head.split(":", 1)[0]
            return _fail(result, int(expected_position) if expected_position.isdigit() else last_position,
                         f"the head is {actual}, expected {expect_head.strip()}")
    return result


def _fail(result: Verification, position: int, problem: str) -> Verification:
    result.position = int(position)
    result.problem = problem
    return result


def seal(session: Session, events_table: Table, clock: Callable[[], datetime] = utc_now) -> Head | None:
    """Chains a history recorded before the chain existed: recomputes every digest
    from the first event, after checking the part already chained, in one transaction.
    Events recorded before the chain get the time they say they were recorded at, when
    it can be read, else the time of sealing."""
    import json
    import zlib

    connection = session.connection()
    if connection.dialect.name == "postgresql":
        from sqlalchemy import text

        connection.execute(text(f"LOCK TABLE {events_table.name} IN EXCLUSIVE MODE"))
    checked = verify(connection, events_table)
    if not checked.intact:
        return None
    head = read_head(connection)
    if head is not None and head.first_position <= 1 and checked.events == checked.chained:
        return head  # already whole
    sealed_at = _stamp(clock(), None)
    previous, last, newest = GENESIS, None, head.recorded_at if head else sealed_at
    chunk: list[tuple] = []

    stream = StreamIds()

    def flush() -> None:
        nonlocal previous, last, newest
        if not chunk:
            return
        low, high = chunk[0][0], chunk[-1][0]
        rows = []
        for position, raw_id, version, topic, state, _, kept_at in chunk:
            recorded_at = kept_at or _recorded_at(bytes(state), sealed_at, json, zlib)
            previous = event_digest(previous, position, stream(raw_id), version, topic, recorded_at, bytes(state))
            rows.append({"position": position, "digest": previous, "recorded_at": recorded_at})
            newest = max(newest, recorded_at)
        connection.execute(event_chain.delete().where(event_chain.c.position.between(low, high)))
        connection.execute(event_chain.insert(), rows)
        last = rows[-1]
        chunk.clear()

    first = None
    # Chunk by chunk, each event with the time its chain entry (if any) recorded it at.
    for row in _chained_events(connection, events_table):
        first = row[0] if first is None else first
        chunk.append(tuple(row))
        if len(chunk) >= CHUNK:
            flush()
    flush()
    connection.execute(chain_head.delete())
    if last is None:
        return None
    connection.execute(chain_head.insert().values(id=1, position=last["position"], digest=last["digest"],
                                                  recorded_at=newest, first_position=first))
    return read_head(connection)


def _recorded_at(state: bytes, fallback: str, json: Any, zlib: Any) -> str:
    try:
        raw = zlib.decompress(state) if state[:1] == b"x" else state
        stamp = json.loads(raw).get("timestamp")
        return datetime.fromisoformat(stamp).astimezone(timezone.utc).isoformat(timespec="microseconds")
    except Exception:  # noqa: BLE001 - an unreadable event is sealed at the time of sealing
        return fallback
