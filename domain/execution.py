"""Executing a released decision: the rules a fill follows, tried on a copy of the
account's book before anything is recorded, so a decision fills together or not at all.

- Every order fills at the day's close; a symbol without one leaves the decision unfilled.
- Sales go first, so their proceeds pay for the purchases.
- A sale relieves the lots the decision named, including the parts a wash-sale match
  has carved off them since; if those are no longer open, first-in first-out (noted).
  The account must still hold the shares.
- The decision's own rule is checked again: no sale at a loss with shares of its wash
  group bought within 30 days (the loss would be disallowed), no purchase that washes
  a loss realised within 30 days.
- Cash is never negative after the orders.
- Then due cash requests are met, oldest first, while cash still covers the reserve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lotline.domain.account import Account
from lotline.domain.book import AccountBook
from lotline.domain.decision import LotRelief, ProposedOrder
from lotline.domain.errors import RuleRefused
from lotline.domain.ledger import LedgerError
from lotline.domain.security import Security
from lotline.domain.tax import WASH_SALE_DAYS
from lotline.domain.values import ZERO


class Unfillable(RuleRefused):
    """A decision whose orders cannot all be executed: none of them is."""


@dataclass(frozen=True)
class Execution:
    """One order as it will be recorded: its fill price and the lots it relieves
    (None: first-in first-out, because the lots it named are no longer open)."""

    order: ProposedOrder
    price: Decimal
    reliefs: tuple[LotRelief, ...] | None
    note: str | None = None


def plan_execution(
    book: AccountBook, orders: Sequence[ProposedOrder], closes: Mapping[str, Decimal], on: date,
    lot_id_for_buy: Sequence[str] = (),
) -> list[Execution]:
    """Executes `orders` on `book` (the caller's copy, as of the end of the day before
    they fill) and returns what to record; raises Unfillable naming the first reason.
    `lot_id_for_buy`: the ids the account will give the purchases' lots, in order."""
    missing = sorted({o.symbol for o in orders if o.symbol not in closes})
    if missing:
        raise Unfillable(f"no close on {on.isoformat()} for {', '.join(missing)}")
    sales = sorted((o for o in orders if o.side == "sell"), key=_number)
    buys = sorted((o for o in orders if o.side == "buy"), key=_number)
    plan = [_sell(book, order, closes[order.symbol], on) for order in sales]
    lot_ids = list(lot_id_for_buy)
    for i, order in enumerate(buys):
        plan.append(_buy(book, order, closes[order.symbol], on, lot_ids[i] if i < len(lot_ids) else f"{order.order_id}/lot"))
    if book.cash < 0:
        raise Unfillable(f"cash would be {book.cash} after the orders")
    return plan


def _number(order: ProposedOrder) -> tuple[int, str]:
    tail = order.order_id.rsplit("/", 1)[-1]
    return (int(tail), order.order_id) if tail.isdigit() else (0, order.order_id)


def _sell(book: AccountBook, order: ProposedOrder, price: Decimal, on: date) -> Execution:
    held = book.ledger.position(order.symbol)
    if held < order.quantity:
        raise Unfillable(f"{order.order_id}: the account holds {held} {order.symbol}, the order sells {order.quantity}")
    reliefs: tuple[LotRelief, ...] | None = tuple(order.lots) or None
    note = None
    if reliefs is not None and any(_open_in_family(book, r.lot_id) < r.quantity for r in reliefs):
        reliefs, note = None, f"{order.order_id}: the lots it named are no longer open; relieved first-in first-out"
    picks = None if reliefs is None else [(r.lot_id, r.quantity) for r in reliefs]
    try:
        realized = book.trade("sell", order.symbol, order.quantity, price, on, picks=picks)
    except LedgerError as error:
        raise Unfillable(f"{order.order_id}: {error.detail}") from None
    washed = sum((r.disallowed_loss for r in realized), ZERO)
    if washed:
        raise Unfillable(f"{order.order_id}: selling {order.symbol} at a loss would be a wash sale ({washed} disallowed): "
                         f"shares of its wash group were bought within {WASH_SALE_DAYS} days")
    return Execution(order, price, reliefs, note)


def _buy(book: AccountBook, order: ProposedOrder, price: Decimal, on: date, lot_id: str) -> Execution:
    disallowed = _disallowed(book)
    try:
        book.trade("buy", order.symbol, order.quantity, price, on, lot_id=lot_id)
    except LedgerError as error:
        raise Unfillable(f"{order.order_id}: {error.detail}") from None
    if _disallowed(book) > disallowed:
        raise Unfillable(f"{order.order_id}: buying {order.symbol} would wash a loss realised in its wash group "
                         f"within {WASH_SALE_DAYS} days")
    return Execution(order, price, None)


def _open_in_family(book: AccountBook, lot_id: str) -> Decimal:
    return sum((lot.quantity for lot in book.ledger.lot_family(lot_id)), ZERO)


def _disallowed(book: AccountBook) -> Decimal:
    return sum((r.disallowed_loss for r in book.realizations()), ZERO)


def staleness(recorded: object, account: Account, securities: Mapping[str, Security | None]) -> str | None:
    """Why a recorded decision no longer fits its account, or None: the account, or a
    security it read (a split, a dividend, a reclassification), changed after it."""
    inputs = recorded.inputs  # type: ignore[attr-defined]
    if account.version != inputs.account_version:
        return (f"account {account.account_id} changed after the analysis (version {inputs.account_version} "
                f"then, {account.version} now)")
    changed = sorted(s for s, v in inputs.security_versions.items()
                     if securities.get(s) is not None and securities[s].version != v)  # type: ignore[union-attr]
    if changed:
        return f"{', '.join(changed)} changed after the analysis (a corporate action or reclassification)"
    return None


def cash_requests_met(requests: Sequence, cash: Decimal, reserve: Decimal) -> list:
    """Due requests, oldest first, that cash covers while keeping the reserve: each one
    met leaves the account; one too large waits while smaller later ones may go."""
    met = []
    for request in requests:
        if cash - request.amount >= reserve:
            met.append(request)
            cash -= request.amount
    return met
