"""One account, one day: the tax-aware rebalancing analysis.

1. Sum the objective terms (tracking risk, tax, trading cost) and the linear
   constraints (cash, class drift, gain budget) into one structured QP over the free
   trades, and solve it. Loss lots whose harvest plainly pays are solved as sold in
   full, costly lots of the securities bought back as kept, and both are checked
   against the full problem afterwards (``presolve``): the same optimum from a
   problem less than half the size, or the full solve where the check fails.
2. Where the solution buys and loss-sells in one wash group, or buys and sells one
   security, keep the side carrying more dollars (the round trip netted out, see
   ``constraints``), shut the other, fix the direction the solution chose everywhere
   else it traded, and solve again, warm-started (Moehle et al., 2021). Fixing every
   traded direction, not only the conflicts, keeps the analysis at two solves. Where
   the side kept leaves a constraint breached (say, buys of the group shut while the
   class is under its limit and the harvest no longer pays), or trades nothing on
   a conflict that was material (its sale and its buying beyond the round trip each
   at least the minimum trade in the first solve; say, a harvest not worth making
   without its buy-back, the purchase lost with it), the other side of those
   conflicts is solved too and the better objective, breaches priced, is kept: a
   third solve, only then. The notes say which side the orders finally keep.
3. Round to orders, drop the small ones, repair cash; name each order's reason
   (``reasons``); score before and after with ``evaluate_objective`` on the orders
   themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

import numpy as np

from lotline.domain.optimiser.constraints import AffineRows, NoRoundTrip, WashSaleRule, linear_constraints
from lotline.domain.optimiser.inputs import CASH_CLASS, Problem
from lotline.domain.optimiser.layout import Directions, Layout
from lotline.domain.optimiser.portfolio import Portfolio
from lotline.domain.optimiser.presolve import extend, settled_lots
from lotline.domain.optimiser.reasons import order_reasons
from lotline.domain.optimiser.qp import StructuredQP, solve_structured
from lotline.domain.optimiser.results import (
    BuyOrder,
    ContinuousSolution,
    ObjectiveTerms,
    OptimisationResult,
    SellOrder,
)
from lotline.domain.optimiser.rounding import SOLVER_NOISE, round_trades, sell_whole_positions
from lotline.domain.optimiser.terms import objective_terms, solver_terms

# A breach below this (fraction of account value) is solver noise, not softening.
_BREACH_TOLERANCE = 1e-8


@dataclass(frozen=True, eq=False)
class AssembledQP:
    qp: StructuredQP
    layout: Layout
    rows: AffineRows
    constant: float  # objective terms of the trades that are not decisions

    @property
    def trade_count(self) -> int:
        return self.layout.size

    def breaches(self, z: np.ndarray) -> np.ndarray:
        """Breach of each linear constraint row, fraction of V (slack / penalty)."""
        return np.maximum(z[self.trade_count :], 0.0) / self.rows.penalty


def assemble(layout: Layout, terms, rows: AffineRows) -> AssembledQP:
    """Sum the terms and constraint rows onto the layout's variables.

    Variables: the free trades (fractions of V), then one slack per constraint row,
    scaled so its objective coefficient is 1 and a breach of t costs penalty * t."""
    portfolio = layout.portfolio
    value = portfolio.total_value
    n_trades = layout.size
    r = len(rows.names)
    linear = np.zeros(n_trades)
    constant = 0.0
    segments = len(layout.segment_starts)
    alpha = np.zeros(segments)
    loadings = []
    for term in terms:
        part = term.qp_part(layout)
        linear += part.linear
        constant += part.constant
        if part.alpha is not None:
            alpha += part.alpha
        if part.loadings is not None:
            loadings.append(part.loadings)
    rhs = -(rows.constant + rows.sell @ layout.constant_sells) / value
    if r:
        rows_matrix = np.zeros((r, n_trades + r))
        rows_matrix[:, :n_trades] = layout.gather_joined(rows.per_trade)
        rows_matrix[:, n_trades:] = rows.slack_columns
    else:
        rows_matrix = np.zeros((0, n_trades))
    upper_index, upper = layout.upper_bounds()
    qp = StructuredQP(
        q=np.concatenate([linear, np.ones(r)]),
        signs=layout.signs,
        segment_starts=layout.segment_starts,
        segment_alpha=alpha,
        segment_loadings=np.concatenate(loadings, axis=1) if loadings else np.zeros((segments, 0)),
        upper_index=upper_index,
        upper=upper,
        rows=rows_matrix,
        rhs=rhs,
    )
    return AssembledQP(qp, layout, rows, constant)


def restrict(assembled: AssembledQP, layout: Layout) -> AssembledQP:
    """``assemble`` for a layout with fewer free trades than ``assembled``'s, no other
    constants (directions shut since): the same coefficients, sliced. A shut
    direction trades nothing, so nothing the remaining variables see changes."""
    old = assembled.layout
    qp = assembled.qp
    trades = old.size
    keep = np.concatenate([layout.positions_in(old), trades + np.arange(qp.size - trades)])
    # Each new segment is a wash group the old layout had a segment for.
    old_segment = np.full(len(old.portfolio.wash_groups), -1, dtype=np.intp)
    old_segment[old.segment_group] = np.arange(len(old.segment_group))
    segments = old_segment[layout.segment_group]
    upper_index, upper = layout.upper_bounds()
    restricted = StructuredQP(
        q=qp.q[keep],
        signs=layout.signs,
        segment_starts=layout.segment_starts,
        segment_alpha=qp.segment_alpha[segments],
        segment_loadings=np.ascontiguousarray(qp.segment_loadings[segments]),
        upper_index=upper_index,
        upper=upper,
        rows=np.ascontiguousarray(qp.rows[:, keep]),
        rhs=qp.rhs,
    )
    return AssembledQP(restricted, layout, assembled.rows, assembled.constant)


# A warm start moves the previous solution this far into the interior: close enough
# to save about half the iterations, far enough from the boundary for the
# interior-point method to move. The scale is a typical trade, 1/N of account value
# (measured best from 20 to 2,400 variables), never under 0.1%.
_WARM_FLOOR = 1e-3


# cvxopt's own starting point puts the duals near 1; in this problem's units (fractions
# of account value) marginal costs are near 0.1 and a slack of a few tenths of a
# percent of value is small but not tight. Starting there, 30% into each lot, saves
# about a quarter of the iterations of a cold solve (measured on the benchmark
# accounts, three sets of seeds: duals 0.2 and slacks 0.3% beat 0.1 and 0.1% by 5-10%
# with the presolve, and starting lots 30% rather than halfway in by another 1-2%).
_COLD_DUAL = 0.2
_COLD_SLACK = 3e-3
_COLD_LOT_FRACTION = 0.3


def cold_start(current: AssembledQP) -> dict:
    qp = current.qp
    x = np.zeros(qp.size)
    x[qp.upper_index] = _COLD_LOT_FRACTION * qp.upper
    layout = current.layout
    if layout.presold_sells is not None:
        # Presold harvests start bought back: weights and class rows where they were.
        portfolio = layout.portfolio
        bought_back = portfolio.per_security(layout.presold_sells) / portfolio.total_value
        buys = layout.buy_positions
        x[buys] = bought_back[layout.variable_security[buys]]
    s = qp.inequality_rhs() - np.concatenate([-x, x[qp.upper_index], qp.rows @ x])
    return {"x": x, "s": np.maximum(s, _COLD_SLACK), "z": np.full(len(s), _COLD_DUAL)}


def warm_start(previous: AssembledQP, solution, current: AssembledQP) -> dict:
    """The previous solve's primal and dual iterates mapped onto a layout with fewer
    free trades (directions shut since), shifted strictly inside the cone."""
    old, new = previous.layout, current.layout
    position = new.positions_in(old)
    old_n, new_n = previous.qp.size, current.qp.size
    slacks = old_n - old.size
    variables = np.concatenate([position, old.size + np.arange(slacks)])
    # Row of each old variable's upper bound, -1 where it has none.
    upper_row = np.full(old_n, -1)
    upper_row[previous.qp.upper_index] = np.arange(len(previous.qp.upper_index))
    uppers = old_n + upper_row[variables[current.qp.upper_index]]
    dense = old_n + len(previous.qp.upper_index) + np.arange(len(current.qp.rhs))
    rows = np.concatenate([variables, uppers, dense])
    margin = max(1.0 / max(new.size, 1), _WARM_FLOOR)
    return {
        "x": solution.z[variables],
        "s": np.maximum(solution.slacks[rows], 0.0) + margin,
        "z": np.maximum(solution.duals[rows], 0.0) + margin,
    }


def _start(previous, current: AssembledQP) -> dict:
    return cold_start(current) if previous is None else warm_start(previous[0], previous[1], current)


@dataclass(frozen=True, eq=False)
class _Attempt:
    """One solve under fixed directions and what it trades."""

    directions: Directions
    layout: Layout
    assembled: AssembledQP
    solution: object
    buys: np.ndarray  # dollars per security
    sells: np.ndarray  # dollars per lot
    effective_buys: np.ndarray  # buys that would become orders
    clean_sells: np.ndarray  # sales above solver noise
    conflicted: bool  # trades both sides of a wash group or a security


def _score(attempt: _Attempt, terms) -> float:
    """The solver's objective in dollars, breaches priced at their penalties."""
    portfolio = attempt.layout.portfolio
    cost = sum(term.value(portfolio, attempt.buys, attempt.sells) for term in terms)
    penalty = float(np.maximum(attempt.solution.z[attempt.assembled.trade_count :], 0.0).sum())
    return cost + penalty * portfolio.total_value


