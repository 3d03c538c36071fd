"""`lotline demo`: a realistic firm built in an empty store (generated as a scenario and
applied by the scenario loader, as a file would be), then trading days of the full
workflow (analyse, release, fill), and what a firm would want to see at the end.

Seeded: the same seed gives the same firm, prices, decisions and trades."""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from collections.abc import Iterable
from typing import Any, Callable

from lotline.application.identity import SYSTEM
from lotline.application.loading import ScenarioLoader
from lotline.application.lotline import Lotline
from lotline.application.scenario import Scenario, parse_scenario
from lotline.domain.errors import RuleRefused
from lotline.domain.ledger import Realization
from lotline.domain.parameters import RestrictionRule, TaxStatus
from lotline.domain.price_series import PriceSource, closes_digest
from lotline.domain.roles import Role
from lotline.infrastructure.calendar import previous_trading_days, trading_days

# symbol: (asset class, wash group, annual drift, annual volatility, beta to equities, starting price)
UNIVERSE = {
    "VTI": ("us_equity", "us-total-market", 0.08, 0.17, 1.00, 210.0),
    "ITOT": ("us_equity", "us-total-market", 0.08, 0.17, 1.00, 92.0),
    "SCHB": ("us_equity", "us-broad", 0.08, 0.17, 1.00, 18.5),
    "VOO": ("us_equity", "sp500", 0.085, 0.16, 0.98, 390.0),
    "IVV": ("us_equity", "sp500", 0.085, 0.16, 0.98, 392.0),
    "ESGU": ("us_equity", "us-esg", 0.08, 0.17, 1.00, 88.0),
    "SUSA": ("us_equity", "us-esg-select", 0.075, 0.17, 0.97, 85.0),
    "VXUS": ("intl_equity", "intl-total", 0.05, 0.16, 0.80, 55.0),
    "IXUS": ("intl_equity", "intl-total", 0.05, 0.16, 0.80, 61.0),
    "VEA": ("intl_equity", "intl-developed", 0.05, 0.15, 0.78, 44.0),
    "IEFA": ("intl_equity", "intl-developed", 0.05, 0.15, 0.78, 66.0),
    "BND": ("bonds", "us-agg", 0.02, 0.06, 0.05, 72.0),
    "AGG": ("bonds", "us-agg", 0.02, 0.06, 0.05, 97.0),
    "SCHZ": ("bonds", "us-agg-schwab", 0.02, 0.06, 0.05, 46.0),
    "VGIT": ("bonds", "us-treasury-intermediate", 0.018, 0.05, 0.02, 58.0),
    "VNQ": ("real_estate", "us-reit", 0.05, 0.21, 0.85, 82.0),
    "SCHH": ("real_estate", "us-reit-schwab", 0.05, 0.21, 0.85, 20.0),
}

MODELS = {
    "us-core": {"VTI": "0.60", "VOO": "0.40"},
    "us-esg": {"ESGU": "0.70", "SUSA": "0.30"},
    "intl-core": {"VXUS": "0.50", "VEA": "0.50"},
    "bonds-core": {"BND": "0.70", "VGIT": "0.30"},
    "reit-core": {"VNQ": "1"},
}

TEMPLATES = {
    "growth": {
        "us_equity": ("0.55", "us-core", ("us-esg",), "0.05", "0.04"),
        "intl_equity": ("0.25", "intl-core", (), "0.05", "0.04"),
        "bonds": ("0.12", "bonds-core", (), "0.05", "0.03"),
        "real_estate": ("0.05", "reit-core", (), "0.02", "0.02"),
        "cash": ("0.03", None, (), "0", "0.03"),
    },
    "balanced": {
        "us_equity": ("0.35", "us-core", ("us-esg",), "0.05", "0.03"),
        "intl_equity": ("0.15", "intl-core", (), "0.03", "0.03"),
        "bonds": ("0.42", "bonds-core", (), "0.05", "0.03"),
        "real_estate": ("0.05", "reit-core", (), "0.02", "0.02"),
        "cash": ("0.03", None, (), "0", "0.03"),
    },
}

