"""The read models read directly: plain SQL through the database driver (sqlite3 for an
embedded store; psycopg, reached through SQLAlchemy's engine, for PostgreSQL), without
the ORM, the event store library or the domain's event classes, so a read command of a
store whose read models are current starts in a fraction of the time (importing
SQLAlchemy alone costs more than the read).

Nothing here writes, catches up or decodes an account's events: `current()` says
whether every read model has applied the newest event; when it has not (or a table is
missing, an older store), the caller reads the way it always did (application/lotline.py),
which catches the read models up first. The statements name the columns of the read
models' tables (projections/directory.py, lots.py, decisions.py, targets.py, prices.py,
tracking.py); tests/integration/test_direct_reads.py checks every answer against the
usual path."""

from __future__ import annotations

import json
import re
import sqlite3
import zlib
from collections import namedtuple
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from functools import lru_cache
from typing import Any
from uuid import UUID

# The read models a read needs current (projections/tracking.py names them; a test checks
# the list against `Lotline.projections`).
READ_MODELS = ("directory", "audit", "lots", "decisions", "prices", "targets")
EVENTS_TABLE = "lotline_events"  # the event store's table (a test checks it against the recorder's)

# A SQLite store named the plain way (what `sqlite_file` reads as a file), with at most a
# lock timeout; any other URL is opened through SQLAlchemy.
PLAIN_SQLITE = re.compile(r"sqlite(?:\+pysqlite)?:///(?P<path>[^?%]+)(?:\?timeout=(?P<timeout>\d+(?:\.\d+)?))?")

ORDER_COLUMNS = ("order_id", "decision_id", "account_id", "date", "side", "symbol", "quantity", "price", "reason",
                 "mandatory", "benefit", "status", "lots", "value", "fill_price", "status_reason", "realised_gain",
                 "estimated_tax")
LOT_COLUMNS = ("lot_id", "symbol", "quantity", "cost_basis", "acquired", "holding_period_start", "wash_sale_adjustment")


@lru_cache(maxsize=None)
def _row_type(names: tuple[str, ...]) -> Any:
    return namedtuple("Row", names)  # type: ignore[misc]