def _leaves_breach(attempt: _Attempt) -> bool:
    """A drift limit (or any other constraint) breached after the directions were
    fixed."""
    return bool((attempt.assembled.breaches(attempt.solution.z) > _BREACH_TOLERANCE).any())


def _emptied_conflicts(rules, portfolio, first: _Attempt, attempt: _Attempt, noise: float,
                       material: float) -> frozenset[int]:
    """The securities whose conflicts of the first solve to settle the other way
    because the side kept trades nothing (nothing ``material``: no order) in
    ``attempt``, where the conflict was material: both sides, weighed as the side
    choice weighs them (the sale whole, the buying beyond the round trip), at least
    ``material`` dollars. Below that the other side has nothing to add that would
    become an order: a harvest bought back at about its size (most conflicts on the
    benchmark accounts) keeps, on its buy side, a purchase rounding would drop.

    A security is named only if every conflict it is in ended so: flipping it flips
    each of them (its round trip and its wash group), and a kept side that trades
    stays. The current solution then stays feasible for the other choice (up to
    sales under ``material``), so the third solve is rarely worse."""
    flip = np.zeros(portfolio.security_count, dtype=bool)
    keep = np.zeros(portfolio.security_count, dtype=bool)
    for rule in rules:
        names, buy_key, _, counted, counted_key = rule.counted_keys(portfolio)

        def per_key(buys, sells):
            return (np.bincount(buy_key, weights=buys, minlength=len(names)),
                    np.bincount(counted_key, weights=sells if counted is None else sells[counted],
                                minlength=len(names)))

        bought, sold = per_key(first.effective_buys, first.clean_sells)
        bought_after, sold_after = per_key(attempt.effective_buys, attempt.clean_sells)
        conflict = (bought > noise) & (sold > noise)  # as ``settle`` counts them
        emptied = (conflict & (sold >= material) & (bought - sold >= material)
                   & (bought_after <= material) & (sold_after <= material))
        flip |= emptied[buy_key]
        keep |= (conflict & ~emptied)[buy_key]
    return frozenset((flip & ~keep).nonzero()[0].tolist())


