"""The read side as the application sees it: every query of the read models, typed.
The handlers and queries read through `Views`; none of them writes SQL. A read does
not catch the read models up: the caller does that first (`Lotline.catch_up`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lotline.domain.ledger import Realization, TaxLot
from lotline.projections.audit import audit_events
from lotline.projections.decisions import decisions, orders
from lotline.projections.direct import driver_date
from lotline.projections.directory import accounts, cash_requests, securities, users
from lotline.projections.failures import check_account_readable
from lotline.projections.lots import account_cash, accounts_holding, lots, realized_gains
from lotline.projections.targets import account_targets
from lotline.projections.tracking import read_model_failures


class Transactions(Protocol):
    """What the read side needs of the store: a transaction (the recorder's; a nested
    one joins the transaction already open)."""

    def transaction(self, commit: bool) -> AbstractContextManager[Session]: ...


@dataclass(frozen=True)
class AccountRow:
    account_id: str
    advisor: str
    template: str
    tax_status: str
    opened: date
    closed: bool


@dataclass(frozen=True)
class UserRow:
    user_id: str
    roles: tuple[str, ...]
    removed: bool


@dataclass(frozen=True)
class SecurityRow:
    symbol: str
    asset_class: str
    wash_group: str
    delisted: bool


@dataclass(frozen=True)
class CashRequestRow:
    request_id: str
    account_id: str
    amount: Decimal
    due_from: date
    due_by: date | None
    fulfilled: bool


@dataclass(frozen=True)
class CloseSpan:
    """What is on file for a symbol: its first and last close and how many."""

    symbol: str
    first: date
    last: date
    closes: int


@dataclass(frozen=True)
class AnalysisFailure:
    account_id: str
    date: date
    failure: str
    position: int


@dataclass(frozen=True)
class DecisionRow:
    """A decision of a day as the decisions read model has it (a redo's decision is a
    row of its own; the one it superseded names it in `superseded_by`)."""

    decision_id: str
    account_id: str
    date: date
    position: int
    originator_version: int
    trade: bool
    reasons: tuple[str, ...]
    benefit: Decimal
    order_count: int
    superseded_by: str | None


@dataclass(frozen=True)
class OrderRow:
    """An order as the orders read model has it; amounts as recorded (text)."""

    order_id: str
    decision_id: str
    account_id: str
    date: date
    side: str
    symbol: str
    quantity: str
    price: str
    reason: str
    mandatory: bool
    benefit: str
    status: str
    lots: list[dict[str, str]]
    value: str
    fill_price: str | None
    status_reason: str | None
    realised_gain: str | None = None  # a sale's, at the decision's price
    estimated_tax: str | None = None  # the tax a sale's gain is expected to cost


@dataclass(frozen=True)
class AccountCash:
    cash: Decimal
    latest_date: date | None  # the latest date of anything recorded for the account


@dataclass(frozen=True)
class AccountPositions:
    """An account as the read models hold it, for the listings: cash, open lots as
    (symbol, quantity) pairs, and its targets (None: its template is unknown)."""

    account_id: str
    cash: Decimal | None  # None: nothing recorded yet
    latest_date: date | None
    holdings: list[tuple[str, Decimal]]  # (symbol, quantity of its open lots), by symbol
    class_targets: dict[str, tuple[Decimal, Decimal | None]] | None  # class -> (weight, drift limit)
    target_symbols: list[str]
    unreadable: bool  # a read model could not apply one of its events


@dataclass(frozen=True)
class AuditRow:
    position: int
    type: str
    timestamp: str
    effective_date: date
    actor: str
    role: str
    reason: str | None
    data: dict[str, Any]
    kind: str = ""  # the kind of aggregate (projections/audit.py AUDIT_KINDS)
    entity_id: str = ""  # its business id: the user, symbol, model, template, account, decision...
    account_id: str | None = None  # the account the event belongs to, if any
    auth: str = "asserted"
    on_behalf_of: str | None = None


class Views:
    def __init__(self, store: Transactions) -> None:
        self._store = store

    def _rows(self, query: Any) -> list[Any]:
        with self._store.transaction(commit=False) as session:
            return list(session.execute(query).all())

    def _scalars(self, query: Any) -> list[Any]:
        with self._store.transaction(commit=False) as session:
            return list(session.execute(query).scalars())

    # --- who and what exists ------------------------------------------------------------

    def user_ids(self) -> list[str]:
        """Users in the order they were added."""
        return self._scalars(select(users.c.user_id).order_by(users.c.added_at))

    def account(self, account_id: str) -> AccountRow | None:
        rows = self._rows(select(accounts).where(accounts.c.account_id == account_id))
        if not rows:
            return None
        row = rows[0]
        return AccountRow(row.account_id, row.advisor, row.template, row.tax_status, row.opened, row.closed)

    def accounts_closed(self) -> dict[str, bool]:
        """Every account, by id in order, and whether it is closed."""
        rows = self._rows(select(accounts.c.account_id, accounts.c.closed).order_by(accounts.c.account_id))
        return {r.account_id: r.closed for r in rows}

    def users(self) -> list[UserRow]:
        """Every user, in the order they were added."""
        return [UserRow(r.user_id, tuple(json.loads(r.roles)), r.removed)
                for r in self._rows(select(users).order_by(users.c.added_at))]

    def accounts(self, advisor: str | None = None, template: str | None = None) -> list[AccountRow]:
        """Every account by id (of one advisor, on one template, when named)."""
        query = select(accounts).order_by(accounts.c.account_id)
        if advisor is not None:
            query = query.where(accounts.c.advisor == advisor)
        if template is not None:
            query = query.where(accounts.c.template == template)
        return [AccountRow(r.account_id, r.advisor, r.template, r.tax_status, r.opened, r.closed)
                for r in self._rows(query)]

    def securities(self) -> list[SecurityRow]:
        return [SecurityRow(r.symbol, r.asset_class, r.wash_group, r.delisted)
                for r in self._rows(select(securities).order_by(securities.c.symbol))]

    def entity_ids(self, kind: str) -> list[str]:
        """The business ids of every aggregate of a kind (`model`, `template`...), in order."""
        from lotline.projections.audit import audit_streams

        return self._scalars(select(audit_streams.c.entity_id).where(audit_streams.c.kind == kind)
                             .order_by(audit_streams.c.entity_id))

    def cash_requests(self, open_only: bool = False, advisor: str | None = None,
                      due_on: date | None = None) -> list[CashRequestRow]:
        """Cash requests by account and due date: only those not yet fulfilled, of an
        advisor's accounts, due on or before a day (each filter when given)."""
        query = select(cash_requests).order_by(cash_requests.c.account_id, cash_requests.c.due_from,
                                               cash_requests.c.request_id)
        if open_only:
            query = query.where(cash_requests.c.fulfilled.is_(False))
        if advisor is not None:
            query = query.where(cash_requests.c.account_id.in_(
                select(accounts.c.account_id).where(accounts.c.advisor == advisor)))
        if due_on is not None:
            query = query.where(cash_requests.c.due_from <= due_on)
        return [CashRequestRow(r.request_id, r.account_id, Decimal(r.amount), r.due_from, r.due_by, r.fulfilled)
                for r in self._rows(query)]

    def close_spans(self) -> list[CloseSpan]:
        """Each symbol with closes on file: the first and last date and how many."""
        from lotline.projections.prices import prices  # prices.py imports this module

        query = (select(prices.c.symbol, func.min(prices.c.date), func.max(prices.c.date), func.count())
                 .group_by(prices.c.symbol).order_by(prices.c.symbol))
        return [CloseSpan(symbol, first, last, count) for symbol, first, last, count in self._rows(query)]

    def closes(self, symbol: str, since: date | None = None, until: date | None = None) -> list[tuple[date, Decimal]]:
        """A symbol's closes on file, oldest first (a correction wins)."""
        from lotline.projections.prices import prices

        query = select(prices.c.date, prices.c.close).where(prices.c.symbol == symbol).order_by(prices.c.date)
        if since is not None:
            query = query.where(prices.c.date >= since)
        if until is not None:
            query = query.where(prices.c.date <= until)
        return [(day, Decimal(close)) for day, close in self._rows(query)]

    def latest_decisions(self) -> dict[str, DecisionRow]:
        """Each account's latest decision (the latest day; on it, the latest attempt)."""
        latest: dict[str, DecisionRow] = {}
        for r in self._rows(select(decisions).order_by(decisions.c.date, decisions.c.position)):
            latest[r.account_id] = _decision(r)
        return latest

    def analysis_failures(self, on: date) -> list[AnalysisFailure]:
        """The analyses of a day that could not be made, as the audit trail recorded them."""
        query = (select(audit_events).where(audit_events.c.kind == "decision", audit_events.c.type == "AnalysisFailed",
                                            audit_events.c.effective_date == on).order_by(audit_events.c.position))
        return [AnalysisFailure(r.account_id, r.effective_date, json.loads(r.data).get("failure", ""), r.position)
                for r in self._rows(query)]

    def symbols(self) -> list[str]:
        """Every listed security's symbol, in order."""
        return self._scalars(select(securities.c.symbol).order_by(securities.c.symbol))

    def accounts_with_cash_requests_due(self, on: date) -> set[str]:
        """Accounts with a cash request due on or before `on` and not yet fulfilled."""
        return set(self._scalars(
            select(cash_requests.c.account_id).where(cash_requests.c.due_from <= on, cash_requests.c.fulfilled.is_(False))
        ))

    # --- decisions and orders -----------------------------------------------------------

    def decisions_of_day(self, on: date) -> list[DecisionRow]:
        """The day's decisions in the order they were recorded (a redo after the one it
        superseded)."""
        return [_decision(r) for r in self._rows(select(decisions).where(decisions.c.date == on)
                                                 .order_by(decisions.c.position))]

    def decided_accounts(self, on: date) -> set[str]:
        """Accounts with a decision recorded on the day."""
        return set(self._scalars(select(decisions.c.account_id).where(decisions.c.date == on)))

    def decisions_of_day_after(self, on: date, position: int) -> list[DecisionRow]:
        """The day's decisions recorded after `position` (a distributed night's progress)."""
        return [_decision(r) for r in self._rows(select(decisions).where(decisions.c.date == on,
                                                                          decisions.c.position > position)
                                                 .order_by(decisions.c.position))]

    def failures_of_day_after(self, on: date, position: int) -> list[tuple[str, str]]:
        """(account, failure) of the day's analyses that failed after `position`, oldest first."""
        rows = self._rows(select(audit_events.c.account_id, audit_events.c.data)
                          .where(audit_events.c.position > position, audit_events.c.kind == "decision",
                                 audit_events.c.type == "AnalysisFailed", audit_events.c.effective_date == on)
                          .order_by(audit_events.c.position))
        return [(r.account_id, json.loads(r.data).get("failure", "")) for r in rows]

    def decision(self, decision_id: str) -> DecisionRow | None:
        rows = self._rows(select(decisions).where(decisions.c.decision_id == decision_id))
        return _decision(rows[0]) if rows else None

    def orders_of_day(self, on: date, status: str, account_ids: Sequence[str] | None = None) -> list[OrderRow]:
        """The day's orders in `status` (of these accounts only, when named), by order id."""
        query = select(orders).where(orders.c.date == on, orders.c.status == status).order_by(orders.c.order_id)
        if account_ids:
            query = query.where(orders.c.account_id.in_(list(account_ids)))
        return [_order(r) for r in self._rows(query)]

    def orders(self, on: date | None = None, account_id: str | None = None, status: str | None = None,
               advisor: str | None = None) -> list[OrderRow]:
        """Orders by date, account and order id: of a day, of an account, in a status, of
        the accounts an advisor looks after (each filter when given)."""
        query = select(orders).order_by(orders.c.date, orders.c.account_id, orders.c.order_id)
        if account_id is not None:
            query = query.where(orders.c.account_id == account_id)
        if advisor is not None:
            query = query.where(orders.c.account_id.in_(select(accounts.c.account_id).where(accounts.c.advisor == advisor)))
        if on is not None:
            query = query.where(orders.c.date == on)
        if status is not None:
            query = query.where(orders.c.status == status)
        return [_order(r) for r in self._rows(query)]

    # --- lots, gains and cash -----------------------------------------------------------

    def check_account_readable(self, account_id: str) -> None:
        """Raises AccountHistoryBroken when a read model could not apply an event of the
        account, naming the first such event."""
        with self._store.transaction(commit=False) as session:
            check_account_readable(session, account_id)

    def account_cash(self, account_id: str) -> AccountCash | None:
        rows = self._rows(select(account_cash).where(account_cash.c.account_id == account_id))
        if not rows:
            return None
        return AccountCash(Decimal(rows[0].cash), rows[0].latest_date)

    def open_lots(self, account_id: str) -> list[TaxLot]:
        rows = self._rows(select(lots).where(lots.c.account_id == account_id))
        return [TaxLot(r.lot_id, r.symbol, Decimal(r.quantity), Decimal(r.cost_basis), r.acquired,
                       r.holding_period_start, Decimal(r.wash_sale_adjustment)) for r in rows]

    def realisations(self, first: date, last: date, account_id: str | None = None) -> list[tuple[str, Realization]]:
        """Gains and losses realised from `first` to `last` (of one account, when named),
        each with its account, in the order they were realised."""
        query = select(realized_gains).where(realized_gains.c.date.between(first, last))
        if account_id is not None:
            query = query.where(realized_gains.c.account_id == account_id).order_by(realized_gains.c.seq)
        return [
            (r.account_id, Realization(r.date, r.symbol, Decimal(r.quantity), Decimal(r.proceeds),
                                       Decimal(r.cost_basis), Decimal(r.gain), r.term, Decimal(r.disallowed_loss),
                                       r.lot_id))
            for r in self._rows(query)
        ]

    def account_positions(self, account_ids: Sequence[str]) -> list[AccountPositions]:
        """Each account's cash, open positions and targets, in a few reads for them all
        (through the driver: for 10,000 accounts, building row objects costs more than
        the queries)."""
        wanted = set(account_ids)
        cash: dict[str, tuple[Decimal, date | None]] = {}
        holdings: dict[str, list[tuple[str, Decimal]]] = {}
        targets: dict[str, tuple[str, str]] = {}
        with self._store.transaction(commit=False) as session:
            cursor = session.connection().connection.cursor()
            try:
                cursor.execute(f"SELECT DISTINCT account_id FROM {read_model_failures.name} WHERE account_id IS NOT NULL")
                unreadable = {account_id for (account_id,) in cursor.fetchall()}
                cursor.execute(f"SELECT account_id, cash, latest_date, positions FROM {account_cash.name}")
                for account_id, amount, latest, positions in cursor.fetchall():
                    if account_id in wanted:
                        cash[account_id] = (Decimal(amount), driver_date(latest))
                        holdings[account_id] = [(symbol, Decimal(quantity)) for symbol, quantity in json.loads(positions)]
                cursor.execute(f"SELECT account_id, classes, symbols FROM {account_targets.name}")
                for account_id, classes, symbols in cursor.fetchall():
                    if account_id in wanted:
                        targets[account_id] = (classes, symbols)
            finally:
                cursor.close()
        parsed_classes: dict[str, dict[str, tuple[Decimal, Decimal | None]]] = {}
        parsed_symbols: dict[str, list[str]] = {}
        rows = []
        for a in account_ids:
            class_targets, target_symbols = None, []
            if a in targets:
                classes, symbols = targets[a]
                if classes not in parsed_classes:
                    parsed_classes[classes] = {c: (Decimal(w), None if limit is None else Decimal(limit))
                                               for c, w, limit in json.loads(classes)}
                if symbols not in parsed_symbols:
                    parsed_symbols[symbols] = json.loads(symbols)
                class_targets, target_symbols = parsed_classes[classes], parsed_symbols[symbols]
            rows.append(AccountPositions(a, cash[a][0] if a in cash else None, cash[a][1] if a in cash else None,
                                         holdings.get(a, []), class_targets, target_symbols, a in unreadable))
        return rows

    def accounts_holding(self, symbols: Iterable[str]) -> set[str]:
        """Accounts with open lots or sales of any of `symbols`."""
        with self._store.transaction(commit=False) as session:
            return accounts_holding(session, set(symbols))

    # --- the audit trail ----------------------------------------------------------------

    def audit_trail(self, account_id: str, since: date | None = None, until: date | None = None) -> list[AuditRow]:
        """Every event of an account, oldest first, within the effective dates given."""
        query = select(audit_events).where(audit_events.c.account_id == account_id).order_by(audit_events.c.position)
        if since is not None:
            query = query.where(audit_events.c.effective_date >= since)
        if until is not None:
            query = query.where(audit_events.c.effective_date <= until)
        return [_audit_row(r) for r in self._rows(query)]

    def firm_audit_trail(self, kind: str | None = None, actor: str | None = None, since: date | None = None,
                         until: date | None = None) -> list[AuditRow]:
        """Every event of the store, oldest first: of one kind of aggregate, by one
        acting user, within the effective dates given (each filter when given)."""
        query = select(audit_events).order_by(audit_events.c.position)
        if kind is not None:
            query = query.where(audit_events.c.kind == kind)
        if actor is not None:
            query = query.where(audit_events.c.actor == actor)
        if since is not None:
            query = query.where(audit_events.c.effective_date >= since)
        if until is not None:
            query = query.where(audit_events.c.effective_date <= until)
        return [_audit_row(r) for r in self._rows(query)]


def _audit_row(r: Any) -> AuditRow:
    return AuditRow(r.position, r.type, r.timestamp, r.effective_date, r.actor, r.role, r.reason, json.loads(r.data),
                    r.kind, r.entity_id, r.account_id, r.auth, r.on_behalf_of)


def _decision(row: Any) -> DecisionRow:
    return DecisionRow(row.decision_id, row.account_id, row.date, row.position, row.originator_version, row.trade,
                       tuple(json.loads(row.reasons)), Decimal(row.benefit), row.order_count, row.superseded_by)


def _order(row: Any) -> OrderRow:
    return OrderRow(row.order_id, row.decision_id, row.account_id, row.date, row.side, row.symbol, row.quantity,
                    row.price, row.reason, row.mandatory, row.benefit, row.status, json.loads(row.lots), row.value,
                    row.fill_price, row.status_reason, row.realised_gain, row.estimated_tax)
