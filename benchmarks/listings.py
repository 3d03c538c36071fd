"""Listings benchmark: whole-process timings of `lotline accounts` and `lotline
exceptions` over the daily-run benchmark's firm (10,000 accounts, about 30 positions
and 100 lots each; built and cached by benchmarks/cli.py), several runs each, median
and min. Goal: `exceptions` answers in a second or two for 10,000 accounts.

    python benchmarks/listings.py                        # 10,000 accounts
    python benchmarks/listings.py --accounts 500         # a quick look
    python benchmarks/listings.py --reference ../main    # beside another checkout, interleaved

The commands run against a copy of the cached firm (`listings-` beside it), so the
read models this checkout adds or reshapes are built there once (the first run
catches them up from the whole history, timed and printed apart) and the shared cache
is left as it is. With `--reference DIR`, each command also runs with that checkout's
code against the shared cache itself (its read models have that code's shapes),
alternating with this one's, and the ratio of the medians is printed: on a busy
machine the ratio is steadier than either time. A reference that loads every account
takes minutes at 10,000 accounts: `--reference-runs 1` keeps it to one run each."""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")


def main() -> None:
    from cli import build, firm_arguments, reference_path, timed
    from daily_run import DAY

    parser = firm_arguments(__doc__, runs=5)
    parser.add_argument("--reference-runs", type=int, help="runs of the reference (default --runs)")
    args = parser.parse_args()

    args.cache.mkdir(parents=True, exist_ok=True)
    shared = args.cache / f"cli-firm-{args.accounts}-seed{args.seed}.db"
    build(shared, args.accounts, args.seed)
    path = args.cache / f"listings-firm-{args.accounts}-seed{args.seed}.db"
    if not path.exists():
        with sqlite3.connect(shared) as source, sqlite3.connect(path) as target:
            source.backup(target)
        source.close()
        target.close()
    store = f"sqlite:///{path}"
    day = DAY.isoformat()
    lotline = [sys.executable, "-m", "lotline.application"]
    commands = {
        "accounts --json": [*lotline, "accounts", "--as-of", day, "--json"],
        "accounts (table)": [*lotline, "accounts", "--as-of", day],
        "exceptions --json": [*lotline, "exceptions", "--date", day, "--json"],
        "exceptions (table)": [*lotline, "exceptions", "--date", day],
    }
    theirs_store = f"sqlite:///{shared}"
    env = {**os.environ, "LOTLINE_USER": "olivia"}
    other = {**env, "PYTHONPATH": reference_path(args.reference)} if args.reference else None
    started = time.perf_counter()
    timed([*commands["exceptions --json"], "--store", store], env)
    print(f"first run (catches the read models up, once): {time.perf_counter() - started:.1f} s", flush=True)
    for argv in commands.values():  # warm the file cache and the bytecode once
        timed([*argv, "--store", store], env)
    reference_runs = args.reference_runs or args.runs
    print(f"{args.accounts:,} accounts, {args.runs} runs each, reference {reference_runs} (whole process, seconds)")
    print(f"{'command':<22} {'median':>7} {'min':>7}" + ("   reference median    min  ratio" if other else ""))
    for name, argv in commands.items():
        runs, theirs = [], []
        for n in range(args.runs):
            runs.append(timed([*argv, "--store", store], env))
            if other and n < reference_runs:
                theirs.append(timed([*argv, "--store", theirs_store], other))
        against = (f"   {statistics.median(theirs):>16.3f} {min(theirs):>6.3f} "
                   f"{statistics.median(runs) / statistics.median(theirs):>6.3f}" if other else "")
        print(f"{name:<22} {statistics.median(runs):>7.3f} {min(runs):>7.3f}{against}", flush=True)


if __name__ == "__main__":
    main()