ADVISORS = ("alice", "bob", "dana")
HISTORY_DAYS = 420
DEFAULT_START = date(2026, 3, 2)


@dataclass
class DaySummary:
    """One trading day of the workflow: accounts analysed and traded, why they traded
    (how many decisions named each reason), what taxable accounts realised (short and
    long term, the losses among it, the estimated tax), and how many accounts had an
    asset class outside its drift limit at the day's close before and after the trades."""

    day: date
    analysed: int = 0
    trading: int = 0
    reasons: Counter = field(default_factory=Counter)
    failed: int = 0
    orders: int = 0
    filled: int = 0
    cash_requests: int = 0
    short_term: Decimal = Decimal(0)
    long_term: Decimal = Decimal(0)
    tax: Decimal = Decimal(0)
    harvested: Decimal = Decimal(0)
    outside_before: int = 0
    outside_after: int = 0


@dataclass
class Outcome:
    """What one way of rebalancing did over the demo's days, for the comparison."""

    traded: int  # account-days with at least one trade
    orders: int  # trades executed
    short_term: Decimal
    long_term: Decimal
    harvested: Decimal
    tax: Decimal
    outside_after: int  # accounts outside a drift limit after the last day's trades
    mean_worst_drift: Decimal  # after the last day's trades


@dataclass
class DemoReport:
    accounts: int
    days: list[DaySummary]
    short_term: Decimal
    long_term: Decimal
    tax: Decimal
    harvested: Decimal
    drift_before: Decimal
    drift_after: Decimal
    worst_before: Decimal
    worst_after: Decimal
    value: Decimal
    holistic: Outcome | None = None
    plain: Outcome | None = None  # the same days as a plain rebalance to target (plain_rebalance.py)


def simulate_closes(rng: random.Random, sessions: list[date]) -> dict[str, list[tuple[date, Decimal]]]:
    """A market factor, a factor per asset class and each fund's own noise; funds of one
    wash group track each other closely, as substantially identical funds do."""
    daily = 1 / 252
    market = [rng.gauss(0, 0.16 * math.sqrt(daily)) for _ in sessions]
    classes = {c for c, *_ in UNIVERSE.values()}
    class_noise = {c: [rng.gauss(0, 0.05 * math.sqrt(daily)) for _ in sessions] for c in sorted(classes)}
    group_noise = {g: [rng.gauss(0, 0.03 * math.sqrt(daily)) for _ in sessions] for g in sorted({v[1] for v in UNIVERSE.values()})}
    out = {}
    for symbol, (asset_class, group, drift, vol, beta, start) in sorted(UNIVERSE.items()):
        level = start
        rows = []
        own = max(vol * 0.15, 0.005)
        for i, day in enumerate(sessions):
            shock = beta * market[i] if asset_class != "bonds" else 0.05 * market[i]
            shock += class_noise[asset_class][i] * (1.0 if asset_class != "bonds" else 0.6)
            shock += group_noise[group][i] + rng.gauss(0, own * math.sqrt(daily))
            level *= math.exp(drift * daily + shock)
            rows.append((day, Decimal(f"{level:.2f}")))
        out[symbol] = rows
    return out


def build_firm(service: Lotline, accounts: int, seed: int, start: date) -> tuple[dict[str, list[tuple[date, Decimal]]], list[date]]:
    """The demo firm in an empty store: `demo_scenario` applied by the scenario loader in
    one unit of work, as a file holding it would be. Returns each symbol's closes before
    `start` and the sessions from `start` on (closes for them are recorded too)."""
    if service.store.has_history():
        raise RuleRefused("the store already holds a history; run the demo on an empty store "
                          "(for example --store sqlite:///demo.db)", "store")
    scenario, closes, future = demo_scenario(accounts, seed, start)
    uow = service.fresh()
    given = [(day, symbol, close) for day, row in scenario.prices.items() for symbol, close in row.items()]
    source = PriceSource(f"lotline demo --seed {seed}", closes_digest(given))  # the closes' own digest: no file
    ScenarioLoader(uow, scenario, SYSTEM, [], scenario.as_of, service.clock(), prices_source=source).run()
    service.commit(uow)
    return closes, future


