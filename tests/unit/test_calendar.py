"""The NYSE calendar table (infrastructure/calendar.py) says what exchange-calendars
says, every day of every year it covers, without importing the library."""

from datetime import date, timedelta

import exchange_calendars
import pytest

from lotline.infrastructure import calendar

# One worker for the module where pytest-xdist can group (not with pytest 9.2, pytest-xdist issue
# 1386): the library's calendar (a module fixture) is then built once.
pytestmark = pytest.mark.xdist_group("calendar")


@pytest.fixture(scope="module")
def nyse():
    return exchange_calendars.get_calendar("XNYS", start=calendar.FIRST.isoformat(), end=calendar.LAST.isoformat())


def test_every_day_of_the_table_is_a_session_exactly_when_the_library_says_so(nyse):
    sessions = {d.date() for d in nyse.sessions}
    day, differ = calendar.FIRST, []
    while day <= calendar.LAST:
        if calendar.is_trading_day(day) != (day in sessions):
            differ.append(day)
        day += timedelta(days=1)
    assert differ == []
    assert len(sessions) > 9000  # 36 years of sessions: the comparison covered them


@pytest.mark.parametrize("day", [date(2001, 9, 10), date(2001, 9, 15), date(2012, 10, 27), date(2018, 12, 4),
                                 date(2025, 1, 8), date(2026, 11, 26), date(2026, 12, 31), date(2035, 12, 20)])
def test_windows_of_sessions_match_the_library(nyse, day):
    nxt = nyse.date_to_session(day.isoformat(), "next")
    prev = nyse.date_to_session(day.isoformat(), "previous")
    if nyse.sessions.get_loc(nxt) + 5 <= len(nyse.sessions):
        assert calendar.trading_days(day, 5) == [d.date() for d in nyse.sessions_window(nxt, 5)]
    assert calendar.previous_trading_days(day, 300) == [d.date() for d in nyse.sessions_window(prev, -300)]


def test_known_closures_and_outside_the_table():
    assert not calendar.is_trading_day(date(2001, 9, 11))   # closed after the attacks
    assert not calendar.is_trading_day(date(2012, 10, 29))  # Hurricane Sandy
    assert not calendar.is_trading_day(date(2026, 11, 26))  # Thanksgiving
    assert calendar.is_trading_day(date(2026, 11, 27))
    assert calendar.is_trading_day(date(2040, 1, 2)) and not calendar.is_trading_day(date(2040, 1, 7))
    with pytest.raises(ValueError, match="outside the NYSE calendar"):
        calendar.previous_trading_days(date(2000, 2, 1), 300)
