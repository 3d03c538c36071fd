"""The optimiser's behaviour on small accounts whose right answer is known in kind.

The builders at the top are shared with the other optimiser test modules.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lotline.domain.optimiser import (
    ClassLimit,
    LotInput,
    OptimiserSettings,
    Problem,
    SecurityInput,
    evaluate_objective,
    optimise,
)
from lotline.domain.risk import RiskModel
from lotline.domain.vocabulary import OrderReason

# --- builders ----------------------------------------------------------------------

# Two US equity funds that track each other closely (a substitute pair in different
# wash groups), a bond fund, an international fund.
UNIVERSE = {
    # symbol: (class, wash group, price, market loading, specific variance)
    "VTI": ("us_equity", "us-total", 250.0, 0.18, 0.0004),
    "ITOT": ("us_equity", "us-total", 120.0, 0.18, 0.0004),
    "SCHB": ("us_equity", "us-broad", 22.0, 0.18, 0.0005),
    "VXUS": ("intl_equity", "intl", 60.0, 0.15, 0.004),
    "BND": ("bonds", "us-agg", 72.5, 0.02, 0.0009),
}


def risk_model(symbols=tuple(UNIVERSE)) -> RiskModel:
    loadings = np.array([[UNIVERSE[s][3]] for s in symbols])
    specific = np.array([UNIVERSE[s][4] for s in symbols])
    return RiskModel(tuple(symbols), loadings, specific)


def security(symbol, target=0.0, can_buy=True, must_exit=False, price=None) -> SecurityInput:
    asset_class, group, default_price, _, _ = UNIVERSE[symbol]
    return SecurityInput(symbol, asset_class, group, price or default_price, target, can_buy, must_exit)


def lot(lot_id, symbol, quantity, basis, rate=0.20, can_sell=True, blocked=False) -> LotInput:
    return LotInput(lot_id, symbol, float(quantity), float(basis), rate, can_sell, blocked)


def limits(us=0.6, bonds=0.38, cash=0.02, drift=0.03, intl=None) -> tuple[ClassLimit, ...]:
    out = [ClassLimit("us_equity", us, drift), ClassLimit("bonds", bonds, drift), ClassLimit("cash", cash, drift)]
    if intl is not None:
        out.append(ClassLimit("intl_equity", intl, drift))
    return tuple(out)


def problem(
    securities,
    lots=(),
    cash=0.0,
    required_cash=0.0,
    class_limits=None,
    gain_budget=None,
    **settings,
) -> Problem:
    return Problem(
        securities=tuple(securities),
        lots=tuple(lots),
        cash=float(cash),
        required_cash=float(required_cash),
        class_limits=limits() if class_limits is None else tuple(class_limits),
        gain_budget_remaining=gain_budget,
        risk=risk_model(),
        settings=OptimiserSettings(**settings),
    )


def balanced(vti=0.6, bnd=0.38, **kwargs) -> list[SecurityInput]:
    """VTI/BND at the balanced template's weights, the rest available, not targeted."""
    targets = {"VTI": vti, "BND": bnd}
    targets.update(kwargs)
    return [security(s, targets.get(s, 0.0)) for s in UNIVERSE]


def weights(p: Problem, result) -> dict[str, float]:
    """Post-trade weight per asset class, cash included."""
    price = {s.symbol: s.price for s in p.securities}
    klass = {s.symbol: s.asset_class for s in p.securities}
    value = {s.symbol: 0.0 for s in p.securities}
    for lot_ in p.lots:
        value[lot_.symbol] += lot_.quantity * price[lot_.symbol]
    total = p.cash + sum(value.values())
    for order in result.buys:
        value[order.symbol] += order.shares * price[order.symbol]
    for order in result.sells:
        value[order.symbol] -= order.shares * price[order.symbol]
    out: dict[str, float] = {"cash": result.cash_after / total}
    for symbol, v in value.items():
        out[klass[symbol]] = out.get(klass[symbol], 0.0) + v / total
    return out


def sold(result, lot_id) -> float:
    return sum(o.shares for o in result.sells if o.lot_id == lot_id)


def bought(result, symbol) -> float:
    return sum(o.shares for o in result.buys if o.symbol == symbol)


# --- behaviour -----------------------------------------------------------------------


