"""Where one account's CPU goes in the daily run: a firm of N accounts (as
daily_run.py writes it), one `rebalance` day in this process (one worker, SQLite),
under cProfile timed by CPU (not wall) time; CPU ms per account by stage (cumulative time of the stage's functions,
so nested stages overlap: "load the account" includes decoding its events).

    python benchmarks/night_profile.py --accounts 1000
    python benchmarks/night_profile.py --firm firm.db   # a firm written before (copied first)"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.daily_run import DAY, _copy_store, write_firm  # noqa: E402

# (stage, (file suffix, function name)): the cumulative time of that function.
STAGES = [
    ("the day's inputs (once)", ("account_analysis.py", "day_context")),
    ("whole per-account loop", ("batch_analysis.py", "rebalance_accounts")),
    ("  find decision + load account (events read, decoded)", ("unit_of_work.py", "find")),
    ("    decode events (mapper)", ("eventstore.py", "to_domain_event")),
    ("    apply events (mutate)", ("aggregate.py", "mutate")),
    ("  account history (securities)", ("history.py", "account_history")),
    ("  build the book", ("history.py", "book")),
    ("  analysis inputs (analyse)", ("analysis.py", "analyse")),
    ("  optimise", ("optimiser/optimiser.py", "optimise")),
    ("  conclude", ("analysis.py", "conclude")),
    ("  run_analysis (analyse+optimise+conclude+inputs)", ("account_analysis.py", "run_analysis")),
    ("  record: Decision event made", ("decision.py", "first_record")),
    ("  commit (save + chain + insert)", ("lotline.py", "commit")),
    ("    event encoding (mapper)", ("eventstore.py", "to_stored_event")),
    ("      json dumps", ("__init__.py", "dumps")),
    ("      zlib compress", ("~", "<built-in method zlib.compress>")),
    ("    chain digests", ("integrity.py", "event_digest")),
    ("read models catch-up", ("lotline.py", "catch_up")),
    ("  decode events (read models)", ("tracking.py", "_decode")),
    ("  apply: decisions and orders", ("decisions.py", "apply")),
    ("  apply: lots and gains", ("lots.py", "apply")),
    ("  apply: audit trail", ("audit.py", "apply")),
    ("  apply: directory", ("directory.py", "apply")),
]


def stage_table(stats: pstats.Stats, accounts: int) -> list[tuple[str, float]]:
    rows = []
    for label, (suffix, name) in STAGES:
        total = 0.0
        for (filename, _line, function), (_cc, _nc, _tt, ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
            if function == name and filename.endswith(suffix):
                total += ct
        rows.append((label, total * 1000 / accounts))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=1000)
    parser.add_argument("--firm", help="a firm's SQLite file written before (daily_run's write_firm)")
    parser.add_argument("--top", type=int, default=0, help="also print the N most expensive functions")
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

    with Lotline(f"sqlite:///{copy}") as lotline:
        lotline.catch_up()
        profile = cProfile.Profile(time.process_time)  # CPU time: the machine is shared
        started = time.process_time()
        wall = time.perf_counter()
        profile.enable()
        results = rebalance(Rebalance(user="olivia", on=DAY, workers=1), lotline)
        profile.disable()
        cpu, wall = time.process_time() - started, time.perf_counter() - wall
    accounts = len(results)
    print(f"{accounts} accounts, {sum(1 for r in results if r.decision_id)} decided, "
          f"{sum(1 for r in results if r.failure)} failed; CPU {cpu * 1000 / accounts:.1f} ms/account "
          f"(wall {wall * 1000 / accounts:.1f}) under cProfile")
    stats = pstats.Stats(profile)
    for label, ms in stage_table(stats, accounts):
        print(f"{label:<48} {ms:8.2f} ms/account")
    if args.top:
        stats.sort_stats("tottime").print_stats(args.top)
    import shutil

    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
