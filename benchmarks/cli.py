"""CLI start-up benchmark: whole-process timings of `lotline` commands against the
daily-run benchmark's firm (benchmarks/daily_run.py: 10,000 accounts, about 30
positions and 100 lots each), several runs each, median and min.

    python benchmarks/cli.py                    # 10,000 accounts (the reported figures)
    python benchmarks/cli.py --accounts 500     # a quick look on a smaller firm
    python benchmarks/cli.py --runs 9
    python benchmarks/cli.py --reference ../main   # beside another checkout, runs interleaved

The firm is written once to a cache folder (`--cache`, default
~/.cache/lotline-bench) and reused by later runs: it takes minutes at 10,000 accounts.
After writing it, a few accounts are analysed on the benchmark's day, approved and
filled, so `orders`, `explain` and `replay` have a decision with orders to read.
Delete the cached file after a change to what the analysis decides (reason codes, the
optimiser): `replay` compares with the decision as recorded, and exits 1 otherwise.

Each command runs as a fresh process (`python -m lotline.application`), its output
discarded, the way a user meets it. Goals: `--help` <= 0.25 s; `holdings`, `lots`,
`orders --account`, `explain` <= 0.5 s; `replay` <= 1 s. A `python -c pass` run is
printed beside them: the interpreter's own floor on this machine. With `--reference
DIR` (another checkout of Lotline), each command also runs with that checkout's code,
alternating with this one's, and the ratio of the medians is printed: on a busy
machine the ratio is steadier than either time."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

ANALYSED = 6  # accounts analysed, approved and filled on the day, for the reads of orders


def build(path: Path, accounts: int, seed: int) -> tuple[str, str]:
    """Writes the firm (once) and a day of decisions for its first accounts; returns an
    account and a decision of it that traded, to read."""
    from daily_run import DAY, write_firm, write_whole

    from lotline.application.commands import Approve, Fill, Rebalance
    from lotline.application.handlers.analysis import rebalance
    from lotline.application.handlers.execution import fill
    from lotline.application.handlers.release import approve
    from lotline.application.lotline import Lotline

    url = f"sqlite:///{path}"
    if not path.exists():
        started = time.perf_counter()

        def write(partial: str) -> None:
            write_firm(partial, accounts, seed)
            named = tuple(f"A{n:06d}" for n in range(min(ANALYSED, accounts)))
            with Lotline(partial) as lotline:
                rebalance(Rebalance(user="olivia", on=DAY, accounts=named), lotline)
                approve(Approve(user="olivia", on=DAY, accounts=named), lotline)
                fill(Fill(user="olivia", on=DAY), lotline)

        write_whole(path, write)
        print(f"wrote a firm of {accounts:,} accounts to {path} in {time.perf_counter() - started:.0f} s")
    with Lotline(url) as lotline:
        rows = lotline.views.decisions_of_day(DAY)
    traded = [r for r in rows if r.trade] or rows
    return traded[0].account_id, traded[0].decision_id


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"{' '.join(argv[3:])} exited {done.returncode}: {done.stderr.strip()}")
    return seconds


def reference_path(checkout: Path) -> str:
    """A folder holding `lotline/` made of the checkout's layer folders, for PYTHONPATH
    (it takes precedence over the editable install of this checkout)."""
    folder = Path(tempfile.mkdtemp(prefix="lotline-reference-")) / "lotline"
    folder.mkdir()
    for layer in ("domain", "application", "infrastructure", "projections"):
        (folder / layer).symlink_to(checkout.resolve() / layer)
    return str(folder.parent)


def firm_arguments(description: str, runs: int) -> argparse.ArgumentParser:
    """The options of a benchmark that times commands against the cached firm."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--runs", type=int, default=runs)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "lotline-bench")
    parser.add_argument("--reference", type=Path, help="another checkout to time the same commands against")
    return parser


def main() -> None:
    args = firm_arguments(__doc__, runs=7).parse_args()
    from daily_run import DAY

    args.cache.mkdir(parents=True, exist_ok=True)
    path = args.cache / f"cli-firm-{args.accounts}-seed{args.seed}.db"
    account, decision = build(path, args.accounts, args.seed)
    store = f"sqlite:///{path}"
    day = DAY.isoformat()
    lotline = [sys.executable, "-m", "lotline.application"]
    commands = {
        "python -c pass (floor)": ([sys.executable, "-c", "pass"], None),
        "lotline --help": ([*lotline, "--help"], 0.25),
        f"holdings {account}": ([*lotline, "holdings", account, "--as-of", day, "--store", store], 0.5),
        f"lots {account}": ([*lotline, "lots", account, "--as-of", day, "--store", store], 0.5),
        f"orders --account {account}": ([*lotline, "orders", "--date", day, "--account", account, "--store", store], 0.5),
        f"explain {decision}": ([*lotline, "explain", decision, "--store", store], 0.5),
        f"replay {decision}": ([*lotline, "replay", decision, "--store", store], 1.0),
        # A write command that checks the trading day; nothing is left to release, so it records nothing.
        "approve (nothing to release)": ([*lotline, "approve", "--date", day, "--store", store], None),
    }
    # An installed Lotline runs from bytecode (pip compiles it on install). A shell that
    # forbids writing it (PYTHONDONTWRITEBYTECODE) would time compiling some fifty modules
    # from source on every run, 0.1 s and more: the warm-up run writes the bytecode of
    # both checkouts to the cache folder instead, never beside the sources.
    env = {**os.environ, "LOTLINE_USER": "olivia", "PYTHONPYCACHEPREFIX": str(args.cache / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    other = {**env, "PYTHONPATH": reference_path(args.reference)} if args.reference else None
    for argv, _ in commands.values():  # warm the file cache and the bytecode once
        timed(argv, env)
        if other:
            timed(argv, other)
    print(f"{args.accounts:,} accounts, {args.runs} runs each (whole process, seconds)")
    print(f"{'command':<34} {'median':>7} {'min':>7} {'goal':>6}" + ("   reference median  ratio" if other else ""))
    for name, (argv, goal) in commands.items():
        runs, theirs = [], []
        for _ in range(args.runs):
            runs.append(timed(argv, env))
            if other:
                theirs.append(timed(argv, other))
        mark = "" if goal is None else f"{goal:>6.2f}" + (" ok    " if statistics.median(runs) <= goal else " MISSED")
        against = (f"   {statistics.median(theirs):>16.3f} {statistics.median(runs) / statistics.median(theirs):>6.2f}"
                   if other else "")
        print(f"{name:<34} {statistics.median(runs):>7.3f} {min(runs):>7.3f} {mark:<13}{against}")


if __name__ == "__main__":
    main()