def test_all_cash_account_goes_to_target_within_drift_limits():
    p = problem(balanced(), cash=1_000_000.0)
    result = optimise(p)
    w = weights(p, result)
    assert abs(w["us_equity"] - 0.60) <= 0.03
    assert abs(w["bonds"] - 0.38) <= 0.03
    assert abs(w["cash"] - 0.02) <= 0.03
    assert bought(result, "VTI") > 0 and bought(result, "BND") > 0
    assert result.cash_after >= 0
    assert result.softened == ()
    assert result.benefit > 0
    for order in result.buys:
        assert order.shares == math.floor(order.shares)


def test_required_cash_is_raised():
    lots = [lot("L1", "VTI", 2400, 500_000), lot("L2", "BND", 5240, 380_000)]
    p = problem(balanced(), lots, cash=20_000.0, required_cash=100_000.0)
    result = optimise(p)
    assert result.cash_after >= 100_000.0
    assert result.sells
    # Every sale raises the cash (a lot kept for it is named so even at a small loss);
    # only a loss sale nothing else demands may be named a harvest.
    assert all(o.reason == OrderReason.CASH_REQUEST or (o.reason == OrderReason.HARVEST and o.gain < 0 and not o.mandatory)
               for o in result.sells)
    assert OrderReason.CASH_REQUEST in {o.reason for o in result.sells}
    assert "required_cash" not in result.softened


def test_cash_request_larger_than_the_account_is_softened_and_reported():
    lots = [lot("L1", "VTI", 10, 2_000)]
    p = problem(balanced(), lots, cash=1_000.0, required_cash=10_000.0)
    result = optimise(p)
    assert "required_cash" in result.softened
    assert sold(result, "L1") == 10  # everything that can be sold is sold
    assert result.cash_after >= 0


def test_restricted_security_is_never_bought():
    securities = [security(s, {"VTI": 0.6, "BND": 0.38}.get(s, 0.0), can_buy=(s != "VTI")) for s in UNIVERSE]
    p = problem(securities, cash=500_000.0)
    result = optimise(p)
    assert bought(result, "VTI") == 0
    # The us_equity weight goes to the close substitutes instead.
    assert bought(result, "ITOT") + bought(result, "SCHB") > 0


def test_must_exit_position_is_sold_in_full():
    securities = balanced(vti=0.6, bnd=0.38)
    securities[3] = security("VXUS", 0.0, must_exit=True)
    lots = [
        lot("L1", "VTI", 2400, 500_000),
        lot("L2", "BND", 5240, 380_000),
        lot("X1", "VXUS", 100.5, 5_000),  # a fractional lot goes too
        lot("X2", "VXUS", 1, 100),  # tiny, below the minimum trade, still mandatory
    ]
    p = problem(securities, lots, cash=20_000.0)
    result = optimise(p)
    assert sold(result, "X1") == 100.5
    assert sold(result, "X2") == 1
    exits = [o for o in result.sells if o.symbol == "VXUS"]
    assert all(o.reason == OrderReason.RESTRICTION and o.mandatory for o in exits)
    assert bought(result, "VXUS") == 0


def test_must_exit_lot_that_cannot_be_sold_is_reported():
    securities = balanced()
    securities[3] = security("VXUS", 0.0, must_exit=True)
    lots = [lot("L1", "VTI", 2400, 500_000), lot("X1", "VXUS", 100, 5_000, can_sell=False)]
    result = optimise(problem(securities, lots, cash=400_000.0))
    assert "must_exit:VXUS" in result.softened
    assert sold(result, "X1") == 0


def test_lots_that_may_not_be_sold_are_untouched():
    # Far overweight VTI, but its only lot is locked: nothing of it moves.
    lots = [lot("L1", "VTI", 3600, 500_000, can_sell=False), lot("L2", "BND", 1000, 70_000)]
    result = optimise(problem(balanced(), lots, cash=10_000.0))
    assert sold(result, "L1") == 0


def harvest_problem(**settings) -> Problem:
    # VTI at target but deep under water; SCHB tracks it closely from another wash
    # group; the tax saved on the loss dwarfs the tracking error of the swap.
    lots = [lot("L1", "VTI", 2400, 900_000, rate=0.37), lot("L2", "BND", 5240, 370_000)]
    return problem(balanced(), lots, cash=20_000.0, **settings)


