"""Open lots, realised gains and cash of every account, with everything recorded so far
applied (the latest state). Books are kept in memory while a process catches up and
advanced incrementally; an event dated before what a book has already applied (a
backdated trade, a split recorded late) rebuilds that one account from its history.
Corporate actions reach every book through one shared schedule, by date, whatever
order they and the account's events were recorded in (the same code the analysis and
fill use to build a book). Only the rows that changed are written, so the cost follows
the events, not the books. An account whose history cannot be applied is reported as
failing at that event and left out; every other account goes on."""

from __future__ import annotations

from collections.abc import Callable
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Date, Integer, MetaData, String, Table, Text, delete, select
from sqlalchemy.orm import Session

from lotline.domain.account import Account
from lotline.domain.aggregate import DomainEvent
from lotline.domain.book import LEDGER_EVENTS, AccountBook, ActionSchedule, CorporateAction, actions_of, build_book, event_date
from lotline.domain.ledger import LedgerError
from lotline.domain.security import Security
from lotline.projections.tracking import Projection, bulk_delete, bulk_insert

metadata = MetaData()

lots = Table(
    "lots",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("lot_id", String(160), primary_key=True),
    Column("symbol", String(32), nullable=False, index=True),
    Column("quantity", String(40), nullable=False),
    Column("cost_basis", String(40), nullable=False),
    Column("acquired", Date, nullable=False),
    Column("holding_period_start", Date, nullable=False),
    Column("wash_sale_adjustment", String(40), nullable=False),
)

realized_gains = Table(
    "realized_gains",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("date", Date, nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("quantity", String(40), nullable=False),
    Column("proceeds", String(40), nullable=False),
    Column("cost_basis", String(40), nullable=False),
    Column("gain", String(40), nullable=False),
    Column("term", String(8), nullable=False),
    Column("disallowed_loss", String(40), nullable=False),
    Column("lot_id", String(160), nullable=False),
)

account_cash = Table(
    "account_cash",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("cash", String(40), nullable=False),
    Column("latest_date", Date, nullable=True),
    # The open lots' quantities added up by symbol, [[symbol, quantity], ...] in symbol
    # order: what the listings value 10,000 accounts from without reading a million lots.
    Column("positions", Text, nullable=False),
)

corporate_actions = Table(
    "corporate_actions",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=False),
    Column("symbol", String(32), nullable=False),
    Column("date", Date, nullable=False),
    Column("ratio", String(40), nullable=True),
    Column("per_share", String(40), nullable=True),
    Column("pay_date", Date, nullable=True),
)


@dataclass
class _KeptAccount:
    """What the read model keeps of one account between events: its book, the account
    version the book has reached, and the rows last written for it (to write only
    what changed)."""

    account_id: str
    book: AccountBook
    version: int
    written_lots: dict[str, Any] = field(default_factory=dict)
    written_gains: list[Any] = field(default_factory=list)
    written_cash: tuple | None = None
    rewrite: bool = False


