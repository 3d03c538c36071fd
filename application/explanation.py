"""`lotline explain`: a recorded decision told in plain words.

Every number a sentence states comes from the decision itself (its inputs and
outcome) and from the securities, template and models at the versions it recorded:
each class's drift before trading (recorded) and after (the recorded weight moved by
the orders' values), each lot's gain or loss (the order's price against the lot's
recorded basis) and the tax it realises at the account's rates. One function per kind
of sentence; money reads `$1,234.56`, a drift `+3.12%`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from lotline.domain.decision import ClassPosition, Decision, LotRecord, ProposedOrder
from lotline.domain.ledger import pro_rata
from lotline.domain.model import Model
from lotline.domain.parameters import RestrictionRule, TaxStatus
from lotline.domain.security import Security
from lotline.domain.targets import security_targets
from lotline.domain.tax import LONG_TERM, holding_term
from lotline.domain.template import TargetTemplate
from lotline.domain.values import CENT, WEIGHT, ZERO
from lotline.domain.vocabulary import INSTRUCTIONS, REASON_WORDS, TRIGGER_WORDS, OrderReason, Trigger

if TYPE_CHECKING:
    from lotline.application.lotline import Lotline

CASH = "cash"
R = OrderReason


# --- formats ----------------------------------------------------------------------------

def money(amount: Decimal) -> str:
    amount = Decimal(amount).quantize(CENT)
    return f"{'-' if amount < 0 else ''}${abs(amount):,.2f}"


def signed_percent(fraction: Decimal) -> str:
    return f"{Decimal(fraction) * 100:+.2f}%"


def percent(fraction: Decimal) -> str:
    return f"{Decimal(fraction) * 100:.2f}%"


# --- the decision's numbers -------------------------------------------------------------

@dataclass(frozen=True)
class ClassDrift:
    """One asset class before and after the decision's orders (weights of account value)."""

    asset_class: str
    weight: Decimal
    target: Decimal
    limit: Decimal | None
    weight_after: Decimal

    @property
    def drift(self) -> Decimal:
        return self.weight - self.target

    @property
    def drift_after(self) -> Decimal:
        return self.weight_after - self.target

    @property
    def beyond_limit(self) -> bool:
        return self.limit is not None and abs(self.drift) > self.limit


@dataclass(frozen=True)
class LotSale:
    """The shares one sale relieves from one lot, and what they realise."""

    lot_id: str
    quantity: Decimal
    cost_basis: Decimal  # of the shares sold
    proceeds: Decimal
    gain: Decimal  # negative: a loss
    term: str  # short | long
    rate: Decimal | None  # None: the account pays no tax on it
    tax: Decimal  # gain x rate: negative is tax saved


@dataclass(frozen=True)
class DecisionFacts:
    event: Decision.DecisionRecorded
    class_of: Mapping[str, str]  # symbol -> asset class
    target_weights: Mapping[str, Decimal]  # symbol -> target weight of account value
    classes: Mapping[str, ClassDrift]
    lot_sales: Mapping[str, tuple[LotSale, ...]]  # order id -> its lots
    taxable: bool

    @property
    def orders(self) -> tuple[ProposedOrder, ...]:
        return self.event.outcome.orders

    @property
    def traded(self) -> bool:
        return self.event.outcome.trade

    def class_of_order(self, order: ProposedOrder) -> str | None:
        return self.class_of.get(order.symbol)

    def spent(self) -> Decimal:
        return sum((o.value for o in self.orders if o.side == "buy"), ZERO)

    def raised(self) -> Decimal:
        return sum((o.value for o in self.orders if o.side == "sell"), ZERO)

    def security_weights(self, order: ProposedOrder) -> tuple[Decimal, Decimal, Decimal]:
        """The order's security: its weight of account value before trading, after this
        order, and in the target."""
        inputs = self.event.inputs
        price = inputs.prices.get(order.symbol, order.price)
        held = sum((lot.quantity for lot in inputs.lots if lot.symbol == order.symbol), ZERO) * price
        after = held + (order.value if order.side == "buy" else -order.value)
        value = inputs.total_value
        target = self.target_weights.get(order.symbol, ZERO)
        if value <= 0:
            return ZERO, ZERO, target
        return (held / value).quantize(WEIGHT), (after / value).quantize(WEIGHT), target

    def cash_after(self) -> Decimal:
        """Cash once the orders are filled at the decision's prices (a fill charges no
        trading cost: the objective's cost term is an estimate of spread and fees)."""
        return self.event.inputs.cash + self.raised() - self.spent()


