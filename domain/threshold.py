"""The action-driven rebalancer a backtest compares the holistic analysis with
(`lotline backtest --strategy threshold`): it trades an asset class back to its target
only when the class leaves its drift limit, sells lots first-in first-out, and on the
first trading day of each month harvests every lot whose loss exceeds 5% of its basis,
moving the proceeds to a security of the same class in another wash group (else to cash).

It keeps the rules every decision keeps: no buy of a restricted security nor of a wash
group with a loss realised in the last 30 days, no loss sale of a lot whose group was
bought in the last 30 days, do-not-sell lots untouched, do-not-hold positions sold, cash
after trades covering the reserve and due cash requests, whole shares unless fractional,
orders under the minimum trade value dropped unless mandatory.

Pure: its plan has the shape of the optimiser's answer, so `domain.analysis.conclude`
turns it into a decision like any other."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date

from lotline.domain.vocabulary import OrderReason

HARVEST_LOSS = 0.05  # a lot is harvested when its loss exceeds this fraction of its basis
URGENCY = (OrderReason.RESTRICTION, OrderReason.CASH_REQUEST, OrderReason.HARVEST, OrderReason.DRIFT_LIMIT)


@dataclass(frozen=True)
class Holding:
    """A security the account holds or targets."""

    symbol: str
    asset_class: str
    wash_group: str
    price: float
    target_weight: float  # share of the account's value the target gives it
    can_buy: bool = True  # not restricted, its wash group not blocked by a recent loss
    must_exit: bool = False  # do-not-hold


@dataclass(frozen=True)
class Lot:
    lot_id: str
    symbol: str
    quantity: float
    cost_basis: float  # total
    acquired: date
    can_sell: bool = True  # not do-not-sell
    loss_sale_blocked: bool = False  # its wash group was bought in the last 30 days
    tax_rate: float = 0.0  # the rate its gain or loss would be taxed at today (0: not taxable)


@dataclass(frozen=True)
class ClassBand:
    asset_class: str
    target_weight: float
    drift_limit: float


@dataclass(frozen=True)
class Account:
    """One account on one day, as the threshold rebalancer sees it."""

    holdings: Sequence[Holding]
    lots: Sequence[Lot]
    cash: float
    required_cash: float  # reserve plus due cash requests
    bands: Sequence[ClassBand]
    min_trade_value: float = 0.0
    fractional: bool = False
    harvest: bool = True  # a taxable account that harvests losses


@dataclass(frozen=True)
class Buy:
    symbol: str
    shares: float
    reason: OrderReason
    mandatory: bool = False


@dataclass(frozen=True)
class Sell:
    symbol: str
    lot_id: str
    shares: float
    reason: OrderReason
    mandatory: bool = False
    gain: float = 0.0


@dataclass(frozen=True)
class Terms:
    tracking: float = 0.0
    tax: float = 0.0
    cost: float = 0.0
    total: float = 0.0


@dataclass
class Plan:
    """The rebalancer's trades, shaped as the optimiser's result (`conclude` reads it)."""

    buys: list[Buy] = field(default_factory=list)
    sells: list[Sell] = field(default_factory=list)
    benefit: float = 0.0  # tax saved by the harvested losses
    band_exits: tuple[str, ...] = ()  # classes that left their drift limit
    harvested: tuple[str, ...] = ()  # lots harvested
    objective_before: Terms = field(default_factory=Terms)
    objective_after: Terms = field(default_factory=Terms)
    softened: tuple[str, ...] = ()
    resolved: tuple[str, ...] = ()
    solves: int = 0


def plan(account: Account, harvest_day: bool) -> Plan:
    """The day's trades: harvests (on a harvest day), then each class outside its band
    back to target, then cash for the reserve and requests; rounded and filtered."""
    by_symbol = {h.symbol: h for h in account.holdings}
    lots = sorted(account.lots, key=lambda lot: (lot.acquired, lot.lot_id))
    left = {lot.lot_id: lot.quantity for lot in lots}
    cash = account.cash
    value = cash + sum(lot.quantity * by_symbol[lot.symbol].price for lot in lots)
    result = Plan()
    if value <= 0:
        return result
    sold_groups: set[str] = set()  # groups with a loss sold today: not bought today
    bought_groups: set[str] = set()
    buys: dict[str, float] = {}  # symbol -> dollars
    sells: list[Sell] = []

    def sell(lot: Lot, shares: float, reason: OrderReason, mandatory: bool) -> float:
        nonlocal cash
        price = by_symbol[lot.symbol].price
        basis = lot.cost_basis * shares / lot.quantity
        gain = shares * price - basis
        if gain < 0:
            sold_groups.add(by_symbol[lot.symbol].wash_group)
        left[lot.lot_id] -= shares
        cash += shares * price
        sells.append(Sell(lot.symbol, lot.lot_id, shares, reason, mandatory, gain))
        return shares * price

    def sellable(lot: Lot) -> bool:
        if not lot.can_sell or left[lot.lot_id] <= 0:
            return False
        holding = by_symbol[lot.symbol]
        at_loss = lot.quantity * holding.price < lot.cost_basis
        # A loss sale of a group bought in the window, or today, would be a wash sale.
        return not (at_loss and (lot.loss_sale_blocked or holding.wash_group in bought_groups))

    # Restrictions: do-not-hold positions go, whatever they realise.
    for lot in lots:
        if by_symbol[lot.symbol].must_exit and lot.can_sell and left[lot.lot_id] > 0:
            sell(lot, left[lot.lot_id], OrderReason.RESTRICTION, True)

    # Harvest: whole lots whose loss exceeds 5% of basis, into the class's other groups.
    harvested: list[str] = []
    saved = 0.0
    if harvest_day and account.harvest:
        for lot in lots:
            holding = by_symbol[lot.symbol]
            if not sellable(lot) or holding.must_exit:
                continue
            loss = lot.cost_basis - lot.quantity * holding.price  # a lot not sold yet today: whole
            if lot.cost_basis > 0 and loss > HARVEST_LOSS * lot.cost_basis:
                proceeds = sell(lot, left[lot.lot_id], OrderReason.HARVEST, False)
                harvested.append(lot.lot_id)
                saved += loss * lot.tax_rate
                into = _replacement(holding, account.holdings, sold_groups)
                if into is not None:
                    buys[into.symbol] = buys.get(into.symbol, 0.0) + proceeds
                    bought_groups.add(into.wash_group)

    # Band exits: a class outside its drift limit goes back to its target.
    def class_value(asset_class: str) -> float:
        held = sum(left[lot.lot_id] * by_symbol[lot.symbol].price for lot in lots
                   if by_symbol[lot.symbol].asset_class == asset_class)
        return held + sum(d for s, d in buys.items() if by_symbol[s].asset_class == asset_class)

    exits = []
    for band in sorted(account.bands, key=lambda b: b.asset_class):
        if band.asset_class == "cash":
            continue
        current = class_value(band.asset_class)
        target = band.target_weight * value
        if abs(current / value - band.target_weight) <= band.drift_limit + 1e-12:
            continue
        exits.append(band.asset_class)
        if current > target:
            _sell_fifo(lots, by_symbol, band.asset_class, current - target, sellable, left, sell,
                       OrderReason.DRIFT_LIMIT)
        else:
            members = [h for h in account.holdings if h.asset_class == band.asset_class and h.target_weight > 0
                       and h.can_buy and not h.must_exit and h.wash_group not in sold_groups]
            weight = sum(h.target_weight for h in members)
            for h in members:
                buys[h.symbol] = buys.get(h.symbol, 0.0) + (target - current) * h.target_weight / weight
                bought_groups.add(h.wash_group)

    # Cash: the reserve and due requests come first; the most overweight class pays.
    spend = sum(buys.values())
    if cash - spend < account.required_cash:
        short = account.required_cash - (cash - spend)
        if spend >= short:
            _scale(buys, (spend - short) / spend)
        else:
            _scale(buys, 0.0)
            short -= spend
            for band in sorted(account.bands, key=lambda b: b.target_weight * value - class_value(b.asset_class)):
                if short <= 0 or band.asset_class == "cash":
                    continue
                short -= _sell_fifo(lots, by_symbol, band.asset_class, short, sellable, left, sell,
                                    OrderReason.CASH_REQUEST, mandatory=True)

    result.sells = _rounded_sells(sells, by_symbol, account)
    cash_after = account.cash + sum(s.shares * by_symbol[s.symbol].price for s in result.sells)
    result.buys = _rounded_buys(buys, by_symbol, account, cash_after - account.required_cash, exits)
    result.benefit = saved
    result.band_exits = tuple(exits)
    result.harvested = tuple(h for h in harvested if any(s.lot_id == h for s in result.sells))
    return result


def _replacement(sold: Holding, holdings: Sequence[Holding], blocked_groups: set[str]) -> Holding | None:
    """The security of the same class, in another wash group, the target weighs most."""
    options = [h for h in holdings if h.asset_class == sold.asset_class and h.wash_group != sold.wash_group
               and h.can_buy and not h.must_exit and h.wash_group not in blocked_groups]
    if not options:
        return None
    return max(options, key=lambda h: (h.target_weight, h.symbol))


def _sell_fifo(lots: Sequence[Lot], by_symbol: dict[str, Holding], asset_class: str, dollars: float, sellable,
               left: dict[str, float], sell, reason: OrderReason, mandatory: bool = False) -> float:
    """Sells `dollars` of the class, oldest lots first; returns what it raised."""
    raised = 0.0
    for lot in lots:
        if raised >= dollars:
            break
        holding = by_symbol[lot.symbol]
        if holding.asset_class != asset_class or not sellable(lot):
            continue
        shares = min(left[lot.lot_id], (dollars - raised) / holding.price)
        raised += sell(lot, shares, reason, mandatory)
    return raised


def _scale(buys: dict[str, float], factor: float) -> None:
    for symbol in buys:
        buys[symbol] *= factor


def _shares(value: float, fractional: bool, up: bool = False) -> float:
    if fractional:
        return math.floor(value * 1e6) / 1e6
    return float(math.ceil(value - 1e-9) if up else math.floor(value + 1e-9))


def _rounded_sells(sells: list[Sell], by_symbol: dict[str, Holding], account: Account) -> list[Sell]:
    """Whole shares (a lot sold whole stays whole; a mandatory sale rounds up so it
    raises enough), orders under the minimum dropped unless mandatory."""
    out = []
    lot_quantity = {lot.lot_id: lot.quantity for lot in account.lots}
    # One order per symbol carries one reason: the most pressing of its lots'.
    reason_of: dict[str, OrderReason] = {}
    for s in sells:
        if s.symbol not in reason_of or URGENCY.index(s.reason) < URGENCY.index(reason_of[s.symbol]):
            reason_of[s.symbol] = s.reason
    mandatory_of = {s.symbol for s in sells if s.mandatory}
    for s in sells:
        whole = s.shares >= lot_quantity[s.lot_id] - 1e-9
        shares = lot_quantity[s.lot_id] if whole else min(_shares(s.shares, account.fractional, s.mandatory),
                                                           lot_quantity[s.lot_id])
        price = by_symbol[s.symbol].price
        if shares <= 0 or (shares * price < account.min_trade_value and not s.mandatory):
            continue
        out.append(Sell(s.symbol, s.lot_id, shares, reason_of[s.symbol], s.symbol in mandatory_of,
                        s.gain * shares / s.shares))
    return out


def _rounded_buys(buys: dict[str, float], by_symbol: dict[str, Holding], account: Account, spendable: float,
                  exits: list[str]) -> list[Buy]:
    """Whole shares within the cash there is, orders under the minimum dropped."""
    wanted = {s: d for s, d in buys.items() if d > 0}
    total = sum(wanted.values())
    if total <= 0 or spendable <= 0:
        return []
    factor = min(1.0, spendable / total)
    out = []
    for symbol in sorted(wanted):
        price = by_symbol[symbol].price
        shares = _shares(wanted[symbol] * factor / price, account.fractional)
        if shares <= 0 or shares * price < account.min_trade_value:
            continue
        reason = OrderReason.DRIFT_LIMIT if by_symbol[symbol].asset_class in exits else OrderReason.HARVEST
        out.append(Buy(symbol, shares, reason))
    return out
