"""An account's book: its tax lots and its cash, rebuilt from the account's events and
the corporate actions of the securities it holds, in effective-date order.

Same-day order: corporate actions first (a split or ex-date takes effect at the open,
so a dividend goes to those who held the shares before the ex-date), then the
account's own events in the order they were recorded."""

from __future__ import annotations

import copy
from bisect import bisect_right, insort
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lotline.domain.account import Account
from lotline.domain.aggregate import DomainEvent
from lotline.domain.ledger import LedgerError, LotLedger, Realization, TaxLot
from lotline.domain.security import Security
from lotline.domain.values import CENT, ZERO


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


def _action_order(action: CorporateAction) -> tuple[date, str, bool]:
    # By date; on one date by symbol, a split before a dividend.
    return (action.date, action.symbol, action.ratio is None)


def actions_of(event: DomainEvent) -> CorporateAction | None:
    if isinstance(event, Security.SplitRecorded):
        return CorporateAction(event.symbol, event.date, ratio=event.ratio)
    if isinstance(event, Security.DividendRecorded):
        return CorporateAction(event.symbol, event.ex_date, per_share=event.per_share, pay_date=event.pay_date)
    return None


def actions_of_securities(securities: Iterable[Security]) -> list[CorporateAction]:
    """The splits and dividends recorded on these securities, in the order a book applies them."""
    actions = []
    for security in securities:
        actions += [CorporateAction(security.symbol, day, ratio=ratio) for day, ratio in security.splits]
        actions += [CorporateAction(security.symbol, ex, per_share=per_share, pay_date=pay)
                    for ex, pay, per_share in security.dividends]
    actions.sort(key=_action_order)
    return actions


class ActionSchedule:
    """The corporate actions a book applies by date, whatever order they were recorded
    in. Shared by every book of a read model; a book asks only for the actions of the
    symbols it has held, between two dates."""

    __slots__ = ("_dates", "_by_symbol")

    def __init__(self, actions: Iterable[CorporateAction] = ()) -> None:
        self._dates: list[date] = []
        self._by_symbol: dict[str, list[CorporateAction]] = {}
        for action in actions:
            self.add(action)

    def add(self, action: CorporateAction) -> None:
        insort(self._dates, action.date)
        insort(self._by_symbol.setdefault(action.symbol, []), action, key=_action_order)

    def __iter__(self) -> Iterator[CorporateAction]:
        return iter(sorted((a for actions in self._by_symbol.values() for a in actions), key=_action_order))

    def last_date(self) -> date | None:
        return self._dates[-1] if self._dates else None

    def any_between(self, after: date | None, through: date | None) -> bool:
        """Whether any action falls in (after, through]; `None` is open-ended."""
        start = 0 if after is None else bisect_right(self._dates, after)
        return start < len(self._dates) and (through is None or self._dates[start] <= through)

    def due(self, symbols: Iterable[str], after: date | None, through: date | None) -> list[CorporateAction]:
        """The actions of `symbols` dated in (after, through], in the order they apply."""
        out: list[CorporateAction] = []
        for symbol in symbols:
            actions = self._by_symbol.get(symbol)
            if not actions:
                continue
            start = 0 if after is None else bisect_right(actions, after, key=_action_date)
            for action in actions[start:]:
                if through is not None and action.date > through:
                    break
                out.append(action)
        out.sort(key=_action_order)
        return out


def _action_date(action: CorporateAction) -> date:
    return action.date


LEDGER_EVENTS = (
    Account.LotsTransferredIn, Account.CashDeposited, Account.CashWithdrawn, Account.TradeRecorded, Account.TradeExecuted,
)


def event_date(event: DomainEvent) -> date:
    return getattr(event, "date", event.effective_date)