def _securities_behind(attempt: _Attempt, rows: AffineRows, portfolio: Portfolio) -> frozenset[int]:
    """The securities whose conflicts to settle the other way: those of the asset
    classes whose drift limits stay breached; every security where another constraint
    (cash, the cash class, the gain budget) does."""
    breached = {name for name, breach in zip(rows.names, attempt.assembled.breaches(attempt.solution.z))
                if breach > _BREACH_TOLERANCE}
    classes = {name.split(":", 1)[1] for name in breached if name.startswith("drift_limit:")}
    if breached - {f"drift_limit:{c}" for c in classes} or CASH_CLASS in classes:
        return frozenset(range(portfolio.security_count))
    return frozenset(i for i, c in enumerate(portfolio.asset_classes) if c in classes)


def _model_split(portfolio: Portfolio, buys: np.ndarray, selling: np.ndarray, buyable: np.ndarray) -> np.ndarray:
    """Securities of one wash group are one risk, so the solve is indifferent to which
    of them a group's purchase buys. Split it the way that brings each as close to its
    own target as the group's total allows (least squares: water-filling the
    shortfalls), among the members that may be bought today and are not being sold.
    Nothing the objective or a constraint sees changes: the group's total, its class
    and the trading cost stay."""
    shared = portfolio.derived.get((_model_split, "shared"))
    if shared is None:
        members = np.bincount(portfolio.wash_group, minlength=len(portfolio.wash_groups))
        shared = portfolio.derived[(_model_split, "shared")] = members[portfolio.wash_group] > 1
    shared_buy = (buys > 0) & shared
    if not shared_buy.any():
        return buys
    sold_security = portfolio.per_security(selling.astype(np.float64)) > 0
    held = portfolio.holding
    classes = portfolio.asset_classes
    bought = (buys > 0).tolist()
    free = (buyable & ~sold_security).tolist()
    out = buys.copy()
    # Member lists per group (a handful of securities each), not masks over them all.
    groups = np.unique(portfolio.wash_group[shared_buy]).tolist()
    member_lists = portfolio.derived.get(_model_split)
    if member_lists is None:
        member_lists = portfolio.derived[_model_split] = [[] for _ in portfolio.wash_groups]
        for i, group in enumerate(portfolio.wash_group.tolist()):
            member_lists[group].append(i)
    shortfall = portfolio.target * portfolio.remaining_value - held
    for group in groups:
        members = member_lists[group]
        for asset_class in sorted({classes[i] for i in members if bought[i]}):
            same = [i for i in members if classes[i] == asset_class]
            takers = [i for i in same if free[i]]
            if len(takers) < 2:
                continue
            amount = float(buys[same].sum())
            if amount <= 0:
                continue
            out[same] = 0.0
            out[takers] = _water_fill(shortfall[takers], amount)
    return out


