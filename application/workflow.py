"""The overlay manager's part of the day: release, reject or cancel the day's
decisions, then fill the released ones at the day's close. A decision moves as a whole
(its sales fund its purchases); one that cannot move is recorded with its reason
(stale, unfilled) and never stops the others."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from lotline.application.authorisation import authorise
from lotline.application.books import account_history
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.account import Account
from lotline.domain.decision import CASH_REQUEST, DRIFT_LIMIT, RESTRICTION, Decision, OrderStatus, decision_id
from lotline.domain.errors import InvalidInput, LotlineError, UnknownEntity
from lotline.domain.execution import cash_requests_met, plan_execution, staleness
from lotline.domain.roles import Permission
from lotline.domain.security import Security
from lotline.domain.settings import FirmSettings, effective_settings
from lotline.infrastructure import prices as price_table
from lotline.infrastructure.calendar import is_trading_day
from lotline.projections.decisions import decisions, orders
from lotline.projections.directory import cash_requests

INSTRUCTIONS = {CASH_REQUEST, RESTRICTION, DRIFT_LIMIT}
from lotline.domain.values import CENT


class StaleDecision(LotlineError):
    """The account changed after the analysis (raised inside a unit of work, which is
    then discarded, so the staleness is recorded on its own)."""


@dataclass
class Released:
    accounts: int = 0
    orders: int = 0
    held_back: list[str] = field(default_factory=list)
    stale: list[dict[str, str]] = field(default_factory=list)


def check_trading_day(on: date) -> None:
    if not is_trading_day(on):
        raise InvalidInput(f"{on.isoformat()} is not an NYSE trading day", "date")


def _orders_by_decision(service: Any, on: date, status: str, wanted: list[str] | None) -> dict[str, list[Any]]:
    """The day's orders in `status`, by decision; unknown accounts are bad input."""
    service.catch_up()
    query = select(orders).where(orders.c.date == on, orders.c.status == status).order_by(orders.c.order_id)
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
        out.setdefault(row.decision_id, []).append(row)
    return out


def _decision(uow: UnitOfWork, account_id: str, on: date) -> Decision:
    return uow.get(Decision, decision_id(account_id, on), "decision")


def _why_stale(uow: UnitOfWork, decision: Decision) -> str | None:
    recorded = decision.recorded
    assert recorded is not None
    account = uow.get(Account, decision.account_id, "account")
    securities = {s: uow.find(Security, s) for s in recorded.inputs.security_versions}
    return staleness(recorded, account, securities)


def _go_stale(service: Any, account_id: str, on: date, why: str, user: str) -> None:
    def work(uow: UnitOfWork) -> None:
        actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock())
        _decision(uow, account_id, on).go_stale(why, actor)

    service.execute(work)


def approve(service: Any, on: date, wanted: list[str] | None, user: str, mandatory_only: bool | None = None,
            min_benefit: Decimal | None = None) -> Released:
    """Releases whole decisions that pass the filters (defaults: the firm's approval
    settings) and whose account is unchanged since the analysis; the others go stale."""
    check_trading_day(on)
    uow = UnitOfWork(service.store)
    authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock())
    settings = effective_settings(uow.find(FirmSettings, "firm"))
    if mandatory_only is None:
        mandatory_only = settings["approval_mandatory_only"] == 1
    if min_benefit is None:
        min_benefit = settings["approval_min_benefit"]
    if min_benefit < 0:
        raise InvalidInput(f"must not be negative, got {min_benefit}", "min_benefit")
    proposed = _orders_by_decision(service, on, OrderStatus.PROPOSED, wanted)
    with service.store.recorder.transaction(commit=False) as session:
        reasons = {r.decision_id: (set(json.loads(r.reasons)), Decimal(r.benefit))
                   for r in session.execute(select(decisions).where(decisions.c.date == on))}
    released = Released()
    for key, rows in sorted(proposed.items()):
        account_id = rows[0].account_id
        triggers, benefit = reasons[key]
        demanded = bool(triggers & INSTRUCTIONS)
        if (mandatory_only and not demanded) or (not demanded and benefit < min_benefit):
            released.held_back.append(account_id)
            continue

        def work(uow: UnitOfWork, account_id: str = account_id) -> tuple[str | None, int]:
            decision = _decision(uow, account_id, on)
            actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock())
            why = _why_stale(uow, decision)
            if why is not None:
                decision.go_stale(why, actor)
                return why, 0
            order_ids = decision.orders_in(OrderStatus.PROPOSED)
            decision.approve(order_ids, actor)
            return None, len(order_ids)

        why, count = service.execute(work)
        if why is not None:
            released.stale.append({"decision_id": key, "account": account_id, "reason": why})
            continue
        released.accounts += 1
        released.orders += count
    return released


def reject(service: Any, on: date, wanted: list[str] | None, user: str, reason: str | None) -> Released:
    check_trading_day(on)
    uow = UnitOfWork(service.store)
    authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock(), reason)
    rejected = Released()
    for _, rows in sorted(_orders_by_decision(service, on, OrderStatus.PROPOSED, wanted).items()):
        def work(uow: UnitOfWork, account_id: str = rows[0].account_id) -> int:
            decision = _decision(uow, account_id, on)
            actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock(), reason)
            order_ids = decision.orders_in(OrderStatus.PROPOSED)
            decision.reject(order_ids, actor)
            return len(order_ids)

        rejected.orders += service.execute(work)
        rejected.accounts += 1
    return rejected