def decision_facts(event: Decision.DecisionRecorded, class_of: Mapping[str, str],
                   target_weights: Mapping[str, Decimal]) -> DecisionFacts:
    inputs, outcome = event.inputs, event.outcome
    taxable = inputs.tax_status == TaxStatus.TAXABLE
    lots = {lot.lot_id: lot for lot in inputs.lots}
    lot_sales = {o.order_id: _lot_sales(o, lots, event.date, inputs, taxable) for o in outcome.orders
                 if o.side == "sell"}
    facts = DecisionFacts(event, class_of, target_weights, {}, lot_sales, taxable)
    return DecisionFacts(event, class_of, target_weights, class_drifts(facts, outcome.classes), lot_sales, taxable)


def _lot_sales(order: ProposedOrder, lots: Mapping[str, LotRecord], on: dt.date, inputs: Any,
               taxable: bool) -> tuple[LotSale, ...]:
    """The order's lots as the ledger relieves them: its value split across them share
    by share in order, each lot's basis pro rata (``domain.ledger.pro_rata``)."""
    out = []
    proceeds_left, shares_left = order.value, order.quantity
    rates = inputs.parameters.tax
    for relief in order.lots:
        lot = lots.get(relief.lot_id)
        if lot is None:
            continue
        proceeds = pro_rata(proceeds_left, relief.quantity, shares_left)
        proceeds_left -= proceeds
        shares_left -= relief.quantity
        basis = pro_rata(lot.cost_basis, relief.quantity, lot.quantity)
        gain = proceeds - basis
        term = holding_term(lot.holding_period_start, on)
        rate = (rates.long_term_rate if term == LONG_TERM else rates.short_term_rate) if taxable else None
        out.append(LotSale(lot.lot_id, relief.quantity, basis, proceeds, gain, term, rate,
                           (gain * rate).quantize(CENT) if rate is not None else ZERO))
    return tuple(out)


def class_drifts(facts: DecisionFacts, classes: tuple[ClassPosition, ...]) -> dict[str, ClassDrift]:
    """Each class's weight once the orders are filled at the decision's prices: its
    recorded weight moved by the orders' values (cash by the sales less the buys), of
    the same account value."""
    value = facts.event.inputs.total_value
    moved: dict[str, Decimal] = {}
    for order in facts.orders:
        signed = order.value if order.side == "buy" else -order.value
        asset_class = facts.class_of_order(order)
        if asset_class is not None:
            moved[asset_class] = moved.get(asset_class, ZERO) + signed
        moved[CASH] = moved.get(CASH, ZERO) - signed
    out = {}
    for c in classes:
        held = c.weight * value + moved.get(c.asset_class, ZERO)
        weight_after = (held / value).quantize(WEIGHT) if value > 0 else ZERO
        out[c.asset_class] = ClassDrift(c.asset_class, c.weight, c.target_weight, c.drift_limit, weight_after)
    return out


# --- decision sentences -----------------------------------------------------------------

def headline_sentence(facts: DecisionFacts) -> str:
    outcome = facts.event.outcome
    count = len(outcome.orders)
    if outcome.trade:
        return f"The decision trades: {count} order{'s' if count != 1 else ''} proposed."
    if count:
        plural = "s" if count != 1 else ""
        return f"The decision does not trade; it records the {count} order{plural} it would have proposed."
    return "The decision does not trade and considered no orders."


def cash_request_trigger_sentence(facts: DecisionFacts) -> str:
    inputs = facts.event.inputs
    return (f"A cash request is due: the account holds {money(inputs.cash)} of cash and requires "
            f"{money(inputs.required_cash)} (its reserve and due cash requests).")