def _water_fill(shortfall: np.ndarray, amount: float) -> np.ndarray:
    """max(0, shortfall - level), the level such that the parts sum to ``amount``."""
    # A few members at most: Python floats (the same IEEE operations, in the same
    # order, as numpy's sort and running sum) cost less than numpy calls here.
    values = shortfall.tolist()
    ranked = sorted(values, key=float.__neg__)  # descending; stable, as argsort's
    level = 0.0
    cumulative = 0.0
    for k, value in enumerate(ranked, start=1):
        cumulative += value
        level = (cumulative - amount) / k
        if k == len(ranked) or ranked[k] <= level:
            break
    return np.maximum(shortfall - level, 0.0)


def _kept_sides(conflicts, portfolio, buys, sells, forced, tolerance: float = 0.0) -> list[str]:
    """For each (rule, key) that once traded both sides, which side the trades keep:
    ``rule:key:side``."""
    keys_of: dict = {}
    for rule, key in conflicts:
        keys_of.setdefault(rule, []).append(key)
    notes = {}
    for rule, keys in keys_of.items():
        bought, sold = rule.sides_of(portfolio, buys, sells, forced, tolerance, keys)
        notes[rule] = {
            key: f"{rule.name}:{key}:{'sales_kept' if selling else 'buys_kept' if buying else 'neither_kept'}"
            for key, buying, selling in zip(keys, bought, sold)
        }
    return [notes[rule][key] for rule, key in conflicts]


