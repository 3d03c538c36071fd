"""Closing prices: a read model of the price events (domain/price_series.py). One row
per symbol and date holding the latest close (a correction wins), with the version of
the symbol's price series that recorded it.

The rows are written in the transaction that records the events (`ClosingPrices.record`,
so reads never wait for a catch-up) and again by the tracked catch-up and `projections
rebuild` (`RecordedCloses`): a row changes only for a later version of its series, so
applying an event twice, or an older one after a newer, changes nothing.

Stores written before prices were events kept closes as rows only (an append-only
table of `id, date, symbol, close`, the latest row winning): `legacy_closes` reads
them and `retire_legacy` drops that table once they are recorded as events."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal

from sqlalchemy import Column, Date, Integer, MetaData, String, Table, and_, func, inspect, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from lotline.domain.aggregate import DomainEvent
from lotline.domain.price_series import PriceSeries
from lotline.projections.tracking import Projection, Unreadable, bulk_insert
from lotline.projections.views import Transactions

metadata = MetaData()

prices = Table(
    "prices",
    metadata,
    Column("symbol", String(128), primary_key=True),
    Column("date", Date, primary_key=True, index=True),
    Column("close", String(40), nullable=False),
    Column("version", Integer, nullable=False),  # the price series' version that recorded this close
)

PRICE_EVENTS = frozenset({PriceSeries.ClosesRecorded, PriceSeries.CloseCorrected})


def create_tables(connection: Connection) -> None:
    metadata.create_all(connection, checkfirst=True)


def apply_price_event(session: Session, event: DomainEvent) -> None:
    """Writes an event's closes where the row is missing or older than the event."""
    if isinstance(event, PriceSeries.ClosesRecorded):
        closes = list(event.closes)
    elif isinstance(event, PriceSeries.CloseCorrected):
        closes = [(event.date, event.new)]
    else:
        return
    if not closes:
        return
    symbol, version = event.symbol, event.originator_version
    days = [d for d, _ in closes]
    recorded = dict(session.execute(
        select(prices.c.date, prices.c.version)
        .where(prices.c.symbol == symbol, prices.c.date.between(min(days), max(days)))
    ).all())
    new = []
    for day, close in closes:
        if day not in recorded:
            new.append({"symbol": symbol, "date": day, "close": str(close), "version": version})
        elif recorded[day] < version:
            session.execute(update(prices).where(prices.c.symbol == symbol, prices.c.date == day)
                            .values(close=str(close), version=version))
    bulk_insert(session, prices, new)


def closes_on_or_before(session: Session | Connection, on: date, symbols: Iterable[str] | None = None) -> dict[str, tuple[date, Decimal]]:
    """Each symbol's latest close on or before a date."""
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
    )
    return {symbol: (day, Decimal(close)) for symbol, day, close in session.execute(query)}


def history(session: Session | Connection, symbols: Iterable[str], until: date,
            last: int | None = None) -> Mapping[str, list[tuple[date, Decimal]]]:
    """Every symbol's closes up to a date, oldest first; with `last`, only each symbol's
    last `last` closes (read through the (symbol, date) key: a day's analysis then reads
    its look-back, not the whole history, which grew with every day of a long run)."""
    out: dict[str, list[tuple[date, Decimal]]] = {}
    if last is not None:
        for symbol in sorted(set(symbols)):
            query = (select(prices.c.date, prices.c.close)
                     .where(prices.c.symbol == symbol, prices.c.date <= until)
                     .order_by(prices.c.date.desc()).limit(last))
            rows = [(day, Decimal(close)) for day, close in session.execute(query)]
            if rows:
                out[symbol] = rows[::-1]
        return out
    query = (
        select(prices.c.symbol, prices.c.date, prices.c.close)
        .where(prices.c.symbol.in_(sorted(set(symbols))), prices.c.date <= until)
        .order_by(prices.c.symbol, prices.c.date)
    )
    for symbol, day, close in session.execute(query):
        out.setdefault(symbol, []).append((day, Decimal(close)))
    return out


# --- stores written before prices were events ------------------------------------------

def _has_legacy_table(connection: Connection) -> bool:
    inspector = inspect(connection)
    return "prices" in inspector.get_table_names() and "version" not in {c["name"] for c in inspector.get_columns("prices")}


