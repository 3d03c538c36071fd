"""Daily-run benchmark: a firm of N accounts (about 30 positions and 100 lots each) in
the default SQLite store, one `rebalance` day with 1 and with 2 workers (each on its own
copy of the store), accounts per second, peak memory, and the extrapolated time of a
100,000-account night.

    python benchmarks/daily_run.py                 # 10,000 accounts
    python benchmarks/daily_run.py --accounts 500  # a quick look

Goal: the 100,000-account night within 30 minutes on 2 cores (>= 56 accounts/s)."""

from __future__ import annotations

import argparse
import os
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")  # as the lotline command does

DAY = date(2026, 3, 2)
CLASSES = {"us_equity": (12, 0.50), "intl_equity": (8, 0.22), "bonds": (8, 0.20), "real_estate": (4, 0.05)}


def universe() -> dict[str, tuple[str, str]]:
    out = {}
    for asset_class, (count, _) in CLASSES.items():
        prefix = {"us_equity": "US", "intl_equity": "IN", "bonds": "BD", "real_estate": "RE"}[asset_class]
        for i in range(count):
            symbol = f"{prefix}{i:02d}"
            out[symbol] = (asset_class, f"{prefix.lower()}-{i // 2}")  # pairs share a wash group
    return out


def write_firm(url: str, accounts: int, seed: int) -> None:
    from lotline.application.lotline import Lotline
    from lotline.application.price_records import record_closes
    from lotline.application.unit_of_work import UnitOfWork
    from lotline.domain.account import Account, LotArrival
    from lotline.domain.aggregate import Actor
    from lotline.domain.model import Model
    from lotline.domain.parameters import TaxPreferences, TaxStatus
    from lotline.domain.price_series import PriceSource, closes_digest
    from lotline.domain.roles import Role
    from lotline.domain.security import Security
    from lotline.domain.template import ClassTarget, TargetTemplate
    from lotline.domain.user import User
    from lotline.infrastructure.calendar import previous_trading_days

    rng = random.Random(seed)
    symbols = universe()
    history = previous_trading_days(DAY, 300)
    at = __import__("datetime").datetime(2026, 3, 2, 21, tzinfo=__import__("datetime").timezone.utc)
    boot = Actor("system", Role.ADMIN, history[0], at)
    ipc = Actor("ipc", Role.POLICY_COMMITTEE, history[0], at)
    with Lotline(url) as lotline:
        uow = UnitOfWork(lotline.store)
        for user, role in (("ipc", Role.POLICY_COMMITTEE), ("olivia", Role.OVERLAY_MANAGER), ("alice", Role.ADVISOR)):
            uow.add(User.add(user, (role,), boot))
        securities = {s: Security.admit(s, c, g, ipc) for s, (c, g) in symbols.items()}
        for security in securities.values():
            uow.add(security)
        models = {}
        for asset_class, (count, _) in CLASSES.items():
            members = [s for s, (c, _) in symbols.items() if c == asset_class]
            weights = {s: (Decimal(1) / len(members)).quantize(Decimal("0.000001")) for s in members}
            weights[members[0]] += Decimal(1) - sum(weights.values())
            models[asset_class] = Model.create(asset_class, weights, securities, ipc)
            uow.add(models[asset_class])
        classes = {c: ClassTarget(weight=Decimal(str(w)), model=c, max_modification=Decimal("0.05"), drift_limit=Decimal("0.03"))
                   for c, (_, w) in CLASSES.items()}
        classes["cash"] = ClassTarget(weight=Decimal("0.03"), drift_limit=Decimal("0.03"))
        template = TargetTemplate.create("bench", classes, models, ipc)
        uow.add(template)
        # Prices: a market factor and own noise, 300 sessions.
        market = [rng.gauss(0, 0.01) for _ in history]
        closes = []
        last = {}
        for symbol in symbols:
            level = rng.uniform(20, 300)
            for i, day in enumerate(history):
                level *= 1 + market[i] * (0.2 if symbol.startswith("BD") else 1.0) + rng.gauss(0, 0.004)
                closes.append((day, symbol, Decimal(f"{level:.2f}")))
                last[(symbol, day)] = Decimal(f"{level:.2f}")
        # Recorded as the overlay manager's price events, as `lotline prices load` records them.
        olivia = Actor("olivia", Role.OVERLAY_MANAGER, history[-1], at)
        record_closes(uow, closes, PriceSource("daily-run benchmark", closes_digest(closes)), olivia)
        lotline.commit(uow)
        names = sorted(symbols)
        batch = UnitOfWork(lotline.store)
        for n in range(accounts):
            advisor = Actor("alice", Role.ADVISOR, history[0], at)
            account = Account.open(f"A{n:06d}", "alice", TaxStatus.TAXABLE, template, history[0], advisor)
            batch.add(account)
            account.deposit(Decimal(rng.randint(1000, 20000)), history[0], advisor)
            held = rng.sample(names, 30)
            lots = []
            for i in range(100):
                symbol = held[i % 30]
                acquired = history[rng.randrange(0, len(history) - 1)]
                price = last[(symbol, acquired)]
                quantity = Decimal(rng.randint(5, 60))
                cost_basis = (quantity * price * Decimal(rng.uniform(0.9, 1.1))).quantize(Decimal("0.01"))
                lots.append(LotArrival(symbol=symbol, quantity=quantity, cost_basis=cost_basis, acquired=acquired))
            account.transfer_in(lots, history[0], securities, advisor)
            account.set_tax_preferences(TaxPreferences(short_term_rate=Decimal("0.37"), long_term_rate=Decimal("0.20")), advisor)
            if (n + 1) % 500 == 0:
                lotline.commit(batch)
                batch = UnitOfWork(lotline.store)
        lotline.commit(batch)
        lotline.catch_up()


