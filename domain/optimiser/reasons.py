"""Why each order: the one place an order's reason is decided (`OrderReason` holds the
plain words).

A purchase restores its asset class (`drift`) when the class weighs less than its
target before trading; otherwise it follows the model (`model_change`).

A sale is one order per security, however many lots it relieves, and its reason is the
first that holds:

1. `restriction`: a do-not-hold position goes (some lot is sold because it must be);
2. `harvest`: where losses pay (a taxable account that harvests them), some lot is sold
   at a loss other than to raise cash, or the sale as a whole realises a loss;
3. `model_change`: the security is no longer in the target;
4. `cash`: the account needs cash (it holds less than the required cash), or some lot
   is sold, or sold further, to raise it;
5. `drift` otherwise.
"""

from __future__ import annotations

import numpy as np

from lotline.domain.optimiser.inputs import SecurityInput
from lotline.domain.optimiser.portfolio import Portfolio
from lotline.domain.vocabulary import OrderReason


def purchase_reason(security: SecurityInput) -> OrderReason:
    return OrderReason.DRIFT if security.class_below_target else OrderReason.MODEL_CHANGE


def sale_reasons(
    portfolio: Portfolio, sold: np.ndarray, forced: np.ndarray, for_cash: np.ndarray, gain: np.ndarray,
) -> list[OrderReason]:
    """The reason of each sold lot's sale (the lots of one security share it).

    `sold`: the lots sold (indices, ascending); `forced`: lots that must be sold
    (do-not-hold); `for_cash`: lots kept or enlarged to cover required cash; `gain`:
    the gain each lot's sale realises (negative: a loss), all per lot of the portfolio."""
    settings = portfolio.settings
    losses_pay = settings.taxable and settings.harvest_losses
    needs_cash = float(portfolio.problem.required_cash) > portfolio.cash
    securities = portfolio.lot_security[sold].tolist()
    must_go: dict[int, bool] = {}
    loss_sold: dict[int, bool] = {}
    cash_sold: dict[int, bool] = {}
    gains: dict[int, list[float]] = {}
    for i, must, cash, lot_gain in zip(securities, forced[sold].tolist(), for_cash[sold].tolist(),
                                       gain[sold].tolist()):
        for_the_cash = (cash or needs_cash) and not must
        must_go[i] = must_go.get(i, False) or must
        loss_sold[i] = loss_sold.get(i, False) or (losses_pay and lot_gain < 0 and not for_the_cash and not must)
        cash_sold[i] = cash_sold.get(i, False) or for_the_cash
        gains.setdefault(i, []).append(lot_gain)
    reason: dict[int, OrderReason] = {}
    for i in must_go:
        if must_go[i]:
            reason[i] = OrderReason.RESTRICTION
        # The sale's gain summed as the decision records it: lot by lot, in lot order.
        elif loss_sold[i] or (losses_pay and sum(gains[i]) < 0):
            reason[i] = OrderReason.HARVEST
        elif portfolio.target[i] == 0:
            reason[i] = OrderReason.MODEL_CHANGE
        elif cash_sold[i]:
            reason[i] = OrderReason.CASH
        else:
            reason[i] = OrderReason.DRIFT
    return [reason[i] for i in securities]
