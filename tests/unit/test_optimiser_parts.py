"""Each cost, constraint, rule and step of the optimiser, alone."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from lotline.domain.errors import InvalidInput
from lotline.domain.optimiser import ClassLimit, Problem, optimise
from lotline.domain.optimiser.constraints import (
    CashFloor,
    ClassDriftLimits,
    GainBudget,
    NoRoundTrip,
    WashSaleRule,
    linear_constraints,
    AffineRows,
)
from lotline.domain.optimiser.layout import Directions, Layout, TradePermissions
from lotline.domain.optimiser.optimiser import assemble, restrict
from lotline.domain.optimiser.portfolio import Portfolio
from lotline.domain.optimiser.reasons import order_reasons
from lotline.domain.optimiser.rounding import round_trades
from lotline.domain.optimiser.terms import TaxCost, TrackingRisk, TradingCost, objective_terms
from lotline.domain.vocabulary import OrderReason
from tests.unit.test_optimiser import balanced, lot, problem, security


def sample() -> Problem:
    lots = [
        lot("V1", "VTI", 100, 20_000, rate=0.20),  # gain 5,000
        lot("V2", "VTI", 50, 15_000, rate=0.37),  # loss 2,500
        lot("I1", "ITOT", 10, 1_000, rate=0.37),  # gain 200
        lot("B1", "BND", 200, 15_000, rate=0.20),  # loss 500
    ]
    return problem(balanced(), lots, cash=10_000.0, required_cash=2_000.0, gain_budget=1_000.0)


def trades(p: Portfolio, buys: dict[str, float] | None = None, sells: dict[str, float] | None = None):
    b = np.zeros(p.security_count)
    s = np.zeros(p.lot_count)
    for symbol, dollars in (buys or {}).items():
        b[p.symbols.index(symbol)] = dollars
    for lot_id, dollars in (sells or {}).items():
        s[p.lot_ids.index(lot_id)] = dollars
    return b, s


# --- portfolio -----------------------------------------------------------------------


def test_portfolio_values_and_gains():
    p = Portfolio.from_problem(sample())
    assert p.total_value == 10_000 + 100 * 250 + 50 * 250 + 10 * 120 + 200 * 72.5
    np.testing.assert_allclose(p.gain, [5_000, -2_500, 200, -500])
    np.testing.assert_allclose(p.gain_ratio, [0.2, -0.2, 200 / 1200, -500 / 14_500])
    assert p.holding[p.symbols.index("VTI")] == 37_500


def test_portfolio_rejects_bad_inputs():
    base = sample()
    with pytest.raises(InvalidInput):
        Portfolio.from_problem(Problem(base.securities + base.securities[:1], base.lots, 0, 0, (), None, base.risk))
    with pytest.raises(InvalidInput):
        Portfolio.from_problem(Problem(base.securities, base.lots + (lot("Z", "XXX", 1, 1),), 0, 0, (), None, base.risk))
    with pytest.raises(InvalidInput):
        Portfolio.from_problem(Problem((security("VTI", price=-1.0),), (), 1, 0, (), None, base.risk))
    with pytest.raises(InvalidInput):
        Portfolio.from_problem(Problem((), (), 0.0, 0, (), None, base.risk))


# --- objective terms -----------------------------------------------------------------


def test_tracking_risk_is_gamma_times_variance_around_target():
    p = Portfolio.from_problem(sample())
    b, s = trades(p, {"SCHB": 5_000}, {"V1": 10_000})
    holdings = p.holding + b - p.per_security(s)
    e = holdings / p.total_value - p.target
    sigma = p.problem.risk.covariance()  # same symbol order as the universe
    # Securities of one wash group are one security: each takes its group's first
    # member's risk, perfectly correlated with the others.
    lead = [min(j for j in range(p.security_count) if p.wash_group[j] == p.wash_group[i])
            for i in range(p.security_count)]
    sigma = sigma[np.ix_(lead, lead)]
    expected = 10.0 * e @ sigma @ e * p.total_value
    assert TrackingRisk(10.0).value(p, b, s) == pytest.approx(expected, rel=1e-12)


def test_tax_is_linear_in_dollars_sold_and_follows_the_account_type():
    p = Portfolio.from_problem(sample())
    _, s = trades(p, sells={"V1": 12_500, "V2": 6_250})  # half of each lot
    taxable = TaxCost(taxable=True, harvest_losses=True).value(p, None, s)
    assert taxable == pytest.approx(0.20 * 2_500 - 0.37 * 1_250)
    assert TaxCost(taxable=True, harvest_losses=False).value(p, None, s) == pytest.approx(0.20 * 2_500)
    assert TaxCost(taxable=False, harvest_losses=True).value(p, None, s) == 0.0


def test_trading_cost_is_a_fraction_of_every_dollar_traded():
    p = Portfolio.from_problem(sample())
    b, s = trades(p, {"BND": 1_000}, {"V1": 3_000})
    assert TradingCost(0.0005).value(p, b, s) == pytest.approx(2.0)


def test_qp_parts_reproduce_the_dollar_values():
    p = Portfolio.from_problem(sample())
    layout = Layout.of(p)
    rng = np.random.default_rng(2)
    upper_index, upper = layout.upper_bounds()
    for _ in range(5):
        z = rng.uniform(0, 0.05, layout.size)
        z[upper_index] = rng.uniform(0, 1, len(upper_index)) * upper
        b, s = layout.trades(z)
        for term in objective_terms(p.settings):
            part = term.qp_part(layout)
            from_qp = part.linear @ z + part.constant
            if part.alpha is not None:
                change = np.zeros(len(layout.segment_starts))
                np.add.at(change, np.searchsorted(layout.segment_starts, np.arange(layout.size), side="right") - 1, layout.signs * z)
                q = np.diag(part.alpha) + part.loadings @ part.loadings.T
                from_qp += 0.5 * change @ q @ change
            assert from_qp * p.total_value == pytest.approx(term.value(p, b, s), rel=1e-10, abs=1e-6)


# --- linear constraints --------------------------------------------------------------


def test_cash_floor_measures_the_shortfall_after_costs():
    p = Portfolio.from_problem(sample())
    b, s = trades(p, {"BND": 9_000})
    cash_after = 10_000 - 9_000 * 1.0005
    assert CashFloor(2_000.0).excess(p, b, s) == pytest.approx(2_000 - cash_after)
    b, s = trades(p, sells={"V1": 4_000})
    assert CashFloor(2_000.0).excess(p, b, s) == pytest.approx(2_000 - (10_000 + 4_000 * 0.9995))


def test_class_drift_limits_measure_both_sides_and_count_cash():
    p = Portfolio.from_problem(sample())
    limit = ClassDriftLimits((ClassLimit("us_equity", 0.6, 0.03), ClassLimit("cash", 0.02, 0.03)))
    b, s = trades(p, {"SCHB": 2_000}, {"V2": 5_000})
    value = p.total_value
    us_after = 37_500 + 1_200 + 2_000 - 5_000
    cash_after = 10_000 - 2_000 * 1.0005 + 5_000 * 0.9995
    excess = limit.excess(p, b, s)
    assert excess["drift_limit:us_equity"] == pytest.approx(abs(us_after / value - 0.6) * value - 0.03 * value)
    assert excess["drift_limit:cash"] == pytest.approx(abs(cash_after / value - 0.02) * value - 0.03 * value)


def test_gain_budget_counts_net_gains_and_never_forces_harvesting():
    p = Portfolio.from_problem(sample())
    b, s = trades(p, sells={"V1": 25_000, "V2": 12_500})  # +5,000 - 2,500
    assert GainBudget(1_000.0).excess(p, b, s) == pytest.approx(2_500 - 1_000)
    # Already over budget: no further net gain, but no forced loss either.
    assert GainBudget(-4_000.0).excess(p, b, np.zeros(p.lot_count)) == 0.0


def test_linear_constraints_follow_the_problem():
    names = [type(c).__name__ for c in linear_constraints(sample())]
    assert names == ["CashFloor", "ClassDriftLimits", "GainBudget"]
    exempt = problem(balanced(), cash=1.0, gain_budget=1_000.0, taxable=False, class_limits=())
    assert [type(c).__name__ for c in linear_constraints(exempt)] == ["CashFloor"]


# --- same-day rules ------------------------------------------------------------------


def test_wash_sale_rule_finds_buy_and_loss_sale_in_one_group():
    p = Portfolio.from_problem(sample())
    forced = np.zeros(p.lot_count, dtype=bool)
    rule = WashSaleRule()
    # ITOT shares VTI's group; V2 is a loss lot of VTI.
    b, s = trades(p, {"ITOT": 3_000}, {"V2": 5_000})
    [conflict] = rule.conflicts(p, b, s, forced, 1e-6)
    assert conflict.key == "us-total" and conflict.keep_sales
    settlement = rule.settle(p, b, s, forced, 1e-6)
    assert set(settlement.no_buy) == {p.symbols.index("VTI"), p.symbols.index("ITOT")}
    # A gain sale in the group is no wash sale.
    b, s = trades(p, {"ITOT": 3_000}, {"V1": 5_000})
    assert not rule.breached(p, b, s, forced, 1e-6)


def test_wash_sale_rule_keeps_the_larger_side_and_mandatory_sales():
    p = Portfolio.from_problem(sample())
    forced = np.zeros(p.lot_count, dtype=bool)
    # 12,000 bought against a 5,000 loss sale: 7,000 of new buying beats the harvest.
    b, s = trades(p, {"ITOT": 12_000}, {"V2": 5_000})
    settlement = WashSaleRule().settle(p, b, s, forced, 1e-6)
    assert settlement.no_sell == (p.lot_ids.index("V2"),)
    assert settlement.notes == ("wash_sale:us-total:buys_kept",)
    forced[p.lot_ids.index("V2")] = True
    settlement = WashSaleRule().settle(p, b, s, forced, 1e-6)
    assert settlement.notes == ("wash_sale:us-total:sales_kept",)


def test_harvest_and_rebuy_keeps_the_harvest():
    # The relaxation's favourite move: sell the loss lot and buy the group back, a
    # little more than was sold. The round trip moves no exposure, so the harvest
    # weighs against the 1,000 of buying beyond it, and stays.
    p = Portfolio.from_problem(sample())
    forced = np.zeros(p.lot_count, dtype=bool)
    b, s = trades(p, {"VTI": 13_500}, {"V2": 12_500})
    [conflict] = WashSaleRule().conflicts(p, b, s, forced, 1e-6)
    assert conflict.keep_sales
    settlement = WashSaleRule().settle(p, b, s, forced, 1e-6)
    assert set(settlement.no_buy) == {p.symbols.index("VTI"), p.symbols.index("ITOT")}
    assert settlement.no_sell == ()


def test_settle_fixes_one_sided_groups_too():
    p = Portfolio.from_problem(sample())
    forced = np.zeros(p.lot_count, dtype=bool)
    b, s = trades(p, {"SCHB": 3_000}, {"B1": 1_000})
    settlement = WashSaleRule().settle(p, b, s, forced, 1e-6)
    assert settlement.no_buy == (p.symbols.index("BND"),)  # BND loss sold: no BND buys
    assert settlement.no_sell == ()  # SCHB holds no loss lot
    assert settlement.notes == ()


def test_round_trip_rule():
    p = Portfolio.from_problem(sample())
    forced = np.zeros(p.lot_count, dtype=bool)
    b, s = trades(p, {"VTI": 1_000}, {"V1": 5_000})
    [conflict] = NoRoundTrip().conflicts(p, b, s, forced, 1e-6)
    assert conflict.key == "VTI"
    assert set(conflict.lots_to_stop_selling) == {p.lot_ids.index("V1"), p.lot_ids.index("V2")}


# --- layout --------------------------------------------------------------------------


def test_layout_groups_variables_by_security_and_fixes_what_is_not_free():
    securities = balanced()
    securities[3] = security("VXUS", must_exit=True)
    securities[1] = security("ITOT", can_buy=False)
    lots = [
        lot("V1", "VTI", 100, 20_000),
        lot("X1", "VXUS", 10, 500),
        lot("X2", "VXUS", 10, 500, can_sell=False),
        lot("B1", "BND", 200, 16_000, blocked=True),  # a blocked loss
        lot("B2", "BND", 200, 10_000, blocked=True),  # a blocked lot at a gain is free
    ]
    p = Portfolio.from_problem(problem(securities, lots, cash=1_000.0))
    layout = Layout.of(p)
    names = [
        (p.symbols[sec], "buy" if lt < 0 else p.lot_ids[lt]) for sec, lt in zip(layout.variable_security, layout.variable_lot)
    ]
    assert names == [("VTI", "buy"), ("VTI", "V1"), ("SCHB", "buy"), ("BND", "buy"), ("BND", "B2")]
    assert layout.forced_sells[p.lot_ids.index("X1")] == 600.0
    assert layout.permissions.blocked_exits == ("VXUS",)
    assert list(layout.segment_security) == [0, 2, 4]
    shut = Layout.of(p, Directions(no_buy=frozenset({0}), no_sell=frozenset({4})))
    assert [p.lot_ids[lt] if lt >= 0 else "buy" for lt in shut.variable_lot] == ["V1", "buy", "buy"]
    assert list(shut.positions_in(layout)) == [1, 2, 3]


def test_permissions_do_not_depend_on_order_of_fixes():
    # Directions are shut one rule and one solve at a time (`Directions.also`): in
    # whatever order the fixes come, the same trades end up shut, and only those.
    p = Portfolio.from_problem(sample())
    free = TradePermissions.of(p)
    fixes = [{"no_buy": {0}}, {"no_sell": {2}}, {"no_buy": {1}, "no_sell": {3}}]
    expected_buyable, expected_sellable = free.buyable.copy(), free.sellable.copy()
    expected_buyable[[0, 1]] = False
    expected_sellable[[2, 3]] = False
    assert free.buyable[[0, 1]].all() and free.sellable[[2, 3]].all()  # the fixes shut something
    for order in itertools.permutations(fixes):
        directions = Directions()
        for fix in order:
            directions = directions.also(**fix)
        fixed = TradePermissions.of(p, directions)
        np.testing.assert_array_equal(fixed.buyable, expected_buyable)
        np.testing.assert_array_equal(fixed.sellable, expected_sellable)


# --- assembly ------------------------------------------------------------------------


def test_assembled_qp_is_the_sum_of_terms_and_the_constraints():
    prob = sample()
    p = Portfolio.from_problem(prob)
    rows = AffineRows.stack([c.affine(p) for c in linear_constraints(prob)], p.security_count, p.lot_count)
    layout = Layout.of(p)
    assembled = assemble(layout, objective_terms(p.settings), rows)
    qp = assembled.qp
    rng = np.random.default_rng(4)
    upper_index, upper = layout.upper_bounds()
    for _ in range(5):
        z = np.zeros(qp.size)
        z[: layout.size] = rng.uniform(0, 0.05, layout.size)
        z[upper_index] = rng.uniform(0, 1, len(upper_index)) * upper
        b, s = layout.trades(z)
        dollars = sum(term.value(p, b, s) for term in objective_terms(p.settings))
        assert (qp.objective(z) + assembled.constant) * p.total_value == pytest.approx(dollars, rel=1e-10)
        # Row i of the QP at z is constraint row i's excess over V (slacks at zero).
        np.testing.assert_allclose(
            (qp.rows @ z - qp.rhs) * p.total_value, rows.excess(b, s), rtol=1e-10, atol=1e-6
        )


def test_a_later_solve_slices_the_first_problem_exactly():
    # Shutting directions (the us-total group's buys and one of its lots, BND's lot;
    # SCHB's buy, which takes its wash group out of the solve altogether) changes no
    # coefficient of what stays: the sliced problem is the one assembly would build,
    # to the bit.
    prob = sample()
    p = Portfolio.from_problem(prob)
    rows = AffineRows.stack([c.affine(p) for c in linear_constraints(prob)], p.security_count, p.lot_count)
    terms = objective_terms(p.settings)
    first = assemble(Layout.of(p), terms, rows)
    shut = Directions(no_buy=frozenset({p.symbols.index("VTI"), p.symbols.index("ITOT"), p.symbols.index("SCHB")}),
                      no_sell=frozenset({p.lot_ids.index("B1"), p.lot_ids.index("I1")}))
    layout = Layout.of(p, shut)
    assert len(layout.segment_starts) < len(first.layout.segment_starts)
    sliced, built = restrict(first, layout), assemble(layout, terms, rows)
    for field in dataclasses.fields(built.qp):
        np.testing.assert_array_equal(getattr(sliced.qp, field.name), getattr(built.qp, field.name))
    assert sliced.constant == built.constant


# --- rounding ------------------------------------------------------------------------


def portfolio_for_rounding(**settings) -> Portfolio:
    lots = [lot("V1", "VTI", 100, 20_000), lot("V2", "VTI", 10.5, 2_000), lot("B1", "BND", 200, 15_000)]
    return Portfolio.from_problem(problem(balanced(), lots, cash=10_000.0, **settings))


def test_rounding_to_whole_shares_never_exceeds_a_lot_and_floors_buys():
    p = portfolio_for_rounding(min_trade_value=0.0)
    buys = np.zeros(p.security_count)
    buys[p.symbols.index("BND")] = 72.5 * 10.9
    sells = np.array([250 * 40.6, 250 * 10.5, 0.0])
    out = round_trades(p, buys, sells, np.zeros(3, dtype=bool), 0.0)
    assert list(out.sell_shares) == [41.0, 10.5, 0.0]  # nearest; a full lot keeps its fraction
    assert out.buy_shares[p.symbols.index("BND")] == 10.0


def test_rounding_drops_small_orders_per_security_unless_mandatory():
    p = portfolio_for_rounding(min_trade_value=1_000.0)
    buys = np.zeros(p.security_count)
    buys[p.symbols.index("SCHB")] = 900.0
    sells = np.array([250 * 2, 250 * 2, 72.5 * 5])  # VTI: 1,000 over two lots; BND: 362.5
    out = round_trades(p, buys, sells, np.zeros(3, dtype=bool), 0.0)
    assert out.buy_shares[p.symbols.index("SCHB")] == 0
    assert list(out.sell_shares) == [2.0, 2.0, 0.0]
    forced = np.array([False, False, True])
    out = round_trades(p, buys, np.array([0, 0, 72.5 * 200]), forced, 0.0)
    assert out.sell_shares[2] == 200 and out.mandatory[2]


def test_rounding_keeps_required_cash_trimming_buys_first():
    p = portfolio_for_rounding(min_trade_value=0.0)
    buys = np.zeros(p.security_count)
    buys[p.symbols.index("VTI")] = 9_900.0  # 39.6 shares -> 39
    out = round_trades(p, buys, np.zeros(3), np.zeros(3, dtype=bool), 1_000.0)
    cash = 10_000 - out.buy_shares[p.symbols.index("VTI")] * 250 * 1.0005
    assert cash >= 1_000.0
    assert out.buy_shares[p.symbols.index("VTI")] == 35


def test_rounding_restores_or_rounds_up_sales_needed_for_cash():
    p = portfolio_for_rounding(min_trade_value=1_000.0)
    # Needs 10,000 + 500 more cash than the account holds: the small BND sale comes
    # back despite the minimum and sales round up.
    sells = np.array([250 * 1.7, 0.0, 72.5 * 2.2])
    out = round_trades(p, np.zeros(p.security_count), sells, np.zeros(3, dtype=bool), 10_500.0)
    cash = 10_000 + (out.sell_shares * p.price[p.lot_security]).sum() * 0.9995
    assert cash >= 10_500.0
    assert out.for_cash.any()
    assert np.all(out.sell_shares <= p.quantity)


def test_a_lot_sold_to_within_solver_noise_is_sold_whole():
    p = portfolio_for_rounding(min_trade_value=0.0)
    sells = np.array([0.0, 250 * 10.5 - 1e-4, 0.0])  # V2 holds 10.5 shares
    out = round_trades(p, np.zeros(p.security_count), sells, np.zeros(3, dtype=bool), 0.0)
    assert out.sell_shares[1] == 10.5


# --- presolve ------------------------------------------------------------------------


def harvest_account(**settings) -> Problem:
    # VTI under target with a deep loss lot (a harvest that pays), a tiny loss (one
    # that does not) and a large gain; BND with a gain only.
    lots_ = [
        lot("V1", "VTI", 400, 400 * 250.0 * 1.4, rate=0.37),  # loss 29% of value
        lot("V2", "VTI", 100, 100 * 250.0 * 1.001, rate=0.20),  # loss 0.1%
        lot("V3", "VTI", 300, 300 * 250.0 * 0.5, rate=0.20),  # gain 50%
        lot("B1", "BND", 1_500, 1_500 * 72.5 * 0.8, rate=0.20),
    ]
    return problem(balanced(vti=0.6, bnd=0.38), lots_, cash=60_000.0, **settings)


def test_presolve_sells_paying_harvests_and_keeps_costly_lots_of_the_same_security():
    from lotline.domain.optimiser.presolve import settled_lots

    p = Portfolio.from_problem(harvest_account())
    presold, kept = settled_lots(Layout.of(p))
    assert [p.lot_ids[j] for j in presold] == ["V1"]
    assert [p.lot_ids[j] for j in kept] == ["V3"]
    # No benefit from losses, nothing to settle.
    for settings in (dict(harvest_losses=False), dict(taxable=False)):
        p = Portfolio.from_problem(harvest_account(**settings))
        presold, kept = settled_lots(Layout.of(p))
        assert len(presold) == 0 and len(kept) == 0


def objective_of(result) -> float:
    return result.continuous.objective.total + result.continuous.penalty


@pytest.mark.parametrize("seed", range(6))
def test_presolve_reaches_the_full_problems_optimum(seed):
    from tests.unit.test_optimiser import UNIVERSE

    rng = np.random.default_rng(seed)
    lots_ = []
    for symbol, (_, _, price, _, _) in UNIVERSE.items():
        for k in range(rng.integers(1, 5)):
            quantity = int(rng.integers(20, 400))
            lots_.append(lot(f"{symbol}{k}", symbol, quantity, quantity * price * rng.uniform(0.5, 1.6), rate=rng.choice([0.2, 0.37])))
    p = problem(
        balanced(vti=0.4, bnd=0.3, ITOT=0.1, VXUS=0.18),
        lots_,
        cash=float(rng.uniform(0, 50_000)),
        required_cash=float(rng.uniform(0, 20_000)),
        gain_budget=float(rng.uniform(0, 5_000)) if seed % 2 else None,
    )
    presolved = optimise(p)
    full = optimise(p, solver_options={"presolve": False})
    assert objective_of(presolved) == pytest.approx(objective_of(full), rel=1e-7, abs=1e-6)
    assert presolved.continuous.no_buy == full.continuous.no_buy
    assert presolved.continuous.no_sell == full.continuous.no_sell


def test_a_failed_presolve_check_falls_back_to_the_full_solve(monkeypatch):
    import lotline.domain.optimiser.presolve as presolve

    p = harvest_account()
    full = optimise(p, solver_options={"presolve": False})
    # Presell every loss lot, the tiny loss whose round trip does not pay included:
    # the check finds its reduced cost positive and the full problem is solved.
    monkeypatch.setattr(presolve, "BENEFIT_MARGIN", -1.0)
    fallback = optimise(p)
    assert fallback.solves == full.solves + 1
    assert objective_of(fallback) == pytest.approx(objective_of(full), rel=1e-7, abs=1e-6)
    assert fallback.buys == full.buys and fallback.sells == full.sells


# --- reasons -------------------------------------------------------------------------


def reasons_of(prob: Problem, sold, forced=(), for_cash=(), bought=None) -> dict[str, str]:
    """Each sold lot's reason (the lots sold in full) and each bought symbol's."""
    p = Portfolio.from_problem(prob)
    lots = np.array(sorted(p.lot_ids.index(lot_id) for lot_id in sold), dtype=np.intp)
    buys, _ = trades(p, bought or {})
    sells = np.where(np.isin(np.arange(p.lot_count), lots), p.value, 0.0)

    def flags(lot_ids):
        return np.isin(np.arange(p.lot_count), [p.lot_ids.index(lot_id) for lot_id in lot_ids])

    bought_at = np.flatnonzero(buys > 0)
    purchases, sales = order_reasons(p, bought_at, buys, lots, sells, flags(forced), flags(for_cash),
                                     p.gain_ratio * sells)
    return {**dict(zip([p.lot_ids[j] for j in lots], sales)), **dict(zip([p.symbols[i] for i in bought_at], purchases))}


def test_a_sale_is_named_once_for_all_its_lots_by_the_first_reason_that_holds():
    # V1 (VTI) sells at a gain of 5,000, V2 (VTI) at a loss of 2,500, B1 (BND) at a loss,
    # I1 (ITOT, not targeted) at a gain; cash covers what the account requires.
    prob = sample()
    R = OrderReason
    assert reasons_of(prob, ["V1", "V2", "I1", "B1"]) == {"V1": R.REBALANCE, "V2": R.REBALANCE, "I1": R.TRANSITION,
                                                          "B1": R.HARVEST}
    assert reasons_of(prob, ["V2"]) == {"V2": R.HARVEST}
    assert reasons_of(prob, ["V1"]) == {"V1": R.REBALANCE}
    assert reasons_of(prob, ["V1"], for_cash=["V1"]) == {"V1": R.CASH_REQUEST}
    # A restriction comes first, for every lot of the security; cash kept in rounding before leaving the target.
    assert reasons_of(prob, ["V1", "V2"], forced=["V2"]) == {"V1": R.RESTRICTION, "V2": R.RESTRICTION}
    assert reasons_of(prob, ["I1"], for_cash=["I1"]) == {"I1": R.CASH_REQUEST}


def test_a_sale_realising_a_gain_is_never_a_harvest_and_a_loss_is_one_only_where_losses_pay():
    lots_ = sample().lots
    # VTI's two lots: a loss on one, a larger gain on the other: the sale realises a gain.
    assert OrderReason.HARVEST not in reasons_of(sample(), ["V1", "V2"]).values()
    untaxed = problem(balanced(), lots_, cash=10_000.0, taxable=False)
    assert reasons_of(untaxed, ["B1"]) == {"B1": OrderReason.REBALANCE}
    short = problem(balanced(), lots_, cash=10_000.0, required_cash=20_000.0)
    # Short of cash, a sale nothing else explains raises it; a loss sale is still a harvest.
    assert reasons_of(short, ["V1", "B1"]) == {"V1": OrderReason.CASH_REQUEST, "B1": OrderReason.HARVEST}
    # Buying more than is sold raises no cash: the gain sale is a rebalance.
    assert reasons_of(short, ["V1"], bought={"SCHB": 30_000.0})["V1"] == OrderReason.REBALANCE


def test_orders_in_a_class_beyond_its_drift_limit_are_drift_limit_orders():
    # us_equity is 61% against 60% and bonds 23% against 38%: both beyond a 0.5% limit;
    # cash (16% against 2%) is beyond its limit too.
    beyond = (ClassLimit("us_equity", 0.6, 0.005, beyond_limit=True), ClassLimit("bonds", 0.38, 0.005, beyond_limit=True),
              ClassLimit("cash", 0.02, 0.005, beyond_limit=True))
    prob = problem(balanced(), sample().lots, cash=10_000.0, required_cash=2_000.0, class_limits=beyond)
    R = OrderReason
    # Over its target, us_equity sells (even a loss: the limit comes first); under it, bonds buys.
    assert reasons_of(prob, ["V2"], bought={"BND": 5_000.0}) == {"V2": R.DRIFT_LIMIT, "BND": R.DRIFT_LIMIT}
    # A bonds loss sale is no drift-limit sale (bonds is under its target): it harvests.
    assert reasons_of(prob, ["B1"])["B1"] == R.HARVEST
    # Cash over its limit: a purchase nothing else explains invests it, under the limit.
    assert reasons_of(prob, [], bought={"VXUS": 6_000.0}) == {"VXUS": R.DRIFT_LIMIT}
    # Within their limits, the same orders are not.
    within = problem(balanced(), sample().lots, cash=10_000.0, required_cash=2_000.0)
    assert reasons_of(within, ["V2"], bought={"BND": 15_000.0}) == {"V2": R.HARVEST, "BND": R.FUND_PURCHASE}


def test_a_purchase_replaces_a_harvest_or_a_transition_in_its_class_invests_cash_or_rebalances():
    prob = sample()
    R = OrderReason
    assert reasons_of(prob, ["V2"], bought={"SCHB": 12_000.0})["SCHB"] == R.HARVEST
    assert reasons_of(prob, ["I1"], bought={"VTI": 1_000.0})["VTI"] == R.TRANSITION
    # No sale in its class: a purchase beyond what the sales bring in invests the spare cash...
    assert reasons_of(prob, ["I1"], bought={"BND": 5_000.0})["BND"] == R.FUND_PURCHASE
    # ...unless the sales pay for it (or it spends less than the minimum trade more).
    assert reasons_of(prob, ["V1"], bought={"BND": 5_000.0})["BND"] == R.REBALANCE
    assert reasons_of(prob, ["I1"], bought={"BND": 1_250.0})["BND"] == R.REBALANCE
    # Bought in a class its sales shrink, a purchase is a swap within the class, not cash put to work.
    assert reasons_of(prob, ["V1"], bought={"BND": 5_000.0, "SCHB": 10_000.0, "VXUS": 12_000.0}) == {
        "V1": R.REBALANCE, "SCHB": R.REBALANCE, "BND": R.FUND_PURCHASE, "VXUS": R.FUND_PURCHASE}
    # A harvest sale in another class is replaced by nothing here.
    assert reasons_of(prob, ["B1"], bought={"SCHB": 14_000.0})["SCHB"] == R.REBALANCE


def test_wash_group_lead_is_the_longest_history_first_among_equals():
    from types import SimpleNamespace

    from lotline.domain.optimiser.portfolio import wash_group_leads

    symbols = ("A", "B", "C", "D", "E", "F", "G")
    wash_group = np.array([0, 1, 0, 2, 1, 0, 2], dtype=np.intp)
    history = {"A": 40, "B": 250, "C": 250, "D": 10, "E": 250, "F": 250, "G": 9}
    risk = SimpleNamespace(history_of=history.__getitem__)
    # Group 0 (A, C, F): C and F tie on the longest history, C comes first.
    assert wash_group_leads(risk, symbols, wash_group).tolist() == [2, 1, 3]
    # No history known: each group's first member.
    assert wash_group_leads(object(), symbols, wash_group).tolist() == [0, 1, 3]
