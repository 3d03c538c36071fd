"""A security's closing prices as recorded facts. Every load records who recorded which
closes, when, and from which source (a file's name and the SHA-256 of its bytes). A
close, once recorded, changes only by a correction that says why and records the old
and the new close; the same close again records nothing.

One stream per symbol, apart from the `Security` aggregate: decisions record the
security's version, and a new close must not make a decision stale. Decisions keep
the closes they used in their market snapshot, so a later correction changes what
reads see from then on, never a recorded decision."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lotline.domain.aggregate import Actor, Aggregate, DomainEvent, aggregate_id
from lotline.domain.errors import InvalidInput, RuleRefused
from lotline.domain.values import required_reason

Close = tuple[date, Decimal]


@dataclass(frozen=True)
class PriceSource:
    """Where closes came from: a file's name and the SHA-256 of its bytes."""

    name: str
    sha256: str

    def __post_init__(self) -> None:
        if not self.name or not self.name.strip():
            raise InvalidInput("must not be empty", "source")
        if len(self.sha256) != 64 or any(c not in "0123456789abcdef" for c in self.sha256):
            raise InvalidInput(f"must be a lower-case hex SHA-256, got {self.sha256!r}", "sha256")


def closes_digest(closes: Iterable[tuple[date, str, Decimal]]) -> str:
    """The SHA-256 of closes as a long price file gives them (`date,symbol,close`, a line
    each, by date and symbol): the source digest of closes that came from no file of
    their own (the demo's; those a store kept as rows before prices were events)."""
    lines = ["date,symbol,close"] + [f"{d.isoformat()},{s},{c}" for d, s, c in sorted(closes)]
    return hashlib.sha256(("\n".join(lines) + "\n").encode()).hexdigest()


class CloseDiffers(RuleRefused):
    """A close that differs from the recorded one, given without a correction."""

    def __init__(self, symbol: str, day: date, recorded: Decimal, given: Decimal, field: str | None = None) -> None:
        self.symbol, self.day, self.recorded, self.given = symbol, day, recorded, given
        super().__init__(f"close of {symbol} on {day.isoformat()} is recorded as {recorded}, not {given}", field)

    def at(self, prefix: str) -> CloseDiffers:
        field = f"{prefix}.{self.field}" if self.field else prefix
        return type(self)(self.symbol, self.day, self.recorded, self.given, field)


class PriceSeries(Aggregate):
    symbol: str
    closes: dict[date, Decimal]

    class ClosesRecorded(DomainEvent):
        """Closes not recorded before, from one source."""

        symbol: str
        source: str
        sha256: str
        closes: tuple[tuple[dt.date, Decimal], ...]

        def apply(self, series: PriceSeries) -> None:
            if self.originator_version == 1:
                series.symbol = self.symbol
                series.closes = {}
            series.closes.update(self.closes)

    class CloseCorrected(DomainEvent):
        """A recorded close replaced, with the old and the new close; why is the event's
        reason."""

        symbol: str
        date: dt.date
        old: Decimal
        new: Decimal
        source: str
        sha256: str

        def apply(self, series: PriceSeries) -> None:
            series.closes[self.date] = self.new

    @staticmethod
    def id_for(symbol: str):
        return aggregate_id("prices", symbol)

    @classmethod
    def unrecorded(cls, symbol: str) -> PriceSeries:
        """A symbol's series before any close of it is recorded (its first event starts
        its stream)."""
        series = cls.__new__(cls)
        series._init_envelope(cls.id_for(symbol))
        series.symbol = symbol
        series.closes = {}
        return series

    def record(self, closes: Iterable[Close], source: PriceSource, actor: Actor) -> int:
        """Records the closes not recorded yet, in one event; returns how many. The same
        close again records nothing; a close that differs from the recorded one is
        refused (CloseDiffers), naming the symbol, the date and both values."""
        new = []
        for day, close in self._checked(closes):
            recorded = self.closes.get(day)
            if recorded is None:
                new.append((day, close))
            elif recorded != close:
                raise CloseDiffers(self.symbol, day, recorded, close)
        self._record_new(new, source, actor)
        return len(new)

    def correct(self, closes: Iterable[Close], source: PriceSource, actor: Actor) -> int:
        """As `record`, but a close that differs from the recorded one is corrected: one
        `CloseCorrected` each, with the old and the new close and the actor's reason
        (required). Returns the closes recorded and corrected."""
        required_reason(actor.reason, "say why the closes are corrected")
        new, corrected = [], []
        for day, close in self._checked(closes):
            recorded = self.closes.get(day)
            if recorded is None:
                new.append((day, close))
            elif recorded != close:
                corrected.append((day, recorded, close))
        self._record_new(new, source, actor)
        for day, old, close in corrected:
            self._trigger(self.CloseCorrected, actor, symbol=self.symbol, date=day, old=old, new=close,
                          source=source.name, sha256=source.sha256)
        return len(new) + len(corrected)

    def _record_new(self, new: list[Close], source: PriceSource, actor: Actor) -> None:
        if new:
            self._trigger(self.ClosesRecorded, actor, symbol=self.symbol, source=source.name, sha256=source.sha256,
                          closes=tuple(new))

    def _checked(self, closes: Iterable[Close]) -> list[Close]:
        """The closes by date; one date given twice with two closes is bad input."""
        given: dict[date, Decimal] = {}
        for day, close in closes:
            if not close.is_finite() or close <= 0:
                raise InvalidInput(f"close of {self.symbol} on {day.isoformat()} must be positive, got {close}", "close")
            earlier = given.setdefault(day, close)
            if earlier != close:
                raise InvalidInput(f"close of {self.symbol} on {day.isoformat()} given as {earlier} and {close}", "close")
        return sorted(given.items())
