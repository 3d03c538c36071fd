"""A client account: one pool of tax lots and cash, customised by its advisor's
parameters, following one target template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
import datetime as dt
from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict

from lotline.domain.aggregate import Actor, Aggregate, DomainEvent, aggregate_id
from lotline.domain.decision import LotRelief, ProposedOrder
from lotline.domain.errors import InvalidInput, PolicyLimitExceeded, RuleRefused, UnknownEntity
from lotline.domain.parameters import (
    CashPreferences,
    Parameters,
    Restriction,
    TaxPreferences,
    TaxStatus,
    TradingPreferences,
)
from lotline.domain.scenario_file import EntryKey, already_recorded
from lotline.domain.security import Security
from lotline.domain.template import TargetTemplate
from lotline.domain.values import CASH, WEIGHT_TOLERANCE, non_negative, positive, rate


class LotArrival(BaseModel):
    """A lot arriving in an account with its original basis and acquisition date (an
    opening holding, a transfer), before the account gives it an id."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    symbol: str
    quantity: Decimal
    cost_basis: Decimal
    acquired: dt.date

    def arrived_as(self, lot_id: str) -> LotIn:
        """The lot as the account records it, under the id the account gives it."""
        return LotIn(lot_id=lot_id, symbol=self.symbol, quantity=self.quantity, cost_basis=self.cost_basis,
                     acquired=self.acquired)


class LotIn(BaseModel):
    """A lot brought in, as recorded: a LotArrival with the id the account gave it."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    lot_id: str
    symbol: str
    quantity: Decimal
    cost_basis: Decimal
    acquired: dt.date


class LotPick(BaseModel):
    """Specific identification on a sale: a lot named by id or by acquisition date."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)
    lot_id: str | None = None
    acquired: dt.date | None = None
    quantity: Decimal