def demo_scenario(accounts: int, seed: int, start: date) -> tuple[Scenario, dict[str, list[tuple[date, Decimal]]], list[date]]:
    """The demo firm as a scenario file would give it, as of the session before `start`:
    users, securities, models, templates, settings, `accounts` client accounts with their
    lots, parameters and cash requests, and closes for the HISTORY_DAYS sessions before
    `start` and the 30 from it. Seeded: the same seed gives the same scenario.

    The loader applies it as any file loaded into an empty store: `system`, as the
    bootstrap admin, records every entry (the days after are olivia's)."""
    rng = random.Random(seed)
    history = previous_trading_days(start - timedelta(days=1), HISTORY_DAYS)
    closes = simulate_closes(rng, history)
    people = [("root", Role.ADMIN), ("ipc", Role.POLICY_COMMITTEE), ("olivia", Role.OVERLAY_MANAGER),
              ("carol", Role.COMPLIANCE)] + [(a, Role.ADVISOR) for a in ADVISORS]
    price_at = {s: dict(rows) for s, rows in closes.items()}
    entries = [_demo_account(rng, n, price_at, history, start) for n in range(accounts)]
    future = trading_days(start, 30)
    tail = simulate_closes(random.Random(seed + 1), future)
    prices: dict[date, dict[str, Decimal]] = {}
    for symbol, rows in closes.items():
        for day, close in rows:
            prices.setdefault(day, {})[symbol] = close
    # The days ahead continue each price path from its last close.
    for symbol, rows in tail.items():
        scale = closes[symbol][-1][1] / Decimal(str(UNIVERSE[symbol][5]))
        for day, close in rows:
            prices.setdefault(day, {})[symbol] = (close * scale).quantize(Decimal("0.01"))
    raw = {
        "as_of": history[-1],
        "users": [{"id": user_id, "role": role.value, "reason": "demo firm"} for user_id, role in people],
        "securities": [{"symbol": s, "asset_class": c, "wash_group": g} for s, (c, g, *_) in UNIVERSE.items()],
        "prices": prices,
        "models": [{"id": m, "weights": {s: Decimal(w) for s, w in weights.items()}} for m, weights in MODELS.items()],
        "templates": [
            {"id": template_id, "classes": {
                name: {"weight": Decimal(w), "model": model, "alternatives": list(alternatives),
                       "max_modification": Decimal(mm), "drift_limit": Decimal(dl)}
                for name, (w, model, alternatives, mm, dl) in classes.items()}}
            for template_id, classes in TEMPLATES.items()
        ],
        "settings": {"trade_threshold_bp": Decimal("5")},
        "accounts": [account for account, _ in entries],
        "cash_requests": [request for _, request in entries if request is not None],
    }
    return parse_scenario(raw), closes, future


