"""Closes as recorded facts, through each symbol's `PriceSeries` (domain/price_series.py):
`record_closes` for a price file's or a scenario file's closes, and
`adopt_closes_kept_as_rows` for a store written before closes were events."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING

from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.aggregate import Actor
from lotline.domain.price_series import PriceSeries, PriceSource, closes_digest
from lotline.domain.roles import SYSTEM_USER, Role
from lotline.projections.prices import legacy_closes, retire_legacy

if TYPE_CHECKING:
    from lotline.application.lotline import Lotline

BEFORE_PRICE_EVENTS = "before price events"


def record_closes(uow: UnitOfWork, closes: Iterable[tuple[date, str, Decimal]], source: PriceSource, actor: Actor,
                  correct: bool = False) -> int:
    """Records closes symbol by symbol, in the unit of work; returns how many were
    recorded (and, with `correct`, corrected). The same close again records nothing; a
    different one is refused unless `correct` (CloseDiffers)."""
    by_symbol: dict[str, list[tuple[date, Decimal]]] = {}
    for day, symbol, close in closes:
        by_symbol.setdefault(symbol, []).append((day, close))
    recorded = 0
    for symbol in sorted(by_symbol):
        series = price_series(uow, symbol)
        if correct:
            recorded += series.correct(by_symbol[symbol], source, actor)
        else:
            recorded += series.record(by_symbol[symbol], source, actor)
    return recorded


def price_series(uow: UnitOfWork, symbol: str) -> PriceSeries:
    """The symbol's price series in the unit of work (an unrecorded one when it has none)."""
    series = uow.find(PriceSeries, symbol)
    if series is None:
        series = PriceSeries.unrecorded(symbol)
        uow.add(series)
    return series


def closes_recorded(uow: UnitOfWork) -> int:
    """How many closes the unit of work records or corrects."""
    return sum(price_changes(uow))


def price_changes(uow: UnitOfWork) -> tuple[int, int]:
    """The closes the unit of work records, and those it corrects."""
    events = [e for a in uow.changed() if isinstance(a, PriceSeries) for e in a.pending_events]
    recorded = sum(len(e.closes) for e in events if isinstance(e, PriceSeries.ClosesRecorded))
    return recorded, sum(1 for e in events if isinstance(e, PriceSeries.CloseCorrected))


def adopt_closes_kept_as_rows(lotline: Lotline) -> int:
    """A store written before closes were events kept them as table rows only. On its
    first opening they are recorded as events (the latest close of each symbol and
    date, one `ClosesRecorded` per symbol, by `system`, source "before price events"
    with the SHA-256 of those closes as a long price file) and the old table gives way
    to the read model, in one transaction. Returns the closes adopted."""
    for attempt in range(3):
        try:
            with lotline.store.recorder.transaction(commit=True) as session:
                rows = legacy_closes(session)
                if rows is None:
                    return 0
                uow = lotline.fresh()
                actor = Actor(SYSTEM_USER, Role.SYSTEM, lotline.today(), lotline.clock(),
                              "closes kept as table rows before prices were recorded as events")
                adopted = record_closes(uow, rows, PriceSource(BEFORE_PRICE_EVENTS, closes_digest(rows)), actor)
                retire_legacy(session)
                lotline.commit(uow)
                return adopted
        except Exception:
            # Another process adopting them at the same moment (its events or its dropped
            # table collide with ours): look again; a lasting problem is raised.
            if attempt == 2:
                raise
    return 0
