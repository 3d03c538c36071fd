"""Read use cases: lots, gains and holdings of one account, in the contract's shapes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from lotline.application.books import account_history
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.errors import AccountHistoryBroken, InvalidInput
from lotline.domain.ledger import LedgerError, Realization, TaxLot
from lotline.domain.model import Model
from lotline.domain.targets import security_targets
from lotline.domain.template import TargetTemplate
from lotline.domain.values import CASH
from lotline.infrastructure import prices as price_table
from lotline.projections.failures import check_account_readable
from lotline.projections.lots import account_cash, lots, realized_gains

from lotline.domain.values import CENT, WEIGHT


def money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def weight(value: Decimal) -> str:
    return str(value.quantize(WEIGHT))


def lots_report(service: Any, account_id: str, user: str, as_of: date) -> dict[str, Any]:
    """From the lots projection when nothing recorded for the account is dated after
    `as_of`; otherwise the book is rebuilt from the history up to that day."""
    service.authorise_account_read(user, account_id)
    with service.store.recorder.transaction(commit=False) as session:
        check_account_readable(session, account_id)
        latest = session.execute(select(account_cash).where(account_cash.c.account_id == account_id)).first()
        if latest is not None and (latest.latest_date is None or latest.latest_date <= as_of):
            rows = session.execute(select(lots).where(lots.c.account_id == account_id)).all()
            cash = Decimal(latest.cash)
            open_lots = [TaxLot(r.lot_id, r.symbol, Decimal(r.quantity), Decimal(r.cost_basis), r.acquired,
                                r.holding_period_start, Decimal(r.wash_sale_adjustment)) for r in rows]
        else:
            uow = UnitOfWork(service.store)
            book = account_history(uow, service.account_for(uow, account_id)).book(as_of)
            cash, open_lots = book.cash, book.open_lots()
    return {
        "account": account_id,
        "as_of": as_of.isoformat(),
        "cash": money(cash),
        "lots": [
            {
                "lot_id": lot.lot_id,
                "symbol": lot.symbol,
                "quantity": str(lot.quantity),
                "cost_basis": money(lot.cost_basis),
                "acquired": lot.acquired.isoformat(),
                "holding_period_start": lot.holding_period_start.isoformat(),
                "wash_sale_adjustment": money(lot.wash_sale_adjustment),
            }
            for lot in sorted(open_lots, key=lambda lot: (lot.symbol, lot.acquired, lot.lot_id))
        ],
    }


def gains_report(service: Any, account_id: str, user: str, year: int) -> dict[str, Any]:
    """From the gains projection: realisations as they stand with everything recorded
    (a wash sale in January can still change a December loss)."""
    service.authorise_account_read(user, account_id)
    with service.store.recorder.transaction(commit=False) as session:
        check_account_readable(session, account_id)
        rows = session.execute(
            select(realized_gains)
            .where(realized_gains.c.account_id == account_id,
                   realized_gains.c.date.between(date(year, 1, 1), date(year, 12, 31)))
            .order_by(realized_gains.c.seq)
        ).all()
    realizations = [
        Realization(r.date, r.symbol, Decimal(r.quantity), Decimal(r.proceeds), Decimal(r.cost_basis), Decimal(r.gain),
                    r.term, Decimal(r.disallowed_loss), r.lot_id)
        for r in rows
    ]
    short = sum((r.gain for r in realizations if r.term == "short"), Decimal(0))
    long = sum((r.gain for r in realizations if r.term == "long"), Decimal(0))
    disallowed = sum((r.disallowed_loss for r in realizations), Decimal(0))
    return {
        "account": account_id,
        "year": year,
        "short_term": money(short),
        "long_term": money(long),
        "disallowed_loss": money(disallowed),
        "realizations": [
            {
                "date": r.date.isoformat(),
                "symbol": r.symbol,
                "quantity": str(r.quantity),
                "proceeds": money(r.proceeds),
                "cost_basis": money(r.cost_basis),
                "gain": money(r.gain),
                "term": r.term,
                "disallowed_loss": money(r.disallowed_loss),
                "lot_id": r.lot_id,
            }
            for r in realizations
        ],
    }


def holdings_report(service: Any, account_id: str, user: str, as_of: date) -> dict[str, Any]:
    service.authorise_account_read(user, account_id)
    with service.store.recorder.transaction(commit=False) as session:
        check_account_readable(session, account_id)
    uow = UnitOfWork(service.store)
    account = service.account_for(uow, account_id)
    template = uow.get(TargetTemplate, account.template_id, "template")
    targets = security_targets(template, uow.mapping(Model), account.parameters)
    history = account_history(uow, account, set(targets.weights))
    try:
        book = history.book(as_of)
    except LedgerError as error:
        raise AccountHistoryBroken(f"account {account_id} cannot be read: its history cannot be applied: {error}") from None
    positions = {s: q for s, q in book.positions().items() if q}
    symbols = sorted(set(positions) | set(targets.weights))
    with service.store.recorder.transaction(commit=False) as session:
        closes = price_table.closes_on_or_before(session, as_of, symbols)
    values: dict[str, Decimal] = {}
    for symbol, quantity in positions.items():
        if symbol not in closes:
            raise InvalidInput(f"no close for {symbol} on or before {as_of}", "prices")
        values[symbol] = (quantity * closes[symbol][1]).quantize(CENT)
    total = book.cash + sum(values.values(), Decimal(0))
    share = (lambda v: v / total) if total else (lambda v: Decimal(0))
    class_of = {s: sec.asset_class for s, sec in history.securities.items()}
    class_values: dict[str, Decimal] = {CASH: book.cash}
    for symbol, value in values.items():
        class_values[class_of[symbol]] = class_values.get(class_of[symbol], Decimal(0)) + value
    classes = sorted(set(class_values) | set(targets.class_weights))
    limits = {name: t.drift_limit for name, t in template.classes.items()}
    return {
        "account": account_id,
        "as_of": as_of.isoformat(),
        "cash": money(book.cash),
        "total_value": money(total),
        "positions": [
            {
                "symbol": symbol,
                "asset_class": class_of.get(symbol),
                "quantity": str(positions.get(symbol, Decimal(0))),
                "price": str(closes[symbol][1]) if symbol in closes else None,
                "price_date": closes[symbol][0].isoformat() if symbol in closes else None,
                "market_value": money(values.get(symbol, Decimal(0))),
                "weight": weight(share(values.get(symbol, Decimal(0)))),
                "target_weight": weight(targets.weights.get(symbol, Decimal(0))),
            }
            for symbol in symbols
        ],
        "asset_classes": [
            {
                "asset_class": name,
                "weight": weight(share(class_values.get(name, Decimal(0)))),
                "target_weight": weight(targets.class_weights.get(name, Decimal(0))),
                "drift": weight(share(class_values.get(name, Decimal(0))) - targets.class_weights.get(name, Decimal(0))),
                "drift_limit": weight(limits[name]) if name in limits else None,
            }
            for name in classes
        ],
        "notes": list(targets.notes),
    }


def orders_report(service: Any, user: str, on: date | None, account_id: str | None, status: str | None) -> dict[str, Any]:
    import json

    from lotline.application.authorisation import authorise_read
    from lotline.application.unit_of_work import UnitOfWork
    from lotline.domain.roles import GRANTS, SYSTEM_USER, Permission
    from lotline.domain.user import User
    from lotline.projections.decisions import orders
    from lotline.projections.directory import accounts

    service.catch_up()
    query = select(orders).order_by(orders.c.date, orders.c.account_id, orders.c.order_id)
    if account_id is not None:
        row = service.authorise_account_read(user, account_id)
        with service.store.recorder.transaction(commit=False) as session:
            check_account_readable(session, row.account_id)
        query = query.where(orders.c.account_id == row.account_id)
    else:
        authorise_read(UnitOfWork(service.store), user, None, None)
        if user != SYSTEM_USER:
            person = UnitOfWork(service.store).find(User, user)
            if person is not None and not any(r in GRANTS[Permission.READ_ANY_ACCOUNT] for r in person.roles):
                own = select(accounts.c.account_id).where(accounts.c.advisor == user)
                query = query.where(orders.c.account_id.in_(own))
    if on is not None:
        query = query.where(orders.c.date == on)
    if status is not None:
        from lotline.domain.decision import OrderStatus

        allowed = OrderStatus.ALL
        if status not in allowed:
            raise InvalidInput(f"must be one of {', '.join(allowed)}, got {status!r}", "status")
        query = query.where(orders.c.status == status)
    with service.store.recorder.transaction(commit=False) as session:
        rows = session.execute(query).all()
    return {
        "orders": [
            {
                "order_id": r.order_id, "decision_id": r.decision_id, "account": r.account_id,
                "date": r.date.isoformat(), "side": r.side, "symbol": r.symbol, "quantity": r.quantity,
                "price": r.price, "value": r.value, "status": r.status, "reason": r.reason, "mandatory": r.mandatory,
                **({"lots": json.loads(r.lots)} if r.side == "sell" else {}),
                **({"fill_price": r.fill_price} if r.fill_price is not None else {}),
                **({f"{r.status}_reason": r.status_reason} if r.status_reason is not None else {}),
            }
            for r in rows
        ]
    }
