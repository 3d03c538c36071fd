"""Writes the demo's prices and a small firm of the demo's for `lotline backtest`:

    python examples/backtest/make_demo_files.py [--years 2] [--seed 7]

`demo-prices.csv`: closes of the demo's 17 ETFs from `lotline demo`'s price model
(`lotline.application.demo.simulate_closes`: a market factor, a factor per asset class,
funds of one wash group tracking each other), one year of history before the first
backtest day and `--years` years from it; wide format, as `lotline prices load` reads.

`demo-firm.yaml`: the demo's users, securities, models and templates, and three
accounts (growth and balanced, taxable; one tax-deferred) holding lots bought during
the year of history at its closes. Seeded: the same seed writes the same files."""

from __future__ import annotations

import argparse
import random
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import yaml

from lotline.application.demo import MODELS, TEMPLATES, UNIVERSE, simulate_closes
from lotline.application.synthetic_market import write_price_file
from lotline.infrastructure.calendar import previous_trading_days, trading_days

HERE = Path(__file__).resolve().parent
START = date(2024, 1, 2)
ACCOUNTS = (("GROWTH-1", "growth", "taxable", 400_000), ("BALANCED-1", "balanced", "taxable", 250_000),
            ("IRA-1", "growth", "tax_deferred", 150_000))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    history = previous_trading_days(START - timedelta(days=1), 252)
    sessions = history + trading_days(START, 252 * args.years)
    closes = simulate_closes(random.Random(args.seed), sessions)
    write_price_file(closes, HERE / "demo-prices.csv")
    price = {s: dict(rows) for s, rows in closes.items()}
    rng = random.Random(args.seed + 1)
    held = ["VTI", "VOO", "SCHB", "VXUS", "VEA", "BND", "VGIT", "VNQ"]
    accounts = []
    for account_id, template, tax_status, size in ACCOUNTS:
        lots = []
        for symbol in held:
            for _ in range(2):
                bought = history[rng.randrange(0, len(history) - 5)]
                quantity = max(1, int(size * rng.uniform(0.02, 0.08) / float(price[symbol][bought])))
                lots.append({"symbol": symbol, "quantity": str(quantity),
                             "cost_basis": str((quantity * price[symbol][bought]).quantize(Decimal("0.01"))),
                             "acquired": bought.isoformat()})
        accounts.append({"id": account_id, "advisor": "alice", "tax_status": tax_status, "template": template,
                         "opened": history[0].isoformat(), "cash": str(size // 50), "lots": lots,
                         "parameters": {"trading": {"min_trade_value": "250"}}})
    firm = {
        "as_of": history[-1].isoformat(),
        "users": [{"id": "root", "role": "admin"}, {"id": "ipc", "role": "policy_committee"},
                  {"id": "alice", "role": "advisor"}],
        "securities": [{"symbol": s, "asset_class": c, "wash_group": g} for s, (c, g, *_) in UNIVERSE.items()],
        "models": [{"id": m, "weights": dict(w)} for m, w in MODELS.items()],
        "templates": [{"id": t, "classes": {
            name: {"weight": w, **({"model": model, "alternatives": list(alt)} if model else {}),
                   "max_modification": mm, "drift_limit": dl}
            for name, (w, model, alt, mm, dl) in classes.items()}} for t, classes in TEMPLATES.items()],
        "accounts": accounts,
    }
    header = (f"# Written by examples/backtest/make_demo_files.py --years {args.years} --seed {args.seed}: the demo's\n"
              "# firm (users, securities, models, templates) and three accounts, for lotline backtest.\n")
    (HERE / "demo-firm.yaml").write_text(header + yaml.safe_dump(firm, sort_keys=False, width=120))


if __name__ == "__main__":
    main()
