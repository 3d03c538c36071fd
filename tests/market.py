"""Seeded synthetic closes for tests: a market factor, an asset-class factor and each
security's own noise, so the risk model sees realistic correlations."""

from __future__ import annotations

import random
from datetime import date
from decimal import Decimal
from pathlib import Path

from lotline.infrastructure.calendar import previous_trading_days

CLASS_OF = {
    "VTI": "us_equity", "ITOT": "us_equity", "SCHB": "us_equity", "VOO": "us_equity",
    "BND": "bonds", "AGG": "bonds", "VGIT": "bonds",
    "VXUS": "intl_equity", "VEA": "intl_equity",
}
VOLATILITY = {"us_equity": 0.010, "intl_equity": 0.011, "bonds": 0.003}


def closes(symbols: list[str], end: date, days: int, seed: int = 11, finals: dict[str, str] | None = None) -> dict:
    """symbol -> [(date, close)], ending on `end` at `finals[symbol]` when given."""
    rng = random.Random(seed)
    sessions = previous_trading_days(end, days)
    market = [rng.gauss(0, 0.008) for _ in sessions]
    sector = {c: [rng.gauss(0, 0.004) for _ in sessions] for c in VOLATILITY}
    out = {}
    for symbol in symbols:
        asset_class = CLASS_OF[symbol]
        beta = 1.0 if asset_class != "bonds" else 0.1
        level = 100.0
        path = []
        for i, _ in enumerate(sessions):
            level *= 1 + beta * market[i] + sector[asset_class][i] + rng.gauss(0, VOLATILITY[asset_class] * 0.3)
            path.append(level)
        scale = float(finals[symbol]) / path[-1] if finals and symbol in finals else 1.0
        out[symbol] = [(d, Decimal(f"{p * scale:.2f}")) for d, p in zip(sessions, path)]
    return out


def write_wide_csv(path: Path, series: dict) -> Path:
    symbols = sorted(series)
    days = sorted({d for rows in series.values() for d, _ in rows})
    by = {s: dict(rows) for s, rows in series.items()}
    lines = ["Date," + ",".join(symbols)]
    for d in days:
        lines.append(d.isoformat() + "," + ",".join(str(by[s].get(d, "")) for s in symbols))
    path.write_text("\n".join(lines) + "\n")
    return path
