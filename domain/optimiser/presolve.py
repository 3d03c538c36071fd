"""Sales the optimum is known to make in full, or not at all: taken out of the solve,
checked after.

A loss lot of a security that can be bought back today is, for the relaxation, a free
harvest: selling it and buying the same dollars back leaves every weight and every
class row where they were, moves cash by twice the trading cost, and realises a loss
worth ``tax_rate * |gain ratio|`` per dollar. Where that benefit clears the round
trip's cost by a margin, the first solve of the day sells the lot in full (measured
on the benchmark accounts: every such lot, about half of all lots, was sold in full).
The wash-sale and round-trip rules then settle the conflict; this module only makes
the solve that finds it cheaper.

Conversely, a security that is being bought back keeps its costly lots: selling a lot
whose tax and the round trip's trading cost come to more than ``KEEP_MARGIN`` per
dollar while buying the same security is dominated by buying less. Only a security
cut by more than its buy-back sells them, so this applies to securities not above
their target weight (measured on about 400 benchmark-shaped accounts from 20 to 500
securities: not one such lot sold; without the target condition, small accounts'
overweight positions sometimes sell them and the check below sends those accounts to
the full solve).

Such lots become constants (sold in full, or kept), which takes two inequality rows
and a variable per lot out of the interior-point method: on the benchmark accounts,
two thirds (100 securities) to three quarters (500) of the lots of the first solve,
whose variables and cone fall to under half (each interior-point iteration costs
about in proportion). The result is exact, not a heuristic: after the reduced
solve, the optimality conditions of the *full* problem are checked at the reduced
solution extended by the settled lots. Each presold lot must have a negative reduced
cost (a positive multiplier on its upper bound) and each kept lot a positive one (on
its lower bound), by ``CHECK_MARGIN``, far above the solver's tolerances. The extended
point then satisfies the full problem's KKT conditions, so it is an optimum of the
full problem; and by complementary slackness every optimum of the full problem sells
those lots in full and keeps the others, so nothing is chosen that the full solve
would not choose. Where the check fails (cash so short that the round trip's trading
cost matters, a security cut hard, say), the caller solves the full problem instead,
as if there were no presolve.
"""

from __future__ import annotations

import numpy as np

from lotline.domain.optimiser.layout import Layout
from lotline.domain.optimiser.qp import QPSolution

# Benefit per dollar (fraction of V per fraction of V) a harvest must clear beyond the
# round trip's trading cost to be presold: 10 bp. Lots nearer the edge stay decisions.
BENEFIT_MARGIN = 1e-3
# Tax plus round-trip trading cost per dollar above which a lot of a security with
# presold lots is kept: 50 bp.
KEEP_MARGIN = 5e-3
# How far from zero a settled lot's reduced cost must be: ~1e3 times the duals'
# accuracy, far below any margin above.
CHECK_MARGIN = 1e-6


