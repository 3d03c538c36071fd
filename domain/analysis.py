"""One account on one day: from its book, its parameters and the firm's policy to the
optimiser's problem, then from the optimiser's answer to a decision. Pure: the
application gathers the inputs; replay gathers them again from the history."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal

from lotline.domain.account import Account
from lotline.domain.book import AccountBook
from lotline.domain.decision import (
    ClassPosition,
    DecisionOutcome,
    LotRecord,
    LotRelief,
    ObjectiveRecord,
    ProposedOrder,
    lot_records,
)
from lotline.domain.errors import InvalidInput
from lotline.domain.model import Model
from lotline.domain.optimiser.inputs import ClassLimit, LotInput, OptimiserSettings, Problem, SecurityInput
from lotline.domain.parameters import RestrictionRule, TaxStatus
from lotline.domain.security import Security
from lotline.domain.targets import SecurityTargets, security_targets
from lotline.domain.tax import LONG_TERM, Acquisition, WashSaleWindow, holding_term, loss_sale_blocked
from lotline.domain.template import TargetTemplate
from lotline.domain.valuation import Valuation
from lotline.domain.values import CENT, SHARE_DECIMALS, WEIGHT, ZERO
from lotline.domain.vocabulary import Trigger

# The version of the rules a decision is made by (eligible purchases, wash groups as one
# risk, deferral, withdrawals, direction fixing, order reasons). Recorded with every
# decision, so a replay under other rules says so instead of only listing differences.
# 1: decisions recorded before the number was (they carry none). 3: a material conflict
# whose kept side ends up trading nothing is solved the other way too. 4: the interior
# point runs compiled (optimiser/kernel.py), its sums in another order: the same optimum
# to ~1e-9, so a rounded order can differ by a share where two were equally good.
ANALYSIS_RULES = 4


@dataclass(frozen=True)
class Analysis:
    """The pre-trade state of one account and the problem it poses."""

    on: date
    problem: Problem
    targets: SecurityTargets
    lots: tuple[LotRecord, ...]
    valuation: Valuation
    required_cash: Decimal
    gain_budget_remaining: Decimal | None
    triggers: tuple[Trigger, ...]
    threshold: Decimal
    fractional: bool
    warnings: tuple[str, ...] = ()

    @property
    def cash(self) -> Decimal:
        return self.valuation.cash

    @property
    def total_value(self) -> Decimal:
        return self.valuation.total

    @property
    def prices(self) -> dict[str, Decimal]:
        """The close each security held or targeted is valued at."""
        return self.valuation.closes


def analyse(
    account: Account,
    book: AccountBook,
    template: TargetTemplate,
    models: Mapping[str, Model],
    securities: Mapping[str, Security],
    settings: Mapping[str, Decimal],
    prices: Mapping[str, Decimal],
    risk: object,
    on: date,
    *,
    price_dates: Mapping[str, date],
) -> Analysis:
    """`prices`: each security's latest close on or before `on`, `price_dates` its date;
    every security held or targeted needs one no older than the firm's
    `max_price_age_days` allows."""
    params = account.parameters
    targets = security_targets(template, models, params)
    open_lots = book.open_lots()
    held = {lot.symbol for lot in open_lots}
    max_age = int(settings.get("max_price_age_days", ZERO))
    check_prices_fresh(sorted(held | set(targets.weights)), prices, price_dates, on, max_age)
    # Securities of the classes' alternative models may be bought too (a harvest keeps
    # its class invested through another wash group); one without a fresh close, or
    # unknown to the risk model, is simply not offered today.
    known_to_risk = set(getattr(risk, "symbols", ()))
    alternatives = {
        s for s in eligible_purchases(template, models, params) - held - set(targets.weights)
        if s in securities and not securities[s].delisted and s in known_to_risk and s in prices
        and _fresh(price_dates.get(s), on, max_age)
    }
    symbols = sorted(held | set(targets.weights) | alternatives)
    class_of = {s: securities[s].asset_class for s in symbols}
    # Lot by lot, as recorded decisions were valued.
    valuation = Valuation.of(
        book.cash, ((lot.symbol, lot.quantity) for lot in open_lots), prices, class_of, targets.class_weights,
        {name: t.drift_limit for name, t in template.classes.items()}, also=sorted(set(targets.weights) | alternatives),
    )
    cash, total, values = valuation.cash, valuation.total, valuation.market_values
    # Every security the account's history mentions, not only those held or targeted:
    # the wash-sale bookkeeping also looks at what was bought and sold again.
    wash_groups = {s: security.wash_group for s, security in securities.items()}

    def group_of(symbol: str) -> str:
        return wash_groups.get(symbol, symbol)

    do_not_buy = params.restricted(RestrictionRule.DO_NOT_BUY)
    do_not_hold = params.restricted(RestrictionRule.DO_NOT_HOLD)
    do_not_sell = params.restricted(RestrictionRule.DO_NOT_SELL)
    window = WashSaleWindow.around(on)
    # A loss realised in the window (from a bought or a transferred lot alike): buying
    # its wash group now would make it a wash sale.
    loss_groups = {
        group_of(r.symbol) for r in book.realizations()
        if r.date in window and r.date <= on and r.proceeds < r.cost_basis
    }
    acquired = [a for a in acquisitions(account, group_of) if a.acquired in window]
    # loss_sale_blocked's question for every lot, its acquisitions found by wash group.
    acquired_in: dict[str, list[Acquisition]] = {}
    for a in acquired:
        acquired_in.setdefault(a.wash_group, []).append(a)

    taxable = account.tax_status == TaxStatus.TAXABLE
    tax = params.tax
    wait = timedelta(days=int(settings.get("ltcg_wait_days", ZERO)))

    # Lots share few holding-period starts: each one's term today is worked out once.
    terms: dict[date, str] = {}

    def term_today(lot) -> str:
        start = lot.holding_period_start
        term = terms.get(start)
        if term is None:
            term = terms[start] = holding_term(start, on)
        return term

    def defer_sale(lot) -> bool:
        """A short-term gain that turns long term within the firm's wait."""
        return (
            taxable and wait.days > 0 and lot.quantity * prices[lot.symbol] > lot.cost_basis
            and term_today(lot) != LONG_TERM
            and holding_term(lot.holding_period_start, on + wait) == LONG_TERM
        )

    def blocked(lot) -> bool:
        group = group_of(lot.symbol)
        return group in acquired_in and loss_sale_blocked(lot.lot_id, group, on, acquired_in[group])

    security_inputs = tuple(
        SecurityInput(
            symbol=s,
            asset_class=class_of[s],
            wash_group=group_of(s),
            price=float(prices[s]),
            target_weight=float(targets.weights.get(s, ZERO)),
            can_buy=s not in do_not_buy and s not in do_not_hold and group_of(s) not in loss_groups,
            must_exit=s in do_not_hold,
            class_below_target=valuation.below_target(class_of[s]),
        )
        for s in symbols
    )
    long_rate, short_rate = float(tax.long_term_rate), float(tax.short_term_rate)
    lot_inputs = tuple(
        LotInput(
            lot_id=lot.lot_id,
            symbol=lot.symbol,
            quantity=float(lot.quantity),
            cost_basis=float(lot.cost_basis),
            tax_rate=long_rate if term_today(lot) == LONG_TERM else short_rate,
            can_sell=lot.symbol not in do_not_sell,
            loss_sale_blocked=blocked(lot),
            defer_sale=defer_sale(lot),
        )
        for lot in open_lots
    )
    requests = sum((r.amount for r in account.due_cash_requests(on)), ZERO)
    required = (params.cash.reserve * total).quantize(CENT) + requests
    limits = valuation.drift_limits
    budget_left = None
    if tax.annual_gain_budget is not None and taxable:
        realized = sum((r.gain for r in book.realizations(on.year) if r.date <= on), ZERO)
        budget_left = max(ZERO, tax.annual_gain_budget - realized)

    triggers = []
    if requests and cash < required:
        triggers.append(Trigger.CASH_REQUEST)
    if any(values[s] > 0 for s in do_not_hold if s in values):
        triggers.append(Trigger.RESTRICTION)
    breached = valuation.breached()
    if breached:
        triggers.append(Trigger.DRIFT_LIMIT)
    # Trading back only to the edge of a breached limit would breach it again with the
    # next day's prices: a breach is traded back inside a band within the limit.
    band = settings["drift_band"] if Trigger.DRIFT_LIMIT in triggers else Decimal(1)
    class_limits = tuple(
        ClassLimit(asset_class=c, target_weight=float(targets.class_weights.get(c, ZERO)),
                   drift_limit=float(limits[c] * band), beyond_limit=c in breached)
        for c in sorted(limits)
    )

    optimiser_settings = OptimiserSettings(
        risk_aversion=float(settings["risk_aversion"]),
        trading_cost_bp=float(settings["trading_cost_bp"]),
        min_trade_value=float(
            params.trading.min_trade_value if params.trading.min_trade_value is not None else settings["min_trade_value"]
        ),
        fractional_shares=params.trading.fractional_shares,
        harvest_losses=tax.harvest_losses,
        taxable=taxable,
    )
    problem = Problem(
        securities=security_inputs,
        lots=lot_inputs,
        cash=float(cash),
        required_cash=float(required),
        class_limits=class_limits,
        gain_budget_remaining=None if budget_left is None else float(budget_left),
        risk=risk,
        settings=optimiser_settings,
        withdrawal=float(requests),
    )
    short = risk.short_history(symbols) if hasattr(risk, "short_history") else ()
    warnings = ()
    if short:
        warnings = (
            f"The price history of {', '.join(short)} is shorter than the risk model's {risk.lookback}-day look-back: "
            "it treats each wash group as one security and gives a security without enough history a fallback "
            "variance.",
        )
    return Analysis(
        on=on,
        problem=problem,
        targets=targets,
        lots=lot_records(open_lots),
        valuation=valuation,
        required_cash=required,
        gain_budget_remaining=budget_left,
        triggers=tuple(triggers),
        threshold=(settings["trade_threshold_bp"] * total / Decimal(10_000)).quantize(CENT),
        fractional=params.trading.fractional_shares,
        warnings=warnings,
    )


