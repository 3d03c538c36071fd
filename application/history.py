"""An account's history as its book needs it: the account's events, the securities it
touches (their wash groups and corporate actions), and the book (domain/book.py)
built from them as of a date."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from datetime import date

from lotline.domain.account import Account
from lotline.domain.book import AccountBook, CorporateAction, actions_of_securities, build_book, first_unappliable
from lotline.domain.ledger import LedgerError
from lotline.domain.aggregate import DomainEvent
from lotline.domain.security import Security

if TYPE_CHECKING:
    from lotline.application.unit_of_work import UnitOfWork


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

    def first_unappliable(self) -> tuple[DomainEvent, LedgerError] | None:
        return first_unappliable(self.account.ledger_events, self.actions, self.wash_group)


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
    return AccountHistory(account, securities, actions_of_securities(securities.values()))


