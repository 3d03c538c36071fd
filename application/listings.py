"""What exists, and what needs looking at: the listings (accounts, models, templates,
users, securities, cash requests, closes on file) and the day's exceptions (accounts
outside a drift limit, cash requests due and not met, decisions that failed, went
stale or were left unfilled, accounts without fresh closes). Each authorises the
reader, catches the read models up and reads through `lotline.views`; an advisor sees
their own accounts only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from lotline.application.authorisation import authorise_read
from lotline.application.history import account_history
from lotline.application.lotline import Lotline
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.account import Account
from lotline.domain.errors import LotlineError, UnknownEntity
from lotline.domain.model import Model
from lotline.domain.roles import GRANTS, SYSTEM_USER, Permission
from lotline.domain.targets import security_targets
from lotline.domain.template import TargetTemplate
from lotline.domain.user import User
from lotline.domain.valuation import Valuation
from lotline.domain.values import CASH, CENT, WEIGHT, ZERO


def _money(value: Decimal) -> str:
    return str(value.quantize(CENT))


def _weight(value: Decimal) -> str:
    return str(value.quantize(WEIGHT))


def own_accounts_only(lotline: Lotline, user: str) -> str | None:
    """The advisor whose accounts `user` may read, when that is all they may read (an
    advisor); None when they read every account. An unknown user is refused."""
    uow = lotline.fresh()
    authorise_read(uow, user, None, None)
    if user == SYSTEM_USER:
        return None
    person = uow.find(User, user)
    if person is not None and any(r in GRANTS[Permission.READ_ANY_ACCOUNT] for r in person.roles):
        return None
    return user


# --- the listings ---------------------------------------------------------------------


@dataclass(frozen=True)
class Position:
    """An account as a listing shows it: value, cash, each class's drift."""

    value: Decimal
    cash: Decimal
    drifts: dict[str, tuple[Decimal, Decimal | None]]  # class -> (drift, its limit)
    stale_closes: list[dict[str, str | None]]  # symbols held or targeted without a fresh close
    problem: str | None = None  # why the account could not be valued


def _position(lotline: Lotline, uow: UnitOfWork, account_id: str, on: date, class_of: dict[str, str],
              closes: dict[str, tuple[date, Decimal]], oldest: date) -> Position:
    """The account valued at each symbol's latest close on or before `on`, its targets
    from its aggregates: from the lots read model when nothing recorded for it is dated
    after `on`, else from its book. The way for an account the read models cannot
    answer for (see `_positions`)."""
    try:
        lotline.views.check_account_readable(account_id)
        account = uow.get(Account, account_id, "account")
        template = uow.get(TargetTemplate, account.template_id, "template")
        targets = security_targets(template, uow.mapping(Model), account.parameters)
        latest = lotline.views.account_cash(account_id)
        if latest is not None and (latest.latest_date is None or latest.latest_date <= on):
            cash = latest.cash
            holdings = [(lot.symbol, lot.quantity) for lot in lotline.views.open_lots(account_id)]
        else:
            book = account_history(uow, account, set(targets.weights)).book(on)
            cash = book.cash
            holdings = [(s, q) for s, q in book.positions().items() if q]
        limits = {name: t.drift_limit for name, t in template.classes.items()}
    except LotlineError as error:
        return Position(ZERO, ZERO, {}, [], str(error))
    return _valued(cash, holdings, targets.class_weights, limits, list(targets.weights), class_of, closes,
                   {s: c for s, (_, c) in closes.items()}, oldest)


def _positions(lotline: Lotline, uow: UnitOfWork, account_ids: list[str], on: date, class_of: dict[str, str],
               closes: dict[str, tuple[date, Decimal]], oldest: date) -> dict[str, Position]:
    """Each account valued as `_position` values it, read from the read models in a few
    reads for them all (cash, open lots, targets); an account they cannot answer for (a
    read model failed it, its template is unknown, nothing recorded for it yet, or
    something recorded for it is dated after `on`) is valued the slow way."""
    prices = {s: c for s, (_, c) in closes.items()}
    positions = {}
    for held in lotline.views.account_positions(account_ids):
        if (held.unreadable or held.class_targets is None or held.cash is None
                or (held.latest_date is not None and held.latest_date > on)):
            positions[held.account_id] = _position(lotline, uow, held.account_id, on, class_of, closes, oldest)
            continue
        class_weights = {c: held.class_targets[c][0] for c in sorted(held.class_targets)}
        limits = {c: limit for c, (_, limit) in held.class_targets.items() if limit is not None}
        positions[held.account_id] = _valued(held.cash, held.holdings, class_weights, limits, held.target_symbols,
                                             class_of, closes, prices, oldest)
    return positions


