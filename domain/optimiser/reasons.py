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
    n = portfolio.security_count
    class_names, class_of = portfolio.class_index
    class_pressure_of = np.zeros(len(class_names), dtype=np.int8)
    for asset_class, side in pressure.items():
        if asset_class in class_names:
            class_pressure_of[class_names[asset_class]] = side
    security_pressure = class_pressure_of[class_of]
    must_go = np.zeros(n, dtype=bool)
    must_go[sold_securities[forced[sold]]] = True
    cash_sold = np.zeros(n, dtype=bool)
    cash_sold[sold_securities[for_cash[sold]]] = True
    # The sale's gain summed as the decision records it: lot by lot, in lot order
    # (bincount adds each bin's weights in order, as the record does).
    gains = np.bincount(sold_securities, weights=gain[sold], minlength=n)
    # Each security's sale reason, the first that holds (np.select takes the first).
    sale_code = _first_holding(
        [must_go, cash_sold, security_pressure == 1, (gains < 0) & losses_pay, portfolio.target == 0],
        5 if raises_needed_cash else 6 if cash_pressure == -1 and raised > spent else 7,
    )
    sale_reasons = (R.RESTRICTION, R.CASH_REQUEST, R.DRIFT_LIMIT, R.HARVEST, R.TRANSITION, R.CASH_REQUEST,
                    R.DRIFT_LIMIT, R.REBALANCE)
    lot_codes = sale_code[sold_securities]

    # Classes whose sales harvest, or transition (a purchase in them replaces it).
    harvests = np.zeros(len(class_names), dtype=bool)
    harvests[class_of[sold_securities[lot_codes == 3]]] = True
    transitions = np.zeros(len(class_names), dtype=bool)
    transitions[class_of[sold_securities[lot_codes == 4]]] = True
    # Dollars each class takes in net: a purchase in a class its sales shrink is a swap
    # within the class, not cash put to work. Summed in order, buys then sales, as a
    # running total per class.
    flow = np.bincount(
        np.concatenate([class_of[bought], class_of[sold_securities]]),
        weights=np.concatenate([buy_dollars[bought], -sell_dollars[sold]]),
        minlength=len(class_names),
    )
    bought_class = class_of[bought]
    takes_cash = flow[bought_class] > 0
    buy_code = _first_holding(
        [class_pressure_of[bought_class] == -1, harvests[bought_class], transitions[bought_class],
         takes_cash & (cash_pressure == 1 and spent > raised), takes_cash & invests_cash],
        5,
    )
    buy_reasons = (R.DRIFT_LIMIT, R.HARVEST, R.TRANSITION, R.DRIFT_LIMIT, R.FUND_PURCHASE, R.REBALANCE)
    return list(map(buy_reasons.__getitem__, buy_code.tolist())), list(map(sale_reasons.__getitem__, lot_codes.tolist()))


def _first_holding(conditions: list[np.ndarray], otherwise: int) -> np.ndarray:
    """Per element, the index of the first condition that holds, else ``otherwise``
    (np.select's answer, at a fraction of its cost on short arrays)."""
    code = np.full(len(conditions[0]), otherwise, dtype=np.intp)
    for k in range(len(conditions) - 1, -1, -1):
        code[conditions[k]] = k
    return code
