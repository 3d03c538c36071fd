"""A symbol's closes as recorded facts: recorded once, refused when they differ, changed
only by a correction with a reason, and rebuilt from their events."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from lotline.domain.aggregate import Actor
from lotline.domain.errors import InvalidInput
from lotline.domain.price_series import CloseDiffers, PriceSeries, PriceSource, closes_digest
from lotline.domain.roles import Role

AT = datetime(2026, 3, 2, 21, tzinfo=timezone.utc)
OLIVIA = Actor("olivia", Role.OVERLAY_MANAGER, date(2026, 3, 2), AT)
FILE = PriceSource("closes.csv", "a" * 64)
D1, D2 = date(2026, 2, 27), date(2026, 3, 2)


def recorded() -> PriceSeries:
    series = PriceSeries.unrecorded("VTI")
    assert series.record([(D1, Decimal("298.00")), (D2, Decimal("300.00"))], FILE, OLIVIA) == 2
    return series


def test_closes_are_recorded_once_with_their_source():
    series = recorded()
    (event,) = series.pending_events
    assert isinstance(event, PriceSeries.ClosesRecorded)
    assert (event.symbol, event.source, event.sha256, event.actor) == ("VTI", "closes.csv", "a" * 64, "olivia")
    assert event.closes == ((D1, Decimal("298.00")), (D2, Decimal("300.00")))
    # The same closes again, however written, record nothing.
    assert series.record([(D2, Decimal("300")), (D1, Decimal("298.0"))], FILE, OLIVIA) == 0
    assert len(series.pending_events) == 1


def test_a_different_close_is_refused_naming_symbol_date_and_both_values():
    series = recorded()
    with pytest.raises(CloseDiffers) as refused:
        series.record([(date(2026, 3, 3), Decimal("301")), (D2, Decimal("310.00"))], FILE, OLIVIA)
    assert str(refused.value) == "close of VTI on 2026-03-02 is recorded as 300.00, not 310.00"
    assert len(series.pending_events) == 1 and date(2026, 3, 3) not in series.closes


def test_a_correction_needs_a_reason_and_records_the_old_and_the_new_close():
    series = recorded()
    for reason in (None, "", "  "):
        with pytest.raises(InvalidInput, match="reason: required"):
            series.correct([(D2, Decimal("310.00"))], FILE, Actor("olivia", Role.OVERLAY_MANAGER, D2, AT, reason))
    why = Actor("olivia", Role.OVERLAY_MANAGER, D2, AT, "vendor corrected the close")
    assert series.correct([(D2, Decimal("310.00")), (D1, Decimal("298")), (date(2026, 3, 3), Decimal("305"))],
                          FILE, why) == 2
    new, correction = series.pending_events[1:]
    assert isinstance(new, PriceSeries.ClosesRecorded) and new.closes == ((date(2026, 3, 3), Decimal("305")),)
    assert isinstance(correction, PriceSeries.CloseCorrected)
    assert (correction.date, correction.old, correction.new, correction.reason) == (
        D2, Decimal("300.00"), Decimal("310.00"), "vendor corrected the close")
    assert series.closes[D2] == Decimal("310.00")


def test_the_series_is_rebuilt_from_its_events():
    series = recorded()
    series.correct([(D2, Decimal("310.00"))], FILE, Actor("olivia", Role.OVERLAY_MANAGER, D2, AT, "vendor"))
    rebuilt = None
    for event in series.collect_events():
        rebuilt = event.mutate(rebuilt)
    assert (rebuilt.symbol, rebuilt.closes, rebuilt.version) == ("VTI", series.closes, 2)


def test_bad_closes_and_sources_are_bad_input():
    with pytest.raises(InvalidInput):
        PriceSeries.unrecorded("VTI").record([(D1, Decimal("0"))], FILE, OLIVIA)
    with pytest.raises(InvalidInput):
        PriceSeries.unrecorded("VTI").record([(D1, Decimal("1")), (D1, Decimal("2"))], FILE, OLIVIA)
    with pytest.raises(InvalidInput):
        PriceSource("closes.csv", "not a digest")


def test_the_digest_of_closes_without_a_file_is_that_of_a_long_price_file():
    import hashlib

    closes = [(D2, "VTI", Decimal("300.00")), (D1, "BND", Decimal("73"))]
    text = "date,symbol,close\n2026-02-27,BND,73\n2026-03-02,VTI,300.00\n"
    assert closes_digest(closes) == hashlib.sha256(text.encode()).hexdigest()