class Account(Aggregate):
    account_id: str
    advisor: str
    tax_status: TaxStatus
    template_id: str
    opened: dt.date
    parameters: Parameters
    closed: bool
    lots_created: int
    trades_recorded: int
    # Every event that moves shares or cash, in recorded order; the ledger orders them by date.
    ledger_events: list[DomainEvent]
    cash_requests: dict[str, CashRequested]
    fulfilled_requests: set[str]
    # Scenario-file entry ids recorded on this account, with their content digests.
    entry_ids: dict[str, str | None]

    class Opened(DomainEvent):
        account_id: str
        advisor: str
        tax_status: TaxStatus
        template: str
        opened: dt.date

        def apply(self, account: Account) -> None:
            account.account_id = self.account_id
            account.advisor = self.advisor
            account.tax_status = self.tax_status
            account.template_id = self.template
            account.opened = self.opened
            account.parameters = Parameters()
            account.closed = False
            account.lots_created = 0
            account.trades_recorded = 0
            account.ledger_events = []
            account.cash_requests = {}
            account.fulfilled_requests = set()
            account.entry_ids = {}

    class TemplateAssigned(DomainEvent):
        template: str

        def apply(self, account: Account) -> None:
            account.template_id = self.template

    class TaxStatusChanged(DomainEvent):
        tax_status: TaxStatus

        def apply(self, account: Account) -> None:
            account.tax_status = self.tax_status

    class ModificationsSet(DomainEvent):
        modifications: dict[str, Decimal]

        def apply(self, account: Account) -> None:
            account.parameters = account.parameters.model_copy(update={"modifications": dict(self.modifications)})

    class ModelChoicesSet(DomainEvent):
        model_choices: dict[str, str]

        def apply(self, account: Account) -> None:
            account.parameters = account.parameters.model_copy(update={"model_choices": dict(self.model_choices)})

    class SubstitutionsSet(DomainEvent):
        substitutions: dict[str, str]

        def apply(self, account: Account) -> None:
            account.parameters = account.parameters.model_copy(update={"substitutions": dict(self.substitutions)})

    class RestrictionsSet(DomainEvent):
        restrictions: tuple[Restriction, ...]

        def apply(self, account: Account) -> None:
            account.parameters = account.parameters.model_copy(update={"restrictions": self.restrictions})

    class TaxPreferencesSet(DomainEvent):
        tax: TaxPreferences

        def apply(self, account: Account) -> None:
            account.parameters = account.parameters.model_copy(update={"tax": self.tax})

    class CashPreferencesSet(DomainEvent):
        cash: CashPreferences

        def apply(self, account: Account) -> None:
            account.parameters = account.parameters.model_copy(update={"cash": self.cash})

    class TradingPreferencesSet(DomainEvent):
        trading: TradingPreferences

        def apply(self, account: Account) -> None:
            account.parameters = account.parameters.model_copy(update={"trading": self.trading})

    class LotsTransferredIn(DomainEvent):
        date: dt.date
        lots: tuple[LotIn, ...]
        entry_id: str | None = None  # the scenario entry's `id`, when it had one
        entry_digest: str | None = None

        def apply(self, account: Account) -> None:
            account.lots_created += len(self.lots)
            account.ledger_events.append(self)
            account._note_entry(self.entry_id, self.entry_digest)

    class CashDeposited(DomainEvent):
        date: dt.date
        amount: Decimal
        entry_id: str | None = None  # the scenario entry's `id`, when it had one
        entry_digest: str | None = None

        def apply(self, account: Account) -> None:
            account.ledger_events.append(self)
            account._note_entry(self.entry_id, self.entry_digest)

    class CashWithdrawn(DomainEvent):
        date: dt.date
        amount: Decimal
        entry_id: str | None = None  # the scenario entry's `id`, when it had one
        entry_digest: str | None = None

        def apply(self, account: Account) -> None:
            account.ledger_events.append(self)
            account._note_entry(self.entry_id, self.entry_digest)

    class CashRequested(DomainEvent):
        request_id: str
        amount: Decimal
        due_from: dt.date
        by: dt.date | None = None
        entry_id: str | None = None  # the scenario entry's `id`, when it had one
        entry_digest: str | None = None

        def apply(self, account: Account) -> None:
            account.cash_requests = {**account.cash_requests, self.request_id: self}
            account._note_entry(self.entry_id, self.entry_digest)

    class _Trade(DomainEvent):
        """A trade that moved shares and cash: a buy opens lot `lot_id`."""

        date: dt.date
        side: Literal["buy", "sell"]
        symbol: str
        quantity: Decimal
        price: Decimal
        lot_id: str | None = None

        def apply(self, account: Account) -> None:
            if self.lot_id:
                account.lots_created += 1
            account.ledger_events.append(self)

    class TradeRecorded(_Trade):
        """An executed trade from the firm's history (not one Lotline proposed)."""

        trade_id: str
        lots: tuple[LotPick, ...] | None = None
        entry_id: str | None = None  # the scenario entry's `id`, when it had one
        entry_digest: str | None = None

        def apply(self, account: Account) -> None:
            account.trades_recorded += 1
            super().apply(account)
            account._note_entry(self.entry_id, self.entry_digest)

    class TradeExecuted(_Trade):
        """A released order filled, with the lots it relieved."""

        order_id: str
        lots: tuple[LotRelief, ...] | None = None

    class CashRequestFulfilled(DomainEvent):
        request_id: str
        date: dt.date

        def apply(self, account: Account) -> None:
            account.fulfilled_requests.add(self.request_id)

    class Closed(DomainEvent):
        def apply(self, account: Account) -> None:
            account.closed = True

    @staticmethod
    def id_for(account_id: str):
        return aggregate_id("account", account_id)

    @classmethod
    def open(
        cls, account_id: str, advisor: str, tax_status: TaxStatus, template: TargetTemplate, opened: date, actor: Actor
    ) -> Account:
        if not account_id or not account_id.strip():
            raise InvalidInput("must not be empty", "id")
        return cls._start(
            cls.id_for(account_id), cls.Opened, actor,
            account_id=account_id, advisor=advisor, tax_status=tax_status,
            template=template.template_id, opened=opened,
        )

    # --- template and parameters -------------------------------------------------

    def assign_template(self, template: TargetTemplate, actor: Actor) -> None:
        self._check_open()
        if template.template_id == self.template_id:
            return
        _check_modifications(self.parameters.modifications, template, "parameters.modifications")
        _check_model_choices(self.parameters.model_choices, template, "parameters.model_choices")
        self._trigger(self.TemplateAssigned, actor, template=template.template_id)

    def change_tax_status(self, tax_status: TaxStatus, actor: Actor) -> None:
        self._check_open()
        if tax_status != self.tax_status:
            self._trigger(self.TaxStatusChanged, actor, tax_status=tax_status)

    def set_modifications(self, modifications: Mapping[str, Decimal], template: TargetTemplate, actor: Actor) -> None:
        self._check_open()
        _check_modifications(modifications, template, "parameters.modifications")
        value = {k: modifications[k] for k in sorted(modifications)}
        if value != self.parameters.modifications:
            self._trigger(self.ModificationsSet, actor, modifications=value)

    def set_model_choices(self, choices: Mapping[str, str], template: TargetTemplate, actor: Actor) -> None:
        self._check_open()
        _check_model_choices(choices, template, "parameters.model_choices")
        value = {k: choices[k] for k in sorted(choices)}
        if value != self.parameters.model_choices:
            self._trigger(self.ModelChoicesSet, actor, model_choices=value)

    def set_substitutions(self, substitutions: Mapping[str, str], securities: Mapping[str, Security], actor: Actor) -> None:
        self._check_open()
        for original, substitute in substitutions.items():
            field = f"parameters.substitutions.{original}"
            source = _security(securities, original, field)
            target = _security(securities, substitute, field)
            if original == substitute:
                raise InvalidInput(f"a security cannot substitute itself, got {substitute}", field)
            if source.asset_class != target.asset_class:
                raise PolicyLimitExceeded(
                    f"substitution across asset classes: {original} is {source.asset_class}, "
                    f"{substitute} is {target.asset_class}",
                    field,
                )
        value = {k: substitutions[k] for k in sorted(substitutions)}
        if value != self.parameters.substitutions:
            self._trigger(self.SubstitutionsSet, actor, substitutions=value)

    def set_restrictions(self, restrictions: Sequence[Restriction], securities: Mapping[str, Security], actor: Actor) -> None:
        self._check_open()
        seen = set()
        for i, restriction in enumerate(restrictions):
            _security(securities, restriction.symbol, f"parameters.restrictions[{i}].symbol")
            key = (restriction.symbol, restriction.rule)
            if key in seen:
                raise InvalidInput(f"duplicate restriction {restriction.rule} on {restriction.symbol}", f"parameters.restrictions[{i}]")
            seen.add(key)
        value = tuple(restrictions)
        if value != self.parameters.restrictions:
            self._trigger(self.RestrictionsSet, actor, restrictions=value)

    def set_tax_preferences(self, tax: TaxPreferences, actor: Actor) -> None:
        self._check_open()
        rate(tax.short_term_rate, "parameters.tax.short_term_rate")
        rate(tax.long_term_rate, "parameters.tax.long_term_rate")
        if tax.annual_gain_budget is not None:
            non_negative(tax.annual_gain_budget, "parameters.tax.annual_gain_budget")
        if tax != self.parameters.tax:
            self._trigger(self.TaxPreferencesSet, actor, tax=tax)

    def set_cash_preferences(self, cash: CashPreferences, actor: Actor) -> None:
        self._check_open()
        rate(cash.reserve, "parameters.cash.reserve")
        if cash != self.parameters.cash:
            self._trigger(self.CashPreferencesSet, actor, cash=cash)

    def set_trading_preferences(self, trading: TradingPreferences, actor: Actor) -> None:
        self._check_open()
        if trading.min_trade_value is not None:
            non_negative(trading.min_trade_value, "parameters.trading.min_trade_value")
        if trading != self.parameters.trading:
            self._trigger(self.TradingPreferencesSet, actor, trading=trading)

    # --- holdings and cash ----------------------------------------------------------

    def transfer_in(self, lots: Sequence[LotArrival], on: date, securities: Mapping[str, Security], actor: Actor,
                    entry: EntryKey | None = None) -> None:
        """Lots arriving with their original basis and acquisition dates."""
        if self._already_recorded(entry):
            return
        self._check_open()
        if not lots:
            raise InvalidInput("a transfer brings at least one lot", "lots")
        entries = []
        for i, lot in enumerate(lots):
            _security(securities, lot.symbol, f"lots[{i}].symbol")
            positive(lot.quantity, f"lots[{i}].quantity")
            non_negative(lot.cost_basis, f"lots[{i}].cost_basis")
            entries.append(lot.arrived_as(self._lot_id(self.lots_created + i + 1)))
        self._trigger(self.LotsTransferredIn, actor, date=on, lots=tuple(entries), **_entry_fields(entry))

    def deposit(self, amount: Decimal, on: date, actor: Actor, entry: EntryKey | None = None) -> None:
        if self._already_recorded(entry):
            return
        self._check_open()
        positive(amount, "amount")
        self._trigger(self.CashDeposited, actor, date=on, amount=amount, **_entry_fields(entry))

    def withdraw(self, amount: Decimal, on: date, actor: Actor, entry: EntryKey | None = None) -> None:
        if self._already_recorded(entry):
            return
        self._check_open()
        positive(amount, "amount")
        self._trigger(self.CashWithdrawn, actor, date=on, amount=amount, **_entry_fields(entry))

    def request_cash(self, amount: Decimal, due_from: date, by: date | None, actor: Actor,
                     entry: EntryKey | None = None) -> str:
        """A new request's id; for an entry already recorded, the id of its request."""
        if self._already_recorded(entry):
            assert entry is not None
            return next(r_id for r_id, r in self.cash_requests.items() if r.entry_id == entry.entry_id)
        self._check_open()
        positive(amount, "amount")
        if by is not None and by < due_from:
            raise InvalidInput(f"must not be before date {due_from}, got {by}", "by")
        request_id = f"{self.account_id}/CR{len(self.cash_requests) + 1}"
        self._trigger(self.CashRequested, actor, request_id=request_id, amount=amount, due_from=due_from, by=by,
                      **_entry_fields(entry))
        return request_id

    def record_trade(
        self, side: str, symbol: str, quantity: Decimal, price: Decimal, on: date,
        picks: Sequence[LotPick] | None, securities: Mapping[str, Security], actor: Actor,
        entry: EntryKey | None = None,
    ) -> None:
        """Records a trade from the firm's history (`TradeRecorded`), guarded by what the
        account alone can tell: a known security, a positive quantity and price, lots
        named on sales only, each by lot id or by acquisition date (one of the two), and
        the lots named adding up to the quantity sold.

        Whether the account holds the shares it sells is not checked here: that follows
        from every transfer and trade dated before the sale, in date order, and from the
        splits recorded on the securities (other aggregates), and a scenario file may
        record them in any order. The book checks it when the account's history is
        applied (`book.first_unappliable`, the ledger's `InsufficientShares`): the
        scenario loader does so for every account a file touched, once, at the end of
        the file (`application/loading.py`, `_check_books`), and refuses the file there."""
        if self._already_recorded(entry):
            return
        self._check_open()
        if side not in ("buy", "sell"):
            raise InvalidInput(f"must be buy or sell, got {side!r}", "side")
        _security(securities, symbol, "symbol")
        positive(quantity, "quantity")
        positive(price, "price")
        if picks is not None:
            if side == "buy":
                raise InvalidInput("a buy opens a new lot; lots are named on sells only", "lots")
            for i, pick in enumerate(picks):
                positive(pick.quantity, f"lots[{i}].quantity")
                if (pick.lot_id is None) == (pick.acquired is None):
                    raise InvalidInput("name a lot by lot_id or by acquired, not both or neither", f"lots[{i}]")
            total = sum((p.quantity for p in picks), Decimal(0))
            if total != quantity:
                raise InvalidInput(f"lots add up to {total}, the trade is for {quantity}", "lots")
        self._trigger(
            self.TradeRecorded, actor,
            trade_id=f"{self.account_id}/T{self.trades_recorded + 1}", date=on, side=side, symbol=symbol,
            quantity=quantity, price=price,
            lot_id=self._lot_id(self.lots_created + 1) if side == "buy" else None,
            lots=tuple(picks) if picks is not None else None,
            **_entry_fields(entry),
        )

    def due_cash_requests(self, on: dt.date) -> list[CashRequested]:
        """Requests due on a date: from their date until fulfilled."""
        return [
            r for r_id, r in sorted(self.cash_requests.items())
            if r.due_from <= on and r_id not in self.fulfilled_requests
        ]

    # --- fills ---------------------------------------------------------------------------

    def execute_order(self, order: ProposedOrder, price: Decimal, on: dt.date, reliefs: tuple[LotRelief, ...] | None,
                      actor: Actor) -> None:
        """Records the fill of a released order at `price`; a sale relieves `reliefs`
        (the proposed lots, or None for first-in first-out when they are no longer open)."""
        self._check_open()
        positive(price, "price")
        self._trigger(
            self.TradeExecuted, actor, order_id=order.order_id, date=on, side=order.side, symbol=order.symbol,
            quantity=order.quantity, price=price,
            lot_id=self._lot_id(self.lots_created + 1) if order.side == "buy" else None,
            lots=reliefs if order.side == "sell" else None,
        )

    def next_lot_ids(self, count: int) -> list[str]:
        """The ids the next `count` lots opened in this account will get."""
        return [self._lot_id(self.lots_created + i + 1) for i in range(count)]

    def fulfil_cash_request(self, request_id: str, on: dt.date, actor: Actor) -> None:
        """The requested cash is raised: it leaves the account and the request is closed."""
        self._check_open()
        request = self.cash_requests.get(request_id)
        if request is None:
            raise InvalidInput(f"unknown cash request {request_id!r}", "request")
        if request_id in self.fulfilled_requests:
            raise RuleRefused(f"cash request {request_id} is already fulfilled", "request")
        self._trigger(self.CashWithdrawn, actor, date=on, amount=request.amount)
        self._trigger(self.CashRequestFulfilled, actor, request_id=request_id, date=on)

    def close(self, actor: Actor) -> None:
        self._check_open()
        self._trigger(self.Closed, actor)

    # --- scenario entry ids ------------------------------------------------------------

    def recorded_entry(self, entry_id: str) -> str | None:
        """The content digest recorded with a scenario entry id, or None if the id is new."""
        return self.entry_ids.get(entry_id)

    def _already_recorded(self, entry: EntryKey | None) -> bool:
        """An entry id is recorded once: the same content again is a no-op, other content is refused."""
        return already_recorded(self.entry_ids, entry, f"account {self.account_id!r}")

    def _note_entry(self, entry_id: str | None, digest: str | None) -> None:
        if entry_id is not None:
            self.entry_ids[entry_id] = digest

    def _lot_id(self, number: int) -> str:
        return f"{self.account_id}/L{number}"

    def _check_open(self) -> None:
        if self.closed:
            raise RuleRefused(f"account {self.account_id!r} is closed")


