"""The overlay manager's part of the day: release or reject proposed orders, then fill
the released ones at the day's close, accounting for every lot and cash request."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from application.authorisation import authorise
from application.books import account_history
from application.unit_of_work import UnitOfWork
from domain.account import Account
from domain.decision import CASH_REQUEST, DRIFT_LIMIT, RESTRICTION, Decision, LotRelief, decision_id
from domain.errors import InvalidInput, UnknownEntity
from domain.roles import Permission
from domain.settings import FirmSettings, effective_settings
from infrastructure import prices as price_table
from projections.decisions import decisions, orders
from projections.directory import cash_requests

INSTRUCTIONS = {CASH_REQUEST, RESTRICTION, DRIFT_LIMIT}


@dataclass
class Released:
    accounts: int = 0
    orders: int = 0
    held_back: list[str] = field(default_factory=list)


def _proposed_by_account(service: Any, on: date, wanted: list[str] | None) -> dict[str, list[Any]]:
    service.catch_up()
    query = select(orders).where(orders.c.date == on, orders.c.status == "proposed").order_by(orders.c.order_id)
    if wanted:
        query = query.where(orders.c.account_id.in_(wanted))
    with service.store.recorder.transaction(commit=False) as session:
        rows = session.execute(query).all()
        known = set(session.execute(select(decisions.c.account_id).where(decisions.c.date == on)).scalars())
    for account_id in wanted or ():
        if account_id not in known:
            raise UnknownEntity(f"no decision for account {account_id!r} on {on}", "account")
    out: dict[str, list[Any]] = {}
    for row in rows:
        out.setdefault(row.account_id, []).append(row)
    return out


def approve(service: Any, on: date, wanted: list[str] | None, user: str, mandatory_only: bool | None = None,
            min_benefit: Decimal | None = None) -> Released:
    """Releases whole decisions (a trade list is released together, so its sales fund its
    purchases) that pass the filters; the defaults are the firm's approval settings."""
    uow = UnitOfWork(service.store)
    authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock())
    settings = effective_settings(uow.find(FirmSettings, "firm"))
    if mandatory_only is None:
        mandatory_only = settings["approval_mandatory_only"] == 1
    if min_benefit is None:
        min_benefit = settings["approval_min_benefit"]
    if min_benefit < 0:
        raise InvalidInput(f"must not be negative, got {min_benefit}", "min_benefit")
    with service.store.recorder.transaction(commit=False) as session:
        reasons = {r.account_id: (set(json.loads(r.reasons)), Decimal(r.benefit))
                   for r in session.execute(select(decisions).where(decisions.c.date == on))}
    released = Released()
    for account_id, rows in sorted(_proposed_by_account(service, on, wanted).items()):
        triggers, benefit = reasons[account_id]
        demanded = bool(triggers & INSTRUCTIONS)
        if (mandatory_only and not demanded) or (not demanded and benefit < min_benefit):
            released.held_back.append(account_id)
            continue

        def work(uow: UnitOfWork, account_id: str = account_id, rows: list[Any] = rows) -> None:
            decision = uow.get(Decision, decision_id(account_id, on), "decision")
            actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock())
            decision.approve([r.order_id for r in rows], actor)

        service.execute(work)
        released.accounts += 1
        released.orders += len(rows)
    return released


def reject(service: Any, on: date, wanted: list[str] | None, user: str, reason: str | None) -> Released:
    uow = UnitOfWork(service.store)
    authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock(), reason)
    rejected = Released()
    for account_id, rows in sorted(_proposed_by_account(service, on, wanted).items()):
        def work(uow: UnitOfWork, account_id: str = account_id, rows: list[Any] = rows) -> None:
            decision = uow.get(Decision, decision_id(account_id, on), "decision")
            actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock(), reason)
            decision.reject([r.order_id for r in rows], actor)

        service.execute(work)
        rejected.accounts += 1
        rejected.orders += len(rows)
    return rejected


@dataclass
class Filled:
    accounts: int = 0
    trades: int = 0
    cash_requests: int = 0
    notes: list[str] = field(default_factory=list)


def fill(service: Any, on: date, user: str) -> Filled:
    """Simulated execution of the day's approved orders at its close: sales first, so
    their proceeds pay for the purchases; then due cash requests that cash now covers."""
    authorise(UnitOfWork(service.store), user, Permission.RELEASE_ORDERS, on, service.clock())
    service.catch_up()
    with service.store.recorder.transaction(commit=False) as session:
        rows = session.execute(
            select(orders).where(orders.c.date == on, orders.c.status == "approved").order_by(orders.c.order_id)
        ).all()
        closes = {s: c for s, (d, c) in price_table.closes_on_or_before(session, on, {r.symbol for r in rows}).items()
                  if d == on}
        waiting = set(session.execute(
            select(cash_requests.c.account_id).where(cash_requests.c.due_from <= on, cash_requests.c.fulfilled.is_(False))
        ).scalars())
    missing = sorted({r.symbol for r in rows} - set(closes))
    if missing:
        raise InvalidInput(f"no close on {on} for {', '.join(missing)}", "date")
    by_account: dict[str, list[Any]] = {account_id: [] for account_id in waiting}
    for row in rows:
        by_account.setdefault(row.account_id, []).append(row)
    result = Filled()
    for account_id in sorted(by_account):
        def work(uow: UnitOfWork, account_id: str = account_id) -> tuple[int, int, list[str]]:
            account = uow.get(Account, account_id, "account")
            actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock())
            notes = []
            ordered = sorted(by_account[account_id], key=lambda r: (r.side != "sell", r.order_id))
            decision = uow.find(Decision, decision_id(account_id, on))
            # One order per symbol, sales first: a sale never changes another sale's lots.
            before = account_history(uow, account).book(on)
            still = {lot.lot_id: lot.quantity for lot in before.open_lots()}
            for row in ordered:
                order = decision.order(row.order_id)
                reliefs = None
                if row.side == "sell":
                    proposed = order.lots
                    if before.ledger.position(order.symbol) < order.quantity:
                        notes.append(f"{row.order_id}: the account no longer holds {order.quantity} {order.symbol}; "
                                     "left unfilled")
                        continue
                    if all(still.get(r.lot_id, 0) >= r.quantity for r in proposed):
                        reliefs = tuple(LotRelief(lot_id=r.lot_id, quantity=r.quantity) for r in proposed)
                    else:
                        notes.append(f"{row.order_id}: proposed lots no longer open; relieved first-in first-out")
                account.execute_order(order, closes[row.symbol], on, reliefs, actor)
                decision.filled(row.order_id, closes[row.symbol], actor)
            book = account_history(uow, account).book(on)
            reserve = (account.parameters.cash.reserve * _value(service, book, on)).quantize(Decimal("0.01"))
            fulfilled = 0
            cash = book.cash
            for request in account.due_cash_requests(on):
                if cash - request.amount >= reserve:
                    account.fulfil_cash_request(request.request_id, on, actor)
                    cash -= request.amount
                    fulfilled += 1
            return sum(1 for r in ordered if decision.status.get(r.order_id) == "filled"), fulfilled, notes

        trades, fulfilled, notes = service.execute(work)
        result.accounts += 1 if trades else 0
        result.trades += trades
        result.cash_requests += fulfilled
        result.notes += notes
    return result


def _value(service: Any, book: Any, on: date) -> Decimal:
    total = book.cash
    positions = book.positions()
    if positions:
        with service.store.recorder.transaction(commit=False) as session:
            latest = price_table.closes_on_or_before(session, on, positions)
        for symbol, quantity in positions.items():
            if symbol in latest:
                total += quantity * latest[symbol][1]
    return total
