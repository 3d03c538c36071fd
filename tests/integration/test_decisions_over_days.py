"""Twenty trading days of rebalance, approve and fill on volatile seeded prices: the
system's own trades never make a wash sale, and no drift limit stays breached two
days in a row. Checked from the trades and holdings, not from the optimiser."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from lotline.infrastructure.calendar import previous_trading_days
from tests.market import write_wide_csv

LAST_DAY = date(2026, 3, 2)
DAYS = 20
START = {"VTI": 300.0, "ITOT": 130.0, "SCHB": 25.0, "BND": 73.0, "AGG": 99.0, "VGIT": 60.0}
CLASS = {"VTI": "us_equity", "ITOT": "us_equity", "SCHB": "us_equity", "BND": "bonds", "AGG": "bonds",
         "VGIT": "bonds"}
GROUP = {"VTI": "us-total", "ITOT": "us-total", "SCHB": "us-broad", "BND": "us-agg", "AGG": "us-agg",
         "VGIT": "treasury"}

POLICY = """
as_of: 2026-01-30
users:
  - {id: root, role: admin}
  - {id: ipc, role: policy_committee}
  - {id: alice, role: advisor}
  - {id: olivia, role: overlay_manager}
securities:
  - {symbol: VTI,  asset_class: us_equity, wash_group: us-total}
  - {symbol: ITOT, asset_class: us_equity, wash_group: us-total}
  - {symbol: SCHB, asset_class: us_equity, wash_group: us-broad}
  - {symbol: BND,  asset_class: bonds, wash_group: us-agg}
  - {symbol: AGG,  asset_class: bonds, wash_group: us-agg}
  - {symbol: VGIT, asset_class: bonds, wash_group: treasury}
models:
  - {id: us-core, weights: {VTI: "0.7", ITOT: "0.3"}}
  - {id: us-alt, weights: {SCHB: "1"}}
  - {id: bonds-core, weights: {BND: "1"}}
  - {id: bonds-alt, weights: {VGIT: "1"}}
templates:
  - id: balanced
    classes:
      us_equity: {weight: "0.60", model: us-core, alternatives: [us-alt], max_modification: "0.05", drift_limit: "0.03"}
      bonds:     {weight: "0.38", model: bonds-core, alternatives: [bonds-alt], max_modification: "0.05", drift_limit: "0.03"}
      cash:      {weight: "0.02", drift_limit: "0.02"}
accounts:
  - {id: TAX, advisor: alice, template: balanced, opened: 2025-01-02, cash: "3000",
     lots: [{symbol: VTI, quantity: "150", cost_basis: "46500", acquired: 2026-01-20},
            {symbol: ITOT, quantity: "150", cost_basis: "19000", acquired: 2025-02-03},
            {symbol: BND, quantity: "500", cost_basis: "37000", acquired: 2025-06-02}]}
  - {id: CASH, advisor: alice, template: balanced, opened: 2025-01-02, cash: "120000"}
  - {id: IRA, advisor: alice, tax_status: tax_deferred, template: balanced, opened: 2025-01-02, cash: "1000",
     lots: [{symbol: VTI, quantity: "250", cost_basis: "50000", acquired: 2024-03-01},
            {symbol: VGIT, quantity: "330", cost_basis: "20000", acquired: 2024-03-01}]}
"""


def volatile_closes(seed: int = 7) -> dict:
    """A calm year, then twenty days of large daily moves (equities 3%, bonds 0.8%)
    ending at START's levels' neighbourhood."""
    rng = random.Random(seed)
    sessions = previous_trading_days(LAST_DAY, 280)
    out = {s: [] for s in START}
    level = dict(START)
    for i, day in enumerate(sessions):
        wild = i >= len(sessions) - DAYS
        market = rng.gauss(0, 0.03 if wild else 0.008)
        rates = rng.gauss(0, 0.008 if wild else 0.003)
        for symbol in START:
            equity = CLASS[symbol] == "us_equity"
            move = (market if equity else rates) + rng.gauss(0, 0.006 if wild else 0.003)
            level[symbol] *= 1 + move
            out[symbol].append((day, Decimal(f"{level[symbol]:.2f}")))
    return out


def test_twenty_volatile_days_make_no_wash_sale_and_leave_no_breach_standing(sqlite_cli, tmp_path):
    cli = sqlite_cli
    assert cli.load(POLICY).code == 0
    assert cli("prices", "load", str(write_wide_csv(tmp_path / "p.csv", volatile_closes())), "--as", "olivia").code == 0
    days = previous_trading_days(LAST_DAY, DAYS)
    accounts = ("TAX", "CASH", "IRA")
    breached_yesterday: set[tuple[str, str]] = set()
    buys: dict[str, list[tuple[date, str]]] = {a: [] for a in accounts}
    traded = 0
    for day in days:
        on = day.isoformat()
        result = cli("rebalance", "--date", on, "--as", "olivia", "--json")
        assert result.code == 0, result.err
        assert cli("approve", "--date", on, "--as", "olivia").code == 0
        assert cli("fill", "--date", on, "--as", "olivia").code == 0
        filled = cli("orders", "--date", on, "--status", "filled", "--json").json()["orders"]
        traded += len(filled)
        for order in filled:
            if order["side"] == "buy":
                buys[order["account"]].append((day, order["symbol"]))
        breached_today = set()
        for account in accounts:
            holdings = cli("holdings", account, "--as-of", on, "--json").json()
            for c in holdings["asset_classes"]:
                if c["drift_limit"] and abs(Decimal(c["drift"])) > Decimal(c["drift_limit"]) + Decimal("0.0001"):
                    breached_today.add((account, c["asset_class"]))
        assert not breached_today & breached_yesterday, f"{on}: still breached {breached_today & breached_yesterday}"
        breached_yesterday = breached_today
    assert traded > 10  # the market moved enough to make the system work

    for account in accounts:
        # The system's purchases, each with the lot it opened (a lot never replaces itself).
        opened = [(date.fromisoformat(e["data"]["date"]), e["data"]["symbol"], e["data"]["lot_id"])
                  for e in cli("audit", account, "--json").json()["events"]
                  if e["type"] == "TradeExecuted" and e["data"]["side"] == "buy"]
        assert sorted((d, s) for d, s, _ in opened) == sorted(buys[account])
        gains = cli("gains", account, "--year", "2026", "--json").json()
        for sale in gains["realizations"]:
            if Decimal(sale["proceeds"]) >= Decimal(sale["cost_basis"]):
                continue
            sold_on = date.fromisoformat(sale["date"])
            near = [(d, s) for d, s, lot in opened if lot != sale["lot_id"]
                    and GROUP[s] == GROUP[sale["symbol"]] and abs(d - sold_on) <= timedelta(days=30)]
            assert not near, f"{account}: loss sale of {sale['symbol']} on {sold_on} and buys {near}"
        assert Decimal(gains["disallowed_loss"]) == 0
