"""Reading an account's book: its events, the corporate actions and wash groups of
the securities it touches, and the book built from them as of a date."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from application.unit_of_work import UnitOfWork
from domain.account import Account
from domain.book import AccountBook, CorporateAction, build_book
from domain.security import Security


@dataclass
class AccountHistory:
    account: Account
    securities: dict[str, Security]
    actions: list[CorporateAction]

    def wash_group(self, symbol: str) -> str:
        security = self.securities.get(symbol)
        return security.wash_group if security else symbol

    def book(self, until: date | None) -> AccountBook:
        return build_book(self.account.ledger_events, self.actions, self.wash_group, until)


def account_history(
    uow: UnitOfWork, account: Account, extra_symbols: set[str] = frozenset(), known: dict[str, Security] | None = None,
) -> AccountHistory:
    """`known`: securities already read (a daily run reads each once, not once per account)."""
    symbols = set(extra_symbols)
    for event in account.ledger_events:
        symbol = getattr(event, "symbol", None)
        if symbol:
            symbols.add(symbol)
        for lot in getattr(event, "lots", None) or ():
            if getattr(lot, "symbol", None):
                symbols.add(lot.symbol)
    if known is None:
        known = {}
    for symbol in symbols - known.keys():
        found = uow.find(Security, symbol)
        if found is not None:
            known[symbol] = found
    securities = {s: known[s] for s in sorted(symbols) if s in known}
    actions = []
    for symbol, security in securities.items():
        actions += [CorporateAction(symbol, day, ratio=ratio) for day, ratio in security.splits]
        actions += [CorporateAction(symbol, ex, per_share=per_share, pay_date=pay) for ex, pay, per_share in security.dividends]
    actions.sort(key=lambda a: (a.date, a.symbol, a.ratio is None))
    return AccountHistory(account, securities, actions)


def check_book(uow: UnitOfWork, account: Account) -> None:
    """Replays the account's whole history, pending events included: a sale of shares
    the account does not hold (or a lot it never had) is refused before it is recorded."""
    account_history(uow, account).book(None)