class LotsAndGains(Projection):
    name = "lots"
    metadata = metadata
    handles = frozenset({
        *LEDGER_EVENTS, Account.Opened, Security.Listed, Security.Reclassified, Security.SplitRecorded,
        Security.DividendRecorded,
    })

    def __init__(self, load_account: Callable[[UUID], Account], max_books: int = 10_000) -> None:
        self._load_account = load_account
        # Books kept in memory between batches, least recently used evicted first: an
        # evicted account is rebuilt from its history when it next has an event.
        self._max_books = max_books
        self._reset()

    def _reset(self) -> None:
        self._books: OrderedDict[UUID, _KeptAccount] = OrderedDict()
        self._schedule = ActionSchedule()
        self._groups: dict[str, str] = {}
        self._loaded = False
        self._dirty: set[UUID] = set()

    def clear(self, session: Session) -> None:
        super().clear(session)
        self._reset()
        self._loaded = True

    def forget(self) -> None:
        self._reset()

    def begin_batch(self, session: Session) -> None:
        if self._loaded:
            return
        from lotline.projections.directory import securities

        self._groups = dict(session.execute(select(securities.c.symbol, securities.c.wash_group)).all())
        for row in session.execute(select(corporate_actions).order_by(corporate_actions.c.position)):
            self._schedule.add(_action(row))
        self._loaded = True

    # --- events ------------------------------------------------------------------------

    def apply(self, session: Session, event: DomainEvent, position: int) -> None:
        if isinstance(event, (Security.Listed, Security.Reclassified)):
            symbol = getattr(event, "symbol", None) or self._symbol_of(event.originator_id)
            self._groups[symbol] = event.wash_group
            return
        action = actions_of(event)
        if action is not None:
            self._record_action(session, action, position)
            return
        if type(event).aggregate_class is not Account:
            return
        if isinstance(event, Account.Opened):
            book = AccountBook(self._group, self._schedule)
            self._books[event.originator_id] = _KeptAccount(event.account_id, book, event.originator_version)
            self._dirty.add(event.originator_id)
            return
        state = self._books.get(event.originator_id)
        if state is not None:
            self._books.move_to_end(event.originator_id)
            if state.account_id in self.failed_accounts:
                return
        if state is None:
            if not isinstance(event, LEDGER_EVENTS):
                return
            state = self._load(event.originator_id)
            if state is None:
                return
        if event.originator_version <= state.version:
            return  # already in the book (it was built from a later state of the account)
        state.version = event.originator_version
        if not isinstance(event, LEDGER_EVENTS):
            return
        horizon = state.book.horizon
        try:
            if horizon is None or event_date(event) >= horizon:
                state.book.apply_event(event)
            else:
                self._rebuild(event.originator_id, state)
        except LedgerError as error:
            self._fail(event.originator_id, state.account_id, error)
            return
        self._dirty.add(event.originator_id)

    def _record_action(self, session: Session, action: CorporateAction, position: int) -> None:
        session.execute(corporate_actions.insert().values(
            position=position, symbol=action.symbol, date=action.date,
            ratio=None if action.ratio is None else str(action.ratio),
            per_share=None if action.per_share is None else str(action.per_share), pay_date=action.pay_date,
        ))
        self._schedule.add(action)
        # Books in memory that held the symbol, and accounts on file that did (open lots
        # or sales of it): an action dated within what a book has applied rebuilds it;
        # a later one reaches it as the book moves on (and its rows through `settled`).
        holders = {oid for oid, state in self._books.items() if state.book.affected_by(action)}
        known = {state.account_id for state in self._books.values()}
        on_file = set(session.execute(select(lots.c.account_id).where(lots.c.symbol == action.symbol).distinct()).scalars())
        on_file |= set(session.execute(
            select(realized_gains.c.account_id).where(realized_gains.c.symbol == action.symbol).distinct()).scalars())
        loaded = set()
        for account_id in sorted(on_file - known - self.failed_accounts):
            oid = Account.id_for(account_id)
            if self._load(oid) is not None:
                loaded.add(oid)
        for oid in sorted(holders, key=str):
            state = self._books.get(oid)
            if state is None or state.account_id in self.failed_accounts:
                continue
            through = state.book.applied_through()
            if through is not None and action.date <= through:
                try:
                    self._rebuild(oid, state)
                except LedgerError as error:
                    self._fail(oid, state.account_id, error)
                    continue
            self._dirty.add(oid)

    def _fail(self, oid: UUID, account_id: str, error: Exception) -> None:
        """One account's history cannot be applied: reported (and so in `failed_accounts`),
        its book dropped; it is left out from here on."""
        self._books.pop(oid, None)
        self._dirty.discard(oid)
        self.report_failure(account_id, str(error))

    # --- books -------------------------------------------------------------------------

    def _group(self, symbol: str) -> str:
        return self._groups.get(symbol, symbol)

    def _symbol_of(self, originator_id: UUID) -> str:
        for symbol in self._groups:
            if Security.id_for(symbol) == originator_id:
                return symbol
        raise LookupError(originator_id)

    def _load(self, oid: UUID) -> _KeptAccount | None:
        """An account not in memory: built from its stored history; its rows rewritten."""
        account = self._load_account(oid)
        if account.account_id in self.failed_accounts:
            return None
        try:
            book = build_book(account.ledger_events, self._schedule, self._group, settle=False)
        except LedgerError as error:
            self._fail(oid, account.account_id, error)
            return None
        state = _KeptAccount(account.account_id, book, account.version, rewrite=True)
        self._books[oid] = state
        self._dirty.add(oid)
        return state

    def _rebuild(self, oid: UUID, state: _KeptAccount) -> None:
        account = self._load_account(oid)
        events = [e for e in account.ledger_events if e.originator_version <= state.version]
        state.book = build_book(events, self._schedule, self._group, settle=False)

    # --- writing -----------------------------------------------------------------------

    def end_batch(self, session: Session) -> None:
        lot_deletes: list[tuple[str, str]] = []
        lot_inserts: list[dict[str, Any]] = []
        gain_deletes: list[tuple[str, int]] = []
        gain_inserts: list[dict[str, Any]] = []
        cash_deletes: list[str] = []
        cash_inserts: list[dict[str, Any]] = []
        for oid in sorted(self._dirty, key=str):
            state = self._books[oid]
            account_id = state.account_id
            if state.rewrite:
                session.execute(delete(lots).where(lots.c.account_id == account_id))
                session.execute(delete(realized_gains).where(realized_gains.c.account_id == account_id))
                session.execute(delete(account_cash).where(account_cash.c.account_id == account_id))
                state.written_lots, state.written_gains, state.written_cash, state.rewrite = {}, [], None, False
            # Views are tuples of Decimals and dates: compare them, convert only what changed.
            book = state.book.settled()
            current = {lot.lot_id: lot for lot in book.open_lots()}
            for lot_id, lot in state.written_lots.items():
                if current.get(lot_id) != lot:
                    lot_deletes.append((account_id, lot_id))
            for lot_id, lot in current.items():
                if state.written_lots.get(lot_id) != lot:
                    lot_inserts.append(_lot_dict(account_id, lot))
            state.written_lots = current
            gains = book.realizations()
            for seq, realization in enumerate(gains):
                old = state.written_gains[seq] if seq < len(state.written_gains) else None
                if old != realization:
                    if old is not None:
                        gain_deletes.append((account_id, seq))
                    gain_inserts.append(_gain_dict(account_id, seq, realization))
            for seq in range(len(gains), len(state.written_gains)):
                gain_deletes.append((account_id, seq))
            state.written_gains = gains
            cash = (str(book.cash_including_declared()), book.latest_date(), _positions(current.values()))
            if cash != state.written_cash:
                if state.written_cash is not None:
                    cash_deletes.append(account_id)
                cash_inserts.append({"account_id": account_id, "cash": cash[0], "latest_date": cash[1],
                                     "positions": cash[2]})
                state.written_cash = cash
        self._dirty.clear()
        while len(self._books) > self._max_books:
            self._books.popitem(last=False)  # written above, so nothing is lost
        bulk_delete(session, lots, ("account_id", "lot_id"), lot_deletes)
        bulk_delete(session, realized_gains, ("account_id", "seq"), gain_deletes)
        bulk_delete(session, account_cash, ("account_id",), [(a,) for a in cash_deletes])
        bulk_insert(session, lots, lot_inserts)
        bulk_insert(session, realized_gains, gain_inserts)
        bulk_insert(session, account_cash, cash_inserts)