def restriction_trigger_sentence(facts: DecisionFacts) -> str:
    held = {lot.symbol for lot in facts.event.inputs.lots}
    banned = sorted(facts.event.inputs.parameters.restricted(RestrictionRule.DO_NOT_HOLD) & held)
    return f"The account holds {', '.join(banned) or 'a security'}, which its restrictions say it must not hold."


def drift_limit_trigger_sentence(drift: ClassDrift) -> str:
    return (f"{drift.asset_class} is beyond its drift limit: drift {signed_percent(drift.drift)} before trading "
            f"against a limit of {percent(drift.limit or ZERO)}; the limit is mandatory.")


def net_benefit_trigger_sentence(facts: DecisionFacts) -> str:
    outcome = facts.event.outcome
    return (f"The net benefit of the trades, {money(outcome.benefit)}, exceeds the threshold of "
            f"{money(outcome.threshold)}.")


def no_trade_sentence(facts: DecisionFacts, why: str) -> str:
    outcome = facts.event.outcome
    if why == Trigger.BENEFIT_BELOW_THRESHOLD:
        return (f"Nothing demands a trade, and the net benefit, {money(outcome.benefit)}, does not exceed the "
                f"threshold of {money(outcome.threshold)}.")
    if why == Trigger.NO_ORDERS_AFTER_ROUNDING:
        return "After rounding to whole shares and dropping orders under the minimum trade value, no order is left."
    return TRIGGER_WORDS.get(why, why).capitalize() + "."


def trigger_sentences(facts: DecisionFacts) -> list[str]:
    reasons = facts.event.outcome.reasons
    out: list[str] = []
    for trigger in reasons:
        if trigger == Trigger.CASH_REQUEST:
            out.append(cash_request_trigger_sentence(facts))
        elif trigger == Trigger.RESTRICTION:
            out.append(restriction_trigger_sentence(facts))
        elif trigger == Trigger.DRIFT_LIMIT:
            out += [drift_limit_trigger_sentence(d) for d in facts.classes.values() if d.beyond_limit]
        elif trigger == Trigger.NET_BENEFIT:
            out.append(net_benefit_trigger_sentence(facts))
        elif trigger != Trigger.NO_TRADE:
            out.append(no_trade_sentence(facts, trigger))
    return out


def objective_sentence(facts: DecisionFacts) -> str:
    outcome = facts.event.outcome
    b, a = outcome.before, outcome.after
    return (f"The objective is {money(b.total)} before trading (tracking {money(b.tracking)}, tax {money(b.tax)}, "
            f"cost {money(b.cost)}) and {money(a.total)} after (tracking {money(a.tracking)}, tax {money(a.tax)}, "
            f"cost {money(a.cost)}): a net benefit of {money(outcome.benefit)}.")


def mandatory_cost_sentence(facts: DecisionFacts) -> str | None:
    """Why trades that raise the objective are made: an instruction demands them."""
    outcome = facts.event.outcome
    demanded = [t for t in outcome.reasons if t in INSTRUCTIONS]
    if outcome.benefit >= 0 or not demanded or not outcome.orders:
        return None
    why = {Trigger.CASH_REQUEST: "the cash request must be met", Trigger.RESTRICTION: "the restriction must be obeyed",
           Trigger.DRIFT_LIMIT: "a drift limit is mandatory"}
    return (f"The trades raise the objective by {money(-outcome.benefit)}: they are made anyway because "
            f"{' and '.join(why[t] for t in demanded)}.")


def class_sentence(drift: ClassDrift, traded: bool) -> str:
    limit = f", drift limit {percent(drift.limit)}" if drift.limit is not None else ""
    after = "after" if traded else "after the orders it would have made"
    return (f"{drift.asset_class}: drift {signed_percent(drift.drift)} before trading and "
            f"{signed_percent(drift.drift_after)} {after} (target {percent(drift.target)}{limit}).")


# --- order sentences --------------------------------------------------------------------

def order_headline(order: ProposedOrder) -> str:
    return f"{order.side.capitalize()} {order.quantity} {order.symbol} at {money(order.price)} ({money(order.value)})."


