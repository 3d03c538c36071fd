"""Trading days: the NYSE calendar, as a table of the weekdays the exchange is closed
(holidays and the unscheduled closures: 11-14 September 2001, national days of
mourning, Hurricane Sandy), taken from `exchange-calendars` (XNYS) for 2000-2035.
A table rather than the library, because importing the library (pandas, numpy) would
cost every command that checks a date about half a second. tests/unit/test_calendar.py
checks the table day by day against the library, so a library update that moves a day
fails it. Outside the table's years every weekday counts as a trading day."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import date, timedelta
from functools import lru_cache

FIRST = date(2000, 1, 3)
LAST = date(2035, 12, 31)

# The weekdays the NYSE is closed, by year (MMDD).
CLOSED_WEEKDAYS: dict[int, str] = {
    2000: "0117 0221 0421 0529 0704 0904 1123 1225",
    2001: "0101 0115 0219 0413 0528 0704 0903 0911 0912 0913 0914 1122 1225",
    2002: "0101 0121 0218 0329 0527 0704 0902 1128 1225",
    2003: "0101 0120 0217 0418 0526 0704 0901 1127 1225",
    2004: "0101 0119 0216 0409 0531 0611 0705 0906 1125 1224",
    2005: "0117 0221 0325 0530 0704 0905 1124 1226",
    2006: "0102 0116 0220 0414 0529 0704 0904 1123 1225",
    2007: "0101 0102 0115 0219 0406 0528 0704 0903 1122 1225",
    2008: "0101 0121 0218 0321 0526 0704 0901 1127 1225",
    2009: "0101 0119 0216 0410 0525 0703 0907 1126 1225",
    2010: "0101 0118 0215 0402 0531 0705 0906 1125 1224",
    2011: "0117 0221 0422 0530 0704 0905 1124 1226",
    2012: "0102 0116 0220 0406 0528 0704 0903 1029 1030 1122 1225",
    2013: "0101 0121 0218 0329 0527 0704 0902 1128 1225",
    2014: "0101 0120 0217 0418 0526 0704 0901 1127 1225",
    2015: "0101 0119 0216 0403 0525 0703 0907 1126 1225",
    2016: "0101 0118 0215 0325 0530 0704 0905 1124 1226",
    2017: "0102 0116 0220 0414 0529 0704 0904 1123 1225",
    2018: "0101 0115 0219 0330 0528 0704 0903 1122 1205 1225",
    2019: "0101 0121 0218 0419 0527 0704 0902 1128 1225",
    2020: "0101 0120 0217 0410 0525 0703 0907 1126 1225",
    2021: "0101 0118 0215 0402 0531 0705 0906 1125 1224",
    2022: "0117 0221 0415 0530 0620 0704 0905 1124 1226",
    2023: "0102 0116 0220 0407 0529 0619 0704 0904 1123 1225",
    2024: "0101 0115 0219 0329 0527 0619 0704 0902 1128 1225",
    2025: "0101 0109 0120 0217 0418 0526 0619 0704 0901 1127 1225",
    2026: "0101 0119 0216 0403 0525 0619 0703 0907 1126 1225",
    2027: "0101 0118 0215 0326 0531 0618 0705 0906 1125 1224",
    2028: "0117 0221 0414 0529 0619 0704 0904 1123 1225",
    2029: "0101 0115 0219 0330 0528 0619 0704 0903 1122 1225",
    2030: "0101 0121 0218 0419 0527 0619 0704 0902 1128 1225",
    2031: "0101 0120 0217 0411 0526 0619 0704 0901 1127 1225",
    2032: "0101 0119 0216 0326 0531 0618 0705 0906 1125 1224",
    2033: "0117 0221 0415 0530 0620 0704 0905 1124 1226",
    2034: "0102 0116 0220 0407 0529 0619 0704 0904 1123 1225",
    2035: "0101 0115 0219 0323 0528 0619 0704 0903 1122 1225",
}


@lru_cache(maxsize=1)
def _closed() -> frozenset[date]:
    return frozenset(date(year, int(d[:2]), int(d[2:])) for year, days in CLOSED_WEEKDAYS.items() for d in days.split())


@lru_cache(maxsize=1)
def _sessions() -> tuple[date, ...]:
    """Every NYSE session from FIRST to LAST, in order."""
    closed, out, day = _closed(), [], FIRST
    while day <= LAST:
        if day.weekday() < 5 and day not in closed:
            out.append(day)
        day += timedelta(days=1)
    return tuple(out)


def is_trading_day(day: date) -> bool:
    return day.weekday() < 5 and (not FIRST <= day <= LAST or day not in _closed())


def check_trading_day(on: date) -> None:
    """Bad input unless the NYSE trades on `on`: the words of every command that takes
    a trading day (the CLI checks it before anything else is imported, the handlers
    again)."""
    from lotline.domain.errors import InvalidInput

    if not is_trading_day(on):
        raise InvalidInput(f"{on.isoformat()} is not an NYSE trading day", "date")


def _beyond(what: str) -> ValueError:
    return ValueError(f"{what} is outside the NYSE calendar's {FIRST.isoformat()} to {LAST.isoformat()}")


def trading_days(start: date, count: int) -> list[date]:
    """`count` trading days from `start` (itself included when it is one)."""
    sessions = _sessions()
    at = bisect_left(sessions, start)
    if at + count > len(sessions):
        raise _beyond(f"{count} trading days from {start.isoformat()}")
    return list(sessions[at:at + count])


def previous_trading_days(end: date, count: int) -> list[date]:
    """The `count` trading days up to and including `end` (or the session before it)."""
    sessions = _sessions()
    at = bisect_right(sessions, end)
    if end > LAST or at < count:
        raise _beyond(f"{count} trading days up to {end.isoformat()}")
    return list(sessions[at - count:at])