def _valued(cash: Decimal, holdings: list[tuple[str, Decimal]], class_weights: dict[str, Decimal],
            limits: dict[str, Decimal], targeted: list[str], class_of: dict[str, str],
            closes: dict[str, tuple[date, Decimal]], prices: dict[str, Decimal], oldest: date) -> Position:
    symbols = sorted({s for s, _ in holdings} | set(targeted))
    stale = [{"symbol": s, "last_close": closes[s][0].isoformat() if s in closes else None}
             for s in symbols if s not in closes or closes[s][0] < oldest]
    if stale or any(s not in class_of for s in symbols):
        return _valued_carefully(cash, holdings, class_weights, limits, targeted, class_of, prices, stale)
    # Valuation.of's sums, in its order (exact to the digit), without the rest of what it
    # keeps: 10,000 accounts are valued at once. Only symbols with a close reach here.
    valued = sorted({s for s, _ in holdings} | {s for s in targeted if s in prices})
    values = dict.fromkeys(valued, ZERO)
    for symbol, quantity in holdings:
        values[symbol] += quantity * prices[symbol]
    values = {s: v.quantize(CENT) for s, v in values.items()}
    total = cash + sum(values.values(), ZERO)
    weights = dict.fromkeys(class_weights, ZERO)
    weights[CASH] = cash / total if total else ZERO
    for symbol, value in values.items():
        name = class_of[symbol]
        weights[name] = weights.get(name, ZERO) + (value / total if total else ZERO)
    drifts = {c: (weights.get(c, ZERO) - class_weights.get(c, ZERO), limits.get(c))
              for c in sorted(set(weights) | set(class_weights))}
    return Position(total, cash, drifts, stale)


def _valued_carefully(cash: Decimal, holdings: list[tuple[str, Decimal]], class_weights: dict[str, Decimal],
                      limits: dict[str, Decimal], targeted: list[str], class_of: dict[str, str],
                      prices: dict[str, Decimal], stale: list[dict[str, str | None]]) -> Position:
    try:
        valuation = Valuation.of(cash, holdings, prices, class_of, class_weights, limits,
                                 also=[s for s in targeted if s in prices], rounded_to=CENT)
    except LotlineError as error:  # a symbol held without any close: it cannot be valued
        return Position(ZERO, cash, {}, stale, f"cannot be valued: {error}")
    except KeyError as error:  # a held symbol with no asset class on file
        return Position(ZERO, cash, {}, stale, f"no security {error}")
    drifts = {c: (d, limits.get(c)) for c, d in valuation.drifts().items()}
    return Position(valuation.total, cash, drifts, stale)


def _worst(drifts: dict[str, tuple[Decimal, Decimal | None]]) -> tuple[str, Decimal, Decimal | None] | None:
    if not drifts:
        return None
    name = max(sorted(drifts), key=lambda c: abs(drifts[c][0]))
    return name, drifts[name][0], drifts[name][1]