def class_of_order_sentence(facts: DecisionFacts, order: ProposedOrder) -> str | None:
    drift = facts.classes.get(facts.class_of_order(order) or "")
    if drift is None:
        return None
    return (f"{order.symbol} is in {drift.asset_class}: drift {signed_percent(drift.drift)} before trading and "
            f"{signed_percent(drift.drift_after)} after.")


def drift_limit_order_sentence(facts: DecisionFacts, order: ProposedOrder) -> str:
    drift = facts.classes.get(facts.class_of_order(order) or "")
    cash = facts.classes.get(CASH)
    selling = order.side == "sell"
    trade = "sale" if selling else "purchase"
    benefit = facts.event.outcome.benefit
    anyway = (f", so the {trade} is made although the trades raise the objective by {money(-benefit)}"
              if benefit < 0 else "")
    if drift is not None and drift.beyond_limit and selling == (drift.drift > 0):
        return (f"{drift.asset_class} is beyond its drift limit of {percent(drift.limit or ZERO)} "
                f"(drift {signed_percent(drift.drift)}); the limit is mandatory{anyway}.")
    if cash is not None and cash.beyond_limit and selling == (cash.drift < 0):
        flow = "sales bring in more than its buys spend" if selling else "buys spend more than its sales bring in"
        return (f"Cash is beyond its drift limit of {percent(cash.limit or ZERO)} (drift {signed_percent(cash.drift)}) "
                f"and the decision's {flow}; the limit is mandatory{anyway}.")
    beyond = [d.asset_class for d in facts.classes.values() if d.beyond_limit]
    return (f"The decision brings {', '.join(beyond) or 'a class'} back within its drift limit, which is mandatory; "
            f"this {trade} is part of that trade list{anyway}.")


def cash_request_order_sentence(facts: DecisionFacts, order: ProposedOrder) -> str:
    inputs = facts.event.inputs
    return (f"The sale raises cash: the account holds {money(inputs.cash)} and requires {money(inputs.required_cash)} "
            f"(its reserve and due cash requests); the decision's sales bring in {money(facts.raised())} and its "
            f"buys spend {money(facts.spent())}.")


def restriction_order_sentence(facts: DecisionFacts, order: ProposedOrder) -> str:
    return f"The client's restrictions say {order.symbol} must not be held: the position is sold."


def harvest_order_sentence(facts: DecisionFacts, order: ProposedOrder) -> str:
    if order.side == "sell":
        saved = -sum((lot.tax for lot in facts.lot_sales.get(order.order_id, ())), ZERO)
        return (f"The sale harvests a loss of {money(-order.realised_gain)}, which lowers the client's tax by "
                f"{money(saved)}.")
    sold = _sales_in_class(facts, order, R.HARVEST)
    return (f"The purchase replaces {', '.join(sold) or 'a security'}, sold at a loss to harvest it, in the same "
            f"class: the class keeps its exposure while the loss lowers the client's tax.")


def transition_order_sentence(facts: DecisionFacts, order: ProposedOrder) -> str:
    target = facts.target_weights.get(order.symbol, ZERO)
    if order.side == "sell":
        if target == 0:
            return (f"{order.symbol} is not in the account's target (it left the model, or it is a legacy position): "
                    f"the account moves out of it.")
        return f"The account moves toward its target, in which {order.symbol} weighs {percent(target)}."
    sold = _sales_in_class(facts, order, R.TRANSITION)
    if sold:
        return (f"The purchase replaces {', '.join(sold)}, which {'is' if len(sold) == 1 else 'are'} not in the "
                f"target, within the same class; {order.symbol}'s target weight is {percent(target)}.")
    return f"The purchase follows the target, in which {order.symbol} weighs {percent(target)}."


def fund_purchase_order_sentence(facts: DecisionFacts, order: ProposedOrder) -> str:
    inputs = facts.event.inputs
    return (f"The purchase invests cash: the account holds {money(inputs.cash)}, "
            f"{money(inputs.cash - inputs.required_cash)} more than it requires, and the decision's buys spend "
            f"{money(facts.spent() - facts.raised())} more than its sales bring in.")