def settled_lots(layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """Free lots to sell in full and to keep (lot indices, ascending): loss lots of
    buyable securities whose harvest clears the round trip's cost by
    ``BENEFIT_MARGIN``, and the lots of those securities (where not above target)
    whose tax and round trip cost more than ``KEEP_MARGIN``. Both empty where losses
    are no benefit."""
    portfolio = layout.portfolio
    settings = portfolio.settings
    none = np.zeros(0, dtype=np.intp)
    if not (settings.taxable and settings.harvest_losses):
        return none, none
    harvest_pays, costly, not_overweight = _lot_margins(portfolio)
    sells = layout.sell_positions
    lots = layout.variable_lot[sells]
    securities = layout.variable_security[sells]
    presold = harvest_pays[lots] & layout.permissions.buyable[securities]
    if not presold.any():
        return none, none
    # Securities bought back that are not overweight: nothing calls for cutting them
    # beyond the buy-back.
    bought_back = np.zeros(portfolio.security_count, dtype=bool)
    bought_back[securities[presold]] = True
    bought_back &= not_overweight
    kept = bought_back[securities] & ~presold & costly[lots]
    return np.sort(lots[presold]), np.sort(lots[kept])


def _lot_margins(portfolio) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Once per analysis: per lot, a loss whose harvest clears the round trip by
    ``BENEFIT_MARGIN``, and tax and the round trip above ``KEEP_MARGIN``; per
    security, not above its target."""
    margins = portfolio.derived.get(_lot_margins)
    if margins is None:
        round_trip = 2.0 * portfolio.settings.trading_cost
        tax = portfolio.tax_rate * portfolio.gain_ratio
        margins = ((portfolio.gain < 0) & (-tax - round_trip > BENEFIT_MARGIN), tax + round_trip > KEEP_MARGIN,
                   portfolio.holding <= portfolio.target * portfolio.total_value)
        portfolio.derived[_lot_margins] = margins
    return margins


def extend(full, reduced, solution: QPSolution) -> QPSolution | None:
    """The reduced solve's solution as a solution of the full problem (presold lots at
    their upper bounds, kept lots at zero, with the multipliers the full KKT conditions
    give them), or None where a presold lot's reduced cost is not negative, or a kept
    lot's not positive, by ``CHECK_MARGIN``.

    ``full`` and ``reduced`` are the assembled problems (``optimiser.AssembledQP``)
    without and with the settled lots as constants."""
    fqp, rqp = full.qp, reduced.qp
    full_layout, reduced_layout = full.layout, reduced.layout
    n_full, n_reduced = fqp.size, rqp.size
    trades_full, trades_reduced = full_layout.size, reduced_layout.size
    # Where each reduced variable (trades, then the constraint slacks) sits in the full.
    variables = np.concatenate(
        [reduced_layout.positions_in(full_layout), trades_full + np.arange(n_reduced - trades_reduced)]
    )
    settled = np.ones(n_full, dtype=bool)
    settled[variables] = False
    settled_positions = settled.nonzero()[0]
    # Sold in full where the reduced layout sells the lot as a constant, else kept.
    presold_sells = reduced_layout.presold_sells
    if presold_sells is None:
        sold = np.zeros(len(settled_positions), dtype=bool)
    else:
        sold = presold_sells[full_layout.variable_lot[settled_positions]] > 0
    presold_positions = settled_positions[sold]
    kept_positions = settled_positions[~sold]

    upper_full = np.zeros(n_full)
    upper_full[fqp.upper_index] = fqp.upper
    x = np.zeros(n_full)
    x[variables] = solution.z
    x[presold_positions] = upper_full[presold_positions]

    row_duals = solution.row_duals(rqp)
    gradient = fqp.q[settled_positions] + fqp.hessian_times(x)[settled_positions]
    reduced_cost = gradient + row_duals @ fqp.rows[:, settled_positions]
    if not ((reduced_cost[sold] < -CHECK_MARGIN).all() and (reduced_cost[~sold] > CHECK_MARGIN).all()):
        return None

    # Slacks and multipliers of G x <= h in the full problem's row order: lower
    # bounds of every variable, upper bounds, then the dense rows.
    nu_full = len(fqp.upper_index)
    upper_row = np.full(n_full, -1)
    upper_row[fqp.upper_index] = np.arange(nu_full)
    rows_of_reduced = np.concatenate(
        [variables, n_full + upper_row[variables[rqp.upper_index]], n_full + nu_full + np.arange(len(rqp.rhs))]
    )
    total = n_full + nu_full + len(fqp.rhs)
    slacks = np.zeros(total)
    duals = np.zeros(total)
    slacks[rows_of_reduced] = solution.slacks
    duals[rows_of_reduced] = solution.duals
    # A presold lot: lower bound slack its whole value, upper bound tight with the
    # multiplier that balances its gradient. A kept lot: the other way round.
    slacks[presold_positions] = x[presold_positions]
    presold_upper_rows = n_full + upper_row[presold_positions]
    duals[presold_upper_rows] = -reduced_cost[sold]
    duals[kept_positions] = reduced_cost[~sold]
    slacks[n_full + upper_row[kept_positions]] = upper_full[kept_positions]
    return QPSolution(
        z=x,
        status=solution.status,
        iterations=solution.iterations,
        slacks=slacks,
        duals=duals,
    )