def eligible_purchases(template: TargetTemplate, models: Mapping[str, Model], parameters) -> set[str]:
    """Every security the account may buy in its classes: those of each class's chosen
    model and of the template's other models for the class (its recommendation and its
    alternatives), after the account's substitutions, less restricted ones."""
    unbuyable = parameters.restricted(RestrictionRule.DO_NOT_BUY) | parameters.restricted(RestrictionRule.DO_NOT_HOLD)
    out: set[str] = set()
    for name, target in template.classes.items():
        chosen = parameters.model_choices.get(name, target.model)
        for model_id in ([chosen] if chosen else []) + list(target.model_choices()):
            model = models.get(model_id)
            if model is None or model.retired:
                continue
            out |= {parameters.substitutions.get(s, s) for s in model.weights}
    return out - unbuyable


def _fresh(day: date | None, on: date, max_age_days: int) -> bool:
    return day is not None and on - timedelta(days=max_age_days) <= day <= on


def check_prices_fresh(
    symbols: Sequence[str], prices: Mapping[str, Decimal], price_dates: Mapping[str, date], on: date, max_age_days: int,
) -> None:
    """A decision on `on` values the account at closes of `on`, or at most `max_age_days`
    calendar days older; refused otherwise, naming each symbol and its last close."""
    oldest = on - timedelta(days=max_age_days)
    stale = []
    for symbol in symbols:
        day = price_dates.get(symbol) if symbol in prices else None
        if day is None or not oldest <= day <= on:
            stale.append(f"{symbol} ({'last ' + day.isoformat() if day else 'none'})")
    if stale:
        since = f" or the {max_age_days} day{'s' if max_age_days != 1 else ''} before" if max_age_days else ""
        raise InvalidInput(f"no close on {on.isoformat()}{since} for {', '.join(stale)}", "prices")