def rebalance_order_sentence(facts: DecisionFacts, order: ProposedOrder) -> str:
    before, after, target = facts.security_weights(order)
    drift = facts.classes.get(facts.class_of_order(order) or "")
    outcome = facts.event.outcome
    if not outcome.trade:
        pays = (f"the trade list's net benefit, {money(outcome.benefit)}, is what the decision weighed against its "
                f"threshold of {money(outcome.threshold)}")
    elif outcome.benefit > 0:
        pays = f"the decision's net benefit, {money(outcome.benefit)}, pays for the trade list"
    else:
        pays = (f"it belongs to the trade list the decision's mandatory triggers demand (net benefit "
                f"{money(outcome.benefit)})")
    if abs(after - target) < abs(before - target):
        return (f"The order moves {order.symbol} toward its target weight of {percent(target)} ({percent(before)} "
                f"before trading, {percent(after)} after); {pays}.")
    if drift is not None and abs(drift.drift_after) < abs(drift.drift):
        return f"The order moves {drift.asset_class} toward its target; {pays}."
    return (f"The order is part of the trade list as a whole, weighed on tracking risk, tax and cost together: "
            f"{pays}; "
            f"{order.symbol} weighs {percent(before)} before trading and {percent(after)} after, against a target "
            f"of {percent(target)}.")


REASON_SENTENCES: dict[str, Callable[[DecisionFacts, ProposedOrder], str]] = {
    R.DRIFT_LIMIT: drift_limit_order_sentence,
    R.CASH_REQUEST: cash_request_order_sentence,
    R.RESTRICTION: restriction_order_sentence,
    R.HARVEST: harvest_order_sentence,
    R.TRANSITION: transition_order_sentence,
    R.FUND_PURCHASE: fund_purchase_order_sentence,
    R.REBALANCE: rebalance_order_sentence,
}


def lot_sentence(lot: LotSale, tax_status: str) -> str:
    size = (f"Lot {lot.lot_id}: {lot.quantity} shares, cost basis {money(lot.cost_basis)}, "
            f"proceeds {money(lot.proceeds)}")
    if lot.gain == 0:
        return f"{size}: neither gain nor loss."
    kind = "gain" if lot.gain > 0 else "loss"
    realised = f"{size}: a {lot.term}-term {kind} of {money(abs(lot.gain))}"
    if lot.rate is None:
        return f"{realised}, no tax in a {tax_status.replace('_', '-')} account."
    if lot.gain > 0:
        return f"{realised}, taxed at {percent(lot.rate)}: {money(lot.tax)} of tax."
    return f"{realised}, which at {percent(lot.rate)} saves {money(-lot.tax)} of tax."


def sale_total_sentence(facts: DecisionFacts, order: ProposedOrder) -> str:
    tax = sum((lot.tax for lot in facts.lot_sales.get(order.order_id, ())), ZERO)
    gain = order.realised_gain
    kind = "gain" if gain >= 0 else "loss"
    if not facts.taxable:
        return f"In all the sale realises a {kind} of {money(abs(gain))}, untaxed in this account."
    return (f"In all the sale realises a {kind} of {money(abs(gain))}: "
            f"{money(tax) + ' of tax' if tax >= 0 else money(-tax) + ' of tax saved'}.")


def order_sentences(facts: DecisionFacts, order: ProposedOrder) -> list[str]:
    why = REASON_SENTENCES.get(order.reason)
    out = [why(facts, order) if why else REASON_WORDS.get(order.reason, order.reason).capitalize() + "."]
    in_class = class_of_order_sentence(facts, order)
    if in_class:
        out.append(in_class)
    if order.side == "sell":
        out += [lot_sentence(lot, facts.event.inputs.tax_status) for lot in facts.lot_sales.get(order.order_id, ())]
        out.append(sale_total_sentence(facts, order))
    return out


def _sales_in_class(facts: DecisionFacts, order: ProposedOrder, reason: str) -> list[str]:
    asset_class = facts.class_of_order(order)
    return [o.symbol for o in facts.orders
            if o.side == "sell" and o.reason == reason and facts.class_of_order(o) == asset_class]


# --- notes: the optimiser's codes in words ------------------------------------------------

