"""The demo's yardstick: the same firm on the same days, every account traded back to
its target weights each day, the way a plain rebalancer does it: sell what is over
target first-in first-out, then buy what is under with the cash there is. It knows no
taxes, no drift limits, no harvesting and no cash requests; it keeps the target's own
exclusions (do-not-buy and do-not-hold securities, model choices, substitutions) and
never sells a do-not-sell security.

A pure simulation in memory: each account's book (application/history.py) as it stood
before the first day, traded through the domain's own ledger (`AccountBook.trade`, so
lots, holding periods and wash sales follow the same rules as recorded trades), valued
at the closes the workflow used. Nothing is recorded."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, Decimal

from lotline.application.history import account_history
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.account import Account
from lotline.domain.book import AccountBook
from lotline.domain.ledger import Realization
from lotline.domain.model import Model
from lotline.domain.parameters import RestrictionRule, TaxStatus
from lotline.domain.targets import SecurityTargets, security_targets
from lotline.domain.template import TargetTemplate
from lotline.domain.valuation import Valuation
from lotline.domain.values import CENT, ZERO

WHOLE = Decimal(1)
FRACTION = Decimal("0.0001")


@dataclass
class PlainAccount:
    account_id: str
    book: AccountBook
    targets: SecurityTargets
    class_of: dict[str, str]
    limits: dict[str, Decimal]
    keep: frozenset[str]  # do-not-sell securities
    step: Decimal  # the smallest quantity traded
    rates: tuple[Decimal, Decimal] | None  # short- and long-term rates; None: not taxable

    def valuation(self, closes: Mapping[str, Decimal]) -> Valuation:
        positions = {s: q for s, q in self.book.positions().items() if q}
        return Valuation.of(self.book.cash, positions.items(), closes, self.class_of, self.targets.class_weights,
                            self.limits, also=[s for s in self.targets.weights if s in closes])


@dataclass
class PlainDay:
    day: date
    traded: int = 0
    orders: int = 0
    realizations: list[tuple[PlainAccount, Realization]] = field(default_factory=list)
    outside_after: int = 0


def outside_limits(valuation: Valuation) -> bool:
    """Whether any asset class is further from its target than its drift limit."""
    return any(abs(valuation.drift(c)) > limit for c, limit in valuation.drift_limits.items())


def worst_drift(valuation: Valuation) -> Decimal:
    return max((abs(valuation.drift(c)) for c in valuation.target_weights), default=ZERO)


def plain_accounts(uow: UnitOfWork, account_ids: list[str], before: date) -> list[PlainAccount]:
    """Each account as it stood at the end of `before`, with its targets."""
    models = uow.mapping(Model)
    out = []
    for account_id in account_ids:
        account = uow.get(Account, account_id, "account")
        template = uow.get(TargetTemplate, account.template_id, "template")
        targets = security_targets(template, models, account.parameters)
        history = account_history(uow, account, set(targets.weights))
        params = account.parameters
        rates = ((params.tax.short_term_rate, params.tax.long_term_rate)
                 if account.tax_status == TaxStatus.TAXABLE else None)
        out.append(PlainAccount(
            account_id, history.book(before), targets,
            {s: sec.asset_class for s, sec in history.securities.items()},
            {name: t.drift_limit for name, t in template.classes.items()},
            frozenset(params.restricted(RestrictionRule.DO_NOT_SELL)),
            FRACTION if params.trading.fractional_shares else WHOLE, rates))
    return out


def rebalance_to_target(account: PlainAccount, closes: Mapping[str, Decimal], on: date) -> tuple[int, list[Realization]]:
    """Trades the account to its target weights at the day's closes: sells first (first-in
    first-out), then buys in symbol order while cash above the cash target lasts. The
    number of trades and what the sales realised."""
    valuation = account.valuation(closes)
    total = valuation.total
    positions = {s: q for s, q in account.book.positions().items() if q}
    wanted = {s: (account.targets.weights.get(s, ZERO) * total / closes[s]).quantize(account.step, ROUND_DOWN)
              for s in sorted(set(positions) | set(account.targets.weights))}
    trades, realised = 0, []
    for symbol in sorted(positions):
        excess = positions[symbol] - wanted[symbol]
        if _worth_a_cent(excess, closes[symbol]) and symbol not in account.keep:
            realised += account.book.trade("sell", symbol, excess, closes[symbol], on)
            trades += 1
    spendable = account.book.cash - account.targets.class_weights.get("cash", ZERO) * total
    for symbol in sorted(account.targets.weights):
        short = wanted[symbol] - positions.get(symbol, ZERO)
        quantity = min(short, (spendable / closes[symbol]).quantize(account.step, ROUND_DOWN))
        if _worth_a_cent(quantity, closes[symbol]):
            account.book.trade("buy", symbol, quantity, closes[symbol], on, lot_id=f"plain/{on.isoformat()}/{symbol}")
            spendable -= quantity * closes[symbol]
            trades += 1
    return trades, realised


def _worth_a_cent(quantity: Decimal, close: Decimal) -> bool:
    """A trade the ledger can record: a fractional remainder worth less than a cent is
    no trade (its cost or proceeds would round to nothing)."""
    return quantity > 0 and (quantity * close).quantize(CENT) > 0


def run_plain_day(accounts: list[PlainAccount], closes: Mapping[str, Decimal], on: date) -> PlainDay:
    day = PlainDay(on)
    for account in accounts:
        trades, realised = rebalance_to_target(account, closes, on)
        day.traded += 1 if trades else 0
        day.orders += trades
        day.realizations += [(account, r) for r in realised]
        day.outside_after += outside_limits(account.valuation(closes))
    return day
