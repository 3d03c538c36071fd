"""Stored market snapshots, content-addressed by digest: one per analysis day (a
corrected close makes a new one), read back by replay."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Column, Date, MetaData, String, Table, Text, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from lotline.domain.market import MarketSnapshot
from lotline.infrastructure.aggregate_store import AggregateStore

metadata = MetaData()

market_snapshots = Table(
    "market_snapshots",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("date", Date, nullable=False, index=True),
    Column("payload", Text, nullable=False),
)


def create_tables(connection: Connection) -> None:
    metadata.create_all(connection, checkfirst=True)


def store_snapshot(session: Session, snapshot: MarketSnapshot) -> str:
    digest = snapshot.digest()
    exists = session.execute(select(market_snapshots.c.digest).where(market_snapshots.c.digest == digest)).first()
    if exists is None:
        session.execute(market_snapshots.insert().values(digest=digest, date=snapshot.date, payload=snapshot.canonical_json()))
    return digest


def load_snapshot(session: Session, digest: str) -> MarketSnapshot | None:
    row = session.execute(select(market_snapshots.c.payload).where(market_snapshots.c.digest == digest)).first()
    return None if row is None else MarketSnapshot.from_json(row[0])


class MarketSnapshots:
    """The stored snapshots of one store; each call opens a transaction of its own (or
    joins the one already open)."""

    def __init__(self, store: AggregateStore) -> None:
        self._recorder = store.recorder

    def create_tables(self) -> None:
        with self._recorder.transaction(commit=True) as session:
            create_tables(session.connection())

    def store(self, snapshot: MarketSnapshot) -> str:
        """Stores the snapshot unless one with its digest is there; returns the digest."""
        with self._recorder.transaction(commit=True) as session:
            return store_snapshot(session, snapshot)

    def load(self, digest: str) -> MarketSnapshot | None:
        with self._recorder.transaction(commit=False) as session:
            return load_snapshot(session, digest)

    def altered(self) -> list[tuple[str, date]]:
        """Stored snapshots whose content no longer hashes to the digest they are
        stored (and referenced by decisions) under, oldest first."""
        found = []
        with self._recorder.transaction(commit=False) as session:
            rows = session.execute(select(market_snapshots.c.digest, market_snapshots.c.date)
                                   .order_by(market_snapshots.c.date, market_snapshots.c.digest)).all()
            for digest, day in rows:
                payload = session.execute(select(market_snapshots.c.payload)
                                          .where(market_snapshots.c.digest == digest)).scalar_one()
                try:
                    intact = MarketSnapshot.from_json(payload).digest() == digest
                except Exception:  # noqa: BLE001 - a payload that no longer parses is altered too
                    intact = False
                if not intact:
                    found.append((digest, day))
        return found
