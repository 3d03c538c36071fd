"""What the Kafka relay reads from the store and where it stands: the notification log
in position order, each event with its integrity-chain digest, and the last position
published to each topic (`relay_positions`). The position moves only after the broker
acknowledged every event up to it, so a relay killed at any point resumes from there
and at most the last unacknowledged window is sent again."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any, NamedTuple

from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, func, select

from lotline.infrastructure.integrity import Head, canonical_id, event_chain, read_head

relay_metadata = MetaData()

relay_positions = Table(
    "relay_positions",
    relay_metadata,
    Column("topic", String(249), primary_key=True),  # Kafka's longest topic name
    Column("position", BigInteger().with_variant(Integer, "sqlite"), nullable=False),
    Column("updated_at", String(40), nullable=False),
)


class LoggedEvent(NamedTuple):
    """One stored event as the relay reads it (a notification of the library's log)."""

    id: int  # its position
    originator_id: str
    originator_version: int
    topic: str
    state: bytes
    chain_digest: str | None  # None for an event recorded before the chain (not yet sealed)
    recorded_at: str | None = None  # when the store recorded it (its chain entry's time)


class RelayLog:
    """The store's side of the relay: positions per topic, and the log read in windows."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self._events = recorder.events_record_cls.__table__

    def create_table(self) -> None:
        with self.recorder.transaction(commit=True) as session:
            relay_metadata.create_all(session.connection(), checkfirst=True)

    def position(self, topic: str) -> int:
        """The last position published to `topic` (0: nothing yet)."""
        with self.recorder.transaction(commit=False) as session:
            found = session.execute(select(relay_positions.c.position).where(relay_positions.c.topic == topic)).scalar()
        return int(found or 0)

    def record(self, topic: str, position: int) -> None:
        """Moves the topic's position (called only once the broker acknowledged every
        event up to it)."""
        now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
        with self.recorder.transaction(commit=True) as session:
            moved = session.execute(relay_positions.update().where(relay_positions.c.topic == topic)
                                    .values(position=position, updated_at=now))
            if moved.rowcount == 0:
                session.execute(relay_positions.insert().values(topic=topic, position=position, updated_at=now))

    def newest_position(self) -> int:
        with self.recorder.transaction(commit=False) as session:
            return int(session.execute(select(func.max(self._events.c.id))).scalar() or 0)

    def head(self) -> Head | None:
        with self.recorder.transaction(commit=False) as session:
            try:
                return read_head(session)
            except Exception:  # noqa: BLE001 - a store made before the chain has no head table
                return None

    def window(self, after: int, upto: int, topics: Iterable[str] | None) -> list[LoggedEvent]:
        """The events at positions after `after` up to `upto`, oldest first, of the given
        stored topics (every event when None), each with its chain digest and time.
        Plain driver rows, as `verify` reads them: this read is a fifth of the relay's cost."""
        events, chain = self._events.name, event_chain.name
        with self.recorder.transaction(commit=False) as session:
            connection = session.connection()
            mark = "?" if connection.dialect.paramstyle == "qmark" else "%s"
            sql = (f"SELECT e.id, e.originator_id, e.originator_version, e.topic, e.state, c.digest, c.recorded_at "
                   f"FROM {events} e LEFT OUTER JOIN {chain} c ON c.position = e.id "
                   f"WHERE e.id > {mark} AND e.id <= {mark}")
            parameters: list[Any] = [after, upto]
            if topics is not None:
                wanted = sorted(set(topics))
                sql += f" AND e.topic IN ({', '.join([mark] * len(wanted))})"
                parameters += wanted
            rows = connection.exec_driver_sql(sql + " ORDER BY e.id", tuple(parameters)).fetchall()
        ids: dict[Any, str] = {}
        found = []
        for position, raw, version, topic, state, digest, recorded_at in rows:
            key = bytes(raw) if isinstance(raw, memoryview) else raw
            stream = ids.get(key)
            if stream is None:
                stream = ids[key] = canonical_id(key)
            found.append(LoggedEvent(position, stream, version, topic,
                                     state if isinstance(state, bytes) else bytes(state), digest, recorded_at))
        return found

    def first_events(self, originator_ids: Sequence[str]) -> list[LoggedEvent]:
        """The first event of each stream named (to know what a stream is: its kind and
        id), read in one query per few hundred streams: a relay meets every account's
        stream once, and one query each was a third of its reading."""
        from uuid import UUID

        events = self._events
        found = []
        with self.recorder.transaction(commit=False) as session:
            for start in range(0, len(originator_ids), FIRST_EVENTS_AT_ONCE):
                wanted = [UUID(originator_id) for originator_id in originator_ids[start:start + FIRST_EVENTS_AT_ONCE]]
                rows = session.execute(
                    select(events.c.originator_id, events.c.originator_version, events.c.topic, events.c.state)
                    .where(events.c.originator_id.in_(wanted), events.c.originator_version == 1)).all()
                for raw, version, topic, state in rows:
                    found.append(LoggedEvent(0, canonical_id(raw), version, topic,
                                             state if isinstance(state, bytes) else bytes(state), None))
        return found


FIRST_EVENTS_AT_ONCE = 500  # streams per query (well under any database's limit of bound values)


class NewEvents:
    """How a following relay waits for the next events: on PostgreSQL it LISTENs on the
    channel the event store NOTIFYs at every commit of new events (eventsourcing-
    sqlalchemy's recorder does), so it wakes as soon as one is recorded; on SQLite,
    which has no notifications, it sleeps. Either way it waits at most the given
    seconds, so a notification missed (a dropped connection) only delays the next read."""

    def __init__(self, recorder: Any) -> None:
        self._connection: Any = None
        engine = recorder.datastore.engine
        if engine.dialect.name == "postgresql" and getattr(recorder, "channel_name", None):
            import psycopg
            from psycopg import sql

            conninfo = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
            try:
                self._connection = psycopg.connect(conninfo, autocommit=True)
                self._connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(recorder.channel_name)))
            except psycopg.Error:  # no notifications: polling still finds every event
                self.close()

    @property
    def listening(self) -> bool:
        return self._connection is not None

    def wait(self, seconds: float) -> None:
        if self._connection is None:
            time.sleep(seconds)
            return
        import psycopg

        try:
            for _ in self._connection.notifies(timeout=seconds, stop_after=1):
                pass
        except psycopg.Error:
            self.close()

    def close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.close()
            except Exception:  # noqa: BLE001 - closing a connection whose server is gone
                pass
            self._connection = None
