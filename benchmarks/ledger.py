"""Lot-ledger benchmark: build the lots and gains projection from a history of trade
events spread over many accounts, then a full `projections rebuild`.

    python benchmarks/ledger.py                       # 1,000,000 trades over 10,000 accounts
    python benchmarks/ledger.py --accounts 500 --events 50000

The history is written in bulk (one transaction per chunk of accounts) into a fresh
SQLite file; each measurement then runs in a child process of its own, so its peak
memory (max RSS) is its own. Prints events per second and peak memory."""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SYMBOLS = {
    "VTI": ("us_equity", "us-total"), "ITOT": ("us_equity", "us-total"), "SCHB": ("us_equity", "us-broad"),
    "VOO": ("us_equity", "sp500"), "IVV": ("us_equity", "sp500"), "VXUS": ("intl_equity", "intl-total"),
    "IXUS": ("intl_equity", "intl-total"), "VEA": ("intl_equity", "intl-dev"), "IEFA": ("intl_equity", "intl-dev"),
    "BND": ("bonds", "us-agg"), "AGG": ("bonds", "us-agg"), "SCHZ": ("bonds", "us-agg-schwab"),
    "VGIT": ("bonds", "us-treasury"), "VNQ": ("real_estate", "reit"), "SCHH": ("real_estate", "reit-schwab"),
}


def write_history(url: str, accounts: int, events: int, seed: int) -> int:
    from lotline.application.lotline import Lotline
    from lotline.domain.account import Account
    from lotline.domain.aggregate import Actor
    from lotline.domain.model import Model
    from lotline.domain.parameters import TaxStatus
    from lotline.domain.roles import Role
    from lotline.domain.security import Security
    from lotline.domain.template import ClassTarget, TargetTemplate
    from lotline.domain.user import User

    rng = random.Random(seed)
    at = datetime(2026, 1, 2, 21, tzinfo=timezone.utc)
    admin = Actor("system", Role.ADMIN, date(2020, 1, 2), at)
    ipc = Actor("ipc", Role.POLICY_COMMITTEE, date(2020, 1, 2), at)
    olivia = Actor("olivia", Role.OVERLAY_MANAGER, date(2020, 1, 2), at)
    with Lotline(url) as lotline:
        users = [User.add("ipc", (Role.POLICY_COMMITTEE,), admin), User.add("alice", (Role.ADVISOR,), admin),
                 User.add("olivia", (Role.OVERLAY_MANAGER,), admin)]
        securities = {s: Security.admit(s, c, g, ipc) for s, (c, g) in SYMBOLS.items()}
        model = Model.create("all-us", {"VTI": Decimal("1")}, securities, ipc)
        bonds = Model.create("all-bonds", {"BND": Decimal("1")}, securities, ipc)
        template = TargetTemplate.create("t", {
            "us_equity": ClassTarget(weight=Decimal("0.6"), model="all-us"),
            "bonds": ClassTarget(weight=Decimal("0.4"), model="all-bonds"),
        }, {"all-us": model, "all-bonds": bonds}, ipc)
        lotline.store.save(*users, *securities.values(), model, bonds, template)
        per_account = events // accounts
        symbols = sorted(SYMBOLS)
        written = 0
        chunk = []
        for n in range(accounts):
            alice = Actor("alice", Role.ADVISOR, date(2020, 1, 2), at)
            account = Account.open(f"B{n:06d}", "alice", TaxStatus.TAXABLE, template, date(2020, 1, 2), alice)
            held: dict[str, Decimal] = {}
            price = {s: Decimal(rng.randint(40, 400)) for s in symbols}
            day = date(2020, 1, 2)
            for _ in range(per_account):
                day += timedelta(days=rng.randint(1, 3))
                symbol = rng.choice(symbols)
                price[symbol] = max(Decimal(5), price[symbol] * Decimal(rng.randint(94, 106)) / 100).quantize(Decimal("0.01"))
                actor = Actor("olivia", Role.OVERLAY_MANAGER, day, at)
                if held.get(symbol, 0) > 0 and rng.random() < 0.4:
                    quantity = Decimal(rng.randint(1, int(held[symbol])))
                    held[symbol] -= quantity
                    account.record_trade("sell", symbol, quantity, price[symbol], day, None, securities, actor)
                else:
                    quantity = Decimal(rng.randint(1, 50))
                    held[symbol] = held.get(symbol, 0) + quantity
                    account.record_trade("buy", symbol, quantity, price[symbol], day, None, securities, actor)
                written += 1
            chunk.append(account)
            if len(chunk) == 200:
                lotline.store.save(*chunk)
                chunk = []
        if chunk:
            lotline.store.save(*chunk)
        del olivia
    return written


def measure(url: str, what: str) -> dict:
    from lotline.application.lotline import Lotline
    from lotline.projections.lots import LotsAndGains
    from lotline.projections.tracking import ReadModels

    with Lotline(url) as lotline:
        total = lotline.store.recorder.max_notification_id()
        if what == "build":
            models = ReadModels(lotline.store.recorder, lotline.store.mapper, [LotsAndGains(lotline.store.repository.get)])
            models.create_tables()
            started = time.perf_counter()
            models.rebuild()
        else:
            lotline.read_models.create_tables()
            started = time.perf_counter()
            lotline.read_models.rebuild()
        seconds = time.perf_counter() - started
    return {"what": what, "events": total, "seconds": seconds,
            "events_per_second": total / seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--store", help="reuse a store written earlier (skips writing the history)")
    parser.add_argument("--measure", choices=["build", "rebuild"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.store, args.measure)))
        return
    url = args.store
    if url is None:
        folder = Path(tempfile.mkdtemp(prefix="lotline-bench-"))
        url = f"sqlite:///{folder / 'ledger.db'}"
        started = time.perf_counter()
        written = write_history(url, args.accounts, args.events, args.seed)
        print(f"wrote {written:,} trade events over {args.accounts:,} accounts in {time.perf_counter() - started:.1f} s ({url})")
    rows = []
    for what in ("build", "rebuild"):
        out = subprocess.run([sys.executable, __file__, "--measure", what, "--store", url],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(f"{'measurement':<44} {'events':>10} {'seconds':>8} {'events/s':>10} {'peak MB':>8}")
    labels = {"build": "lots + gains projection, built from scratch", "rebuild": "projections rebuild (every read model)"}
    for row in rows:
        print(f"{labels[row['what']]:<44} {row['events']:>10,} {row['seconds']:>8.1f} {row['events_per_second']:>10,.0f} {row['peak_mb']:>8.0f}")
    print("goal: at least 20,000 events per second")


if __name__ == "__main__":
    main()