def measure(url: str, workers: int) -> dict:
    from lotline.application.commands import Rebalance
    from lotline.application.handlers.analysis import rebalance
    from lotline.application.lotline import Lotline

    with Lotline(url) as lotline:
        lotline.catch_up()
        started = time.perf_counter()
        results = rebalance(Rebalance(user="olivia", on=DAY, workers=workers), lotline)
        seconds = time.perf_counter() - started
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"workers": workers, "accounts": len(results), "seconds": seconds,
            "decided": sum(1 for r in results if r.decision_id), "failed": sum(1 for r in results if r.failure),
            "trading": sum(1 for r in results if r.trade),
            "peak_mb": max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, children)}


def _copy_store(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite store, its write-ahead log included (a file copy
    would miss what the log still holds)."""
    import sqlite3

    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--measure", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.store, args.measure)))
        return
    folder = Path(tempfile.mkdtemp(prefix="lotline-daily-"))
    base = folder / "firm.db"
    started = time.perf_counter()
    write_firm(f"sqlite:///{base}", args.accounts, args.seed)
    print(f"wrote a firm of {args.accounts:,} accounts (30 positions, 100 lots each) in {time.perf_counter() - started:.0f} s")
    rows = []
    for workers in (int(w) for w in args.workers.split(",")):
        copy = folder / f"run-{workers}.db"
        _copy_store(base, copy)
        out = subprocess.run([sys.executable, __file__, "--measure", str(workers), "--store", f"sqlite:///{copy}"],
                             capture_output=True, text=True)
        if out.returncode:
            sys.exit(f"the measurement with {workers} workers failed:\n{out.stderr}")
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        copy.unlink()
    print(f"{'workers':>7} {'accounts':>9} {'decided':>8} {'trading':>8} {'seconds':>8} {'acc/s':>7} {'peak MB':>8} {'100k night':>11}")
    for r in rows:
        rate = r["accounts"] / r["seconds"]
        night = 100_000 / rate / 60
        print(f"{r['workers']:>7} {r['accounts']:>9,} {r['decided']:>8,} {r['trading']:>8,} {r['seconds']:>8.1f} "
              f"{rate:>7.1f} {r['peak_mb']:>8.0f} {night:>9.1f} m")
    print("goal: >= 56 accounts/s, a 100,000-account night within 30 minutes")


if __name__ == "__main__":
    main()
