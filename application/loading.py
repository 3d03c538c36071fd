"""Applies a scenario file as the commands its entries stand for, all in one unit of
work: the whole file or nothing.

Who acts: the user who runs `load`, for every entry. That user must hold the role each
entry needs (for an account's entries: be the account's advisor), else the whole file
is refused at the first entry that fails. An entry's `actor:` naming anyone else is
refused, except that an admin may load entries on behalf of a user who holds the role
the entry needs: the events record the admin as actor, in the role `admin`, and the
named user as `on_behalf_of`. On a store with no users yet, `system` applies the whole
file as the bootstrap admin (actor `system`, role `admin`; an entry's `actor:` then
names the user it is loaded on behalf of). Otherwise `system` loads nothing."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from lotline.application.authorisation import authorise
from lotline.application.history import account_history
from lotline.application.identity import Identity
from lotline.application.price_records import record_closes
from lotline.application.scenario import (
    AccountEntry,
    CashMovementEntry,
    CashRequestEntry,
    DividendEntry,
    ModelEntry,
    Scenario,
    SecurityEntry,
    SplitEntry,
    TemplateEntry,
    TradeEntry,
    TransferEntry,
    UserEntry,
)
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.account import Account
from lotline.domain.aggregate import Actor
from lotline.domain.book import event_date
from lotline.domain.errors import InvalidInput, LotlineError, NotAuthorised, RuleRefused
from lotline.domain.model import Model
from lotline.domain.parameters import TaxStatus
from lotline.domain.price_series import CloseDiffers, PriceSource, closes_digest
from lotline.domain.roles import SYSTEM_USER, Permission, Role, parse_role
from lotline.domain.scenario_file import EntryKey, ScenarioFile
from lotline.domain.security import Security
from lotline.domain.settings import FirmSettings
from lotline.domain.template import DEFAULT_DRIFT_LIMIT, DEFAULT_MAX_MODIFICATION, ClassTarget, TargetTemplate
from lotline.domain.user import User
from lotline.domain.values import positive


class ScenarioLoader:
    def __init__(
        self, uow: UnitOfWork, scenario: Scenario, caller: Identity, users_in_store: list[str], today: date, at: datetime,
        holders: Callable[[set[str]], set[str]] | None = None, *, prices_source: PriceSource | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> None:
        self.uow = uow
        self.scenario = scenario
        self.caller = caller  # who runs `load`: every entry is theirs
        self.no_users = not users_in_store
        self.bootstrap = self.no_users and caller.user == SYSTEM_USER
        self.as_of = scenario.as_of or today
        self.at = at
        self.actors: list[Actor] = []  # everyone the file's entries were authorised as, in order
        self.entries_skipped = 0  # entries with an id already recorded with the same content
        # Accounts that hold or sold a symbol, per the read models: a split in this file
        # must leave each of their recorded sales possible.
        self.holders = holders or (lambda symbols: set())
        # Where the file's closes come from (its name and SHA-256); without one, the
        # closes' own digest (closes_digest) under the name "scenario".
        self.prices_source = prices_source
        self._path = ""
        self._sources: dict[int, str] = {}  # id of a sale event recorded by this file -> its entry
        self._split_paths: dict[str, str] = {}
        self._first_trade: dict[str, str] = {}
        self.progress = progress  # told of each entry applied

    def entries(self) -> int:
        """How many entries `run` applies (the prices and the settings count as one each)."""
        s = self.scenario
        return (len(s.users) + len(s.securities) + bool(s.prices) + len(s.models) + len(s.templates)
                + bool(s.settings) + len(s.accounts) + len(self._dated()))

    def run(self) -> None:
        s = self.scenario
        if self.no_users and not self.bootstrap:
            raise NotAuthorised(f"unknown user {self.caller.user!r}: the store has no users yet; load the first file "
                                "as system (without --as), which applies it as the bootstrap admin")
        for i, entry in enumerate(s.users):
            self._at(f"users[{i}]", self.user, entry)
        for i, entry in enumerate(s.securities):
            self._at(f"securities[{i}]", self.security, entry)
        if s.prices:
            self._at("prices", self.prices, s.prices)
        for i, entry in enumerate(s.models):
            self._at(f"models[{i}]", self.model, entry)
        for i, entry in enumerate(s.templates):
            self._at(f"templates[{i}]", self.template, entry)
        if s.settings:
            self._at("settings", self.settings, s.settings)
        for i, entry in enumerate(s.accounts):
            self._at(f"accounts[{i}]", self.account, entry)
        for _, path, apply, entry in sorted(self._dated(), key=lambda item: item[0]):
            self._at(path, apply, entry)
        self._check_books()

    def _check_books(self) -> None:
        """Every account the file touched, or whose symbols it split, must still have a
        history its book can take, checked once at the end (not after every sale)."""
        touched = {a.account_id: a for a in self.uow.changed() if isinstance(a, Account)}
        for account_id in sorted(self.holders(set(self._split_paths)) - set(touched)):
            touched[account_id] = self.uow.get(Account, account_id, "account")
        for account_id in sorted(touched):
            broken = account_history(self.uow, touched[account_id]).first_unappliable()
            if broken is not None:
                raise self._refusal(touched[account_id], *broken)

    def _refusal(self, account: Account, event: Any, error: InvalidInput) -> LotlineError:
        sale = (f"the sale of {event.quantity} {event.symbol} on {event.date} in account {account.account_id}"
                if getattr(event, "side", None) == "sell" else f"{type(event).__name__} of {event_date(event)} in account "
                f"{account.account_id}")
        split = self._split_paths.get(getattr(event, "symbol", ""))
        if split is not None:
            return RuleRefused(f"would make {sale} impossible: {error.detail}", split)
        path = self._sources.get(id(event))
        if path is not None:
            return error.at(path)
        return InvalidInput(f"would make {sale}, recorded earlier, impossible: {error.detail}",
                            self._first_trade.get(account.account_id, "file"))

    def _dated(self) -> list[tuple[date, str, Callable[[Any], None], Any]]:
        s = self.scenario
        items: list[tuple[date, str, Callable[[Any], None], Any]] = []
        items += [(e.date, f"trades[{i}]", self.trade, e) for i, e in enumerate(s.trades)]
        items += [(e.date or self.as_of, f"cash_requests[{i}]", self.cash_request, e) for i, e in enumerate(s.cash_requests)]
        items += [(e.date, f"cash_movements[{i}]", self.cash_movement, e) for i, e in enumerate(s.cash_movements)]
        items += [(e.date, f"transfers[{i}]", self.transfer, e) for i, e in enumerate(s.transfers)]
        items += [(e.date, f"splits[{i}]", self.split, e) for i, e in enumerate(s.splits)]
        items += [(e.ex_date, f"dividends[{i}]", self.dividend, e) for i, e in enumerate(s.dividends)]
        return items

    def _at(self, path: str, apply: Callable[[Any], None], entry: Any) -> None:
        self._path = path
        try:
            apply(entry)
        except (InvalidInput, RuleRefused) as error:
            raise error.at(path) from None
        if self.progress is not None:
            self.progress(1)

    # --- who acts ----------------------------------------------------------------------

    def _actor(
        self, permission: Permission, entry: Any = None, on: date | None = None, account: Account | None = None,
        advisor: str | None = None,
    ) -> Actor:
        """The actor of an entry that needs `permission` (for an account's entry: to be
        `advisor`, the account's advisor), or NotAuthorised naming the rule."""
        named = getattr(entry, "actor", None)
        if named == self.caller.user:
            named = None  # naming oneself is not naming someone else
        reason = getattr(entry, "reason", None)
        on = on or self.as_of
        if self.bootstrap:
            admin = Actor(SYSTEM_USER, Role.ADMIN, on, self.at, reason, self.caller.auth)
            if named is None:
                return self._acting(admin)
        elif named is None:
            actor = authorise(self.uow, self.caller, permission, on, self.at, reason, account)
            _check_advisor(actor.user, advisor, permission, account)
            return self._acting(actor)
        else:
            try:
                admin = authorise(self.uow, self.caller, Permission.ACT_ON_BEHALF, on, self.at, reason)
            except NotAuthorised:
                raise NotAuthorised(f"user {self.caller.user!r} may not load an entry as {named!r}: only an admin may "
                                    "name another user as an entry's actor", "actor") from None
        # On behalf of `named`, who must be one who may make the entry themselves.
        for_user = authorise(self.uow, Identity(named, self.caller.auth), permission, on, self.at, reason, account)
        _check_advisor(named, advisor, permission, account)
        return self._acting(replace(admin, on_behalf_of=for_user.user))

    def _acting(self, actor: Actor) -> Actor:
        self.actors.append(actor)
        return actor

    # --- sections --------------------------------------------------------------------

    def user(self, entry: UserEntry) -> None:
        roles = tuple(parse_role(r) for r in entry.role_names())
        actor = self._actor(Permission.MANAGE_USERS, entry)
        if self.bootstrap and actor.reason is None:
            actor = replace(actor, reason="bootstrap")
        existing = self.uow.find(User, entry.id)
        if existing is None:
            self.uow.add(User.add(entry.id, roles, actor))
        else:
            existing.change_roles(roles, actor)

    def security(self, entry: SecurityEntry) -> None:
        actor = self._actor(Permission.MANAGE_POLICY, entry)
        existing = self.uow.find(Security, entry.symbol)
        if existing is None:
            self.uow.add(Security.admit(entry.symbol, entry.asset_class, entry.wash_group, actor))
        else:
            existing.reclassify(entry.asset_class, entry.wash_group, actor)

    def prices(self, closes: dict[date, dict[str, Decimal]]) -> None:
        """The file's closes, recorded on each symbol's price series: the same close
        again records nothing; one that differs from a recorded close is refused."""
        actor = self._actor(Permission.MANAGE_MARKET)
        given = []
        for day in sorted(closes):
            for symbol, close in sorted(closes[day].items()):
                field = f"{day.isoformat()}.{symbol}"
                if self.uow.find(Security, symbol) is None:
                    raise InvalidInput(f"unknown symbol {symbol!r}", field)
                positive(close, field)
                given.append((day, symbol, close))
        source = self.prices_source or PriceSource("scenario", closes_digest(given))
        try:
            record_closes(self.uow, given, source, actor)
        except CloseDiffers as differs:
            raise RuleRefused(f"{differs.detail}; a recorded close changes only by a correction "
                              "(lotline prices load FILE --correct --reason TEXT)",
                              f"{differs.day.isoformat()}.{differs.symbol}") from None

    def model(self, entry: ModelEntry) -> None:
        actor = self._actor(Permission.MANAGE_POLICY, entry)
        securities = self.uow.mapping(Security)
        existing = self.uow.find(Model, entry.id)
        if existing is None:
            self.uow.add(Model.create(entry.id, entry.weights, securities, actor))
        else:
            existing.change_weights(entry.weights, securities, actor)

    def template(self, entry: TemplateEntry) -> None:
        actor = self._actor(Permission.MANAGE_POLICY, entry)
        classes = {
            name: ClassTarget(
                weight=c.weight,
                model=c.model,
                alternatives=tuple(c.alternatives),
                max_modification=c.max_modification if c.max_modification is not None else DEFAULT_MAX_MODIFICATION,
                drift_limit=c.drift_limit if c.drift_limit is not None else DEFAULT_DRIFT_LIMIT,
            )
            for name, c in entry.classes.items()
        }
        models = self.uow.mapping(Model)
        existing = self.uow.find(TargetTemplate, entry.id)
        if existing is None:
            self.uow.add(TargetTemplate.create(entry.id, classes, models, actor))
        else:
            existing.change_classes(classes, models, actor)

    def settings(self, values: dict[str, Decimal]) -> None:
        actor = self._actor(Permission.MANAGE_MARKET)
        settings = self.uow.find(FirmSettings, "firm")
        if settings is None:
            settings = FirmSettings.create(actor)
            self.uow.add(settings)
        for key, value in values.items():
            settings.change(key, value, actor)

    def account(self, entry: AccountEntry) -> None:
        template = self.uow.get(TargetTemplate, entry.template, "template")
        advisor = self.uow.get(User, entry.advisor, "advisor")
        if Role.ADVISOR not in advisor.roles:
            raise InvalidInput(f"user {entry.advisor!r} is not an advisor", "advisor")
        account = self.uow.find(Account, entry.id)
        opened = entry.opened or self.as_of
        if account is None:
            actor = self._actor(Permission.MANAGE_ACCOUNT, entry, advisor=entry.advisor)
            account = Account.open(entry.id, entry.advisor, entry.tax_status or TaxStatus.TAXABLE, template, opened, actor)
            self.uow.add(account)
            opening = replace(actor, effective_date=opened, reason=actor.reason or "opening balance")
            if entry.cash < 0:
                raise InvalidInput(f"must not be negative, got {entry.cash}", "cash")
            if entry.cash > 0:
                account.deposit(entry.cash, opened, opening)
            if entry.lots:
                account.transfer_in(entry.lots, opened, self.uow.mapping(Security), opening)
        else:
            if account.advisor != entry.advisor:
                raise RuleRefused(f"account {entry.id!r} belongs to advisor {account.advisor!r}", "advisor")
            actor = self._actor(Permission.MANAGE_ACCOUNT, entry, account=account, advisor=account.advisor)
            account.assign_template(template, actor)
            if entry.tax_status is not None:  # left out: the recorded status stays
                account.change_tax_status(entry.tax_status, actor)
        if entry.parameters is not None:
            self._parameters(account, entry, template, actor)

    def _parameters(self, account: Account, entry: AccountEntry, template: TargetTemplate, actor: Actor) -> None:
        p = entry.parameters
        assert p is not None
        securities = self.uow.mapping(Security)
        if p.modifications is not None:
            account.set_modifications(p.modifications, template, actor)
        if p.model_choices is not None:
            account.set_model_choices(p.model_choices, template, actor)
        if p.substitutions is not None:
            account.set_substitutions(p.substitutions, securities, actor)
        if p.restrictions is not None:
            account.set_restrictions(p.restrictions, securities, actor)
        # A key left out keeps the account's recorded value (a new account's: the default).
        recorded = account.parameters
        if p.tax is not None:
            account.set_tax_preferences(p.tax.given_over(recorded.tax), actor)
        if p.cash is not None:
            account.set_cash_preferences(p.cash.given_over(recorded.cash), actor)
        if p.trading is not None:
            account.set_trading_preferences(p.trading.given_over(recorded.trading), actor)

    # --- dated entries -------------------------------------------------------------------

    def _account_actor(self, entry: Any, permission: Permission, on: date) -> tuple[Account, Actor]:
        account = self.uow.get(Account, entry.account, "account")
        advisor = account.advisor if permission is Permission.MANAGE_ACCOUNT else None
        return account, self._actor(permission, entry, on, account, advisor)

    def trade(self, entry: TradeEntry) -> None:
        account, actor = self._account_actor(entry, Permission.MANAGE_MARKET, entry.date)
        key = self._entry_key("trades", entry)
        self._count_skip(account, key)
        before = len(account.pending_events)
        account.record_trade(entry.side, entry.symbol, entry.quantity, entry.price, entry.date, entry.lots,
                             self.uow.mapping(Security), actor, key)
        if len(account.pending_events) > before:
            self._sources[id(account.pending_events[-1])] = self._path
        self._first_trade.setdefault(account.account_id, self._path)

    def cash_request(self, entry: CashRequestEntry) -> None:
        due_from = entry.date or self.as_of
        account, actor = self._account_actor(entry, Permission.MANAGE_ACCOUNT, due_from)
        key = self._entry_key("cash_requests", entry, date=due_from)
        self._count_skip(account, key)
        account.request_cash(entry.amount, due_from, entry.by, actor, key)

    def cash_movement(self, entry: CashMovementEntry) -> None:
        account, actor = self._account_actor(entry, Permission.MANAGE_ACCOUNT, entry.date)
        key = self._entry_key("cash_movements", entry)
        if entry.amount == 0:
            raise InvalidInput("must not be zero", "amount")
        self._count_skip(account, key)
        if entry.amount > 0:
            account.deposit(entry.amount, entry.date, actor, key)
        else:
            account.withdraw(-entry.amount, entry.date, actor, key)

    def transfer(self, entry: TransferEntry) -> None:
        account, actor = self._account_actor(entry, Permission.MANAGE_ACCOUNT, entry.date)
        key = self._entry_key("transfers", entry)
        self._count_skip(account, key)
        account.transfer_in(entry.lots, entry.date, self.uow.mapping(Security), actor, key)

    def split(self, entry: SplitEntry) -> None:
        security = self.uow.get(Security, entry.symbol, "symbol")
        actor = self._actor(Permission.MANAGE_MARKET, entry, entry.date)
        key = self._entry_key("splits", entry)
        self._count_skip(security, key)
        security.record_split(entry.ratio, entry.date, actor, key)
        self._split_paths.setdefault(entry.symbol, self._path)

    def dividend(self, entry: DividendEntry) -> None:
        security = self.uow.get(Security, entry.symbol, "symbol")
        actor = self._actor(Permission.MANAGE_MARKET, entry, entry.ex_date)
        key = self._entry_key("dividends", entry)
        self._count_skip(security, key)
        security.record_dividend(entry.ex_date, entry.pay_date, entry.per_share, actor, key)

    # --- entry ids and the file itself -------------------------------------------------

    @staticmethod
    def _entry_key(section: str, entry: Any, **resolved: Any) -> EntryKey | None:
        """An entry with an `id`, with a digest of its content: every field it gives
        (defaults resolved as applied) but the id and the acting user, numbers compared
        by value ("5" and "5.00" are the same quantity)."""
        if entry.id is None:
            return None
        content = {**entry.model_dump(exclude={"id", "actor"}, exclude_none=True), **resolved}
        text = json.dumps({"section": section, "entry": _canonical(content)}, sort_keys=True, separators=(",", ":"))
        return EntryKey(entry.id, hashlib.sha256(text.encode()).hexdigest())

    def _count_skip(self, recorder: Account | Security, key: EntryKey | None) -> None:
        if key is not None and recorder.recorded_entry(key.entry_id) == key.digest:
            self.entries_skipped += 1

    def record_file(self, file_name: str, sha256: str, events: int, closes: int) -> ScenarioFile | None:
        """Records that the file (known by its SHA-256) was applied, naming who acted on
        its entries; a file that needed no one to act (an empty one) is not recorded."""
        if not self.actors:
            return None
        first = self.actors[0]
        users = tuple(dict.fromkeys(a.user for a in self.actors))
        actor = Actor(first.user, first.role, self.as_of, self.at, auth=first.auth)
        scenario_file = ScenarioFile.loaded(file_name, sha256, events, closes, users, actor)
        self.uow.add(scenario_file)
        return scenario_file


def _check_advisor(user: str, advisor: str | None, permission: Permission, account: Account | None) -> None:
    """An account's entries are its advisor's (authorise checks an existing account;
    this, the advisor an entry opening an account names)."""
    if permission is Permission.MANAGE_ACCOUNT and account is None and advisor is not None and user != advisor:
        raise NotAuthorised(f"user {user!r} may not open an account for advisor {advisor!r}")


def _canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    return value