def _demo_account(rng: random.Random, n: int, price_at: dict, history: list[date],
                  start: date) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """One client account's scenario entry, and its cash request entry if it has one."""
    advisor = ADVISORS[n % len(ADVISORS)]
    template = "growth" if rng.random() < 0.55 else "balanced"
    tax_status = TaxStatus.TAX_DEFERRED if rng.random() < 0.3 else TaxStatus.TAXABLE
    opened = history[rng.randrange(0, len(history) // 2)]
    account_id = f"DEMO-{n + 1:04d}"
    size = Decimal(rng.choice([50_000, 120_000, 250_000, 600_000, 1_500_000]))
    cash = (size * Decimal(rng.uniform(0.01, 0.08))).quantize(Decimal("0.01"))
    lots = []
    held = sorted(s for s in UNIVERSE if s in {"VTI", "VOO", "ITOT", "SCHB", "VXUS", "VEA", "IEFA", "BND", "AGG", "VGIT", "VNQ"})
    chosen = rng.sample(held, rng.randint(4, 8))
    for symbol in chosen:
        for _ in range(rng.randint(1, 4)):
            acquired = history[rng.randrange(0, len(history) - 5)]
            # Cost from the price on the day it was bought (lots before the account opened came in by transfer).
            cost = price_at[symbol][acquired] * Decimal(rng.uniform(0.85, 1.15))
            value = size * Decimal(rng.uniform(0.02, 0.12))
            quantity = max(Decimal(1), (value / cost).quantize(Decimal(1)))
            lots.append({"symbol": symbol, "quantity": quantity, "cost_basis": (quantity * cost).quantize(Decimal("0.01")),
                         "acquired": acquired})
    parameters: dict[str, Any] = {}
    if rng.random() < 0.2:
        parameters["restrictions"] = [
            {"symbol": "VNQ", "rule": RestrictionRule.DO_NOT_BUY, "reason": "SRI screen: no REITs"},
            {"symbol": "SCHB", "rule": RestrictionRule.DO_NOT_HOLD, "reason": "SRI screen"},
        ]
        parameters["model_choices"] = {"us_equity": "us-esg"}
    if rng.random() < 0.25:
        parameters["substitutions"] = {"VTI": "ITOT"}
    if rng.random() < 0.15:
        # A legacy position not to sell: its restriction takes the place of any screen's.
        parameters["restrictions"] = [{"symbol": chosen[0], "rule": RestrictionRule.DO_NOT_SELL, "reason": "legacy position"}]
    if tax_status == TaxStatus.TAXABLE:
        tax: dict[str, Any] = {
            "short_term_rate": Decimal(rng.choice(["0.32", "0.35", "0.37"])),
            "long_term_rate": Decimal(rng.choice(["0.15", "0.20", "0.238"])),
            "harvest_losses": True,
        }
        if rng.random() < 0.3:
            tax["annual_gain_budget"] = Decimal(rng.choice(["5000", "20000"]))
        parameters["tax"] = tax
    parameters["cash"] = {"reserve": Decimal(rng.choice(["0", "0.01", "0.02"]))}
    parameters["trading"] = {"min_trade_value": Decimal("250"), "fractional_shares": rng.random() < 0.2}
    account = {"id": account_id, "advisor": advisor, "tax_status": tax_status, "template": template, "opened": opened,
               "cash": cash, "lots": lots, "parameters": parameters}
    request = None
    if rng.random() < 0.15:
        day = start + timedelta(days=rng.randint(0, 3))
        request = {"account": account_id, "amount": (size * Decimal("0.10")).quantize(Decimal("0.01")), "date": day,
                   "by": day + timedelta(days=10), "reason": "client withdrawal"}
    return account, request


def run_demo(service: Lotline, accounts: int, days: int, seed: int, start: date = DEFAULT_START,
             workers: int = 1, progress: Callable[[str, int], None] | None = None) -> DemoReport:
    from lotline.application.commands import Approve, Fill, Rebalance
    from lotline.application.handlers.analysis import rebalance
    from lotline.application.handlers.execution import fill
    from lotline.application.handlers.release import approve
    from lotline.application.plain_rebalance import plain_accounts, run_plain_day, worst_drift

    _, future = build_firm(service, accounts, seed, start)
    ids = [f"DEMO-{n + 1:04d}" for n in range(accounts)]
    first = future[0]
    plain = plain_accounts(service.fresh(), ids, previous_trading_days(first - timedelta(days=1), 1)[0])
    rates = {p.account_id: p.rates for p in plain}
    opening = [_holdings(service, a, first) for a in ids]
    before = [_worst_drift(h) for h in opening]
    summaries, plain_days = [], []
    for day in future[:days]:
        if progress:
            progress(f"{day.isoformat()}: analysing", 0)
        outside_before = sum(_outside(h) for h in (opening if day == first else
                                                        [_holdings(service, a, day) for a in ids]))
        results = rebalance(Rebalance(user="olivia", on=day, workers=workers), service)
        summary = DaySummary(day, analysed=len(results), outside_before=outside_before)
        for r in results:
            if r.failure:
                summary.failed += 1
            elif r.trade:
                summary.trading += 1
                summary.orders += r.orders
                summary.reasons.update(r.reasons)
        approve(Approve(user="olivia", on=day), service)
        filled = fill(Fill(user="olivia", on=day), service)
        summary.filled, summary.cash_requests = filled.trades, filled.cash_requests
        closing = [_holdings(service, a, day) for a in ids]
        summary.outside_after = sum(_outside(h) for h in closing)
        summary.short_term, summary.long_term, summary.tax, summary.harvested = _taxed(
            service.views.realisations(day, day), rates)
        summaries.append(summary)
        closes = {s: close for s, (_, close) in service.prices.on_or_before(day).items()}
        plain_days.append(run_plain_day(plain, closes, day))
        if progress:
            progress(f"{day.isoformat()}: {summary.trading} of {summary.analysed} accounts traded", 1)
    after = [_worst_drift(h) for h in closing]
    value = sum((Decimal(h["total_value"]) for h in closing), Decimal(0))
    short, long_, tax, harvested = (sum((getattr(d, f) for d in summaries), Decimal(0))
                                    for f in ("short_term", "long_term", "tax", "harvested"))
    holistic = Outcome(sum(d.trading for d in summaries), sum(d.filled for d in summaries), short, long_, harvested, tax,
                       summaries[-1].outside_after, sum(after, Decimal(0)) / len(after))
    plain_taxed = _taxed(((p.account_id, r) for d in plain_days for p, r in d.realizations), rates)
    final = {s: close for s, (_, close) in service.prices.on_or_before(summaries[-1].day).items()}
    plain_drift = [worst_drift(p.valuation(final)) for p in plain]
    plain_outcome = Outcome(sum(d.traded for d in plain_days), sum(d.orders for d in plain_days), plain_taxed[0],
                            plain_taxed[1], plain_taxed[3], plain_taxed[2], plain_days[-1].outside_after,
                            sum(plain_drift, Decimal(0)) / len(plain_drift))
    return DemoReport(accounts, summaries, short, long_, tax, harvested,
                      sum(before, Decimal(0)) / len(before), sum(after, Decimal(0)) / len(after),
                      max(before), max(after), value, holistic, plain_outcome)


def _holdings(service: Lotline, account_id: str, day: date) -> dict:
    from lotline.application.queries import holdings_report

    return holdings_report(service, account_id, "carol", day)


def _worst_drift(holdings: dict) -> Decimal:
    return max((abs(Decimal(c["drift"])) for c in holdings["asset_classes"]), default=Decimal(0))


def _outside(holdings: dict) -> bool:
    """Whether an asset class of the account is further from its target than its limit."""
    return any(c["drift_limit"] is not None and abs(Decimal(c["drift"])) > Decimal(c["drift_limit"])
               for c in holdings["asset_classes"])


def _taxed(realisations: Iterable[tuple[str, Realization]],
           rates: dict[str, tuple[Decimal, Decimal] | None]) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """What taxable accounts realised (short term, long term), the estimated tax at each
    account's rates, and the losses among it (harvested), in cents."""
    short = long_ = tax = harvested = Decimal(0)
    for account_id, realisation in realisations:
        account_rates = rates.get(account_id)
        if account_rates is None:
            continue
        gain = realisation.gain
        if realisation.term == "short":
            short += gain
            tax += gain * account_rates[0]
        else:
            long_ += gain
            tax += gain * account_rates[1]
        if gain < 0:
            harvested += -gain
    cent = Decimal("0.01")
    return short.quantize(cent), long_.quantize(cent), tax.quantize(cent), harvested.quantize(cent)