def test_loss_lot_is_harvested_when_harvesting_pays():
    result = optimise(harvest_problem())
    assert sold(result, "L1") > 0
    harvest = [o for o in result.sells if o.lot_id == "L1"]
    assert harvest[0].reason == OrderReason.HARVEST and harvest[0].gain < 0
    # The proceeds stay in US equity through the substitute, not the same wash group.
    assert bought(result, "SCHB") > 0
    assert bought(result, "VTI") == 0 and bought(result, "ITOT") == 0
    assert result.objective_after.tax < 0


def test_harvest_survives_a_first_solve_that_buys_the_lot_back():
    # VTI is under target: the first solve sells the loss lot and buys VTI back (more
    # than it sold). The harvest must survive through the substitute, SCHB.
    lots = [lot("L1", "VTI", 2000, 750_000, rate=0.37), lot("L2", "BND", 5240, 370_000)]
    result = optimise(problem(balanced(), lots, cash=120_000.0))
    assert sold(result, "L1") > 0
    assert bought(result, "VTI") == 0 and bought(result, "ITOT") == 0
    assert bought(result, "SCHB") > 0
    assert any(note == "wash_sale:us-total:sales_kept" for note in result.resolved)


def test_no_harvest_in_a_tax_exempt_account():
    result = optimise(harvest_problem(taxable=False))
    assert sold(result, "L1") == 0
    assert result.objective_after.tax == 0


def test_no_harvest_when_harvesting_is_off():
    result = optimise(harvest_problem(harvest_losses=False))
    assert sold(result, "L1") == 0


def test_short_term_big_gain_lot_is_kept_when_drift_is_small():
    # VTI 62% against 60%: inside the limit, and selling would realise a large
    # short-term gain.
    lots = [lot("L1", "VTI", 2480, 150_000, rate=0.37), lot("L2", "BND", 5240, 380_000)]
    result = optimise(problem(balanced(), lots, cash=20_000.0))
    assert sold(result, "L1") == 0


def test_gain_budget_is_respected():
    # VTI far overweight (80% vs 60%, limit 3%) with a large long-term gain: without a
    # budget the drift limit forces a big sale; a budget caps the gain.
    lots = [lot("L1", "VTI", 3200, 200_000, rate=0.20), lot("L2", "BND", 2500, 180_000)]
    unlimited = optimise(problem(balanced(), lots, cash=20_000.0))
    realised = sum(o.gain for o in unlimited.sells)
    assert realised > 50_000
    capped = optimise(problem(balanced(), lots, cash=20_000.0, gain_budget=20_000.0))
    realised_capped = sum(o.gain for o in capped.sells)
    assert realised_capped <= 20_000.0 + 250.0  # rounding to whole shares
    # The budget outranks the drift limit, which is softened and reported.
    assert "drift_limit:us_equity" in capped.softened
    assert "gain_budget" not in capped.softened


def test_mandatory_sales_exceed_the_gain_budget_only_as_far_as_they_must():
    securities = balanced()
    securities[3] = security("VXUS", 0.0, must_exit=True)
    lots = [
        lot("L1", "VTI", 2400, 300_000),
        lot("L2", "BND", 5240, 380_000),
        lot("X1", "VXUS", 1000, 10_000),  # 50,000 of gain that must be realised
    ]
    result = optimise(problem(securities, lots, cash=20_000.0, gain_budget=5_000.0))
    assert "gain_budget" in result.softened
    realised = sum(o.gain for o in result.sells)
    assert realised == pytest.approx(50_000.0, abs=500.0)


def test_near_target_the_benefit_is_tiny():
    lots = [lot("L1", "VTI", 2401, 600_000), lot("L2", "BND", 5242, 380_000)]
    p = problem(balanced(), lots, cash=19_872.0)
    result = optimise(p)
    value = 19_872.0 + 2401 * 250.0 + 5242 * 72.5
    assert abs(result.benefit) < 0.0005 * value  # under the 5 bp trade threshold


