"""The wash-sale window: the days around a loss sale on which buying the same wash
group turns the loss into a wash sale."""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

WASH_SALE_DAYS = 30
_REACH = timedelta(days=WASH_SALE_DAYS)


class WashSaleWindow(NamedTuple):
    """The 30 calendar days before and after a day, both ends inclusive (61 days).

    The window is symmetric, so it serves both questions the ledger asks: which
    acquisitions can replace a loss sold on this day, and which loss sales can an
    acquisition on this day replace."""

    first_day: date
    last_day: date

    @classmethod
    def around(cls, day: date) -> WashSaleWindow:
        return cls(day - _REACH, day + _REACH)

    def __contains__(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day