def acquisitions(account: Account, group_of: Callable[[str], str]) -> list[Acquisition]:
    """Every acquisition the account's history records: buys (recorded or executed) by
    their trade date, transferred lots by their original acquisition date (whenever
    they arrived)."""
    out = []
    for event in account.ledger_events:
        if isinstance(event, (Account.TradeRecorded, Account.TradeExecuted)) and event.side == "buy":
            out.append(Acquisition(event.lot_id, group_of(event.symbol), event.date))
        elif isinstance(event, Account.LotsTransferredIn):
            out += [Acquisition(lot.lot_id, group_of(lot.symbol), lot.acquired) for lot in event.lots]
    return out


def conclude(analysis: Analysis, result: object, decision_id: str) -> DecisionOutcome:
    """Turns the optimiser's answer into the decision: orders quantised at the boundary,
    each with the reason the optimiser named, and whether to trade."""
    prices = analysis.prices
    orders: list[ProposedOrder] = []
    number = 0
    for buy in result.buys:  # type: ignore[attr-defined]
        number += 1
        quantity = _shares(buy.shares, analysis.fractional)
        if quantity <= 0:
            continue
        orders.append(ProposedOrder(
            order_id=f"{decision_id}/{number}", side="buy", symbol=buy.symbol, quantity=quantity,
            price=prices[buy.symbol], value=(quantity * prices[buy.symbol]).quantize(CENT), reason=buy.reason,
        ))
    by_symbol: dict[str, list] = {}
    for sell in result.sells:  # type: ignore[attr-defined]
        by_symbol.setdefault(sell.symbol, []).append(sell)
    held = {lot.lot_id: lot.quantity for lot in analysis.lots}
    for symbol in sorted(by_symbol):
        sells = by_symbol[symbol]
        reliefs = tuple(
            LotRelief(lot_id=s.lot_id, quantity=_sold(s.shares, held[s.lot_id], analysis.fractional)) for s in sells
        )
        reliefs = tuple(r for r in reliefs if r.quantity > 0)
        if not reliefs:
            continue
        number += 1
        quantity = sum((r.quantity for r in reliefs), ZERO)
        (reason,) = {s.reason for s in sells}  # one order: its lots share the reason
        orders.append(ProposedOrder(
            order_id=f"{decision_id}/{number}", side="sell", symbol=symbol, quantity=quantity, price=prices[symbol],
            value=(quantity * prices[symbol]).quantize(CENT), reason=reason,
            mandatory=any(s.mandatory for s in sells),
            realised_gain=_money(sum(s.gain for s in sells)), lots=reliefs,
        ))
    benefit = _money(result.benefit)  # type: ignore[attr-defined]
    reasons = list(analysis.triggers)
    if benefit > analysis.threshold:
        reasons.append(Trigger.NET_BENEFIT)
    trade = bool(reasons) and bool(orders)
    if not trade:
        reasons = [Trigger.NO_TRADE, Trigger.NO_ORDERS_AFTER_ROUNDING if reasons else Trigger.BENEFIT_BELOW_THRESHOLD]
    notes = list(analysis.targets.notes) + [f"softened {s}" for s in result.softened]  # type: ignore[attr-defined]
    notes += [f"resolved {r}" for r in result.resolved]  # type: ignore[attr-defined]
    valuation = analysis.valuation
    return DecisionOutcome(
        trade=trade,
        reasons=tuple(reasons),
        benefit=benefit,
        threshold=analysis.threshold,
        before=_terms(result.objective_before),  # type: ignore[attr-defined]
        after=_terms(result.objective_after),  # type: ignore[attr-defined]
        classes=tuple(
            ClassPosition(asset_class=c, weight=valuation.class_weights.get(c, ZERO).quantize(WEIGHT),
                          target_weight=valuation.target_weights.get(c, ZERO).quantize(WEIGHT),
                          drift_limit=valuation.drift_limits.get(c))
            for c in sorted(set(valuation.class_weights) | set(valuation.target_weights))
        ),
        orders=tuple(orders),
        notes=tuple(notes),
        solves=result.solves,  # type: ignore[attr-defined]
        warnings=analysis.warnings,
    )


def _sold(value: float, lot_quantity: Decimal, fractional: bool) -> Decimal:
    """Shares sold from a lot: the whole lot, fractions included, when the optimiser
    sells all of it (a whole-share account exits a fractional position completely),
    else whole shares (or fractions), never more than the lot holds."""
    if value >= float(lot_quantity) - 1e-9:
        return lot_quantity
    return min(_shares(value, fractional), lot_quantity)


def _shares(value: float, fractional: bool) -> Decimal:
    if fractional:
        return Decimal(repr(value)).quantize(SHARE_DECIMALS, rounding=ROUND_DOWN)
    return Decimal(int(round(value)))


def _money(value: float) -> Decimal:
    return Decimal(repr(float(value))).quantize(CENT)


def _terms(terms: object) -> ObjectiveRecord:
    return ObjectiveRecord(
        tracking=_money(terms.tracking), tax=_money(terms.tax), cost=_money(terms.cost), total=_money(terms.total),  # type: ignore[attr-defined]
    )
