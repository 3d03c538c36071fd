"""Securities the firm may hold: asset class and wash group, splits and dividends.

A split or dividend is recorded once on the security; the lot ledger of every account
holding it applies it by date."""

from __future__ import annotations

import datetime as dt
from datetime import date
from decimal import Decimal

from lotline.domain.aggregate import Actor, Aggregate, DomainEvent, aggregate_id
from lotline.domain.errors import InvalidInput, RuleRefused
from lotline.domain.scenario_file import EntryKey, already_recorded
from lotline.domain.values import CASH, positive


class Security(Aggregate):
    symbol: str
    asset_class: str
    wash_group: str
    delisted: bool

    class Listed(DomainEvent):
        # v1 had no wash group: every security was its own group.
        class_version = 2
        symbol: str
        asset_class: str
        wash_group: str

        @staticmethod
        def upcast_v1_v2(state: dict) -> dict:
            return {**state, "wash_group": state["symbol"]}

        def apply(self, security: Security) -> None:
            security.symbol = self.symbol
            security.asset_class = self.asset_class
            security.wash_group = self.wash_group
            security.delisted = False
            security.splits = ()
            security.dividends = ()
            security.entry_ids = {}

    class Reclassified(DomainEvent):
        asset_class: str
        wash_group: str

        def apply(self, security: Security) -> None:
            security.asset_class = self.asset_class
            security.wash_group = self.wash_group

    class Delisted(DomainEvent):
        def apply(self, security: Security) -> None:
            security.delisted = True

    class SplitRecorded(DomainEvent):
        symbol: str
        ratio: Decimal
        date: dt.date
        entry_id: str | None = None  # the scenario entry's `id`, when it had one
        entry_digest: str | None = None

        def apply(self, security: Security) -> None:
            security.splits = (*security.splits, (self.date, self.ratio))
            security._note_entry(self.entry_id, self.entry_digest)

    class DividendRecorded(DomainEvent):
        symbol: str
        ex_date: dt.date
        pay_date: dt.date
        per_share: Decimal
        entry_id: str | None = None  # the scenario entry's `id`, when it had one
        entry_digest: str | None = None

        def apply(self, security: Security) -> None:
            security.dividends = (*security.dividends, (self.ex_date, self.pay_date, self.per_share))
            security._note_entry(self.entry_id, self.entry_digest)

    splits: tuple[tuple[date, Decimal], ...]
    dividends: tuple[tuple[date, date, Decimal], ...]
    # Scenario-file entry ids recorded on this security (splits, dividends), with their content digests.
    entry_ids: dict[str, str | None]

    @staticmethod
    def id_for(symbol: str):
        return aggregate_id("security", symbol)

    @classmethod
    def admit(cls, symbol: str, asset_class: str, wash_group: str | None, actor: Actor) -> Security:
        """Admits a security to the firm's universe: listed (`Listed`) until delisted. Its
        own wash group unless it shares one (`wash_group`)."""
        _check_symbol(symbol)
        _check_class(asset_class)
        return cls._start(
            cls.id_for(symbol), cls.Listed, actor,
            symbol=symbol, asset_class=asset_class, wash_group=wash_group or symbol,
        )

    def reclassify(self, asset_class: str, wash_group: str | None, actor: Actor) -> None:
        _check_class(asset_class)
        group = wash_group or self.symbol
        if (asset_class, group) != (self.asset_class, self.wash_group):
            self._trigger(self.Reclassified, actor, asset_class=asset_class, wash_group=group)

    def delist(self, actor: Actor) -> None:
        if not self.delisted:
            self._trigger(self.Delisted, actor)

    def record_split(self, ratio: Decimal, on: date, actor: Actor, entry: EntryKey | None = None) -> None:
        if self._already_recorded(entry):
            return
        positive(ratio, "ratio")
        if any(d == on for d, _ in self.splits):
            raise RuleRefused(f"{self.symbol} already has a split on {on}", "date")
        self._trigger(self.SplitRecorded, actor, symbol=self.symbol, ratio=ratio, date=on,
                      **(entry.fields() if entry is not None else {}))

    def record_dividend(
        self, ex_date: date, pay_date: date, per_share: Decimal, actor: Actor, entry: EntryKey | None = None
    ) -> None:
        if self._already_recorded(entry):
            return
        positive(per_share, "per_share")
        if pay_date < ex_date:
            raise InvalidInput(f"must not be before ex_date {ex_date}, got {pay_date}", "pay_date")
        if any(ex == ex_date for ex, _, _ in self.dividends):
            raise RuleRefused(f"{self.symbol} already has a dividend with ex-date {ex_date}", "ex_date")
        self._trigger(
            self.DividendRecorded, actor,
            symbol=self.symbol, ex_date=ex_date, pay_date=pay_date, per_share=per_share,
            **(entry.fields() if entry is not None else {}),
        )

    def recorded_entry(self, entry_id: str) -> str | None:
        """The content digest recorded with a scenario entry id, or None if the id is new."""
        return self.entry_ids.get(entry_id)

    def _already_recorded(self, entry: EntryKey | None) -> bool:
        """An entry id is recorded once: the same content again is a no-op, other content is refused."""
        return already_recorded(self.entry_ids, entry, f"security {self.symbol!r}")

    def _note_entry(self, entry_id: str | None, digest: str | None) -> None:
        if entry_id is not None:
            self.entry_ids[entry_id] = digest


def _check_symbol(symbol: str) -> None:
    if not symbol or not symbol.replace(".", "").replace("-", "").isalnum() or symbol.upper() != symbol:
        raise InvalidInput(f"must be an upper-case ticker, got {symbol!r}", "symbol")


def _check_class(asset_class: str) -> None:
    if not asset_class or asset_class == CASH:
        raise InvalidInput(f"must name a non-cash asset class, got {asset_class!r}", "asset_class")
