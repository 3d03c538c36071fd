"""The structured QP solver: its KKT solves (compiled, and the numpy ones cvxopt is given),
our compiled interior-point method against cvxopt's coneqp (generic dense path, and the same
KKT algebra), the whole analysis on either."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from cvxopt import matrix, solvers

from lotline.domain.optimiser import ClassLimit, LotInput, OptimiserSettings, Problem, SecurityInput, optimise
from lotline.domain.optimiser import kernel
from lotline.domain.optimiser.qp import DEFAULT_SOLVER_OPTIONS, DenseKKT, StructuredKKT, StructuredQP, solve_structured
from lotline.domain.risk import RiskModel


def random_qp(seed: int, securities=12, lots=30, factors=3, rows=5, slacks=2, with_buys=True) -> StructuredQP:
    rng = np.random.default_rng(seed)
    per = rng.multinomial(lots, np.ones(securities) / securities)
    signs, starts = [], []
    for i in range(securities):
        if per[i] == 0 and not with_buys:
            continue
        starts.append(len(signs))
        signs += ([1.0] if with_buys or per[i] == 0 else []) + [-1.0] * per[i]
    signs = np.array(signs)
    m = len(signs)
    n = m + slacks
    q = rng.normal(size=n) * 0.05
    q[m:] = 1.0
    upper_index = np.flatnonzero(signs < 0)
    dense = rng.normal(size=(rows, n)) * (rng.random((rows, n)) < 0.6)
    dense[:, m:] = 0.0
    for j in range(min(rows, slacks)):
        dense[j, m + j] = -1e-3
    # A class-like row: constant per security times the signs.
    if rows:
        per_security = rng.normal(size=len(starts))
        lengths = np.diff(np.append(np.asarray(starts, dtype=np.intp), m))
        dense[-1, :m] = np.repeat(per_security, lengths) * signs
    return StructuredQP(
        q=q,
        signs=signs,
        segment_starts=np.array(starts, dtype=np.intp),
        segment_alpha=rng.uniform(0.05, 1.0, len(starts)),
        segment_loadings=rng.normal(size=(len(starts), factors)) * 0.3,
        upper_index=upper_index,
        upper=rng.uniform(0.001, 0.02, len(upper_index)),
        rows=dense,
        rhs=rng.uniform(0.0, 0.05, rows),
    )


def dense_solve(qp: StructuredQP) -> np.ndarray:
    result = solvers.coneqp(
        matrix(qp.dense_hessian()),
        matrix(qp.q),
        qp.inequality_matrix(),
        matrix(qp.inequality_rhs()),
        options=DEFAULT_SOLVER_OPTIONS,
    )
    assert result["status"] == "optimal"
    return np.array(result["x"]).ravel()


def test_hessian_product_matches_the_dense_hessian():
    qp = random_qp(1)
    z = np.random.default_rng(0).normal(size=qp.size)
    np.testing.assert_allclose(qp.hessian_times(z), qp.dense_hessian() @ z, rtol=1e-12, atol=1e-14)


class CompiledKKT:
    """The compiled kernel's KKT factorisation and solve behind StructuredKKT's interface."""

    def __init__(self, qp: StructuredQP) -> None:
        self.qp, self.setup = qp, StructuredKKT(qp)

    def factor(self, d: np.ndarray):
        qp, setup = self.qp, self.setup
        n, nu, m, r = qp.size, len(qp.upper_index), qp.segmented, len(qp.rhs)
        segments, k, e = len(qp.segment_starts), qp.segment_loadings.shape[1], setup.residual_basis.shape[1]
        work = kernel.work_arrays(n, nu, m, segments, k, e, r)
        c = np.ascontiguousarray
        common = (n, nu, m, c(qp.upper_index, np.int64))
        assert kernel._factor(d, *common, c(qp.signs), c(setup.segment_of, np.int64), c(qp.segment_alpha),
                              c(qp.segment_loadings), c(qp.rows), c(setup.row_segments), c(setup.residual_basis),
                              c(setup.residual_mix), c(setup.tail_rows), *work)

        def solve(bx, bz):
            kernel._kkt_solve(bx, bz, *common, c(setup.segment_of, np.int64), c(qp.segment_alpha),
                              c(qp.segment_loadings), c(qp.rows), c(setup.residual_mix), c(setup.tail_rows), *work)

        return solve


@pytest.mark.parametrize("kkt_class", [CompiledKKT, StructuredKKT, DenseKKT])
@pytest.mark.parametrize("scale", [1.0, 1e-4, 1e4])
@pytest.mark.parametrize("seed", [2, 4])
def test_kkt_solve_has_a_tiny_backward_error_even_at_extreme_scalings(scale, kkt_class, seed):
    qp = random_qp(seed)
    g = np.array(matrix(qp.inequality_matrix()))
    rng = np.random.default_rng(3)
    rows = g.shape[0]
    # Interior-point scalings late in a solve: some constraints tight (d -> 0), some
    # slack (d -> infinity), spanning many orders of magnitude.
    d = np.exp(rng.uniform(-9, 9, rows)) * scale
    bx, bz = rng.normal(size=qp.size), rng.normal(size=rows)
    ux, uz = bx.copy(), bz.copy()
    kkt_class(qp).factor(d)(ux, uz)  # in place: ux, and W uz
    kkt = np.block([[qp.dense_hessian(), g.T / d], [g, -np.diag(d)]])
    solution = np.concatenate([ux, uz])
    residual = kkt @ solution - np.concatenate([bx, bz])
    backward = np.linalg.norm(residual) / (np.linalg.norm(kkt, np.inf) * np.linalg.norm(solution) + np.linalg.norm(np.concatenate([bx, bz])))
    assert backward < 1e-12


@pytest.mark.parametrize(
    "shape",
    [
        dict(),
        dict(securities=1, lots=1),
        dict(factors=0),
        dict(rows=0, slacks=0),
        dict(with_buys=False),
        dict(securities=40, lots=200, factors=5, rows=8, slacks=4),
    ],
)
def test_structured_solver_matches_cvxopt_dense(shape):
    for seed in range(3):
        qp = random_qp(seed, **shape)
        ours = solve_structured(qp)
        assert ours.status == "optimal"
        reference = dense_solve(qp)
        assert qp.objective(ours.z) == pytest.approx(qp.objective(reference), rel=1e-7, abs=1e-10)


def test_slack_only_problem():
    qp = StructuredQP(
        q=np.ones(2),
        signs=np.zeros(0),
        segment_starts=np.zeros(0, dtype=np.intp),
        segment_alpha=np.zeros(0),
        segment_loadings=np.zeros((0, 2)),
        upper_index=np.zeros(0, dtype=np.intp),
        upper=np.zeros(0),
        rows=np.array([[-1.0, 0.0], [0.0, -1.0]]),
        rhs=np.array([-0.5, 0.25]),  # the first row needs a slack of 0.5
    )
    z = solve_structured(qp).z
    assert z[0] == pytest.approx(0.5, abs=1e-8)
    assert z[1] == pytest.approx(0.0, abs=1e-8)


def test_warm_start_reaches_the_same_optimum_in_fewer_iterations():
    qp = random_qp(5, securities=30, lots=120)
    cold = solve_structured(qp)
    start = {
        "x": cold.z,
        "s": np.clip(cold.slacks, 0, None) + 1e-3,
        "z": np.clip(cold.duals, 0, None) + 1e-3,
    }
    warm = solve_structured(qp, start=start)
    assert qp.objective(warm.z) == pytest.approx(qp.objective(cold.z), rel=1e-7, abs=1e-10)
    assert warm.iterations < cold.iterations


@pytest.mark.parametrize("kkt", ["structured", "dense"])
def test_operators_follow_cvxopts_interface_under_refinement(kkt):
    # Iterative refinement calls P and G with alpha and beta keywords and both
    # transposes: the function-valued operators must honour all of them.
    qp = random_qp(8)
    refined = solve_structured(qp, {"kkt": kkt, "refinement": 2, "solver": "cvxopt"})
    assert refined.status == "optimal"
    assert qp.objective(refined.z) == pytest.approx(qp.objective(dense_solve(qp)), rel=1e-7, abs=1e-10)


# Our compiled interior-point method against cvxopt's coneqp on the same KKT algebra (in
# numpy) or the dense one: the same algorithm, so the same optimum and the same number
# of iterations give or take rounding, on random structured problems of every shape the
# optimiser produces.
qp_shapes = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 10_000),
        "securities": st.integers(1, 40),
        "lots": st.integers(0, 120),
        "factors": st.integers(0, 6),
        "rows": st.integers(0, 8),
        "slacks": st.integers(0, 4),
        "with_buys": st.booleans(),
    }
)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(shape=qp_shapes, kkt=st.sampled_from(["dense", "structured"]))
def test_interior_point_reaches_cvxopts_optimum(shape, kkt):
    qp = random_qp(**shape)
    assume(qp.size > 0)
    ours = solve_structured(qp)
    reference = solve_structured(qp, {"kkt": kkt, "solver": "cvxopt"})
    assert ours.status == reference.status == "optimal"
    assert qp.objective(ours.z) == pytest.approx(qp.objective(reference.z), rel=1e-7, abs=1e-10)
    assert abs(ours.iterations - reference.iterations) <= 1
    assert np.max(qp.inequality_matrix() * matrix(ours.z) - matrix(qp.inequality_rhs()), initial=0.0) <= 1e-8


def test_interior_point_from_a_given_start_matches_cvxopt_from_it():
    qp = random_qp(11, securities=30, lots=120)
    cold = solve_structured(qp, {"solver": "cvxopt"})
    start = {"x": cold.z, "s": np.clip(cold.slacks, 0, None) + 1e-3, "z": np.clip(cold.duals, 0, None) + 1e-3}
    ours = solve_structured(qp, start=start)
    reference = solve_structured(qp, {"solver": "cvxopt"}, start=start)
    assert ours.iterations == reference.iterations < cold.iterations
    np.testing.assert_allclose(ours.z, reference.z, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.duals, reference.duals, rtol=0, atol=1e-9)


def test_a_pure_lp_without_risk_is_solved():
    # No specific risk and no factors: P = 0, the problem is a linear programme.
    base = random_qp(12, factors=0, with_buys=False)  # lots only: bounded
    qp = StructuredQP(**{**base.__dict__, "segment_alpha": np.zeros_like(base.segment_alpha)})
    ours = solve_structured(qp)
    reference = solve_structured(qp, {"solver": "cvxopt"})
    assert ours.status == "optimal"
    assert qp.objective(ours.z) == pytest.approx(qp.objective(reference.z), rel=1e-7, abs=1e-10)


def test_out_of_iterations_returns_the_last_iterate_as_unknown_like_cvxopt():
    qp = random_qp(13)
    ours = solve_structured(qp, {"maxiters": 2})
    reference = solve_structured(qp, {"maxiters": 2, "solver": "cvxopt"})
    assert ours.status == reference.status == "unknown"
    np.testing.assert_allclose(ours.z, reference.z, rtol=0, atol=1e-12)


def test_a_start_outside_the_cone_is_refused():
    qp = random_qp(14)
    cold = solve_structured(qp)
    with pytest.raises(ValueError):
        solve_structured(qp, start={"x": cold.z, "s": cold.slacks * 0.0, "z": cold.duals + 1.0})


def test_the_same_problem_solves_to_the_same_bits():
    qp = random_qp(15, securities=40, lots=200, factors=5, rows=8, slacks=4)
    first, second = solve_structured(qp), solve_structured(qp)
    for a, b in ((first.z, second.z), (first.slacks, second.slacks), (first.duals, second.duals)):
        assert a.tobytes() == b.tobytes()
    assert first.iterations == second.iterations


def test_a_problem_without_variables_is_answered_not_crashed():
    qp = random_qp(16, securities=1, lots=0, rows=2, slacks=0, with_buys=False)
    assert qp.size == 0
    solution = solve_structured(qp)
    assert solution.z.shape == (0,)
    assert solution.status == ("optimal" if np.all(qp.rhs >= 0) else "infeasible")


def account(seed: int) -> Problem:
    """A small random account through the public inputs: four securities in three
    classes, lots at gains and losses, sometimes a gain budget or a cash request."""
    rng = np.random.default_rng(seed)
    universe = [("AAA", "us_equity", "g1"), ("BBB", "us_equity", "g2"), ("CCC", "bonds", "g3"), ("DDD", "intl_equity", "g4")]
    prices = rng.uniform(20, 300, len(universe))
    targets = np.array([0.35, 0.25, 0.3, 0.08])
    securities = tuple(
        SecurityInput(s, c, g, float(p), float(t), True, False) for (s, c, g), p, t in zip(universe, prices, targets)
    )
    lots = []
    for j in range(12):
        i = int(rng.integers(0, len(universe)))
        quantity = float(rng.integers(10, 400))
        basis = quantity * prices[i] * float(np.exp(rng.normal(0.0, 0.3)))
        lots.append(LotInput(f"L{j}", universe[i][0], quantity, round(basis, 2), float(rng.choice([0.2, 0.37])), True, False))
    risk = RiskModel(
        tuple(s for s, _, _ in universe),
        rng.normal(0.15, 0.05, (len(universe), 2)),
        rng.uniform(2e-4, 4e-3, len(universe)),
    )
    limits = (
        ClassLimit("us_equity", 0.6, 0.03),
        ClassLimit("bonds", 0.3, 0.03),
        ClassLimit("intl_equity", 0.08, 0.03),
        ClassLimit("cash", 0.02, 0.03),
    )
    value = sum(lot.quantity * prices[[s for s, _, _ in universe].index(lot.symbol)] for lot in lots)
    return Problem(
        securities,
        tuple(lots),
        float(rng.uniform(0.0, 0.05) * value),
        float(0.03 * value if seed % 3 == 0 else 0.0),
        limits,
        float(0.005 * value) if seed % 2 == 0 else None,
        risk,
        OptimiserSettings(),
    )


@pytest.mark.parametrize("seed", range(8))
def test_the_analysis_gives_the_same_orders_as_with_cvxopts_solver(seed):
    problem = account(seed)
    ours = optimise(problem)
    reference = optimise(problem, solver_options={"solver": "cvxopt"})
    assert [(o.symbol, o.shares) for o in ours.buys] == [(o.symbol, o.shares) for o in reference.buys]
    assert [(o.lot_id, o.shares) for o in ours.sells] == [(o.lot_id, o.shares) for o in reference.sells]
    assert ours.softened == reference.softened and ours.solves == reference.solves
    assert ours.objective_after.total == pytest.approx(reference.objective_after.total, rel=1e-9)


def test_the_analysis_is_bit_for_bit_repeatable():
    problem = account(3)
    first, second = optimise(problem), optimise(problem)
    assert first == second
    assert np.array([d for _, d in first.continuous.buys]).tobytes() == np.array([d for _, d in second.continuous.buys]).tobytes()


def test_the_solver_is_installed_compiled_ahead_and_gives_the_bits_numba_gives(monkeypatch):
    # setup.py compiles kernel.interior_point ahead of time: a process that solves does
    # not import numba (0.45 s a command). The same source compiled by numba's JIT (the
    # fallback where the build had no compiler) must give the same bits, or a decision
    # would replay differently on another machine's install.
    from lotline.domain.optimiser import _kernel
    from lotline.domain.optimiser import qp as qp_module

    assert qp_module.compiled_interior_point() is _kernel.interior_point
    assert (qp_module._OPTIMAL, qp_module._SINGULAR_AT_START) == (kernel.OPTIMAL, kernel.SINGULAR_AT_START)
    for seed in range(12):
        qp = random_qp(seed, securities=5 + 3 * seed, lots=10 + 15 * seed, factors=seed % 5, rows=seed % 7,
                       slacks=seed % 3, with_buys=seed % 4 != 1)
        monkeypatch.setattr(qp_module, "compiled_interior_point", lambda: _kernel.interior_point)
        ahead = solve_structured(qp)
        monkeypatch.setattr(qp_module, "compiled_interior_point", lambda: kernel.interior_point)
        jit = solve_structured(qp)
        assert ahead.iterations == jit.iterations and ahead.status == jit.status
        for a, b in ((ahead.z, jit.z), (ahead.slacks, jit.slacks), (ahead.duals, jit.duals)):
            assert a.tobytes() == b.tobytes()


def test_a_segment_without_variables_is_refused_before_the_compiled_solve():
    base = random_qp(17)
    starts = base.segment_starts.copy()
    starts[2] = starts[1]  # segment 1 is left empty
    with pytest.raises(ValueError, match="segment"):
        solve_structured(StructuredQP(**{**base.__dict__, "segment_starts": starts}))