def cancel(service: Any, on: date, wanted: list[str] | None, user: str, reason: str | None) -> Released:
    """Withdraws approved, unfilled orders, a decision's orders together."""
    check_trading_day(on)
    if not reason or not reason.strip():
        raise InvalidInput("required: say why the orders are withdrawn", "reason")
    uow = UnitOfWork(service.store)
    authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock(), reason)
    cancelled = Released()
    for _, rows in sorted(_orders_by_decision(service, on, OrderStatus.APPROVED, wanted).items()):
        def work(uow: UnitOfWork, account_id: str = rows[0].account_id) -> int:
            actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock(), reason)
            return len(_decision(uow, account_id, on).cancel(actor))

        cancelled.orders += service.execute(work)
        cancelled.accounts += 1
    return cancelled


@dataclass
class Filled:
    accounts: int = 0
    trades: int = 0
    cash_requests: int = 0
    notes: list[str] = field(default_factory=list)
    unfilled: list[dict[str, str]] = field(default_factory=list)
    stale: list[dict[str, str]] = field(default_factory=list)


def fill(service: Any, on: date, user: str, progress: Callable[[int], None] | None = None) -> Filled:
    """Simulated execution of the day's approved decisions at its close, each together
    or not at all, then the due cash requests that cash now covers. A decision that
    cannot be filled is recorded (unfilled or stale, with the reason) and the others go on."""
    check_trading_day(on)
    authorise(UnitOfWork(service.store), user, Permission.RELEASE_ORDERS, on, service.clock())
    approved = _orders_by_decision(service, on, OrderStatus.APPROVED, None)
    with service.store.recorder.transaction(commit=False) as session:
        symbols = {r.symbol for rows in approved.values() for r in rows}
        closes = {s: c for s, (d, c) in price_table.closes_on_or_before(session, on, symbols).items() if d == on}
        waiting = set(session.execute(
            select(cash_requests.c.account_id).where(cash_requests.c.due_from <= on, cash_requests.c.fulfilled.is_(False))
        ).scalars())
    by_account = {rows[0].account_id: key for key, rows in approved.items()}
    result = Filled()
    for account_id in sorted(set(by_account) | waiting):
        key = by_account.get(account_id)
        try:
            trades, met, notes = service.execute(lambda uow: _fill_account(service, uow, account_id, key, on, closes, user))
        except StaleDecision as stale:
            _go_stale(service, account_id, on, str(stale), user)
            result.stale.append({"decision_id": key or "", "account": account_id, "reason": str(stale)})
            continue
        except Exception as error:  # noqa: BLE001 - one decision never stops the others
            reason = str(error) if isinstance(error, LotlineError) else f"{type(error).__name__}: {error}"
            if key is None:
                result.notes.append(f"{account_id}: cash requests not handled: {reason}")
                continue
            _leave_unfilled(service, account_id, on, reason, user, result)
            result.unfilled.append({"decision_id": key, "account": account_id, "reason": reason})
            continue
        finally:
            if progress is not None:
                progress(1)
        result.accounts += 1 if trades else 0
        result.trades += trades
        result.cash_requests += met
        result.notes += notes
    return result


def _fill_account(service: Any, uow: UnitOfWork, account_id: str, key: str | None, on: date,
                  closes: dict[str, Decimal], user: str) -> tuple[int, int, list[str]]:
    account = uow.get(Account, account_id, "account")
    actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock())
    book = account_history(uow, account).book(on)
    notes: list[str] = []
    trades = 0
    if key is not None:
        decision = _decision(uow, account_id, on)
        why = _why_stale(uow, decision)
        if why is not None:
            raise StaleDecision(why)
        orders_ = [decision.order(order_id) for order_id in decision.orders_in(OrderStatus.APPROVED)]
        buys = sum(1 for o in orders_ if o.side == "buy")
        # Tried on the book first: the decision fills together or raises Unfillable.
        for execution in plan_execution(book, orders_, closes, on, account.next_lot_ids(buys)):
            account.execute_order(execution.order, execution.price, on, execution.reliefs, actor)
            decision.filled(execution.order.order_id, execution.price, actor)
            if execution.note:
                notes.append(execution.note)
            trades += 1
    reserve = (account.parameters.cash.reserve * _value(service, book, on)).quantize(CENT)
    met = cash_requests_met(account.due_cash_requests(on), book.cash, reserve)
    for request in met:
        account.fulfil_cash_request(request.request_id, on, actor)
    return trades, len(met), notes


def _leave_unfilled(service: Any, account_id: str, on: date, reason: str, user: str, result: Filled) -> None:
    def work(uow: UnitOfWork) -> None:
        actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock())
        _decision(uow, account_id, on).leave_unfilled(reason, actor)

    try:
        service.execute(work)
    except Exception as error:  # noqa: BLE001 - reported, and the others go on
        result.notes.append(f"{account_id}: could not record the unfilled decision: {error}")


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