def _action(row: Any) -> CorporateAction:
    from decimal import Decimal

    return CorporateAction(
        row.symbol, row.date, ratio=Decimal(row.ratio) if row.ratio is not None else None,
        per_share=Decimal(row.per_share) if row.per_share is not None else None, pay_date=row.pay_date,
    )


def _positions(open_lots: Any) -> str:
    import json
    from decimal import Decimal

    held: dict[str, Decimal] = {}
    for lot in open_lots:
        held[lot.symbol] = held.get(lot.symbol, Decimal(0)) + lot.quantity
    return json.dumps([[symbol, str(held[symbol])] for symbol in sorted(held)])


def _lot_dict(account_id: str, lot: Any) -> dict[str, Any]:
    return {"account_id": account_id, "lot_id": lot.lot_id, "symbol": lot.symbol, "quantity": str(lot.quantity),
            "cost_basis": str(lot.cost_basis), "acquired": lot.acquired, "holding_period_start": lot.holding_period_start,
            "wash_sale_adjustment": str(lot.wash_sale_adjustment)}


def _gain_dict(account_id: str, seq: int, r: Any) -> dict[str, Any]:
    return {"account_id": account_id, "seq": seq, "date": r.date, "symbol": r.symbol, "quantity": str(r.quantity),
            "proceeds": str(r.proceeds), "cost_basis": str(r.cost_basis), "gain": str(r.gain), "term": r.term,
            "disallowed_loss": str(r.disallowed_loss), "lot_id": r.lot_id}


def accounts_holding(session: Session, symbols: set[str]) -> set[str]:
    """Accounts with open lots or sales of any of `symbols`."""
    if not symbols:
        return set()
    wanted = sorted(symbols)
    found = set(session.execute(select(lots.c.account_id).where(lots.c.symbol.in_(wanted)).distinct()).scalars())
    found |= set(session.execute(
        select(realized_gains.c.account_id).where(realized_gains.c.symbol.in_(wanted)).distinct()).scalars())
    return found