def gain_budget_note(facts: DecisionFacts) -> str:
    left = facts.event.inputs.gain_budget_remaining or ZERO
    net = sum((o.realised_gain for o in facts.orders if o.side == "sell"), ZERO)
    if net > left:
        return (f"The annual gain budget could not be kept: {money(left)} was left of it and the orders realise a "
                f"net gain of {money(net)}, so it was relaxed by {money(net - left)}.")
    return (f"The annual gain budget ({money(left)} left) could not be kept in the first solve and was relaxed; "
            f"the orders realise a net gain of {money(net)}.")


def required_cash_note(facts: DecisionFacts) -> str:
    return (f"The cash the account requires, {money(facts.event.inputs.required_cash)}, could not be raised in full: "
            f"cash after the trades is {money(facts.cash_after())}.")


def drift_limit_note(facts: DecisionFacts, asset_class: str) -> str:
    drift = facts.classes.get(asset_class)
    if drift is None or drift.limit is None:
        return f"{asset_class} could not be kept within its drift limit."
    if abs(drift.drift_after) > drift.limit:
        return (f"{asset_class} could not be brought within its drift limit of {percent(drift.limit)}: drift after "
                f"the trades is {signed_percent(drift.drift_after)}.")
    return (f"{asset_class} could not be brought within the tighter band inside its drift limit of "
            f"{percent(drift.limit)}; drift after the trades is {signed_percent(drift.drift_after)}.")


def must_exit_note(symbol: str) -> str:
    return f"{symbol} must not be held, but some of its lots may not be sold: the position could not be sold in full."


def round_trip_note(symbol: str, kept: str) -> str:
    if kept == "sales_kept":
        return f"{symbol} was both bought and sold in the first solve; the sale was kept and the purchase dropped."
    if kept == "neither_kept":
        return f"{symbol} was both bought and sold in the first solve; neither the purchase nor the sale was kept."
    return f"{symbol} was both bought and sold in the first solve; the purchase was kept and the sale dropped."


def wash_sale_note(group: str, kept: str) -> str:
    if kept == "sales_kept":
        return (f"Wash group {group} was both bought and sold at a loss in the first solve; the loss sale was kept "
                f"and the purchase dropped, so the loss is not washed.")
    if kept == "neither_kept":
        return (f"Wash group {group} was both bought and sold at a loss in the first solve; neither the purchase nor "
                f"the loss sale was kept, so no loss is washed.")
    return (f"Wash group {group} was both bought and sold at a loss in the first solve; the purchase was kept and "
            f"the loss sale dropped, so no loss is washed.")


def note_sentence(facts: DecisionFacts, note: str) -> str:
    kind, _, what = note.partition(" ")
    name, _, rest = what.partition(":")
    if kind == "softened":
        if name == "gain_budget":
            return gain_budget_note(facts)
        if name == "required_cash":
            return required_cash_note(facts)
        if name == "drift_limit" and rest:
            return drift_limit_note(facts, rest)
        if name == "must_exit" and rest:
            return must_exit_note(rest)
        return f"The constraint {what} could not be met and was relaxed."
    if kind == "resolved":
        key, _, kept = rest.rpartition(":")
        if name == "round_trip" and key:
            return round_trip_note(key, kept)
        if name == "wash_sale" and key:
            return wash_sale_note(key, kept)
    return note[:1].upper() + note[1:] + ("" if note.endswith(".") else ".")


# --- the explanation ---------------------------------------------------------------------

def explanation(facts: DecisionFacts) -> dict[str, Any]:
    """The decision's sentences, and its numbers beside them."""
    event = facts.event
    outcome, inputs = event.outcome, event.inputs
    sentences = [headline_sentence(facts), *trigger_sentences(facts), objective_sentence(facts)]
    mandatory = mandatory_cost_sentence(facts)
    if mandatory:
        sentences.append(mandatory)
    sentences += [class_sentence(d, outcome.trade) for d in facts.classes.values()]
    notes = [note_sentence(facts, n) for n in outcome.notes]
    warnings = [str(w) for w in getattr(outcome, "warnings", ())]
    orders = [_order_document(facts, o) for o in outcome.orders]
    return {
        "sentences": sentences,
        "asset_classes": [
            {**_class_position(event, d.asset_class), "drift": str(d.drift), "weight_after": str(d.weight_after),
             "drift_after": str(d.drift_after), "beyond_limit": d.beyond_limit}
            for d in facts.classes.values()
        ],
        "orders_proposed" if outcome.trade else "orders_considered": orders,
        "notes": notes,
        "note_codes": list(outcome.notes),
        "warnings": warnings,
        "cash_after": str(facts.cash_after()),
        "tax_status": inputs.tax_status,
    }