def _entry_fields(entry: EntryKey | None) -> dict[str, str]:
    return entry.fields() if entry is not None else {}


def _security(securities: Mapping[str, Security], symbol: str, field: str) -> Security:
    security = securities.get(symbol)
    if security is None:
        raise UnknownEntity(f"unknown symbol {symbol!r}", field)
    return security


def _check_modifications(modifications: Mapping[str, Decimal], template: TargetTemplate, field: str) -> None:
    total = Decimal(0)
    for asset_class, tilt in modifications.items():
        where = f"{field}.{asset_class}"
        target = template.classes.get(asset_class)
        if target is None:
            raise InvalidInput(f"template {template.template_id!r} has no class {asset_class!r}", where)
        if abs(tilt) > target.max_modification:
            raise PolicyLimitExceeded(
                f"tilt {tilt} beyond max_modification {target.max_modification} of template {template.template_id!r}",
                where,
            )
        if target.weight + tilt < 0:
            raise InvalidInput(f"tilt {tilt} takes the class weight below 0", where)
        total += tilt
    if abs(total) > WEIGHT_TOLERANCE:
        raise InvalidInput(f"tilts must sum to 0, got {total}", field)


def _check_model_choices(choices: Mapping[str, str], template: TargetTemplate, field: str) -> None:
    for asset_class, model_id in choices.items():
        where = f"{field}.{asset_class}"
        target = template.classes.get(asset_class)
        if target is None or asset_class == CASH:
            raise InvalidInput(f"template {template.template_id!r} has no model class {asset_class!r}", where)
        if model_id not in target.model_choices():
            allowed = ", ".join(target.model_choices())
            raise PolicyLimitExceeded(f"model {model_id!r} is not among the template's choices ({allowed})", where)
