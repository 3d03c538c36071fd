"""Trading days: the NYSE calendar from `exchange-calendars` (imported only here)."""

from __future__ import annotations

from datetime import date
from functools import lru_cache

FIRST = date(2000, 1, 3)
LAST = date(2035, 12, 31)


@lru_cache(maxsize=1)
def _nyse():
    import exchange_calendars

    return exchange_calendars.get_calendar("XNYS", start=FIRST.isoformat(), end=LAST.isoformat())


def is_trading_day(day: date) -> bool:
    if not FIRST <= day <= LAST:
        return day.weekday() < 5
    return bool(_nyse().is_session(day.isoformat()))


def trading_days(start: date, count: int) -> list[date]:
    """`count` trading days from `start` (itself included when it is one)."""
    return [d.date() for d in _nyse().sessions_window(_nyse().date_to_session(start.isoformat(), "next"), count)]


def previous_trading_days(end: date, count: int) -> list[date]:
    """The `count` trading days up to and including `end` (or the session before it)."""
    last = _nyse().date_to_session(end.isoformat(), "previous")
    return [d.date() for d in _nyse().sessions_window(last, -count)]
