"""Benchmark: Lotline's optimiser against the same problem in cvxpy + Clarabel.

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
- cvxpy: the continuous problem of our last solve (same directions shut), written
  in cvxpy the way a user would, built fresh and solved with Clarabel.

Both continuous solutions are scored by the same function (``evaluate_objective`` plus
the penalty of any breached constraint), and the table shows the relative gap.
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

from lotline.domain.optimiser import (  # noqa: E402
    ClassLimit,
    LotInput,
    OptimiserSettings,
    Problem,
    SecurityInput,
    evaluate_objective,
    optimise,
)
from lotline.domain.optimiser.constraints import AffineRows, linear_constraints  # noqa: E402
from lotline.domain.optimiser.portfolio import Portfolio  # noqa: E402
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


def cvxpy_continuous(problem: Problem, no_buy: set[str], no_sell: set[str], solver_options: dict | None = None):
    """The same continuous problem, written in cvxpy as a user would, solved by Clarabel
    (at its default tolerances unless told). Returns dollars bought per security and
    sold per lot."""
    import cvxpy as cp
    import scipy.sparse as sp

    p = Portfolio.from_problem(problem)
    settings = problem.settings
    n, m, V = p.security_count, p.lot_count, p.total_value
    cost = settings.trading_cost
    gain_ratio = p.gain_ratio
    exit_lot = p.must_exit[p.lot_security]
    forced = exit_lot & p.can_sell & (p.value > 0)
    blocked = set(no_sell)
    sellable = (
        p.can_sell & ~exit_lot & (p.value > 0) & ~(p.loss_sale_blocked & (gain_ratio < 0))
        & np.array([lot_id not in blocked for lot_id in p.lot_ids])
    )
    buyable = p.can_buy & ~p.must_exit & np.array([s not in no_buy for s in p.symbols])
    buy_idx = np.flatnonzero(buyable)
    sell_idx = np.flatnonzero(sellable)
    forced_dollars = np.where(forced, p.value, 0.0)

    # Weights traded, as fractions of account value.
    b = cp.Variable(len(buy_idx))
    s = cp.Variable(len(sell_idx))
    B = sp.csr_matrix((np.ones(len(buy_idx)), (buy_idx, np.arange(len(buy_idx)))), shape=(n, len(buy_idx)))
    S = sp.csr_matrix((np.ones(len(sell_idx)), (p.lot_security[sell_idx], np.arange(len(sell_idx)))), shape=(n, len(sell_idx)))
    w0 = (p.holding - p.per_security(forced_dollars)) / V
    active = w0 - p.target
    deviation = active + B @ b - S @ s
    tax_rate = p.tax_rate * gain_ratio if settings.taxable else np.zeros(m)
    if not settings.harvest_losses:
        tax_rate = np.clip(tax_rate, 0.0, None)
    gamma = settings.risk_aversion
    objective = (
        gamma * (cp.sum_squares(cp.multiply(np.sqrt(p.specific), deviation)) + cp.sum_squares(p.loadings.T @ deviation))
        + tax_rate[sell_idx] @ s
        + cost * (cp.sum(b) + cp.sum(s))
    )
    cash_after = (p.cash + (1 - cost) * forced_dollars.sum()) / V - (1 + cost) * cp.sum(b) + (1 - cost) * cp.sum(s)
    constraints = [b >= 0, s >= 0, s <= p.value[sell_idx] / V]
    penalties = []
    # Soft constraints with the same exact penalties as ours.
    from lotline.domain.optimiser.constraints import DRIFT_PENALTY, GAIN_BUDGET_PENALTY, REQUIRED_CASH_PENALTY

    cash_slack = cp.Variable(nonneg=True)
    constraints.append(cash_after + cash_slack >= problem.required_cash / V)
    penalties.append(REQUIRED_CASH_PENALTY * cash_slack)
    for limit in problem.class_limits:
        members = p.class_members(limit.asset_class).astype(float)
        weight = members @ (w0 + B @ b - S @ s)
        if limit.asset_class == "cash":
            weight = weight + cash_after
        slack = cp.Variable(2, nonneg=True)
        constraints += [
            weight - limit.target_weight <= limit.drift_limit + slack[0],
            limit.target_weight - weight <= limit.drift_limit + slack[1],
        ]
        penalties.append(DRIFT_PENALTY * cp.sum(slack))
    if problem.gain_budget_remaining is not None and settings.taxable:
        slack = cp.Variable(nonneg=True)
        realised = gain_ratio[sell_idx] @ s + gain_ratio @ forced_dollars / V
        constraints.append(realised <= max(problem.gain_budget_remaining, 0.0) / V + slack)
        penalties.append(GAIN_BUDGET_PENALTY * slack)
    cp.Problem(cp.Minimize(objective + sum(penalties)), constraints).solve(solver=cp.CLARABEL, **(solver_options or {}))
    buys = np.zeros(n)
    sells = forced_dollars.copy()
    buys[buy_idx] = np.clip(b.value, 0.0, None) * V
    sells[sell_idx] = np.clip(s.value, 0.0, p.value[sell_idx] / V) * V
    return buys, sells


def penalised_objective(problem: Problem, buys: np.ndarray, sells: np.ndarray) -> float:
    """evaluate_objective plus the penalty on any breached linear constraint (dollars)."""
    p = Portfolio.from_problem(problem)
    buy_orders = [(sym, d / p.price[i], d) for i, (sym, d) in enumerate(zip(p.symbols, buys)) if d > 0]
    sell_orders = [
        (lot_id, p.symbols[p.lot_security[j]], d / p.price[p.lot_security[j]], d)
        for j, (lot_id, d) in enumerate(zip(p.lot_ids, sells))
        if d > 0
    ]
    terms = evaluate_objective(problem, buy_orders, sell_orders)
    rows = AffineRows.stack([c.affine(p) for c in linear_constraints(problem)], p.security_count, p.lot_count)
    # Both solvers meet constraints to ~1e-9 of account value; a breach inside that is
    # not a softening, and the exact penalties would magnify it into noise.
    breach = rows.excess(buys, sells)
    breach = np.where(breach > FEASIBILITY_TOLERANCE * p.total_value, breach, 0.0)
    return terms.total + float(rows.penalty @ breach)


def continuous_arrays(problem: Problem, result) -> tuple[np.ndarray, np.ndarray]:
    symbols = {s.symbol: i for i, s in enumerate(problem.securities)}
    lots = {lot.lot_id: j for j, lot in enumerate(problem.lots)}
    buys = np.zeros(len(symbols))
    sells = np.zeros(len(lots))
    for symbol, dollars in result.continuous.buys:
        buys[symbols[symbol]] = dollars
    for lot_id, dollars in result.continuous.sells:
        sells[lots[lot_id]] = dollars
    return buys, sells


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
        # Warm both paths once (imports, first-call caches) outside the timings.
        optimise(problems[0])
        cvxpy_continuous(problems[0], set(), set())
        ours, theirs, ours_cpu, theirs_cpu, gaps, exact_gaps, solves, iterations = [], [], [], [], [], [], [], []
        for problem in problems:
            result, wall, cpu = _timed(repeats, lambda: optimise(problem))
            ours.append(wall)
            ours_cpu.append(cpu)
            no_buy, no_sell = set(result.continuous.no_buy), set(result.continuous.no_sell)
            (buys, sells), wall, cpu = _timed(repeats, lambda: cvxpy_continuous(problem, no_buy, no_sell))
            theirs.append(wall)
            theirs_cpu.append(cpu)
            mine = penalised_objective(problem, *continuous_arrays(problem, result))
            other = penalised_objective(problem, buys, sells)
            gaps.append((mine - other) / max(abs(other), 1e-12))
            exact = penalised_objective(problem, *cvxpy_continuous(problem, no_buy, no_sell, TIGHT_CLARABEL))
            exact_gaps.append((mine - exact) / max(abs(exact), 1e-12))
            solves.append(result.solves)
            iterations.append(result.iterations)
        rows.append(
            {
                "size": f"{n}/{m}",
                "ours_ms": statistics.median(ours),
                "cvxpy_ms": statistics.median(theirs),
                "ratio": statistics.median(theirs) / statistics.median(ours),
                "ours_cpu_ms": statistics.median(ours_cpu),
                "cvxpy_cpu_ms": statistics.median(theirs_cpu),
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
        " (CPU time alongside); OPENBLAS_NUM_THREADS=1 for both sides"
    )
    print("gap = (ours - cvxpy) / |cvxpy| on the continuous objective, worst account;")
    print("exact gap: the same against Clarabel at 1e-12 tolerances (untimed)")
    print(
        f"{'securities/lots':>16} {'ours ms':>9} {'cvxpy+Clarabel ms':>18} {'ratio':>7} {'gap':>10}"
        f" {'exact gap':>10} {'solves':>7} {'iters':>6} {'ours cpu ms':>12} {'cvxpy cpu ms':>13}"
    )
    for r in rows:
        print(
            f"{r['size']:>16} {r['ours_ms']:>9.2f} {r['cvxpy_ms']:>18.2f} {r['ratio']:>6.1f}x "
            f"{r['worst_gap']:>10.1e} {r['worst_exact_gap']:>10.1e} {r['solves']:>7.0f} {r['iterations']:>6.0f}"
            f" {r['ours_cpu_ms']:>12.2f} {r['cvxpy_cpu_ms']:>13.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
