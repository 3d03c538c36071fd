"""Integrity benchmark: `verify` over the ledger benchmark's store, and what the chain
costs the writer.

    python benchmarks/verify.py                          # 1,000,000 trade events, 10,000 accounts
    python benchmarks/verify.py --accounts 500 --events 50000
    python benchmarks/verify.py --store sqlite:///path/ledger.db   # a store written earlier

1. Verify: the ledger benchmark's history (benchmarks/ledger.py) is written into a fresh
   SQLite store, then `verify` runs in a child process of its own over the whole store
   and over its first tenth (a copy cut short), so its peak memory (max RSS) is its own:
   events per second, and peak memory at both sizes (flat memory: the same at 10x the
   events).
2. Writing: the same accounts and trades are written into two fresh stores in this
   process, one with the chain and one with the library's plain recorder, alternating,
   several rounds; the median events per second of each, and the chain's cost.

Goals: verify at least 200,000 events/s with flat memory; the chain costs the writer at
most 5%."""

from __future__ import annotations

import argparse
import json
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def measure_verify(url: str) -> dict:
    from lotline.application.lotline import Lotline

    with Lotline(url) as lotline:
        started = time.perf_counter()
        result = lotline.verify()
        seconds = time.perf_counter() - started
    assert result.intact, result.problem
    return {"events": result.events, "seconds": seconds, "events_per_second": result.events / seconds,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def cut_copy(source: Path, target: Path, keep: int) -> None:
    """A consistent copy of the store holding only its first `keep` events (and their
    chain), the head moved to the last of them: a smaller store with the same shape."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    with sqlite3.connect(target) as db:
        db.execute("DELETE FROM lotline_events WHERE id > ?", (keep,))
        db.execute("DELETE FROM event_chain WHERE position > ?", (keep,))
        position, digest, recorded_at = db.execute(
            "SELECT position, digest, recorded_at FROM event_chain ORDER BY position DESC LIMIT 1").fetchone()
        db.execute("UPDATE chain_head SET position = ?, digest = ?, recorded_at = ?", (position, digest, recorded_at))
        db.commit()
        db.execute("VACUUM")


def write_rate(chained: bool, folder: Path, accounts: int, events: int, seed: int, round_: int) -> float:
    """Events per second writing the ledger history into a fresh store, with or without the chain."""
    import ledger

    import lotline.infrastructure.eventstore as eventstore

    url = f"sqlite:///{folder / f'write-{chained}-{round_}.db'}"
    original = eventstore.store_env
    if not chained:
        def plain(url: str) -> dict[str, str]:
            return {**original(url), "PERSISTENCE_MODULE": "eventsourcing_sqlalchemy"}

        eventstore.store_env = plain
        import lotline.application.lotline as lotline_module

        lotline_module.store_env = plain
    try:
        started = time.perf_counter()
        written = ledger.write_history(url, accounts, events, seed)
        seconds = time.perf_counter() - started
    finally:
        import lotline.application.lotline as lotline_module

        eventstore.store_env = original
        lotline_module.store_env = original
    return written / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--store", help="a ledger benchmark store written earlier (skips writing it)")
    parser.add_argument("--write-rounds", type=int, default=3)
    parser.add_argument("--write-events", type=int, default=100_000)
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure_verify(args.measure)))
        return
    import ledger

    folder = Path(tempfile.mkdtemp(prefix="lotline-verify-"))
    url = args.store
    if url is None:
        url = f"sqlite:///{folder / 'ledger.db'}"
        started = time.perf_counter()
        written = ledger.write_history(url, args.accounts, args.events, args.seed)
        print(f"wrote {written:,} trade events over {args.accounts:,} accounts in {time.perf_counter() - started:.1f} s")
    path = Path(url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        total = db.execute("SELECT count(*) FROM lotline_events").fetchone()[0]
    small = folder / "tenth.db"
    cut_copy(path, small, total // 10)
    rows = []
    for store in (f"sqlite:///{small}", url):
        out = subprocess.run([sys.executable, __file__, "--measure", store], capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"verify failed:\n{out.stderr}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'verify':<28} {'events':>10} {'seconds':>8} {'events/s':>10} {'peak MB':>8}")
    for row in rows:
        print(f"{'':<28} {row['events']:>10,} {row['seconds']:>8.1f} {row['events_per_second']:>10,.0f} {row['peak_mb']:>8.0f}")
    print("goal: at least 200,000 events per second; peak memory the same at a tenth and at the whole")

    writes: dict[bool, list[float]] = {True: [], False: []}
    write_accounts = max(1, args.accounts * args.write_events // max(args.events, 1))
    for round_ in range(args.write_rounds):
        for chained in (False, True) if round_ % 2 == 0 else (True, False):
            writes[chained].append(write_rate(chained, folder, write_accounts, args.write_events, args.seed, round_))
    plain, chained = statistics.median(writes[False]), statistics.median(writes[True])
    print(f"writing {args.write_events:,} events, median of {args.write_rounds} rounds: "
          f"{plain:,.0f} events/s without the chain, {chained:,.0f} with it: the chain costs {(1 - chained / plain):.1%}")
    print("goal: the chain costs the writer at most 5%")


if __name__ == "__main__":
    main()