def _terms_in_dollars(portfolio: Portfolio, terms, buys: np.ndarray, sells: np.ndarray) -> ObjectiveTerms:
    tracking, tax, cost = (term.value(portfolio, buys, sells) for term in terms)
    return ObjectiveTerms(tracking=tracking, tax=tax, cost=cost)


def _order_dollars(portfolio: Portfolio, buys: Iterable, sells: Iterable) -> tuple[np.ndarray, np.ndarray]:
    """Dollars per security bought and per lot sold: shares times today's price."""
    position = portfolio.position
    lot_position = portfolio.lot_position
    buys, sells = list(buys), list(sells)
    buy_dollars = np.zeros(portfolio.security_count)
    sell_dollars = np.zeros(portfolio.lot_count)
    if buys:
        i = np.array([position[order[0]] for order in buys], dtype=np.intp)
        shares = np.array([float(order[1]) for order in buys])
        np.add.at(buy_dollars, i, shares * portfolio.price[i])
    if sells:
        j = np.array([lot_position[order[0]] for order in sells], dtype=np.intp)
        shares = np.array([float(order[2]) for order in sells])
        np.add.at(sell_dollars, j, shares * portfolio.price[portfolio.lot_security[j]])
    return buy_dollars, sell_dollars


def evaluate_objective(problem: Problem, buys: Iterable, sells: Iterable) -> ObjectiveTerms:
    """The objective in dollars for orders: buys as (symbol, shares, ...), sells as
    (lot_id, symbol, shares, ...). The one scoring function: the optimiser's before and
    after, the continuous solution and the benchmark all go through it."""
    portfolio = Portfolio.from_problem(problem)
    return _evaluate(portfolio, buys, sells)


def _evaluate(portfolio: Portfolio, buys: Iterable, sells: Iterable) -> ObjectiveTerms:
    buy_dollars, sell_dollars = _order_dollars(portfolio, buys, sells)
    return _terms_in_dollars(portfolio, objective_terms(portfolio.settings), buy_dollars, sell_dollars)