def legacy_closes(session: Session) -> list[tuple[date, str, Decimal]] | None:
    """The closes a store written before price events kept as rows, the latest row of
    each symbol and date (None when the store has no such table)."""
    connection = session.connection()
    if not _has_legacy_table(connection):
        return None
    latest: dict[tuple[date, str], Decimal] = {}
    for day, symbol, close in connection.exec_driver_sql("SELECT date, symbol, close FROM prices ORDER BY id"):
        latest[(day if isinstance(day, date) else date.fromisoformat(str(day)), symbol)] = Decimal(close)
    return [(day, symbol, close) for (day, symbol), close in sorted(latest.items())]


def retire_legacy(session: Session) -> None:
    """Drops the table of closes kept as rows, and creates the read model's in its place."""
    connection = session.connection()
    if _has_legacy_table(connection):
        connection.exec_driver_sql("DROP TABLE prices")
    create_tables(connection)


class RecordedCloses(Projection):
    """The closes table as a tracked read model: built again from the price events by
    `projections rebuild`."""

    name = "prices"
    metadata = metadata
    handles = PRICE_EVENTS

    def apply(self, session: Session, event: DomainEvent, position: int) -> None:
        apply_price_event(session, event)

    def apply_unreadable(self, session: Session, event: Unreadable) -> bool:
        """An event of an account is never a price event: nothing to apply, no failure."""
        return event.account_id is not None


class ClosingPrices:
    """The closes table bound to a store: each call opens a transaction, or joins the
    one already open (so closes are written together with the events they came with)."""

    def __init__(self, store: Transactions) -> None:
        self._store = store

    def create_tables(self) -> bool:
        """Creates the table, unless the store kept closes as rows before price events:
        then returns True (`legacy_closes` are waiting to be recorded as events)."""
        with self._store.transaction(commit=True) as session:
            if _has_legacy_table(session.connection()):
                return True
            create_tables(session.connection())
            return False

    def record(self, events: Iterable[DomainEvent]) -> None:
        """Writes the closes of price events being recorded (in their transaction)."""
        events = [e for e in events if type(e) in PRICE_EVENTS]
        if events:
            with self._store.transaction(commit=True) as session:
                for event in events:
                    apply_price_event(session, event)

    def on_or_before(self, on: date, symbols: Iterable[str] | None = None) -> dict[str, tuple[date, Decimal]]:
        """Each symbol's latest close on or before a date (a correction wins)."""
        with self._store.transaction(commit=False) as session:
            return closes_on_or_before(session, on, symbols)

    def history(self, symbols: Iterable[str], until: date,
                last: int | None = None) -> Mapping[str, list[tuple[date, Decimal]]]:
        """Every symbol's closes up to a date (with `last`: its last `last`), oldest
        first (corrections applied)."""
        with self._store.transaction(commit=False) as session:
            return history(session, symbols, until, last)


class ClosesInMemory:
    """The closes table of a store this process alone writes (a backtest's), read once
    into memory: a day's analysis then slices its look-back instead of reading it from
    the table again, day after day. Writes go to the table as always and are read back."""

    def __init__(self, table: ClosingPrices, symbols: Iterable[str]) -> None:
        self._table = table
        self._symbols = sorted(set(symbols))
        self._load()

    def _load(self) -> None:
        from bisect import bisect_right

        self._bisect = bisect_right
        self._series = {s: list(rows) for s, rows in self._table.history(self._symbols, date.max).items()}
        self._dates = {s: [d for d, _ in rows] for s, rows in self._series.items()}

    def create_tables(self) -> bool:
        return self._table.create_tables()

    def record(self, events: Iterable[DomainEvent]) -> None:
        events = [e for e in events if type(e) in PRICE_EVENTS]
        if events:
            self._table.record(events)
            self._load()

    def on_or_before(self, on: date, symbols: Iterable[str] | None = None) -> dict[str, tuple[date, Decimal]]:
        out = {}
        for symbol in (self._series if symbols is None else set(symbols)):
            end = self._bisect(self._dates.get(symbol, ()), on)
            if end:
                out[symbol] = self._series[symbol][end - 1]
        return out

    def history(self, symbols: Iterable[str], until: date,
                last: int | None = None) -> Mapping[str, list[tuple[date, Decimal]]]:
        out = {}
        for symbol in sorted(set(symbols)):
            end = self._bisect(self._dates.get(symbol, ()), until)
            if end:
                out[symbol] = self._series[symbol][0 if last is None else max(0, end - last):end]
        return out
