"""Stored market snapshots, content-addressed by digest: one per analysis day (a
corrected close makes a new one), read back by replay."""

from __future__ import annotations

from sqlalchemy import Column, Date, MetaData, String, Table, Text, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from lotline.domain.market import MarketSnapshot

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
