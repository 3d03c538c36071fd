"""Closing prices: market data, not events. An append-only table keyed by date and
symbol; a corrected close is a new row, reads take the latest row."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

from sqlalchemy import Column, Date, Integer, MetaData, String, Table, and_, func, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from lotline.projections.views import Transactions

metadata = MetaData()

prices = Table(
    "prices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("date", Date, nullable=False, index=True),
    Column("symbol", String(32), nullable=False, index=True),
    Column("close", String(40), nullable=False),
)


def create_tables(connection: Connection) -> None:
    metadata.create_all(connection, checkfirst=True)


def record_closes(session: Session, closes: Iterable[tuple[date, str, Decimal]]) -> int:
    """Appends closes that differ from the latest recorded one; returns how many."""
    rows = list(closes)
    if not rows:
        return 0
    current = latest_rows(session, {d for d, _, _ in rows}, {s for _, s, _ in rows})
    new = []
    for day, symbol, close in rows:
        if current.get((day, symbol)) != close:
            new.append({"date": day, "symbol": symbol, "close": str(close)})
            current[(day, symbol)] = close
    if new:
        session.execute(prices.insert(), new)
    return len(new)


def latest_rows(session: Session | Connection, days: set[date], symbols: set[str]) -> dict[tuple[date, str], Decimal]:
    result: dict[tuple[date, str], Decimal] = {}
    if not days:
        return result
    query = (
        select(prices.c.date, prices.c.symbol, prices.c.close)
        .where(prices.c.date.between(min(days), max(days)), prices.c.symbol.in_(sorted(symbols)))
        .order_by(prices.c.id)
    )
    for day, symbol, close in session.execute(query):
        result[(day, symbol)] = Decimal(close)
    return result


def closes_on_or_before(session: Session | Connection, on: date, symbols: Iterable[str] | None = None) -> dict[str, tuple[date, Decimal]]:
    """Each symbol's latest close on or before a date (latest correction wins)."""
    last_day = (
        select(prices.c.symbol, func.max(prices.c.date).label("day"))
        .where(prices.c.date <= on)
        .group_by(prices.c.symbol)
    )
    if symbols is not None:
        last_day = last_day.where(prices.c.symbol.in_(sorted(set(symbols))))
    last_day = last_day.subquery()
    query = (
        select(prices.c.symbol, prices.c.date, prices.c.close)
        .join(last_day, and_(prices.c.symbol == last_day.c.symbol, prices.c.date == last_day.c.day))
        .order_by(prices.c.id)
    )
    result: dict[str, tuple[date, Decimal]] = {}
    for symbol, day, close in session.execute(query):
        result[symbol] = (day, Decimal(close))
    return result


def history(session: Session | Connection, symbols: Iterable[str], until: date) -> Mapping[str, list[tuple[date, Decimal]]]:
    """Every symbol's closes up to a date, oldest first, corrections applied."""
    query = (
        select(prices.c.symbol, prices.c.date, prices.c.close)
        .where(prices.c.symbol.in_(sorted(set(symbols))), prices.c.date <= until)
        .order_by(prices.c.id)
    )
    latest: dict[tuple[str, date], Decimal] = {}
    for symbol, day, close in session.execute(query):
        latest[(symbol, day)] = Decimal(close)
    out: dict[str, list[tuple[date, Decimal]]] = {}
    for (symbol, day), close in sorted(latest.items()):
        out.setdefault(symbol, []).append((day, close))
    return out


class ClosingPrices:
    """The closes table bound to a store: each call opens a transaction, or joins the
    one already open (so closes commit together with the events they came with)."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def create_tables(self) -> None:
        with self._store.transaction(commit=True) as session:
            create_tables(session.connection())

    def record(self, closes: Iterable[tuple[date, str, Decimal]]) -> int:
        """Appends closes that differ from the latest recorded one; returns how many."""
        with self._store.transaction(commit=True) as session:
            return record_closes(session, closes)

    def on_or_before(self, on: date, symbols: Iterable[str] | None = None) -> dict[str, tuple[date, Decimal]]:
        """Each symbol's latest close on or before a date (latest correction wins)."""
        with self._store.transaction(commit=False) as session:
            return closes_on_or_before(session, on, symbols)

    def history(self, symbols: Iterable[str], until: date) -> Mapping[str, list[tuple[date, Decimal]]]:
        """Every symbol's closes up to a date, oldest first, corrections applied."""
        with self._store.transaction(commit=False) as session:
            return history(session, symbols, until)