def _class_position(event: Decision.DecisionRecorded, asset_class: str) -> dict[str, Any]:
    for c in event.outcome.classes:
        if c.asset_class == asset_class:
            return c.model_dump(mode="json")
    return {"asset_class": asset_class}


def _order_document(facts: DecisionFacts, order: ProposedOrder) -> dict[str, Any]:
    sentences = order_sentences(facts, order)
    lots = facts.lot_sales.get(order.order_id, ())
    return {
        "order_id": order.order_id, "side": order.side, "symbol": order.symbol, "quantity": str(order.quantity),
        "price": str(order.price), "value": str(order.value), "reason": order.reason,
        "why": sentences[0], "explanation": [order_headline(order), *sentences],
        "mandatory": order.mandatory, "asset_class": facts.class_of_order(order),
        **({"realised_gain": str(order.realised_gain)} if order.side == "sell" else {}),
        "lots": [
            {"lot_id": lot.lot_id, "quantity": str(lot.quantity), "cost_basis": str(lot.cost_basis),
             "proceeds": str(lot.proceeds), "gain": str(lot.gain), "term": lot.term,
             "tax_rate": None if lot.rate is None else str(lot.rate), "tax": str(lot.tax)}
            for lot in lots
        ] if order.side == "sell" else [],
    }


def explain(lotline: Lotline, decision_id: str, user: str) -> dict[str, Any]:
    """`lotline explain`: why the decision traded or did not, in words and numbers."""
    from lotline.application.replay import recorded_decision

    event = recorded_decision(lotline, decision_id, user)
    inputs = event.inputs
    repository = lotline.store.repository
    securities = {s: repository.get(Security.id_for(s), version=v) for s, v in inputs.security_versions.items()}
    template = repository.get(TargetTemplate.id_for(inputs.template_id), version=inputs.template_version)
    models = {m: repository.get(Model.id_for(m), version=v) for m, v in inputs.model_versions.items()}
    return explanation_document(decision_id, event, securities, template, models)


def explanation_document(decision_id: str, event: Decision.DecisionRecorded, securities: Mapping[str, Security],
                         template: TargetTemplate, models: Mapping[str, Model]) -> dict[str, Any]:
    """The explanation of a recorded decision, from the securities, template and models
    as they stood when it was made (the versions its inputs name)."""
    outcome, inputs = event.outcome, event.inputs
    targets = security_targets(template, models, inputs.parameters)
    class_of = {**targets.class_of, **{s: security.asset_class for s, security in securities.items()}}
    facts = decision_facts(event, class_of, targets.weights)
    told = explanation(facts)
    return {
        "decision_id": decision_id,
        "account": event.account_id,
        "date": event.date.isoformat(),
        "recorded_at": event.timestamp.isoformat(),
        "actor": event.actor,
        "role": event.role,
        "trade": outcome.trade,
        "reasons": list(outcome.reasons),
        "triggers": [{"trigger": r, "meaning": TRIGGER_WORDS.get(r, r)} for r in outcome.reasons],
        "benefit": str(outcome.benefit),
        "threshold": str(outcome.threshold),
        "objective_before": outcome.before.model_dump(mode="json"),
        "objective_after": outcome.after.model_dump(mode="json"),
        "total_value": str(inputs.total_value),
        "cash": str(inputs.cash),
        "required_cash": str(inputs.required_cash),
        **told,
        "inputs": {
            "account_version": inputs.account_version, "template": inputs.template_id,
            "template_version": inputs.template_version, "model_versions": inputs.model_versions,
            "market_digest": inputs.market_digest, "risk_digest": inputs.risk_digest,
            "libraries": inputs.libraries,
        },
    }
