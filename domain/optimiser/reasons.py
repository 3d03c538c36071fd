"""Why each order: the one place an order's reason is decided (`OrderReason` holds the
plain words, `lotline explain` the sentences).

An order is one side of one security; a sale's lots share its reason. Every code is
decided from numbers the decision records (class weights, targets and limits before
trading, each order's value and realised gain, cash and required cash), so `explain`
can show why each order holds its code.

A sale's reason is the first that holds:

1. `restriction`: a do-not-hold position goes (some lot is sold because it must be);
2. `cash_request`: some lot is kept or enlarged to cover required cash (the reserve
   plus due cash requests) when orders are rounded;
3. `drift_limit`: the security's class is beyond its drift limit and over its target
   before trading (the sale brings it back);
4. `harvest`: the sale as a whole realises a loss, in a taxable account that harvests
   losses (a sale realising a gain is never a harvest);
5. `transition`: the security is not in the account's target (left the model, or a
   legacy position that never was);
6. `cash_request`: the account holds less cash than it requires and the decision's
   sales bring in more than its buys spend;
7. `drift_limit`: cash is beyond its drift limit and under its target, and the
   decision's sales bring in more than its buys spend (the sale raises it);
8. `rebalance` otherwise: a move toward the target the net benefit pays for.

A purchase's reason is the first that holds:

1. `drift_limit`: its class is beyond its drift limit and under its target before
   trading;
2. `harvest`: the decision makes a harvest sale in the same class (the purchase
   replaces it);
3. `transition`: the decision makes a transition sale in the same class;
4. `drift_limit`: cash is beyond its drift limit and over its target, the decision's
   buys spend more than its sales bring in, and so does the purchase's class (the
   purchase invests the cash);
5. `fund_purchase`: the account holds more cash than it requires, the decision's buys
   spend at least the minimum trade value more than its sales bring in, and the
   purchase's class takes in more than it sells (the purchase invests that cash);
6. `rebalance` otherwise (a swap within a class its sales shrink, for one).

A class's own breach comes before a harvest or a transition (the limit is mandatory);
the account's want of cash, and cash's own breach, after them: any sale raises cash
and any purchase spends it, so they name only the orders nothing else explains.
"""

from __future__ import annotations

import numpy as np

from lotline.domain.optimiser.inputs import CASH_CLASS
from lotline.domain.optimiser.portfolio import Portfolio
from lotline.domain.vocabulary import OrderReason

R = OrderReason


def class_pressure(portfolio: Portfolio) -> dict[str, int]:
    """Each class beyond its drift limit before trading: +1 over its target, -1 under it
    (classes within their limit are absent)."""
    value = portfolio.total_value
    out: dict[str, int] = {}
    for limit in portfolio.problem.class_limits:
        if not limit.beyond_limit or value <= 0:
            continue
        current = float(portfolio.holding[portfolio.class_members(limit.asset_class)].sum())
        if limit.asset_class == CASH_CLASS:
            current += portfolio.cash
        weight = current / value
        out[limit.asset_class] = 1 if weight > limit.target_weight else -1
    return out


def order_reasons(
    portfolio: Portfolio,
    bought: np.ndarray,
    buy_dollars: np.ndarray,
    sold: np.ndarray,
    sell_dollars: np.ndarray,
    forced: np.ndarray,
    for_cash: np.ndarray,
    gain: np.ndarray,
) -> tuple[list[OrderReason], list[OrderReason]]:
    """The reason of each purchase (`bought`: security indices) and of each sold lot's
    sale (`sold`: lot indices, ascending; the lots of one security share it).

    `buy_dollars` per security, `sell_dollars` per lot; `forced`: lots that must be
    sold (do-not-hold); `for_cash`: lots kept or enlarged to cover required cash;
    `gain`: the gain each lot's sale realises (negative: a loss), all per lot."""
    settings = portfolio.settings
    losses_pay = settings.taxable and settings.harvest_losses
    pressure = class_pressure(portfolio)
    cash_pressure = pressure.get(CASH_CLASS, 0)
    spent = float(buy_dollars[bought].sum()) if len(bought) else 0.0
    raised = float(sell_dollars[sold].sum()) if len(sold) else 0.0
    required = float(portfolio.problem.required_cash)
    raises_needed_cash = portfolio.cash < required and raised > spent
    invests_cash = portfolio.cash > required and spent - raised >= max(settings.min_trade_value, 0.01)

    sold_securities = portfolio.lot_security[sold]
    securities = sold_securities.tolist()
    n = portfolio.security_count
    must_go = np.zeros(n, dtype=bool)
    must_go[sold_securities[forced[sold]]] = True
    cash_sold = np.zeros(n, dtype=bool)
    cash_sold[sold_securities[for_cash[sold]]] = True
    must_go, cash_sold = must_go.tolist(), cash_sold.tolist()
    # The sale's gain summed as the decision records it: lot by lot, in lot order
    # (bincount adds each bin's weights in order, as the record does).
    gains = np.bincount(sold_securities, weights=gain[sold], minlength=n).tolist()
    sale: dict[int, OrderReason] = {}
    for i in dict.fromkeys(securities):
        asset_class = portfolio.asset_classes[i]
        if must_go[i]:
            sale[i] = R.RESTRICTION
        elif cash_sold[i]:
            sale[i] = R.CASH_REQUEST
        elif pressure.get(asset_class) == 1:
            sale[i] = R.DRIFT_LIMIT
        elif losses_pay and gains[i] < 0:
            sale[i] = R.HARVEST
        elif portfolio.target[i] == 0:
            sale[i] = R.TRANSITION
        elif raises_needed_cash:
            sale[i] = R.CASH_REQUEST
        elif cash_pressure == -1 and raised > spent:
            sale[i] = R.DRIFT_LIMIT
        else:
            sale[i] = R.REBALANCE

    replaced = {(portfolio.asset_classes[i], reason) for i, reason in sale.items()}
    # Dollars each class takes in net: a purchase in a class its sales shrink is a swap
    # within the class, not cash put to work.
    flow: dict[str, float] = {}
    classes = portfolio.asset_classes
    for i, dollars in zip(bought.tolist(), buy_dollars[bought].tolist()):
        flow[classes[i]] = flow.get(classes[i], 0.0) + dollars
    for i, dollars in zip(securities, sell_dollars[sold].tolist()):
        flow[classes[i]] = flow.get(classes[i], 0.0) - dollars
    purchases = []
    for i in bought.tolist():
        asset_class = portfolio.asset_classes[i]
        takes_cash = flow[asset_class] > 0
        if pressure.get(asset_class) == -1:
            purchases.append(R.DRIFT_LIMIT)
        elif (asset_class, R.HARVEST) in replaced:
            purchases.append(R.HARVEST)
        elif (asset_class, R.TRANSITION) in replaced:
            purchases.append(R.TRANSITION)
        elif cash_pressure == 1 and spent > raised and takes_cash:
            purchases.append(R.DRIFT_LIMIT)
        elif invests_cash and takes_cash:
            purchases.append(R.FUND_PURCHASE)
        else:
            purchases.append(R.REBALANCE)
    return purchases, [sale[i] for i in securities]