def driver_date(value: Any) -> date | None:
    """A date as the driver returns it (SQLite: text)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


class DirectReads:
    """One read transaction on the store: every read inside it sees one state."""

    def __init__(self, connection: Any, sqlite: bool) -> None:
        self._connection = connection
        self._sqlite = sqlite

    def _execute(self, sql: str, parameters: Iterable[Any] = ()) -> Any:
        cursor = self._connection.cursor()
        cursor.execute(sql if self._sqlite else sql.replace("?", "%s"), tuple(parameters))
        return cursor

    def _rows(self, sql: str, parameters: Iterable[Any] = ()) -> list[Any]:
        cursor = self._execute(sql, parameters)
        make = _row_type(tuple(d[0] for d in cursor.description))
        return [make(*row) for row in cursor.fetchall()]

    def _first(self, sql: str, parameters: Iterable[Any] = ()) -> Any:
        rows = self._rows(sql, parameters)
        return rows[0] if rows else None

    def _date_parameter(self, day: date) -> Any:
        return day.isoformat() if self._sqlite else day

    def current(self) -> bool:
        """Whether every read model has applied the newest event."""
        newest = self._execute(f"SELECT max(id) FROM {EVENTS_TABLE}").fetchone()[0]
        marks = ", ".join("?" for _ in READ_MODELS)
        positions = dict(self._execute(f"SELECT name, position FROM projection_tracking WHERE name IN ({marks})",
                                       READ_MODELS).fetchall())
        return len(positions) == len(READ_MODELS) and all(p >= (newest or 0) for p in positions.values())

    def newest_recorded_time(self) -> datetime | None:
        """When the store recorded its newest event (None without an integrity chain)."""
        row = self._execute("SELECT recorded_at FROM chain_head WHERE id = 1").fetchone()
        return None if row is None else datetime.fromisoformat(row[0])

    def stream(self, originator_id: UUID) -> list[tuple[str, dict[str, Any]]]:
        """The (topic, recorded state) of each event of one aggregate, oldest first: for a
        small stream (the firm's settings), read without the event classes."""
        key = originator_id.bytes if self._sqlite else originator_id
        out = []
        for topic, state in self._execute(f"SELECT topic, state FROM {EVENTS_TABLE} WHERE originator_id = ? "
                                          "ORDER BY originator_version", (key,)).fetchall():
            raw = bytes(state)
            if raw[:1] == b"x":  # compressed (infrastructure/eventstore.py)
                raw = zlib.decompress(raw)
            out.append((topic, json.loads(raw)))
        return out

    def events_of(self, originator_id: UUID, first: int, last: int | None = None) -> list[tuple[int, str, bytes]]:
        """(version, topic, stored state) of one aggregate's events from version `first`
        to `last` (None: the newest), oldest first."""
        sql = (f"SELECT originator_version, topic, state FROM {EVENTS_TABLE} WHERE originator_id = ? "
               "AND originator_version >= ?")
        parameters: list[Any] = [originator_id.bytes if self._sqlite else originator_id, first]
        if last is not None:
            sql, parameters = sql + " AND originator_version <= ?", [*parameters, last]
        return [(v, t, bytes(state)) for v, t, state in self._execute(sql + " ORDER BY originator_version",
                                                                      parameters).fetchall()]

    def user(self, user_id: str) -> tuple[tuple[str, ...], bool] | None:
        """A user's roles and whether removed, as the directory has them; None: unknown."""
        row = self._execute("SELECT roles, removed FROM directory_users WHERE user_id = ?", (user_id,)).fetchone()
        return None if row is None else (tuple(json.loads(row[0])), bool(row[1]))

    def account(self, account_id: str) -> Any:
        """The directory's row of the account (account_id, advisor, template), or None."""
        return self._first("SELECT account_id, advisor, template FROM directory_accounts WHERE account_id = ?",
                           (account_id,))

    def unreadable(self, account_id: str) -> bool:
        """Whether a read model could not apply an event of the account."""
        return self._execute("SELECT 1 FROM read_model_failures WHERE account_id = ? LIMIT 1",
                             (account_id,)).fetchone() is not None

    def account_cash(self, account_id: str) -> tuple[str, date | None, list[list[str]]] | None:
        """The account's cash (text), the latest date of anything recorded for it, and its
        open quantities by symbol ([symbol, quantity text], in symbol order)."""
        row = self._execute("SELECT cash, latest_date, positions FROM account_cash WHERE account_id = ?",
                            (account_id,)).fetchone()
        return None if row is None else (row[0], driver_date(row[1]), json.loads(row[2]))

    def open_lots(self, account_id: str) -> list[Any]:
        """The account's open lots; amounts as text, dates as dates."""
        rows = self._rows(f"SELECT {', '.join(LOT_COLUMNS)} FROM lots WHERE account_id = ?", (account_id,))
        return [r._replace(acquired=driver_date(r.acquired), holding_period_start=driver_date(r.holding_period_start)) for r in rows]

    def orders(self, account_id: str, on: date | None, status: str | None) -> list[Any]:
        """An account's orders by date and order id (of a day, in a status, when given),
        as `Views.orders` reads them."""
        sql, parameters = f"SELECT {', '.join(ORDER_COLUMNS)} FROM orders WHERE account_id = ?", [account_id]
        if on is not None:
            sql, parameters = sql + " AND date = ?", [*parameters, self._date_parameter(on)]
        if status is not None:
            sql, parameters = sql + " AND status = ?", [*parameters, status]
        rows = self._rows(sql + " ORDER BY date, account_id, order_id", parameters)
        return [r._replace(date=driver_date(r.date), mandatory=bool(r.mandatory)) for r in rows]

    def targets_inputs(self, account_id: str) -> tuple[str, str, str, dict[str, tuple[str, bool]]] | None:
        """What an account's targets are computed from, as the targets read model keeps it:
        (template id, its classes JSON, the account's parameters JSON, every model's
        weights JSON and whether retired); None when the template is unknown."""
        row = self._execute("SELECT template, parameters FROM target_accounts WHERE account_id = ?",
                            (account_id,)).fetchone()
        if row is None:
            return None
        template, parameters = row
        classes = self._execute("SELECT classes FROM target_templates WHERE template_id = ?", (template,)).fetchone()
        if classes is None:
            return None
        models = {m: (w, bool(r)) for m, w, r in
                  self._execute("SELECT model_id, weights, retired FROM target_models").fetchall()}
        return template, classes[0], parameters, models

    def decision(self, decision_id: str) -> Any:
        """The decisions read model's row (decision_id, account_id, date, originator_version), or None."""
        row = self._first("SELECT decision_id, account_id, date, originator_version FROM decisions "
                          "WHERE decision_id = ?", (decision_id,))
        return None if row is None else row._replace(date=driver_date(row.date))

    def market_snapshot(self, digest: str) -> str | None:
        """A stored market snapshot's canonical JSON (infrastructure/market.py), or None."""
        row = self._execute("SELECT payload FROM market_snapshots WHERE digest = ?", (digest,)).fetchone()
        return None if row is None else row[0]

    def asset_classes(self, symbols: Iterable[str]) -> dict[str, str]:
        wanted = sorted(set(symbols))
        if not wanted:
            return {}
        marks = ", ".join("?" for _ in wanted)
        return dict(self._execute(f"SELECT symbol, asset_class FROM directory_securities WHERE symbol IN ({marks})",
                                  wanted).fetchall())

    def closes_on_or_before(self, on: date, symbols: Iterable[str]) -> dict[str, tuple[date, str]]:
        """Each symbol's latest close on or before `on` (as projections/prices.py reads it)."""
        wanted = sorted(set(symbols))
        if not wanted:
            return {}
        marks = ", ".join("?" for _ in wanted)
        rows = self._execute(
            "SELECT p.symbol, p.date, p.close FROM prices AS p JOIN (SELECT symbol, max(date) AS day FROM prices "
            f"WHERE date <= ? AND symbol IN ({marks}) GROUP BY symbol) AS last "
            "ON p.symbol = last.symbol AND p.date = last.day", [self._date_parameter(on), *wanted]).fetchall()
        return {symbol: (driver_date(day), close) for symbol, day, close in rows}


@contextmanager
def direct_reads(url: str) -> Iterator[DirectReads]:
    """A read transaction on the store at `url` (checked: infrastructure/store_urls.py)."""
    plain = PLAIN_SQLITE.fullmatch(url)
    if plain is not None:
        connection = sqlite3.connect(plain["path"], timeout=float(plain["timeout"] or 60), isolation_level=None)
        try:
            connection.execute("BEGIN")  # one snapshot for every read (WAL: no lock taken)
            try:
                yield DirectReads(connection, sqlite=True)
            finally:
                connection.execute("ROLLBACK")
        finally:
            connection.close()
        return
    if not url.startswith("postgresql"):
        raise LookupError(f"not read directly: {url.split(':', 1)[0]}")  # the usual path opens it
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        connection = engine.raw_connection()
        try:
            yield DirectReads(connection, sqlite=False)
        finally:
            connection.rollback()
            connection.close()
    finally:
        engine.dispose()


def plain_sqlite_file(url: str) -> str | None:
    """The file of a store named the plain way (`sqlite:///PATH`, at most `?timeout=N`),
    read without parsing the URL through SQLAlchemy; None for any other URL."""
    plain = PLAIN_SQLITE.fullmatch(url)
    return None if plain is None or plain["path"] == ":memory:" else plain["path"]