def test_no_buy_and_loss_sale_in_one_wash_group():
    # ITOT shares VTI's wash group and is under target: buying it while harvesting
    # VTI would be a wash sale.
    securities = balanced(vti=0.3, ITOT=0.3)
    lots = [lot("L1", "VTI", 2400, 900_000, rate=0.37), lot("L2", "BND", 5240, 370_000)]
    result = optimise(problem(securities, lots, cash=20_000.0))
    group = {"VTI", "ITOT"}
    buys_in_group = sum(o.dollars for o in result.buys if o.symbol in group)
    loss_sales_in_group = sum(o.dollars for o in result.sells if o.symbol in group and o.gain < 0)
    assert buys_in_group == 0 or loss_sales_in_group == 0
    assert result.solves >= 2
    assert any(note.startswith("wash_sale:us-total:") for note in result.resolved)


def test_never_buy_and_sell_the_same_security():
    rng = np.random.default_rng(5)
    for _ in range(5):
        lots = [lot(f"V{i}", "VTI", 200, 200 * 250.0 * rng.uniform(0.6, 1.4)) for i in range(6)]
        lots += [lot("B1", "BND", 3000, 3000 * 72.5 * rng.uniform(0.9, 1.1))]
        result = optimise(problem(balanced(), lots, cash=rng.uniform(0, 300_000)))
        sold_symbols = {o.symbol for o in result.sells}
        assert not sold_symbols & {o.symbol for o in result.buys}


def test_orders_under_the_minimum_trade_value_are_dropped():
    lots = [lot("L1", "VTI", 2404, 600_000), lot("L2", "BND", 5240, 380_000)]
    result = optimise(problem(balanced(), lots, cash=19_000.0, min_trade_value=5_000.0))
    for order in result.buys:
        assert order.dollars >= 5_000.0
    per_symbol: dict[str, float] = {}
    for order in result.sells:
        per_symbol[order.symbol] = per_symbol.get(order.symbol, 0.0) + order.dollars
    assert all(v >= 5_000.0 for v in per_symbol.values())


def test_fractional_shares_when_the_account_allows_them():
    result = optimise(problem(balanced(), cash=100_000.0, fractional_shares=True))
    assert any(o.shares != math.floor(o.shares) for o in result.buys)
    assert result.cash_after >= -1e-6


def test_infeasible_drift_limit_is_softened_and_reported():
    # No bond can be bought and none is held: the bond class cannot reach 38% - 3%.
    securities = [security(s, {"VTI": 0.6, "BND": 0.38}.get(s, 0.0), can_buy=(s != "BND")) for s in UNIVERSE]
    result = optimise(problem(securities, cash=1_000_000.0))
    assert "drift_limit:bonds" in result.softened
    assert "drift_limit:us_equity" not in result.softened


def test_objective_after_is_evaluate_objective_on_the_orders():
    p = harvest_problem()
    result = optimise(p)
    assert evaluate_objective(p, result.buys, result.sells) == result.objective_after
    assert evaluate_objective(p, (), ()) == result.objective_before
    assert result.benefit == result.objective_before.total - result.objective_after.total
    terms = result.objective_after
    assert terms.total == terms.tracking + terms.tax + terms.cost


def test_continuous_solution_scores_close_to_the_rounded_one():
    p = harvest_problem()
    result = optimise(p)
    buys, sells = result.continuous.as_orders(p)
    continuous = evaluate_objective(p, buys, sells)
    assert continuous.total == pytest.approx(result.continuous.objective.total, rel=1e-9, abs=1e-6)
    assert result.continuous.status == "optimal"
    # Whole shares cost a little, never much.
    assert result.objective_after.total - continuous.total < 0.001 * 1_000_000


def test_two_runs_are_identical_bit_for_bit():
    p = harvest_problem()
    a, b = optimise(p), optimise(p)
    assert a == b
    assert repr(a) == repr(b)


def test_an_account_with_nothing_to_do_stays_put():
    lots = [lot("L1", "VTI", 2400, 600_000)]
    securities = [security(s, {"VTI": 0.98}.get(s, 0.0)) for s in UNIVERSE]
    p = problem(securities, lots, cash=12_245.0, class_limits=(ClassLimit("us_equity", 0.98, 0.03),))
    result = optimise(p)
    assert result.buys == () and result.sells == ()
    assert result.benefit == 0.0


def test_empty_account_holding_only_cash_with_no_securities():
    p = Problem((), (), 1_000.0, 0.0, (ClassLimit("cash", 1.0, 0.0),), None, RiskModel((), np.zeros((0, 0)), np.zeros(0)))
    result = optimise(p)
    assert result.buys == () and result.sells == ()
    assert result.cash_after == 1_000.0


