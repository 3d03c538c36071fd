"""The US tax rules a sale meets: the term of its gain (short or long: held more than a
year), and the wash-sale window (the days around a loss sale on which buying the same
wash group turns the loss into a wash sale) with the rules drawn from it. The lot
ledger applies them to every sale; the analysis keeps a decision from breaking them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import NamedTuple

# --- the term of a gain -------------------------------------------------------------

SHORT_TERM = "short"
LONG_TERM = "long"


def holding_term(holding_period_start: date, sold_on: date) -> str:
    """'long' when held more than one year, i.e. sold after the first anniversary."""
    return LONG_TERM if sold_on > _first_anniversary(holding_period_start) else SHORT_TERM


def _first_anniversary(day: date) -> date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:
        # Feb 29: the holding period starts Mar 1, so the year held is complete at the
        # end of Feb 28 and the lot turns long term on Mar 1.
        return date(day.year + 1, 2, 28)


# --- wash sales ---------------------------------------------------------------------

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


class Acquisition(NamedTuple):
    """Shares coming into an account: a buy (dated by its trade date) or a transferred
    lot (dated by its original acquisition date, whenever it arrived)."""

    lot_id: str
    wash_group: str
    acquired: date


def same_origin(lot_id: str, other: str) -> bool:
    """Whether two lot ids name shares of one purchase or transfer: a lot, the lots carved
    from it ("<id>.1", "<id>.2", ...) and the lot it was carved from. Such shares never
    replace each other's loss."""
    return lot_id == other or lot_id.startswith(other + ".") or other.startswith(lot_id + ".")


def loss_sale_blocked(lot_id: str, wash_group: str, on: date, acquisitions: Iterable[Acquisition]) -> bool:
    """Whether selling lot `lot_id` at a loss on `on` would be a wash sale: some other
    acquisition in its wash group falls in the window around `on` (an acquisition of the
    30 days before, or one already recorded for the 30 days after)."""
    window = WashSaleWindow.around(on)
    return any(
        a.wash_group == wash_group and a.acquired in window and not same_origin(a.lot_id, lot_id)
        for a in acquisitions
    )