class AccountBook:
    """Lots, realised gains and cash of one account, advanced one dated event at a time.

    Before an event dated D, every corporate action of a symbol the account has held,
    dated after the last one applied and on or before D, is applied: actions take
    effect at the open, before the account's own events of their day. So a split or a
    dividend recorded before the account existed, or before its earlier trades were
    loaded, still reaches it by date."""

    __slots__ = ("ledger", "cash", "horizon", "schedule", "_actions_through", "_dividends_due", "dividends_paid")

    def __init__(self, wash_group_of: Callable[[str], str] | None = None, schedule: ActionSchedule | None = None) -> None:
        self.ledger = LotLedger(wash_group_of)
        self.cash = ZERO
        self.schedule = schedule if schedule is not None else ActionSchedule()
        self.horizon: date | None = None  # the latest date applied
        self._actions_through: date | None = None  # every relevant action up to this date is applied
        self._dividends_due: list[tuple[date, Decimal]] = []
        self.dividends_paid = ZERO

    # --- applying ------------------------------------------------------------------------

    def apply_event(self, event: DomainEvent) -> None:
        """Applies one of the account's ledger events; events must come in date order
        (an earlier-dated one raises EventOutOfOrder from the ledger)."""
        on = event_date(event)
        self._actions_to(on)
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
                if event.side == "buy":
                    self._buy(event.lot_id, event.symbol, event.quantity, event.price, on)
                else:
                    picks = None
                    if event.lots is not None:
                        picks = [(p.lot_id or p.acquired, p.quantity) for p in event.lots]
                    self._sell(event.symbol, event.quantity, event.price, on, picks)

    def trade(self, side: str, symbol: str, quantity: Decimal, price: Decimal, on: date,
              lot_id: str | None = None, picks: Sequence[tuple[str | date, Decimal]] | None = None) -> list[Realization]:
        """A trade not recorded yet, applied as its event would be (to try a fill on a
        copy of the book before recording it); returns the sale's realisations."""
        self._actions_to(on)
        self._advance(on)
        if side == "buy":
            self._buy(lot_id, symbol, quantity, price, on)
            return []
        return self._sell(symbol, quantity, price, on, picks)

    def _buy(self, lot_id: str | None, symbol: str, quantity: Decimal, price: Decimal, on: date) -> None:
        amount = (quantity * price).quantize(CENT)
        self.ledger.buy(lot_id=lot_id, symbol=symbol, quantity=quantity, cost=amount, on=on)
        self.cash -= amount

    def _sell(self, symbol: str, quantity: Decimal, price: Decimal, on: date,
              picks: Sequence[tuple[str | date, Decimal]] | None) -> list[Realization]:
        amount = (quantity * price).quantize(CENT)
        realized = self.ledger.sell(symbol=symbol, quantity=quantity, proceeds=amount, on=on, lots=picks)
        self.cash += amount
        return realized

    def _actions_to(self, on: date) -> None:
        after = self._actions_through
        if after is not None and on <= after:
            return
        if self.schedule.any_between(after, on):
            for action in self.schedule.due(self.ledger.symbols_held(), after, on):
                self._apply_action(action)
        self._actions_through = on

    def _apply_action(self, action: CorporateAction) -> None:
        self._advance(action.date)
        if action.is_split:
            self.ledger.split(symbol=action.symbol, ratio=action.ratio, on=action.date)
            return
        shares = self.ledger.position(action.symbol)
        if shares:
            self._dividends_due.append((action.pay_date, (shares * action.per_share).quantize(CENT)))

    def affected_by(self, action: CorporateAction) -> bool:
        """Whether a newly recorded action concerns this book at all."""
        return action.symbol in self.ledger.symbols_held()

    def applied_through(self) -> date | None:
        """The date up to which this book has applied everything; a new action dated
        on or before it means the book must be built again."""
        return self._actions_through

    def close_day(self, on: date) -> None:
        """Everything through the end of `on`: the day's actions, dividends paid by then."""
        self._actions_to(on)
        self._advance(on)

    def settle(self) -> None:
        """The latest state: every action recorded applied, every declared dividend paid."""
        last = self.schedule.last_date()
        if last is not None:
            self._actions_to(last)
        for pay_date, amount in self._dividends_due:
            self.cash += amount
            self.dividends_paid += amount
            if self.horizon is None or pay_date > self.horizon:
                self.horizon = pay_date
        self._dividends_due = []

    def settled(self) -> AccountBook:
        """This book, or a copy of it settled, when actions dated after its last event
        still apply to it (the book itself keeps following events in date order)."""
        if not self.schedule.any_between(self._actions_through, None):
            return self
        pending = self.schedule.due(self.ledger.symbols_held(), self._actions_through, None)
        if not pending:
            return self
        copied = copy.deepcopy(self)
        copied.settle()
        return copied

    def _advance(self, on: date) -> None:
        if self.horizon is None or on > self.horizon:
            self.horizon = on
        due = [d for d in self._dividends_due if d[0] <= on]
        if due:
            self._dividends_due = [d for d in self._dividends_due if d[0] > on]
            for _, amount in due:
                self.cash += amount
                self.dividends_paid += amount

    def __deepcopy__(self, memo: dict) -> AccountBook:
        # The schedule is shared by every book of a read model, and the wash-group lookup
        # belongs to whoever built the book: neither is copied.
        memo[id(self.ledger._group_of)] = self.ledger._group_of
        copied = AccountBook.__new__(AccountBook)
        for name in self.__slots__:
            value = getattr(self, name)
            setattr(copied, name, value if name == "schedule" else copy.deepcopy(value, memo))
        return copied

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


def in_date_order(events: Iterable[DomainEvent], until: date | None = None) -> list[DomainEvent]:
    """The account's ledger events in the order a book applies them: by effective date,
    then as recorded."""
    dated = [(event_date(e), seq, e) for seq, e in enumerate(events) if isinstance(e, LEDGER_EVENTS)]
    if until is not None:
        dated = [item for item in dated if item[0] <= until]
    dated.sort(key=lambda item: item[:2])
    return [e for _, _, e in dated]


def first_unappliable(
    events: Sequence[DomainEvent], actions: Iterable[CorporateAction] | ActionSchedule,
    wash_group_of: Callable[[str], str] | None = None,
) -> tuple[DomainEvent, LedgerError] | None:
    """The first event, in the order a book applies them, that the account's book cannot
    take (a sale of shares it does not hold), with the ledger's reason; None if all apply."""
    schedule = actions if isinstance(actions, ActionSchedule) else ActionSchedule(actions)
    book = AccountBook(wash_group_of, schedule)
    for event in in_date_order(events):
        try:
            book.apply_event(event)
        except LedgerError as error:
            return event, error
    return None


def build_book(
    events: Sequence[DomainEvent],
    actions: Iterable[CorporateAction] | ActionSchedule,
    wash_group_of: Callable[[str], str] | None = None,
    until: date | None = None,
    settle: bool = True,
) -> AccountBook:
    """The book as it stood at the end of `until`, or with everything recorded (None;
    `settle=False` leaves actions dated after the last event for `settled()`)."""
    schedule = actions if isinstance(actions, ActionSchedule) else ActionSchedule(actions)
    book = AccountBook(wash_group_of, schedule)
    for event in in_date_order(events, until):
        book.apply_event(event)
    if until is not None:
        book.close_day(until)
    elif settle:
        book.settle()
    return book
