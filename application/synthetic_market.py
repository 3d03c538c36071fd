"""A seeded synthetic market and firm for backtests (tests, benchmarks/backtest.py):
closes that switch between calm rising regimes and sharp falling ones (so lots go
under water and there are losses to harvest), and a firm of one template over a few
asset classes, each with a model and an alternative model in other wash groups."""

from __future__ import annotations

import csv
import math
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from lotline.infrastructure.calendar import previous_trading_days, trading_days

CLASSES = ("us_equity", "intl_equity", "bonds", "real_estate")
CLASS_WEIGHTS = {"us_equity": "0.45", "intl_equity": "0.25", "bonds": "0.22", "real_estate": "0.05", "cash": "0.03"}
# (annual drift, annual volatility) of a rising and of a falling regime, by class.
REGIMES = {"us_equity": ((0.14, 0.14), (-0.45, 0.30)), "intl_equity": ((0.10, 0.15), (-0.40, 0.30)),
           "bonds": ((0.03, 0.05), (-0.06, 0.08)), "real_estate": ((0.10, 0.18), (-0.50, 0.35))}


def synthetic_closes(symbols: dict[str, str], sessions: list[date], seed: int) -> dict[str, list[tuple[date, Decimal]]]:
    """Closes for `symbols` (symbol -> asset class) on `sessions`: a market in regimes
    (rising ones of 60 to 250 sessions, falling ones of 15 to 60), each class following
    its regime with its own noise, each symbol with a little of its own."""
    rng = random.Random(seed)
    daily = 1 / 252
    falling = []
    state, left = False, rng.randint(20, 80)
    for _ in sessions:
        if left == 0:
            state = not state
            left = rng.randint(15, 60) if state else rng.randint(60, 250)
        falling.append(state)
        left -= 1
    market = [rng.gauss(0, 1) for _ in sessions]
    out = {}
    for n, (symbol, asset_class) in enumerate(sorted(symbols.items())):
        level = 20.0 + 7.0 * n + rng.random() * 50
        own = random.Random(seed * 1000 + n)
        rows = []
        for i, day in enumerate(sessions):
            drift, vol = REGIMES[asset_class][1 if falling[i] else 0]
            shock = vol * math.sqrt(daily) * (0.85 * market[i] + 0.5 * own.gauss(0, 1))
            level *= math.exp(drift * daily + shock)
            rows.append((day, Decimal(f"{level:.2f}")))
        out[symbol] = rows
    return out


def universe(securities: int) -> dict[str, tuple[str, str]]:
    """`securities` symbols spread over the classes: symbol -> (asset class, wash group)."""
    out = {}
    for n in range(securities):
        asset_class = CLASSES[n % len(CLASSES)]
        out[f"S{n + 1:02d}"] = (asset_class, f"group-{n + 1:02d}")
    return out


def synthetic_firm(securities: int = 8, accounts: int = 1, history: int = 80, days: int = 60, seed: int = 1,
                   start: date = date(2025, 1, 2)) -> tuple[dict[str, Any], dict[str, list[tuple[date, Decimal]]]]:
    """A scenario (as a file gives it) and closes for `history` sessions before `start`
    and `days` from it. The accounts hold lots bought during the history."""
    names = universe(securities)
    before = previous_trading_days(start - timedelta(days=1), history)
    sessions = before + trading_days(start, days)
    closes = synthetic_closes({s: c for s, (c, _) in names.items()}, sessions, seed)
    by_class: dict[str, list[str]] = {}
    for symbol, (asset_class, _) in names.items():
        by_class.setdefault(asset_class, []).append(symbol)
    models, classes = [], {}
    for asset_class, members in sorted(by_class.items()):
        main, alternative = members[: max(1, (len(members) + 1) // 2)], members[max(1, (len(members) + 1) // 2):]
        models.append({"id": f"{asset_class}-core", "weights": _even(main)})
        entry: dict[str, Any] = {"weight": CLASS_WEIGHTS[asset_class], "model": f"{asset_class}-core",
                                 "max_modification": "0.05", "drift_limit": "0.03"}
        if alternative:
            models.append({"id": f"{asset_class}-alt", "weights": _even(alternative)})
            entry["alternatives"] = [f"{asset_class}-alt"]
        classes[asset_class] = entry
    missing = sum(Decimal(CLASS_WEIGHTS[c]) for c in CLASSES if c not in by_class)
    classes["cash"] = {"weight": str(Decimal(CLASS_WEIGHTS["cash"]) + missing)}
    rng = random.Random(seed)
    price = {s: dict(rows) for s, rows in closes.items()}
    as_of = before[-1]
    account_entries = []
    for n in range(accounts):
        lots = []
        for symbol in sorted(names):
            for _ in range(2):
                bought = before[rng.randrange(0, len(before))]
                quantity = Decimal(rng.randint(20, 120))
                lots.append({"symbol": symbol, "quantity": str(quantity),
                             "cost_basis": str((quantity * price[symbol][bought]).quantize(Decimal("0.01"))),
                             "acquired": bought.isoformat()})
        account_entries.append({
            "id": f"ACC-{n + 1}", "advisor": "alice", "tax_status": "taxable", "template": "balanced",
            "opened": before[0].isoformat(), "cash": "5000.00", "lots": lots,
            "parameters": {"tax": {"short_term_rate": "0.37", "long_term_rate": "0.20"},
                           "trading": {"min_trade_value": "100", "fractional_shares": False}},
        })
    scenario = {
        "as_of": as_of.isoformat(),
        "users": [{"id": "root", "role": "admin"}, {"id": "ipc", "role": "policy_committee"},
                  {"id": "alice", "role": "advisor"}],
        "securities": [{"symbol": s, "asset_class": c, "wash_group": g} for s, (c, g) in sorted(names.items())],
        "models": models,
        "templates": [{"id": "balanced", "classes": classes}],
        "accounts": account_entries,
    }
    return scenario, closes


def _even(symbols: list[str]) -> dict[str, str]:
    share = (Decimal(1) / len(symbols)).quantize(Decimal("0.0001"))
    weights = {s: share for s in symbols}
    weights[symbols[0]] += Decimal(1) - share * len(symbols)
    return {s: str(w) for s, w in weights.items()}


def write_price_file(closes: dict[str, list[tuple[date, Decimal]]], path: Path) -> None:
    """Wide: `Date`, then one column per symbol."""
    symbols = sorted(closes)
    rows: dict[date, dict[str, Decimal]] = {}
    for symbol, series in closes.items():
        for day, close in series:
            rows.setdefault(day, {})[symbol] = close
    with Path(path).open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Date", *symbols])
        for day in sorted(rows):
            writer.writerow([day.isoformat(), *(str(rows[day].get(s, "")) for s in symbols)])


def write_files(directory: Path, **kwargs: Any) -> tuple[Path, Path]:
    """The synthetic firm as `scenario.json` and its closes as `prices.csv` in `directory`."""
    import json

    scenario, closes = synthetic_firm(**kwargs)
    directory = Path(directory)
    scenario_path, prices_path = directory / "scenario.json", directory / "prices.csv"
    scenario_path.write_text(json.dumps(scenario, indent=1))
    write_price_file(closes, prices_path)
    return scenario_path, prices_path