def accounts_listing(lotline: Lotline, user: str, on: date, advisor: str | None = None,
                     template: str | None = None) -> dict[str, Any]:
    """Every account the reader may read: advisor, template, tax status, value, cash,
    its worst class drift and the last decision."""
    own = own_accounts_only(lotline, user)
    if own is not None and advisor is not None and advisor != own:
        return {"as_of": on.isoformat(), "accounts": []}  # an advisor sees their own accounts only
    lotline.catch_up()
    rows = lotline.views.accounts(own or advisor, template)
    uow = lotline.fresh()
    with lotline.reading():
        class_of = {s.symbol: s.asset_class for s in lotline.views.securities()}
        closes = lotline.prices.on_or_before(on)
        latest = lotline.views.latest_decisions()
        positions = _positions(lotline, uow, [r.account_id for r in rows], on, class_of, closes, on)
    listed = []
    for row in rows:
        position = positions[row.account_id]
        worst = _worst(position.drifts)
        decision = latest.get(row.account_id)
        listed.append({
            "account": row.account_id, "advisor": row.advisor, "template": row.template, "tax_status": row.tax_status,
            "opened": row.opened.isoformat(), "closed": row.closed,
            "total_value": None if position.problem else _money(position.value),
            "cash": None if position.problem else _money(position.cash),
            "worst_drift": None if worst is None else {
                "asset_class": worst[0], "drift": _weight(worst[1]),
                "drift_limit": _weight(worst[2]) if worst[2] is not None else None,
                "outside": worst[2] is not None and abs(worst[1]) > worst[2]},
            "last_decision": None if decision is None else {
                "decision_id": decision.decision_id, "date": decision.date.isoformat(), "trade": decision.trade,
                "reasons": list(decision.reasons)},
            **({"problem": position.problem} if position.problem else {}),
        })
    return {"as_of": on.isoformat(), "accounts": listed}


def users_listing(lotline: Lotline, user: str) -> dict[str, Any]:
    own_accounts_only(lotline, user)
    lotline.catch_up()
    return {"users": [{"user": u.user_id, "roles": list(u.roles), "removed": u.removed} for u in lotline.views.users()]}


def securities_listing(lotline: Lotline, user: str) -> dict[str, Any]:
    own_accounts_only(lotline, user)
    lotline.catch_up()
    with lotline.reading():
        rows = lotline.views.securities()
        spans = {s.symbol: s for s in lotline.views.close_spans()}
        closes = lotline.prices.on_or_before(date.max)
    return {"securities": [
        {"symbol": s.symbol, "asset_class": s.asset_class, "wash_group": s.wash_group, "delisted": s.delisted,
         "last_close": str(closes[s.symbol][1]) if s.symbol in closes else None,
         "last_close_date": spans[s.symbol].last.isoformat() if s.symbol in spans else None}
        for s in rows]}


def models_listing(lotline: Lotline, user: str) -> dict[str, Any]:
    own_accounts_only(lotline, user)
    lotline.catch_up()
    uow = lotline.fresh()
    listed = []
    for model_id in lotline.views.entity_ids("model"):
        model = uow.find(Model, model_id)
        if model is None:
            continue
        listed.append({"model": model.model_id, "asset_class": model.asset_class, "retired": model.retired,
                       "weights": {s: str(w) for s, w in model.weights.items()}})
    return {"models": listed}


def templates_listing(lotline: Lotline, user: str) -> dict[str, Any]:
    own = own_accounts_only(lotline, user)
    lotline.catch_up()
    uow = lotline.fresh()
    accounts = lotline.views.accounts(own)
    listed = []
    for template_id in lotline.views.entity_ids("template"):
        template = uow.find(TargetTemplate, template_id)
        if template is None:
            continue
        listed.append({
            "template": template.template_id,
            "accounts": sum(1 for a in accounts if a.template == template_id and not a.closed),
            "classes": [{"asset_class": name, "weight": str(t.weight), "model": t.model,
                         "alternatives": list(t.alternatives), "max_modification": str(t.max_modification),
                         "drift_limit": str(t.drift_limit)} for name, t in template.classes.items()],
        })
    return {"templates": listed}


def cash_requests_listing(lotline: Lotline, user: str, open_only: bool) -> dict[str, Any]:
    own = own_accounts_only(lotline, user)
    lotline.catch_up()
    return {"cash_requests": [_cash_request(r) for r in lotline.views.cash_requests(open_only, own)]}


def _cash_request(r: Any) -> dict[str, Any]:
    return {"request_id": r.request_id, "account": r.account_id, "amount": _money(r.amount),
            "due_from": r.due_from.isoformat(), "by": r.due_by.isoformat() if r.due_by else None,
            "fulfilled": r.fulfilled}


