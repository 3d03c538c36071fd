"""Benchmark: Lotline's optimiser against the same problem in cvxpy + Clarabel, and Clarabel bare.

    python benchmarks/optimizer.py           # 20/60, 100/400, 500/2000; 9 accounts each
    python benchmarks/optimizer.py --quick   # 3 accounts each
    python benchmarks/optimizer.py --repeats 5   # each account timed 5 times (median)

Accounts are random but seeded and shaped like real ones: a factor risk model
estimated from synthetic returns, four asset classes plus cash, a blended target with
off-target holdings, lots with gains and losses at short- and long-term rates, drift,
a few restrictions (do-not-buy, a do-not-hold position, unsellable lots, wash-blocked
losses), a cash reserve, sometimes a cash request and a gain budget.

Per account, timed:
- ours: ``optimise(problem)``, everything the analysis does (every solve, rounding,
  scoring);
- lean cvxpy + Clarabel: the continuous problem of our last solve (the full QP, same
  directions shut, recorded from the analysis itself so that every term and row it
  has is in it), written lean in cvxpy (see ``lean_cvxpy``), built fresh and solved;
- bare Clarabel: Clarabel's own setup and solve on the matrices cvxpy hands it for
  that problem (building them untimed): what the modelling layer costs, and the floor
  for a call to Clarabel.

Both continuous solutions are scored on that QP's objective (its constant included:
the continuous objective in fractions of account value, penalties of softened rows
included), and the table shows the relative gap, and ours against Clarabel at 1e-12
tolerances.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

# One BLAS thread for both sides (ours and cvxpy + Clarabel): the application runs
# single-threaded BLAS (one process per account, and bit-for-bit replay), and threads
# only add overhead at these sizes. Set before numpy loads.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import lotline.domain.optimiser.optimiser as optimiser_module  # noqa: E402
from lotline.domain.optimiser import (  # noqa: E402
    ClassLimit,
    LotInput,
    OptimiserSettings,
    Problem,
    SecurityInput,
    optimise,
)
from lotline.domain.optimiser.qp import StructuredQP  # noqa: E402
from lotline.domain.risk import estimate_risk_model  # noqa: E402

CLASSES = (("us_equity", 0.45, 0.40), ("intl_equity", 0.20, 0.25), ("bonds", 0.30, 0.25), ("real_estate", 0.03, 0.10))
CASH_TARGET = 0.02
SIZES = ((20, 60), (100, 400), (500, 2000))
FEASIBILITY_TOLERANCE = 1e-7


def make_account(seed: int, n: int, m: int) -> Problem:
    rng = np.random.default_rng(seed)
    # Securities, classes, wash groups (about a third share a group with a neighbour).
    shares = np.array([c[2] for c in CLASSES])
    counts = np.maximum(1, np.round(shares / shares.sum() * n).astype(int))
    counts[0] += n - counts.sum()
    classes = [c[0] for c, k in zip(CLASSES, counts) for _ in range(k)]
    symbols = [f"S{i:04d}" for i in range(n)]
    groups = []
    for i in range(n):
        if i > 0 and classes[i] == classes[i - 1] and groups[-1] == symbols[i - 1] and rng.random() < 0.35:
            groups.append(groups[-1])
        else:
            groups.append(symbols[i])

    # Synthetic daily returns: 5 factors (market, international, rates, real estate, size).
    days = 300
    factor_vol = np.array([0.16, 0.10, 0.05, 0.12, 0.06]) / np.sqrt(252)
    factor_returns = rng.normal(size=(days, 5)) * factor_vol
    exposure = {
        "us_equity": [1.0, 0.0, 0.0, 0.0, 0.5],
        "intl_equity": [0.8, 1.0, 0.0, 0.0, 0.3],
        "bonds": [0.05, 0.0, 1.0, 0.0, 0.0],
        "real_estate": [0.6, 0.0, 0.4, 1.0, 0.2],
    }
    loadings = np.array([exposure[c] for c in classes]) * rng.uniform(0.7, 1.3, size=(n, 5))
    idio = rng.uniform(0.04, 0.20, n) / np.sqrt(252)
    idio[np.array(classes) == "bonds"] *= 0.2
    returns = factor_returns @ loadings.T + rng.normal(size=(days, n)) * idio
    prices = 50.0 * np.exp(np.cumsum(returns, axis=0)) * rng.uniform(0.5, 8.0, n)
    start = date(2025, 1, 1)
    dates = [start + timedelta(days=d) for d in range(days)]
    closes = prices.copy()
    short_history = rng.random(n) < 0.03  # recent listings: diagonal fallback
    closes[: days - 40, short_history] = np.nan
    risk = estimate_risk_model(closes, symbols=symbols, dates=dates)
    price = prices[-1]

    # Target: per class a model over ~70% of its securities.
    target = np.zeros(n)
    cls = np.array(classes)
    for name, weight, _ in CLASSES:
        members = np.flatnonzero(cls == name)
        chosen = members[rng.random(len(members)) < 0.7]
        if len(chosen) == 0:
            chosen = members[:1]
        target[chosen] = weight * rng.dirichlet(np.ones(len(chosen)) * 2.0)

    # Holdings: drifted target plus a few off-target positions.
    value = float(rng.uniform(1e6, 5e6))
    held = target * rng.lognormal(0.0, 0.3, n)
    off_target = (target == 0) & (rng.random(n) < 0.5)
    held[off_target] = rng.uniform(0.001, 0.01, off_target.sum())
    held[rng.random(n) < 0.1] = 0.0  # some target names not held yet
    cash_weight = rng.uniform(0.005, 0.05)
    held = held / held.sum() * (1.0 - cash_weight) * value
    holders = np.flatnonzero(held > 0)

    # Lots: at least one per holding, the rest spread by size.
    lot_owner = np.concatenate([holders, rng.choice(holders, m - len(holders), p=held[holders] / held[holders].sum())])
    lot_owner.sort(kind="stable")
    split = rng.dirichlet(np.ones(m)) + 1e-3
    lots = []
    for i in holders:
        mine = np.flatnonzero(lot_owner == i)
        parts = split[mine] / split[mine].sum() * held[i]
        for j, dollars in zip(mine, parts):
            quantity = max(1.0, np.floor(dollars / price[i]))
            basis = quantity * price[i] * float(np.exp(rng.normal(0.05, 0.25)))
            lots.append(
                LotInput(
                    lot_id=f"L{j:05d}",
                    symbol=symbols[i],
                    quantity=float(quantity),
                    cost_basis=round(basis, 2),
                    tax_rate=0.37 if rng.random() < 0.3 else 0.20,
                    can_sell=bool(rng.random() > 0.02),
                    loss_sale_blocked=bool(basis > quantity * price[i] and rng.random() < 0.05),
                )
            )
    cash = value - sum(lot.quantity * price[symbols.index(lot.symbol)] for lot in lots)

    must_exit = np.zeros(n, dtype=bool)
    exit_candidates = np.flatnonzero((held > 0) & (target == 0))
    if len(exit_candidates):
        must_exit[rng.choice(exit_candidates)] = True
    can_buy = rng.random(n) > 0.03
    securities = tuple(
        SecurityInput(symbols[i], classes[i], groups[i], float(price[i]), float(target[i]), bool(can_buy[i]), bool(must_exit[i]))
        for i in range(n)
    )
    target_sum = float(target.sum())
    limits = tuple(ClassLimit(name, weight, 0.03) for name, weight, _ in CLASSES) + (
        ClassLimit("cash", 1.0 - target_sum, 0.03),
    )
    required = 0.01 * value + (0.03 * value if seed % 3 == 0 else 0.0)
    budget = 0.01 * value if seed % 2 == 0 else None
    return Problem(securities, tuple(lots), float(cash), float(required), limits, budget, risk, OptimiserSettings())


# Clarabel pushed to the limit of double precision: the accuracy reference, untimed.
TIGHT_CLARABEL = dict(tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12, tol_ktratio=1e-10, max_iter=500)


class FinalProblem:
    """Records, while ``optimise`` runs, the last full QP it solved (its directions
    shut as the analysis left them) and our solution of it, by wrapping the
    analysis's own ``assemble`` / ``solve_structured`` / ``extend``: whatever terms and
    rows the analysis puts into the problem are in the one the baseline solves.

    A presolved pass solves a reduced QP and ``extend`` turns its solution into one of
    the full QP; otherwise the full QP goes to the solver itself."""

    def __init__(self) -> None:
        self.assembled: dict[int, object] = {}
        self.last = None  # (AssembledQP, QPSolution)

    def capture(self, problem: Problem):
        module = optimiser_module
        originals = (module.assemble, module.restrict, module.solve_structured, module.extend)
        assemble, restrict, solve, extend = originals

        def recording_assemble(*args, **kwargs):
            assembled = assemble(*args, **kwargs)
            self.assembled[id(assembled.qp)] = assembled
            return assembled

        def recording_restrict(*args, **kwargs):  # a later solve's problem, sliced
            assembled = restrict(*args, **kwargs)
            self.assembled[id(assembled.qp)] = assembled
            return assembled

        def recording_solve(qp, *args, **kwargs):
            solution = solve(qp, *args, **kwargs)
            self.last = (self.assembled[id(qp)], solution)
            return solution

        def recording_extend(full, reduced, solution):
            extended = extend(full, reduced, solution)
            if extended is not None:
                self.last = (full, extended)
            return extended

        module.assemble, module.restrict = recording_assemble, recording_restrict
        module.solve_structured, module.extend = recording_solve, recording_extend
        try:
            result = optimise(problem)
        finally:
            module.assemble, module.restrict, module.solve_structured, module.extend = originals
        self.assembled.clear()
        return result


def lean_cvxpy(qp: StructuredQP):
    """The QP in cvxpy, written lean: nonnegative trade and slack vectors, one sparse
    row matrix for every dense constraint, the risk as one ``sum_squares`` of the
    stacked sparse [sqrt(alpha) M; Lambda' M] applied to the trades. The same problem
    Clarabel is then handed (``qp`` is the analysis's own; see ``FinalProblem``)."""
    import cvxpy as cp
    import scipy.sparse as sp

    n, m = qp.size, qp.segmented
    segments = len(qp.segment_starts)
    segment_of = np.repeat(np.arange(segments), qp.segment_lengths)
    aggregation = sp.csr_matrix((qp.signs, (segment_of, np.arange(m))), shape=(segments, m))
    risk = sp.vstack([sp.diags(np.sqrt(qp.segment_alpha)) @ aggregation, sp.csr_matrix(qp.segment_loadings.T) @ aggregation])
    trades = cp.Variable(m, nonneg=True)
    slacks = cp.Variable(n - m, nonneg=True) if n > m else None
    objective = 0.5 * cp.sum_squares(risk @ trades) + qp.q[:m] @ trades
    constraints = [trades[qp.upper_index] <= qp.upper]
    if len(qp.rhs):
        rows = sp.csr_matrix(qp.rows[:, :m]) @ trades
        if slacks is not None:
            rows = rows + sp.csr_matrix(qp.rows[:, m:]) @ slacks
        constraints.append(rows <= qp.rhs)
    if slacks is not None:
        objective = objective + qp.q[m:] @ slacks
    problem = cp.Problem(cp.Minimize(objective), constraints)
    return problem, trades, slacks


def lean_solution(qp: StructuredQP, solver_options: dict | None = None) -> np.ndarray:
    import cvxpy as cp

    problem, trades, slacks = lean_cvxpy(qp)
    problem.solve(solver=cp.CLARABEL, **(solver_options or {}))
    if slacks is None:
        return np.asarray(trades.value)
    return np.concatenate([trades.value, slacks.value])


def bare_clarabel(qp: StructuredQP):
    """Clarabel's own setup and solve, on the matrices cvxpy hands it for the lean
    formulation (built here, untimed): a zero-overhead call with no modelling layer."""
    import clarabel
    import cvxpy as cp
    import scipy.sparse as sp

    problem, _, _ = lean_cvxpy(qp)
    data, _, _ = problem.get_problem_data(cp.CLARABEL)
    dims = data["dims"]
    cones = []
    if dims.zero:
        cones.append(clarabel.ZeroConeT(dims.zero))
    if dims.nonneg:
        cones.append(clarabel.NonnegativeConeT(dims.nonneg))
    cones += [clarabel.SecondOrderConeT(size) for size in dims.soc]
    P = sp.triu(data["P"]).tocsc() if "P" in data else sp.csc_matrix((len(data["c"]),) * 2)
    A, b, c = data["A"].tocsc(), np.asarray(data["b"]), np.asarray(data["c"])

    def solve():
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        solution = clarabel.DefaultSolver(P, c, A, b, cones, settings).solve()
        if str(solution.status) != "Solved":
            raise RuntimeError(f"bare Clarabel: {solution.status}")
        return solution

    return solve


def _timed(repeats: int, call):
    """The call's result and its median wall and CPU milliseconds over ``repeats`` runs."""
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        result = call()
        c1, t1 = time.process_time(), time.perf_counter()
        walls.append((t1 - t0) * 1e3)
        cpus.append((c1 - c0) * 1e3)
    return result, statistics.median(walls), statistics.median(cpus)


def run(accounts: int, sizes=SIZES, repeats: int = 1) -> list[dict]:
    rows = []
    for n, m in sizes:
        problems = [make_account(1000 * n + k, n, m) for k in range(accounts)]
        # Warm every path once (imports, first-call caches) outside the timings.
        recorder = FinalProblem()
        recorder.capture(problems[0])
        lean_solution(recorder.last[0].qp)
        bare_clarabel(recorder.last[0].qp)()
        ours, lean, bare, ours_cpu, lean_cpu, bare_cpu, gaps, exact_gaps, solves, iterations = ([] for _ in range(10))
        for problem in problems:
            result, wall, cpu = _timed(repeats, lambda: optimise(problem))
            ours.append(wall)
            ours_cpu.append(cpu)
            # The same analysis again, recorded (untimed; it is deterministic).
            recorder.capture(problem)
            assembled, solution = recorder.last
            qp = assembled.qp
            z, wall, cpu = _timed(repeats, lambda: lean_solution(qp))
            lean.append(wall)
            lean_cpu.append(cpu)
            _, wall, cpu = _timed(repeats, bare_clarabel(qp))
            bare.append(wall)
            bare_cpu.append(cpu)

            def objective(x):  # the continuous objective, fraction of account value
                return qp.objective(x) + assembled.constant

            mine, other = objective(solution.z), objective(z)
            exact = objective(lean_solution(qp, TIGHT_CLARABEL))
            gaps.append((mine - other) / max(abs(other), 1e-12))
            exact_gaps.append((mine - exact) / max(abs(exact), 1e-12))
            solves.append(result.solves)
            iterations.append(result.iterations)
        rows.append(
            {
                "size": f"{n}/{m}",
                "ours_ms": statistics.median(ours),
                "lean_ms": statistics.median(lean),
                "ratio": statistics.median(lean) / statistics.median(ours),
                "bare_ms": statistics.median(bare),
                "bare_ratio": statistics.median(ours) / statistics.median(bare),
                "ours_cpu_ms": statistics.median(ours_cpu),
                "lean_cpu_ms": statistics.median(lean_cpu),
                "bare_cpu_ms": statistics.median(bare_cpu),
                "cpu_ratio": statistics.median(lean_cpu) / statistics.median(ours_cpu),
                "cpu_bare_ratio": statistics.median(ours_cpu) / statistics.median(bare_cpu),
                "worst_gap": max(gaps, key=abs),
                "worst_exact_gap": max(exact_gaps, key=abs),
                "solves": statistics.median(solves),
                "iterations": statistics.median(iterations),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 accounts per size instead of 9")
    parser.add_argument("--accounts", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=1, help="time each account this many times (median)")
    parser.add_argument("--sizes", default=None, help="e.g. 30/100,500/2000 (default: 20/60,100/400,500/2000)")
    args = parser.parse_args(argv)
    accounts = args.accounts or (3 if args.quick else 9)
    sizes = SIZES if not args.sizes else tuple(tuple(int(x) for x in s.split("/")) for s in args.sizes.split(","))
    rows = run(accounts, sizes, max(args.repeats, 1))
    print(
        f"accounts per size: {accounts}, each timed {max(args.repeats, 1)}x; times are medians of wall time"
        " (CPU time below); OPENBLAS_NUM_THREADS=1 for every side"
    )
    print("ours: the whole analysis (every solve, rounding, scoring); lean: cvxpy build + Clarabel solve of")
    print("our last continuous problem; bare: Clarabel setup + solve on the matrices cvxpy hands it")
    print("gap = (ours - lean) / |lean| on the continuous objective, worst account;")
    print("exact gap: the same against Clarabel at 1e-12 tolerances (untimed)")
    print(
        f"{'securities/lots':>16} {'ours ms':>8} {'lean cvxpy+Clarabel ms':>23} {'lean/ours':>10}"
        f" {'bare Clarabel ms':>17} {'ours/bare':>10} {'gap':>9} {'exact gap':>10} {'solves':>7} {'iters':>6}"
    )
    for r in rows:
        print(
            f"{r['size']:>16} {r['ours_ms']:>8.2f} {r['lean_ms']:>23.2f} {r['ratio']:>9.1f}x"
            f" {r['bare_ms']:>17.2f} {r['bare_ratio']:>9.2f}x {r['worst_gap']:>9.1e} {r['worst_exact_gap']:>10.1e}"
            f" {r['solves']:>7.0f} {r['iterations']:>6.0f}"
        )
    print("CPU time (steadier than wall time on a shared machine), medians in ms:")
    print(f"{'securities/lots':>16} {'ours':>8} {'lean':>8} {'lean/ours':>10} {'bare':>8} {'ours/bare':>10}")
    for r in rows:
        print(
            f"{r['size']:>16} {r['ours_cpu_ms']:>8.2f} {r['lean_cpu_ms']:>8.2f} {r['cpu_ratio']:>9.1f}x"
            f" {r['bare_cpu_ms']:>8.2f} {r['cpu_bare_ratio']:>9.2f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
