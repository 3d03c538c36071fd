"""Twenty trading days of rebalance, approve and fill on volatile seeded prices: the
system's own trades never make a wash sale, and no drift limit stays breached two
days in a row. Checked from the trades and holdings, not from the optimiser."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from lotline.infrastructure.calendar import previous_trading_days
from tests.market import write_wide_csv
from tests.scenarios import SECURITIES, balanced, lot, policy
from tests.scenarios import account as an_account

LAST_DAY = date(2026, 3, 2)
DAYS = 20
START = {"VTI": 300.0, "ITOT": 130.0, "SCHB": 25.0, "BND": 73.0, "AGG": 99.0, "VGIT": 60.0}
CLASS = {symbol: SECURITIES[symbol][0] for symbol in START}
GROUP = {symbol: SECURITIES[symbol][1] for symbol in START}

POLICY = policy(
    as_of="2026-01-30",
    securities=tuple(START),
    models={"us-core": {"VTI": "0.7", "ITOT": "0.3"}, "us-alt": {"SCHB": "1"}, "bonds-core": {"BND": "1"},
            "bonds-alt": {"VGIT": "1"}},
    templates=[balanced(us_alternatives=("us-alt",), bonds_alternatives=("bonds-alt",))],
    accounts=(an_account("TAX", "balanced", "3000", [lot("VTI", "150", "46500", "2026-01-20"),
                                                      lot("ITOT", "150", "19000", "2025-02-03"),
                                                      lot("BND", "500", "37000", "2025-06-02")], opened="2025-01-02")
              + an_account("CASH", "balanced", "120000", opened="2025-01-02")
              + an_account("IRA", "balanced", "1000", [lot("VTI", "250", "50000", "2024-03-01"),
                                                       lot("VGIT", "330", "20000", "2024-03-01")],
                           opened="2025-01-02", tax_status="tax_deferred")),
)


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
