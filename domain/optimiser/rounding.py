"""From the continuous solution to orders a broker accepts.

Whole shares unless the account trades fractions: sales to the nearest share and
never past the lot (a lot sold in full is sold in full, fractions included); buys
rounded down, so rounding never spends cash the solution did not plan. Then orders
under the minimum trade value go, unless mandatory, and cash is repaired: trimming
buys first (they cost no tax), then bringing back or rounding up sales only as far
as required cash needs.

The minimum trade value applies per order, and an order is one side of one security:
a sale that relieves several lots is one order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from lotline.domain.optimiser.portfolio import Portfolio

_SHARE_EPSILON = 1e-9
# Trades smaller than this fraction of account value are interior-point noise.
SOLVER_NOISE = 1e-7


@dataclass(frozen=True, eq=False)
class RoundedTrades:
    buy_shares: np.ndarray  # (n,)
    sell_shares: np.ndarray  # (m,)
    mandatory: np.ndarray  # (m,) bool: a sale the account must make
    for_cash: np.ndarray  # (m,) bool: kept or enlarged to cover required cash

    def dollars(self, portfolio: Portfolio) -> tuple[np.ndarray, np.ndarray]:
        return (
            self.buy_shares * portfolio.price,
            self.sell_shares * portfolio.price[portfolio.lot_security],
        )


def _cash_after(portfolio: Portfolio, buy_shares: np.ndarray, sell_shares: np.ndarray) -> float:
    cost = portfolio.settings.trading_cost
    buys = float((buy_shares * portfolio.price).sum())
    sells = float((sell_shares * portfolio.price[portfolio.lot_security]).sum())
    return portfolio.cash - buys * (1.0 + cost) + sells * (1.0 - cost)


def round_trades(
    portfolio: Portfolio,
    buys: np.ndarray,
    sells: np.ndarray,
    forced: np.ndarray,
    cash_target: float,
) -> RoundedTrades:
    """``buys``/``sells``: continuous dollars per security / lot; ``forced``: lots that
    must be sold in full; ``cash_target``: the cash to keep after trading (required cash,
    or what the continuous solution could reach, never below zero)."""
    settings = portfolio.settings
    fractional = settings.fractional_shares
    minimum = settings.min_trade_value
    bypass = settings.mandatory_min_trade_bypass
    cost = settings.trading_cost
    price = portfolio.price
    lot_price = price[portfolio.lot_security]
    quantity = portfolio.quantity

    wanted = sells / lot_price
    # A lot the solution sells to within solver noise of its value is sold whole,
    # fractional shares included.
    whole_lot = forced | ((sells > 0) & (sells >= portfolio.value - SOLVER_NOISE * portfolio.total_value))
    if fractional:
        sell_shares = np.minimum(wanted, quantity)
        buy_shares = np.maximum(buys / price, 0.0)
    else:
        sell_shares = np.minimum(np.floor(wanted + 0.5), np.floor(quantity + _SHARE_EPSILON))
        buy_shares = np.floor(np.maximum(buys / price, 0.0) + _SHARE_EPSILON)
    sell_shares = np.where(whole_lot, quantity, np.maximum(sell_shares, 0.0))
    mandatory = forced & (sell_shares > 0)
    for_cash = np.zeros_like(mandatory)

    # Minimum trade value, per order (one side of one security).
    buy_dollars = buy_shares * price
    buy_shares = np.where(buy_dollars < minimum, 0.0, buy_shares)
    sell_dollars = sell_shares * lot_price
    order_dollars = portfolio.per_security(sell_dollars)
    small = (order_dollars < minimum)[portfolio.lot_security] & (sell_shares > 0)
    if bypass:
        small &= ~mandatory
    dropped = small.copy()
    sell_shares = np.where(small, 0.0, sell_shares)

    shortfall = cash_target - _cash_after(portfolio, buy_shares, sell_shares)
    # Dust: a solution on the cash boundary lands a few ulps either side of it.
    tolerance = 1e-9
    if shortfall > tolerance:
        # Trim buys, largest first (ties in security order).
        for i in sorted(np.flatnonzero(buy_shares > 0), key=lambda i: (-buy_shares[i] * price[i], i)):
            per_share = price[i] * (1.0 + cost)
            # Fractions: a hair more than the shortfall, so rounding cannot undo it.
            cut = shortfall / per_share * (1.0 + 1e-9) + 1e-12 if fractional else max(
                1, math.ceil(shortfall / per_share - _SHARE_EPSILON)
            )
            cut = min(cut, buy_shares[i])
            buy_shares[i] -= cut
            if buy_shares[i] * price[i] < minimum:
                buy_shares[i] = 0.0
            shortfall = cash_target - _cash_after(portfolio, buy_shares, sell_shares)
            if shortfall <= tolerance:
                break
    if shortfall > tolerance and bypass:
        # Bring back sales dropped as too small: they are needed for cash.
        back = np.flatnonzero(dropped)
        for j in sorted(back, key=lambda j: (-sells[j], j)):
            sell_shares[j] = quantity[j] if whole_lot[j] else min(
                wanted[j] if fractional else float(np.floor(wanted[j] + 0.5)), quantity[j]
            )
            for_cash[j] = True
            shortfall = cash_target - _cash_after(portfolio, buy_shares, sell_shares)
            if shortfall <= tolerance:
                break
    if shortfall > tolerance and not fractional:
        # Round sales up a share at a time where rounding to nearest fell short.
        for j in sorted(np.flatnonzero(sell_shares > 0), key=lambda j: (-sells[j], j)):
            room = float(np.floor(quantity[j] + _SHARE_EPSILON)) - sell_shares[j]
            if room <= 0:
                continue
            extra = min(room, max(1, math.ceil(shortfall / (lot_price[j] * (1.0 - cost)) - _SHARE_EPSILON)))
            sell_shares[j] += extra
            for_cash[j] = True
            shortfall = cash_target - _cash_after(portfolio, buy_shares, sell_shares)
            if shortfall <= tolerance:
                break
    mandatory = mandatory | (for_cash & (sell_shares > 0))
    return RoundedTrades(buy_shares, sell_shares, mandatory, for_cash & (sell_shares > 0))


def sell_whole_positions(portfolio: Portfolio, rounded: RoundedTrades, sellable: np.ndarray) -> RoundedTrades:
    """A sale that would leave a position worth less than the minimum trade value sells
    it whole: the stub could never be sold on its own later without breaking the
    minimum, and it is risk away from the target. Only where every lot left may be
    sold today (``sellable``: the solve's free and forced lots), none of them is a
    short-term gain waiting to turn long term, and no lot left is a loss in a wash
    group the trades buy."""
    minimum = portfolio.settings.min_trade_value
    sell_shares = rounded.sell_shares
    if minimum <= 0 or not (sell_shares > 0).any():
        return rounded
    price = portfolio.price
    lot_security = portfolio.lot_security
    left = portfolio.quantity - sell_shares
    left_value = portfolio.per_security(left * price[lot_security])
    selling = portfolio.per_security(sell_shares) > 0
    stub = selling & (left_value > _SHARE_EPSILON) & (left_value < minimum)
    if not stub.any():
        return rounded
    bought_groups = set(portfolio.wash_group[rounded.buy_shares > 0].tolist())
    rest = left > _SHARE_EPSILON
    deferred = portfolio.defer_sale if portfolio.defer_sale is not None else np.zeros(portfolio.lot_count, dtype=bool)
    loss_in_bought_group = (portfolio.gain < 0) & np.isin(portfolio.wash_group[lot_security], list(bought_groups))
    blocked = rest & (~sellable | deferred | loss_in_bought_group)
    blocked_security = portfolio.per_security(blocked.astype(np.float64)) > 0
    whole = stub & ~blocked_security & (rounded.buy_shares <= 0)
    if not whole.any():
        return rounded
    lots = whole[lot_security]
    return RoundedTrades(
        rounded.buy_shares,
        np.where(lots, portfolio.quantity, sell_shares),
        rounded.mandatory,
        rounded.for_cash,
    )