def optimise(problem: Problem, *, solver_options: dict | None = None) -> OptimisationResult:
    """The day's trade list for one account (see the module notes).

    ``solver_options``: cvxopt's options, ``"kkt"`` (``"dense"`` / ``"structured"``) and
    ``"presolve"`` (default True; False solves every problem in full)."""
    solver_options = dict(solver_options or {})
    use_presolve = bool(solver_options.pop("presolve", True))
    portfolio = Portfolio.from_problem(problem)
    settings = problem.settings
    value = portfolio.total_value
    terms = objective_terms(settings)
    solved_terms = solver_terms(settings)
    rows = AffineRows.stack(
        [c.affine(portfolio) for c in linear_constraints(problem)], portfolio.security_count, portfolio.lot_count
    )
    rules = (WashSaleRule(remember_last=True), NoRoundTrip(remember_last=True))
    noise = SOLVER_NOISE * value
    forced = portfolio.must_exit[portfolio.lot_security] & portfolio.can_sell & (portfolio.value > 0)
    count = {"solves": 0, "iterations": 0}

    def solve(directions: Directions, previous) -> _Attempt:
        layout = Layout.of(portfolio, directions)
        # A later solve only shuts directions: its problem is the first one's, sliced.
        assembled = assemble(layout, solved_terms, rows) if previous is None else restrict(previous[0], layout)
        solution = None
        presold, kept = settled_lots(layout) if use_presolve else ((), ())
        if len(presold) or len(kept):
            reduced = assemble(Layout.of(portfolio, directions, presold, kept), solved_terms, rows)
            attempt = solve_structured(reduced.qp, solver_options, _start(previous, reduced))
            count["solves"] += 1
            count["iterations"] += attempt.iterations
            solution = extend(assembled, reduced, attempt)
        if solution is None:
            solution = solve_structured(assembled.qp, solver_options, _start(previous, assembled))
            count["solves"] += 1
            count["iterations"] += solution.iterations
        buys, sells = layout.trades(solution.z)
        # A buy under the minimum trade value never becomes an order: no conflict.
        effective_buys = np.where(buys >= max(noise, settings.min_trade_value), buys, 0.0)
        clean_sells = np.where(sells > noise, sells, 0.0)
        conflicted = any(rule.breached(portfolio, effective_buys, clean_sells, forced, noise) for rule in rules)
        return _Attempt(directions, layout, assembled, solution, buys, sells, effective_buys, clean_sells, conflicted)

    def settled(attempt: _Attempt, flip=None) -> Directions:
        fixed = attempt.directions
        for rule in rules:
            no_buy, no_sell = rule.shut(portfolio, attempt.effective_buys, attempt.clean_sells, forced, noise, flip=flip)
            fixed = fixed.also(no_buy=no_buy.tolist(), no_sell=no_sell.tolist())
        return fixed

    conflicts: list[tuple[object, str]] = []  # (rule, key) that traded both sides in some solve
    known: dict = {rule: set() for rule in rules}
    current = solve(Directions(), None)
    first = current
    while current.conflicted:
        for rule in rules:
            for key in rule.conflict_keys(portfolio, current.effective_buys, current.clean_sells, forced, noise):
                if key not in known[rule]:
                    known[rule].add(key)
                    conflicts.append((rule, key))
        fixed = settled(current)
        if fixed == current.directions:  # nothing left to shut; cannot happen, but never loop
            break
        current = solve(fixed, (current.assembled, current.solution))
    if current is not first:
        # The side kept left a limit breached, or a material conflict with nothing
        # traded: the other choice may serve better (Moehle et al. 2021: solve both
        # and keep the better). Only the conflicts of the first solve flip; every
        # other traded direction stays.
        flip = _securities_behind(current, rows, portfolio) if _leaves_breach(current) else frozenset()
        flip |= _emptied_conflicts(rules, portfolio, first, current, noise, max(noise, settings.min_trade_value))
        other_directions = settled(first, flip=flip) if flip else current.directions
        if other_directions != current.directions:
            other = solve(other_directions, (first.assembled, first.solution))
            if not other.conflicted and _score(other, solved_terms) < _score(current, solved_terms):
                current = other
    layout, assembled, solution = current.layout, current.assembled, current.solution
    buys, sells, directions = current.buys, current.sells, current.directions
    solves, iterations = count["solves"], count["iterations"]

    breaches = assembled.breaches(solution.z)
    softened = [f"must_exit:{symbol}" for symbol in layout.permissions.blocked_exits]
    for name, breach in zip(rows.names, breaches):
        if breach > _BREACH_TOLERANCE and name not in softened:
            softened.append(name)

    continuous_buys = _model_split(portfolio, np.where(buys > noise, buys, 0.0), sells > noise,
                                   layout.permissions.buyable)
    continuous_sells = np.where(sells > noise, sells, 0.0)
    _, continuous_cash = portfolio.post_trade(continuous_buys, continuous_sells)
    required = float(problem.required_cash)
    cash_target = required if continuous_cash >= required - 1e-6 * value else continuous_cash
    cash_target = max(cash_target, 0.0)
    rounded = round_trades(portfolio, continuous_buys, continuous_sells, forced, cash_target)
    rounded = sell_whole_positions(portfolio, rounded, layout.permissions.sellable | forced)
    buy_dollars, sell_dollars = rounded.dollars(portfolio)
    buy_dollars, sell_dollars, rounded_buys = _final_wash_guard(
        portfolio, rules, buy_dollars, sell_dollars, rounded.buy_shares, forced
    )

    bought_at = (rounded_buys > 0).nonzero()[0]
    bought = bought_at.tolist()
    gain = portfolio.gain_ratio * sell_dollars
    sold = (rounded.sell_shares > 0).nonzero()[0]
    buy_reasons, reasons = order_reasons(portfolio, bought_at, buy_dollars, sold, sell_dollars, forced,
                                         rounded.for_cash, gain)
    # Orders built by tuple.__new__ over zipped columns: every field given, a thousand
    # orders at 500 securities without a Python call each.
    buy_orders = tuple(map(
        partial(tuple.__new__, BuyOrder),
        zip(map(portfolio.symbols.__getitem__, bought), rounded_buys[bought].tolist(),
            buy_dollars[bought].tolist(), buy_reasons),
    ))
    sold_list = sold.tolist()
    lot_ids, symbols = portfolio.lot_ids, portfolio.symbols
    sell_orders = list(
        map(
            partial(tuple.__new__, SellOrder),
            zip(
                map(lot_ids.__getitem__, sold_list),
                map(symbols.__getitem__, portfolio.lot_security[sold].tolist()),
                rounded.sell_shares[sold].tolist(),
                sell_dollars[sold].tolist(),
                reasons,
                gain[sold].tolist(),
                rounded.mandatory[sold].tolist(),
            ),
        )
    )
    _, cash_after = portfolio.post_trade(buy_dollars, sell_dollars)
    # What the fixed directions kept, said of the orders themselves.
    resolved = _kept_sides(conflicts, portfolio, buy_dollars, sell_dollars, forced)

    # Scored on the orders themselves, as ``evaluate_objective`` scores them: shares
    # times today's price, per security bought and per lot sold (one order each).
    before = _terms_in_dollars(portfolio, terms, np.zeros(portfolio.security_count), np.zeros(portfolio.lot_count))
    order_buys = np.zeros(portfolio.security_count)
    order_buys[bought_at] = rounded_buys[bought_at] * portfolio.price[bought_at]
    order_sells = np.zeros(portfolio.lot_count)
    order_sells[sold] = rounded.sell_shares[sold] * portfolio.price[portfolio.lot_security[sold]]
    after = _terms_in_dollars(portfolio, terms, order_buys, order_sells)
    # The solver's own numbers (only the last digits of zero dropped), so that scoring
    # them reproduces the solve; rounding works from the cleaned copy above.
    listed = 1e-12 * value
    listed_buys = (buys > listed).nonzero()[0].tolist()
    listed_sells = (sells > listed).nonzero()[0].tolist()
    continuous = ContinuousSolution(
        buys=tuple(zip(map(portfolio.symbols.__getitem__, listed_buys), buys[listed_buys].tolist())),
        sells=tuple(zip(map(portfolio.lot_ids.__getitem__, listed_sells), sells[listed_sells].tolist())),
        objective=_terms_in_dollars(portfolio, terms, buys, sells),
        penalty=float(np.maximum(solution.z[assembled.trade_count :], 0.0).sum()) * value,
        status=solution.status,
        iterations=solution.iterations,
        no_buy=tuple(map(portfolio.symbols.__getitem__, sorted(directions.no_buy))),
        no_sell=tuple(map(portfolio.lot_ids.__getitem__, sorted(directions.no_sell))),
    )
    return OptimisationResult(
        buys=buy_orders,
        sells=tuple(sell_orders),
        objective_before=before,
        objective_after=after,
        softened=tuple(softened),
        solves=solves,
        cash_after=float(cash_after),
        continuous=continuous,
        resolved=tuple(resolved),
        iterations=iterations,
    )


def _final_wash_guard(portfolio, rules, buy_dollars, sell_dollars, buy_shares, forced):
    """Rounding never creates a trade the last solve did not have, so this finds
    nothing; it is the guarantee, not the mechanism. Any buy still paired with a
    forbidden sale goes (dropping a buy only adds cash)."""
    if not any(rule.breached(portfolio, buy_dollars, sell_dollars, forced, 0.0) for rule in rules):
        return buy_dollars, sell_dollars, buy_shares
    conflicts = [c for rule in rules for c in rule.conflicts(portfolio, buy_dollars, sell_dollars, forced, 0.0)]
    buy_shares = buy_shares.copy()
    for conflict in conflicts:
        buy_shares[list(conflict.securities_to_stop_buying)] = 0.0
    return buy_shares * portfolio.price, sell_dollars, buy_shares