def prices_listing(lotline: Lotline, user: str, symbol: str | None, since: date | None) -> dict[str, Any]:
    """Without a symbol: each symbol's closes on file (first, last, how many, the last
    close). With one: its closes, oldest first (from `since`)."""
    own_accounts_only(lotline, user)
    lotline.catch_up()
    if symbol is None:
        with lotline.reading():
            spans = lotline.views.close_spans()
            closes = lotline.prices.on_or_before(date.max)
        if since is not None:
            spans = [s for s in spans if s.last >= since]
        return {"symbols": [{"symbol": s.symbol, "first": s.first.isoformat(), "last": s.last.isoformat(),
                             "closes": s.closes, "last_close": str(closes[s.symbol][1])} for s in spans]}
    symbol = symbol.strip().upper()
    rows = lotline.views.closes(symbol, since)
    if not rows and symbol not in lotline.views.symbols():
        raise UnknownEntity(f"unknown symbol {symbol!r}", "symbol")
    return {"symbol": symbol, "closes": [{"date": d.isoformat(), "close": str(c)} for d, c in rows]}


# --- the exceptions -------------------------------------------------------------------


def exceptions_report(lotline: Lotline, user: str, on: date) -> dict[str, Any]:
    """What needs looking at on a day: accounts outside a drift limit (and by how much),
    cash requests due and not met, the day's decisions that failed, went stale or were
    left unfilled, and accounts without a fresh close for a symbol they hold or target."""
    from lotline.domain.settings import FirmSettings, effective_settings

    own = own_accounts_only(lotline, user)
    lotline.catch_up()
    uow = lotline.fresh()
    max_age = int(effective_settings(uow.find(FirmSettings, "firm"))["max_price_age_days"])
    rows = [r for r in lotline.views.accounts(own) if not r.closed and r.opened <= on]
    readable = {r.account_id for r in rows}
    with lotline.reading():
        class_of = {s.symbol: s.asset_class for s in lotline.views.securities()}
        closes = lotline.prices.on_or_before(on)
        requests = [r for r in lotline.views.cash_requests(True, own, on) if r.account_id in readable]
        decisions = [d for d in lotline.views.decisions_of_day(on) if d.account_id in readable and d.superseded_by is None]
        failures = [f for f in lotline.views.analysis_failures(on) if f.account_id in readable]
        unsettled = [o for o in lotline.views.orders(on) if o.account_id in readable
                     and o.status in ("stale", "unfilled", "proposed", "approved")]
        positions = _positions(lotline, uow, [r.account_id for r in rows], on, class_of, closes,
                               on - timedelta(days=max_age))
    drift, stale_prices, not_valued = [], [], []
    for row in rows:
        position = positions[row.account_id]
        if position.stale_closes:
            stale_prices.append({"account": row.account_id, "symbols": position.stale_closes})
        if position.problem:
            not_valued.append({"account": row.account_id, "problem": position.problem})
            continue
        for name, (d, limit) in sorted(position.drifts.items()):
            if limit is not None and abs(d) > limit:
                drift.append({"account": row.account_id, "asset_class": name, "drift": _weight(d),
                              "drift_limit": _weight(limit), "excess": _weight(abs(d) - limit)})
    decided = {d.account_id for d in decisions}
    by_decision: dict[str, list[Any]] = {}
    for order in unsettled:
        by_decision.setdefault(order.decision_id, []).append(order)
    troubled = []
    for f in failures:
        if f.account_id not in decided:
            troubled.append({"decision_id": f"{f.account_id}/{on.isoformat()}", "account": f.account_id,
                             "state": "failed", "reason": f.failure})
    for key, orders in sorted(by_decision.items()):
        state = orders[0].status
        if state in ("stale", "unfilled"):
            troubled.append({"decision_id": key, "account": orders[0].account_id, "state": state,
                             "reason": orders[0].status_reason or ""})
        else:
            troubled.append({"decision_id": key, "account": orders[0].account_id, "state": state,
                             "reason": "awaiting approval" if state == "proposed" else "approved, not filled"})
    troubled = list({t["decision_id"]: t for t in troubled}.values())  # a failure retried then recorded: once
    return {
        "date": on.isoformat(),
        "drift": drift,
        "cash_requests": [{**_cash_request(r), "overdue": r.due_by is not None and r.due_by < on} for r in requests],
        "decisions": troubled,
        "stale_prices": stale_prices,
        "not_valued": not_valued,
    }

