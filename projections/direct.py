"""The read models read directly: SQLAlchemy Core on the store's tables, without the
ORM, the event store library or the domain's event classes, so a read command of a
store whose read models are current starts in a fraction of the time.

Nothing here writes, catches up or decodes an account's events: `current()` says
whether every read model has applied the newest event; when it has not (or a table is
missing, an older store), the caller reads the way it always did (application/lotline.py),
which catches the read models up first. The tables are named here by the columns these
reads use; tests/integration/test_direct_reads.py checks each read against `Views`."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Boolean, Date, Integer, String, Text, Uuid, column, create_engine, func, select, table
from sqlalchemy.engine import Connection, Row

# The read models a read needs current (projections/tracking.py names them; a test checks
# the list against `Lotline.projections`).
READ_MODELS = ("directory", "audit", "lots", "decisions", "prices", "targets")
EVENTS_TABLE = "lotline_events"  # the event store's table (infrastructure/integrity.py's factory)

events = table(EVENTS_TABLE, column("id", Integer), column("originator_id", Uuid), column("originator_version", Integer),
               column("topic", Text), column("state", Text))
tracking = table("projection_tracking", column("name", String), column("position", Integer))
head = table("chain_head", column("id", Integer), column("recorded_at", String))
failures = table("read_model_failures", column("id", Integer), column("projection", String),
                 column("account_id", String), column("position", Integer), column("event_type", String),
                 column("error", Text))
users = table("directory_users", column("user_id", String), column("roles", String), column("removed", Boolean))
accounts = table("directory_accounts", column("account_id", String), column("advisor", String),
                 column("template", String), column("tax_status", String), column("opened", Date),
                 column("closed", Boolean))
securities = table("directory_securities", column("symbol", String), column("asset_class", String))
account_cash = table("account_cash", column("account_id", String), column("cash", String),
                     column("latest_date", Date))
lots = table("lots", column("account_id", String), column("lot_id", String), column("symbol", String),
             column("quantity", String), column("cost_basis", String), column("acquired", Date),
             column("holding_period_start", Date), column("wash_sale_adjustment", String))
orders = table("orders", *(column(name, String) for name in (
    "order_id", "decision_id", "account_id", "side", "symbol", "quantity", "price", "reason", "benefit", "status",
    "lots", "value", "fill_price", "status_reason", "realised_gain", "estimated_tax")),
    column("date", Date), column("mandatory", Boolean))
decisions = table("decisions", column("decision_id", String), column("account_id", String), column("date", Date),
                  column("originator_version", Integer))
target_templates = table("target_templates", column("template_id", String), column("classes", Text))
target_models = table("target_models", column("model_id", String), column("weights", Text),
                      column("retired", Boolean))
target_accounts = table("target_accounts", column("account_id", String), column("template", String),
                        column("parameters", Text))
prices = table("prices", column("symbol", String), column("date", Date), column("close", String))


def engine_url(url: str) -> str:
    """The store's URL as the event store opens it (SQLite waits for a writer's lock)."""
    if url.startswith("sqlite") and "timeout=" not in url:
        url += ("&" if "?" in url else "?") + "timeout=60"
    return url


class DirectReads:
    """One read transaction on the store: every read inside it sees one state."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def _all(self, query: Any) -> Sequence[Row]:
        return self._connection.execute(query).all()

    def current(self) -> bool:
        """Whether every read model has applied the newest event."""
        newest = self._connection.execute(select(func.max(events.c.id))).scalar()
        positions = dict(self._all(select(tracking.c.name, tracking.c.position)
                                   .where(tracking.c.name.in_(READ_MODELS))))
        return len(positions) == len(READ_MODELS) and all(p >= (newest or 0) for p in positions.values())

    def newest_recorded_time(self) -> datetime | None:
        """When the store recorded its newest event (None without an integrity chain)."""
        row = self._connection.execute(select(head.c.recorded_at).where(head.c.id == 1)).first()
        return None if row is None else datetime.fromisoformat(row.recorded_at)

    def stream(self, originator_id: UUID) -> list[tuple[str, dict[str, Any]]]:
        """The (topic, recorded state) of each event of one aggregate, oldest first: for a
        small stream (the firm's settings), read without the event classes."""
        out = []
        for topic, state in self._all(select(events.c.topic, events.c.state)
                                      .where(events.c.originator_id == originator_id)
                                      .order_by(events.c.originator_version)):
            raw = bytes(state) if not isinstance(state, bytes) else state
            if raw[:1] == b"x":  # compressed (infrastructure/eventstore.py)
                raw = zlib.decompress(raw)
            out.append((topic, json.loads(raw)))
        return out

    def user(self, user_id: str) -> tuple[tuple[str, ...], bool] | None:
        """A user's roles and whether removed, as the directory has them; None: unknown."""
        row = self._connection.execute(select(users.c.roles, users.c.removed)
                                       .where(users.c.user_id == user_id)).first()
        return None if row is None else (tuple(json.loads(row.roles)), bool(row.removed))

    def account(self, account_id: str) -> Row | None:
        return self._connection.execute(select(accounts).where(accounts.c.account_id == account_id)).first()

    def first_failure(self, account_id: str) -> Row | None:
        """The first event a read model could not apply to the account (None: none)."""
        return self._connection.execute(
            select(failures).where(failures.c.account_id == account_id)
            .order_by(failures.c.position, failures.c.id).limit(1)).first()

    def account_cash(self, account_id: str) -> Row | None:
        return self._connection.execute(select(account_cash.c.cash, account_cash.c.latest_date)
                                        .where(account_cash.c.account_id == account_id)).first()

    def open_lots(self, account_id: str) -> Sequence[Row]:
        return self._all(select(lots).where(lots.c.account_id == account_id))

    def orders(self, account_id: str, on: date | None, status: str | None) -> Sequence[Row]:
        """An account's orders by date and order id (of a day, in a status, when given),
        as `Views.orders` reads them."""
        query = (select(orders).where(orders.c.account_id == account_id)
                 .order_by(orders.c.date, orders.c.account_id, orders.c.order_id))
        if on is not None:
            query = query.where(orders.c.date == on)
        if status is not None:
            query = query.where(orders.c.status == status)
        return self._all(query)

    def decision(self, decision_id: str) -> Row | None:
        return self._connection.execute(select(decisions).where(decisions.c.decision_id == decision_id)).first()

    def targets_inputs(self, account_id: str) -> tuple[str, str, str, dict[str, tuple[str, bool]]] | None:
        """What an account's targets are computed from, as the targets read model keeps it:
        (template id, its classes JSON, the account's parameters JSON, every model's
        weights JSON and whether retired); None when the template is unknown."""
        row = self._connection.execute(select(target_accounts.c.template, target_accounts.c.parameters)
                                       .where(target_accounts.c.account_id == account_id)).first()
        if row is None:
            return None
        classes = self._connection.execute(select(target_templates.c.classes)
                                           .where(target_templates.c.template_id == row.template)).scalar()
        if classes is None:
            return None
        models = {m: (w, bool(r)) for m, w, r in self._all(
            select(target_models.c.model_id, target_models.c.weights, target_models.c.retired))}
        return row.template, classes, row.parameters, models

    def asset_classes(self, symbols: Iterable[str]) -> dict[str, str]:
        return dict(self._all(select(securities.c.symbol, securities.c.asset_class)
                              .where(securities.c.symbol.in_(sorted(set(symbols))))))

    def closes_on_or_before(self, on: date, symbols: Iterable[str]) -> dict[str, tuple[date, str]]:
        """Each symbol's latest close on or before `on` (as projections/prices.py reads it)."""
        wanted = sorted(set(symbols))
        latest = (select(prices.c.symbol, func.max(prices.c.date).label("date"))
                  .where(prices.c.date <= on, prices.c.symbol.in_(wanted)).group_by(prices.c.symbol).subquery())
        rows = self._all(select(prices.c.symbol, prices.c.date, prices.c.close)
                         .join(latest, (prices.c.symbol == latest.c.symbol) & (prices.c.date == latest.c.date)))
        return {symbol: (day, close) for symbol, day, close in rows}


@contextmanager
def direct_reads(url: str) -> Iterator[DirectReads]:
    """A read transaction on the store at `url` (already checked: infrastructure/store_urls.py)."""
    engine = create_engine(engine_url(url))
    try:
        with engine.connect() as connection:
            with connection.begin():
                yield DirectReads(connection)
    finally:
        engine.dispose()