# --- invariants on random accounts ---------------------------------------------------


@st.composite
def random_problems(draw):
    seed = draw(st.integers(0, 10_000))
    rng = np.random.default_rng(seed)
    symbols = list(UNIVERSE)
    targets = rng.dirichlet(np.ones(len(symbols))) * rng.uniform(0.9, 1.0)
    securities = []
    for i, s in enumerate(symbols):
        securities.append(
            security(
                s,
                float(targets[i]) if rng.random() < 0.8 else 0.0,
                can_buy=bool(rng.random() > 0.15),
                must_exit=bool(rng.random() < 0.08),
            )
        )
    lots = []
    for j in range(int(rng.integers(0, 12))):
        s = symbols[int(rng.integers(len(symbols)))]
        quantity = float(rng.integers(1, 400))
        basis = quantity * UNIVERSE[s][2] * float(rng.uniform(0.5, 1.6))
        lots.append(
            lot(f"L{j}", s, quantity, basis, rate=float(rng.choice([0.2, 0.37])),
                can_sell=bool(rng.random() > 0.1), blocked=bool(rng.random() < 0.2))
        )
    cash = float(rng.uniform(0, 50_000))
    required = float(rng.choice([0.0, rng.uniform(0, 20_000)]))
    budget = None if rng.random() < 0.5 else float(rng.uniform(0, 5_000))
    class_targets = {"us_equity": 0.0, "bonds": 0.0, "intl_equity": 0.0}
    for sec, t in zip(securities, targets):
        class_targets[sec.asset_class] += sec.target_weight
    class_limits = tuple(ClassLimit(c, w, 0.05) for c, w in class_targets.items()) + (
        ClassLimit("cash", 1.0 - sum(class_targets.values()), 0.05),
    )
    if cash + sum(l.quantity * UNIVERSE[l.symbol][2] for l in lots) <= 0:
        cash = 1_000.0
    return problem(
        securities, lots, cash=cash, required_cash=required, class_limits=class_limits, gain_budget=budget,
        min_trade_value=float(rng.choice([0.0, 100.0, 1000.0])), fractional_shares=bool(rng.random() < 0.3),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_problems())
def test_invariants_hold_on_random_accounts(p):
    result = optimise(p)
    by_id = {l.lot_id: l for l in p.lots}
    by_symbol = {s.symbol: s for s in p.securities}
    assert result.cash_after >= -1e-6
    for order in result.sells:
        held = by_id[order.lot_id]
        assert 0 < order.shares <= held.quantity
        assert held.can_sell
        if not by_symbol[order.symbol].must_exit and held.loss_sale_blocked:
            assert held.cost_basis <= held.quantity * by_symbol[order.symbol].price  # no blocked loss sale
        if not p.settings.fractional_shares and order.shares != held.quantity:
            assert order.shares == math.floor(order.shares)
    for order in result.buys:
        assert by_symbol[order.symbol].can_buy and not by_symbol[order.symbol].must_exit
        if not p.settings.fractional_shares:
            assert order.shares == math.floor(order.shares)
        assert order.dollars >= p.settings.min_trade_value
    for security_ in p.securities:
        if security_.must_exit:
            for held in p.lots:
                if held.symbol == security_.symbol and held.can_sell:
                    assert sold(result, held.lot_id) == held.quantity
    sold_symbols = {o.symbol for o in result.sells}
    assert not sold_symbols & {o.symbol for o in result.buys}
    group_of = {s.symbol: s.wash_group for s in p.securities}
    loss_groups = {group_of[o.symbol] for o in result.sells if o.gain < 0}
    assert not loss_groups & {group_of[o.symbol] for o in result.buys}
    assert result.objective_after == evaluate_objective(p, result.buys, result.sells)


def test_building_a_problem_does_not_import_numpy():
    # The CLI imports domain modules and must start fast: the inputs (and the package
    # itself) load numpy and cvxopt only when the optimiser is used.
    import subprocess
    import sys

    code = (
        "import sys; import domain.optimiser; from domain.optimiser.inputs import Problem, SecurityInput; "
        "assert 'numpy' not in sys.modules and 'cvxopt' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=__file__.rsplit("/tests/", 1)[0])
