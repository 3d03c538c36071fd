"""Where one account's CPU goes in the daily run: a firm of N accounts (as
daily_run.py writes it), one `rebalance` day in this process (one worker, SQLite); the
CPU time (not wall: the machine is shared) of each stage's function, summed over the
run, in ms per account. Stages nest ("load" includes decoding the account's events);
the stage functions are wrapped with a CPU timer, so the figures carry no profiler
overhead. `--cprofile N` also prints cProfile's N most expensive functions (CPU-timed,
its overhead inflating code of many small calls).

    python benchmarks/night_profile.py --accounts 1000
    python benchmarks/night_profile.py --firm firm.db   # a firm written before (copied first)"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import defaultdict
from functools import wraps
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.daily_run import DAY, _copy_store, write_firm  # noqa: E402

SPENT: dict[str, float] = defaultdict(float)

# (label, module, attribute path): the function wrapped where the run looks it up.
STAGES = [
    ("the day's inputs (once)", "lotline.application.handlers.analysis", "day_context"),
    ("per-account loop (analyse, record, commit)", "lotline.application.handlers.analysis", "rebalance_accounts"),
    ("  find the decision, load the account", "lotline.application.unit_of_work", "UnitOfWork.find"),
    ("    read events (SQL)", "lotline.infrastructure.integrity", "ChainedApplicationRecorder.select_events"),
    ("    decode events (mapper)", "lotline.infrastructure.eventstore", "PydanticMapper.to_domain_event"),
    ("  account history (its securities)", "lotline.application.account_analysis", "account_history"),
    ("  analysis, all (book .. decision inputs)", "lotline.application.account_analysis", "run_analysis"),
    ("    build the book", "lotline.application.history", "AccountHistory.book"),
    ("    analysis inputs (analyse)", "lotline.domain.analysis", "analyse"),
    ("    optimise", "lotline.domain.optimiser", "optimise"),
    ("    conclude", "lotline.domain.analysis", "conclude"),
    ("  commit (encode, chain, insert)", "lotline.application.lotline", "Lotline.commit"),
    ("    encode events (mapper)", "lotline.infrastructure.eventstore", "PydanticMapper.to_stored_event"),
    ("read models catch-up", "lotline.application.lotline", "Lotline.catch_up"),
    ("  decode events (read models)", "lotline.projections.tracking", "ReadModels._decode"),
    ("  decisions and orders", "lotline.projections.decisions", "DecisionsAndOrders.apply"),
]


def timed(label: str, function):
    @wraps(function)
    def wrapper(*args, **kwargs):
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            SPENT[label] += time.process_time() - started

    return wrapper


def wrap_stages() -> None:
    import importlib

    for label, module_name, path in STAGES:
        owner = importlib.import_module(module_name)
        *parents, name = path.split(".")
        for parent in parents:
            owner = getattr(owner, parent)
        setattr(owner, name, timed(label, getattr(owner, name)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--firm", help="a firm's SQLite file written before (daily_run's write_firm)")
    parser.add_argument("--cprofile", type=int, default=0, help="also print cProfile's N most expensive functions")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="lotline-profile-"))
    copy = folder / "run.db"
    if args.firm:
        _copy_store(Path(args.firm), copy)
    else:
        write_firm(f"sqlite:///{copy}", args.accounts, 5)
    from lotline.application.commands import Rebalance
    from lotline.application.handlers.analysis import rebalance
    from lotline.application.lotline import Lotline

    wrap_stages()
    profile = None
    if args.cprofile:
        import cProfile

        profile = cProfile.Profile(time.process_time)
    with Lotline(f"sqlite:///{copy}") as lotline:
        lotline.catch_up()
        SPENT.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        if profile is not None:
            profile.enable()
        results = rebalance(Rebalance(user="olivia", on=DAY, workers=1), lotline)
        if profile is not None:
            profile.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    accounts = len(results)
    print(f"{accounts} accounts, {sum(1 for r in results if r.decision_id)} decided, "
          f"{sum(1 for r in results if r.failure)} failed; CPU {cpu * 1000 / accounts:.2f} ms/account "
          f"(wall {wall * 1000 / accounts:.1f}){' under cProfile' if profile else ''}")
    for label, _module, _path in STAGES:
        print(f"{label:<46} {SPENT[label] * 1000 / accounts:7.2f} ms/account")
    if profile is not None:
        import pstats

        pstats.Stats(profile).sort_stats("tottime").print_stats(args.cprofile)
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
