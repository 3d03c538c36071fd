"""An account's book: its tax lots and its cash, rebuilt from the account's events and
the corporate actions of the securities it holds, in effective-date order.

Same-day order: corporate actions first (a split or ex-date takes effect at the open,
so a dividend goes to those who held the shares before the ex-date), then the
account's own events in the order they were recorded."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from domain.account import Account
from domain.aggregate import DomainEvent
from domain.ledger import LotLedger, Realization, TaxLot
from domain.security import Security

ZERO = Decimal(0)
CENT = Decimal("0.01")


@dataclass(frozen=True, slots=True)
class CorporateAction:
    """A split (`ratio` new shares per old) or a cash dividend (`per_share`, paid on `pay_date`)."""

    symbol: str
    date: date
    ratio: Decimal | None = None
    per_share: Decimal | None = None
    pay_date: date | None = None

    @property
    def is_split(self) -> bool:
        return self.ratio is not None


def actions_of(event: DomainEvent) -> CorporateAction | None:
    if isinstance(event, Security.SplitRecorded):
        return CorporateAction(event.symbol, event.date, ratio=event.ratio)
    if isinstance(event, Security.DividendRecorded):
        return CorporateAction(event.symbol, event.ex_date, per_share=event.per_share, pay_date=event.pay_date)
    return None


LEDGER_EVENTS = (
    Account.LotsTransferredIn, Account.CashDeposited, Account.CashWithdrawn, Account.TradeRecorded, Account.TradeExecuted,
)


def event_date(event: DomainEvent) -> date:
    return getattr(event, "date", event.effective_date)


class AccountBook:
    """Lots, realised gains and cash of one account, advanced one dated item at a time."""

    __slots__ = ("ledger", "cash", "horizon", "_dividends_due", "dividends_paid")

    def __init__(self, wash_group_of: Callable[[str], str] | None = None) -> None:
        self.ledger = LotLedger(wash_group_of)
        self.cash = ZERO
        self.horizon: date | None = None  # the latest date applied
        self._dividends_due: list[tuple[date, Decimal]] = []
        self.dividends_paid = ZERO

    # --- applying ------------------------------------------------------------------------

    def apply_event(self, event: DomainEvent) -> None:
        on = event_date(event)
        self._advance(on)
        match event:
            case Account.LotsTransferredIn():
                for lot in event.lots:
                    self.ledger.transfer_in(lot_id=lot.lot_id, symbol=lot.symbol, quantity=lot.quantity,
                                            cost_basis=lot.cost_basis, acquired=lot.acquired, on=on)
            case Account.CashDeposited():
                self.cash += event.amount
            case Account.CashWithdrawn():
                self.cash -= event.amount
            case Account.TradeRecorded() | Account.TradeExecuted():
                amount = (event.quantity * event.price).quantize(CENT)
                if event.side == "buy":
                    self.ledger.buy(lot_id=event.lot_id, symbol=event.symbol, quantity=event.quantity, cost=amount, on=on)
                    self.cash -= amount
                else:
                    picks = None
                    if event.lots is not None:
                        picks = [(p.lot_id or p.acquired, p.quantity) for p in event.lots]
                    self.ledger.sell(symbol=event.symbol, quantity=event.quantity, proceeds=amount, on=on, lots=picks)
                    self.cash += amount

    def apply_action(self, action: CorporateAction) -> None:
        self._advance(action.date)
        if action.is_split:
            self.ledger.split(symbol=action.symbol, ratio=action.ratio, on=action.date)
            return
        shares = self.ledger.position(action.symbol)
        if shares:
            self._dividends_due.append((action.pay_date, (shares * action.per_share).quantize(CENT)))

    def close_day(self, on: date) -> None:
        """Everything through the end of `on`: dividends paid by then reach cash."""
        self._advance(on)

    def _advance(self, on: date) -> None:
        if self.horizon is None or on > self.horizon:
            self.horizon = on
        due = [d for d in self._dividends_due if d[0] <= on]
        if due:
            self._dividends_due = [d for d in self._dividends_due if d[0] > on]
            for _, amount in due:
                self.cash += amount
                self.dividends_paid += amount

    def pay_all_dividends(self) -> None:
        """The latest state: every declared dividend paid, whatever its pay date."""
        for pay_date, amount in self._dividends_due:
            self.cash += amount
            self.dividends_paid += amount
            if self.horizon is None or pay_date > self.horizon:
                self.horizon = pay_date
        self._dividends_due = []

    # --- reading --------------------------------------------------------------------------

    def cash_including_declared(self) -> Decimal:
        """Cash once every dividend already declared has been paid."""
        return self.cash + sum((amount for _, amount in self._dividends_due), ZERO)

    def latest_date(self) -> date | None:
        dates = [d for d, _ in self._dividends_due] + ([self.horizon] if self.horizon else [])
        return max(dates) if dates else None

    def open_lots(self) -> list[TaxLot]:
        return self.ledger.open_lots()

    def realizations(self, year: int | None = None) -> list[Realization]:
        return self.ledger.realizations(year)

    def positions(self) -> dict[str, Decimal]:
        out: dict[str, Decimal] = {}
        for lot in self.ledger.open_lots():
            out[lot.symbol] = out.get(lot.symbol, ZERO) + lot.quantity
        return out


def dated_items(
    events: Iterable[DomainEvent], actions: Iterable[CorporateAction], until: date | None = None
) -> list[tuple[date, int, int, object]]:
    """Account events and corporate actions merged in the order the book applies them."""
    items: list[tuple[date, int, int, object]] = []
    for seq, action in enumerate(actions):
        if until is None or action.date <= until:
            items.append((action.date, 0, seq, action))
    for seq, event in enumerate(events):
        if isinstance(event, LEDGER_EVENTS):
            on = event_date(event)
            if until is None or on <= until:
                items.append((on, 1, seq, event))
    items.sort(key=lambda item: item[:3])
    return items


def build_book(
    events: Sequence[DomainEvent],
    actions: Iterable[CorporateAction],
    wash_group_of: Callable[[str], str] | None = None,
    until: date | None = None,
) -> AccountBook:
    """The book as it stood at the end of `until` (or with everything known, if None)."""
    book = AccountBook(wash_group_of)
    for _, _, _, item in dated_items(events, actions, until):
        if isinstance(item, CorporateAction):
            book.apply_action(item)
        else:
            book.apply_event(item)  # type: ignore[arg-type]
    if until is None:
        book.pay_all_dividends()
    else:
        book.close_day(until)
    return book
