"""Execution: `fill` the day's approved decisions at its close (simulated), each
together or not at all, then the due cash requests that cash now covers. A decision
that cannot be filled is recorded (unfilled or stale, with the reason) and never stops
the others. The rules (lot relief, fills, cash-request fulfilment) are the domain's
(domain/execution.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from lotline.application.authorisation import authorise
from lotline.application.commands import Fill
from lotline.application.handlers.trading_day import (
    decision_of,
    go_stale,
    orders_by_decision,
    why_stale,
)
from lotline.application.history import account_history
from lotline.application.identity import Identity
from lotline.application.lotline import Lotline, Progress
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.account import Account
from lotline.domain.book import AccountBook
from lotline.domain.decision import OrderStatus
from lotline.domain.errors import LotlineError
from lotline.domain.execution import cash_requests_met, plan_execution
from lotline.domain.roles import Permission
from lotline.domain.security import Security
from lotline.domain.valuation import Valuation
from lotline.domain.values import CENT
from lotline.infrastructure.calendar import check_trading_day


class StaleDecision(LotlineError):
    """The account changed after the analysis (raised inside a unit of work, which is
    then discarded, so the staleness is recorded on its own)."""


@dataclass
class Filled:
    accounts: int = 0
    trades: int = 0
    cash_requests: int = 0
    notes: list[str] = field(default_factory=list)
    unfilled: list[dict[str, str]] = field(default_factory=list)
    stale: list[dict[str, str]] = field(default_factory=list)


def fill(cmd: Fill, lotline: Lotline, progress: Progress | None = None) -> Filled:
    """Simulated execution of the day's approved decisions at its close, each together
    or not at all, then the due cash requests that cash now covers. A decision that
    cannot be filled is recorded (unfilled or stale, with the reason) and the others go on."""
    on, user = cmd.on, cmd.user
    check_trading_day(on)
    authorise(lotline.fresh(), user, Permission.RELEASE_ORDERS, on, lotline.clock())
    approved = orders_by_decision(lotline, on, OrderStatus.APPROVED, None)
    with lotline.reading():
        symbols = {r.symbol for rows in approved.values() for r in rows}
        closes = {s: c for s, (d, c) in lotline.prices.on_or_before(on, symbols).items() if d == on}
        waiting = lotline.views.accounts_with_cash_requests_due(on)
    by_account = {rows[0].account_id: key for key, rows in approved.items()}
    if progress is not None and hasattr(progress, "total"):
        progress.total(len(set(by_account) | waiting))  # a progress bar learns how many accounts there are
    result = Filled()
    for account_id in sorted(set(by_account) | waiting):
        key = by_account.get(account_id)
        try:
            trades, met, notes = lotline.execute(lambda uow: _fill_account(lotline, uow, account_id, key, on, closes, user))
        except StaleDecision as stale:
            go_stale(lotline, account_id, on, str(stale), user)
            result.stale.append({"decision_id": key or "", "account": account_id, "reason": str(stale)})
            continue
        except Exception as error:  # noqa: BLE001 - one decision never stops the others
            reason = str(error) if isinstance(error, LotlineError) else f"{type(error).__name__}: {error}"
            if key is None:
                result.notes.append(f"{account_id}: cash requests not handled: {reason}")
                continue
            _leave_unfilled(lotline, account_id, on, reason, user, result)
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


def _fill_account(lotline: Lotline, uow: UnitOfWork, account_id: str, key: str | None, on: date,
                  closes: dict[str, Decimal], user: Identity) -> tuple[int, int, list[str]]:
    account = uow.get(Account, account_id, "account")
    actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, lotline.clock())
    book = account_history(uow, account).book(on)
    notes: list[str] = []
    trades = 0
    if key is not None:
        decision = decision_of(uow, account_id, on)
        why = why_stale(uow, decision)
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
    reserve = (account.parameters.cash.reserve * _value(lotline, uow, book, on)).quantize(CENT)
    met = cash_requests_met(account.due_cash_requests(on), book.cash, reserve)
    for request in met:
        account.fulfil_cash_request(request.request_id, on, actor)
    return trades, len(met), notes


def _leave_unfilled(lotline: Lotline, account_id: str, on: date, reason: str, user: Identity, result: Filled) -> None:
    def work(uow: UnitOfWork) -> None:
        actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, lotline.clock())
        decision_of(uow, account_id, on).leave_unfilled(reason, actor)

    try:
        lotline.execute(work)
    except Exception as error:  # noqa: BLE001 - reported, and the others go on
        result.notes.append(f"{account_id}: could not record the unfilled decision: {error}")


def _value(lotline: Lotline, uow: UnitOfWork, book: AccountBook, on: date) -> Decimal:
    """The account's value after the fills, at each symbol's latest close (a symbol
    without one is left out: the reserve is a floor, not an order)."""
    positions = book.positions()
    closes = {s: close for s, (_, close) in lotline.prices.on_or_before(on, positions).items()} if positions else {}
    held = [(s, q) for s, q in positions.items() if s in closes]
    classes = {s: uow.get(Security, s, "symbol").asset_class for s, _ in held}
    return Valuation.of(book.cash, held, closes, classes, {}, {}).total
