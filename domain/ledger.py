"""One account's tax lots: purchases, transfers in, sales and splits, each sale under
the US tax rules of `domain.tax` (the term of its gain; whether its loss is a wash sale).

Money split between parts (a sale's proceeds across lots, a lot's basis between the
shares sold and kept, a disallowed loss across its replacements) is rounded to the
cent, and the last part takes what is left, so no total ever gains or loses a cent.
Quantities are never rounded."""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from operator import attrgetter
from typing import NamedTuple

from lotline.domain.errors import InvalidInput, UnknownEntity
from lotline.domain.tax import WashSaleWindow, holding_term
from lotline.domain.values import CENT, ZERO

# Sums and split ratios must be exact whatever decimal context the caller runs under;
# 60 digits holds any realistic quantity or amount with room to spare.
_ARITHMETIC = Context(prec=60, rounding=ROUND_HALF_EVEN)


# --- errors -----------------------------------------------------------------------------


class LedgerError(InvalidInput):
    """An operation the lots on hand cannot support, or malformed ledger input."""


class InvalidAmount(LedgerError):
    """A quantity, amount or ratio that is not a positive (or, for a basis, non-negative) number."""


class InsufficientShares(LedgerError):
    """A sale of more shares than the account, or the named lot, holds."""


class UnknownLot(LedgerError, UnknownEntity):
    """A specific identification that names no open lot of the symbol."""


class DuplicateLot(LedgerError):
    """A lot id that the ledger has already used."""


class LotSelectionMismatch(LedgerError):
    """Specifically identified lots that do not add up to the quantity sold."""


class EventOutOfOrder(LedgerError):
    """An event dated before one already applied: the wash-sale rule needs date order."""


# --- views ------------------------------------------------------------------------------


class TaxLot(NamedTuple):
    """An open lot as seen from outside (a tuple: cheap to make, compared field by field)."""

    lot_id: str
    symbol: str
    quantity: Decimal
    cost_basis: Decimal  # total basis INCLUDING any wash-sale adjustment
    acquired: date
    holding_period_start: date
    wash_sale_adjustment: Decimal  # part of cost_basis that came from disallowed losses


class Realization(NamedTuple):
    date: date
    symbol: str
    quantity: Decimal
    proceeds: Decimal
    cost_basis: Decimal
    gain: Decimal  # recognised gain: proceeds - cost_basis + disallowed_loss
    term: str  # "short" | "long"
    disallowed_loss: Decimal  # positive dollars of loss disallowed
    lot_id: str
    # Part of cost_basis that came from earlier disallowed losses, carried by the lot sold.
    wash_sale_adjustment: Decimal = ZERO


# --- rules ------------------------------------------------------------------------------


def pro_rata(amount: Decimal, part: Decimal, whole: Decimal) -> Decimal:
    """The share of `amount` that `part` of `whole` carries, to the cent; all of it for the whole."""
    if part == whole or not amount:
        return amount
    return (amount * part / whole).quantize(CENT, rounding=ROUND_HALF_EVEN)


# --- internal records ---------------------------------------------------------------------


class _Lot:
    """A lot as the ledger keeps it: mutable, viewed from outside as a frozen TaxLot.

    A lot is either wholly able to replace a loss (never matched yet) or not at all:
    matching part of it carves the matched shares off into a lot of their own, because
    they now carry a different basis and holding period."""

    __slots__ = (
        "lot_id", "symbol", "quantity", "cost_basis", "acquired", "holding_period_start",
        "wash_sale_adjustment", "origin", "order", "can_replace", "carved",
    )

    def __init__(
        self, lot_id: str, symbol: str, quantity: Decimal, cost_basis: Decimal, acquired: date,
        holding_period_start: date, wash_sale_adjustment: Decimal, origin: str,
        order: tuple[date, int, int], can_replace: bool,
    ) -> None:
        self.lot_id = lot_id
        self.symbol = symbol
        self.quantity = quantity
        self.cost_basis = cost_basis
        self.acquired = acquired
        self.holding_period_start = holding_period_start
        self.wash_sale_adjustment = wash_sale_adjustment
        # The purchase or transfer the shares came from: its shares never replace each other.
        self.origin = origin
        # Holding order: acquisition date, then arrival; carved parts sit right after their lot.
        self.order = order
        self.can_replace = can_replace
        self.carved = 0

    def view(self) -> TaxLot:
        return TaxLot(
            self.lot_id, self.symbol, self.quantity, self.cost_basis, self.acquired,
            self.holding_period_start, self.wash_sale_adjustment,
        )


class _Realized:
    __slots__ = (
        "date", "symbol", "quantity", "proceeds", "cost_basis", "term", "disallowed_loss",
        "lot_id", "wash_sale_adjustment",
    )

    def __init__(
        self, on: date, symbol: str, quantity: Decimal, proceeds: Decimal, cost_basis: Decimal,
        term: str, lot_id: str, wash_sale_adjustment: Decimal,
    ) -> None:
        self.date = on
        self.symbol = symbol
        self.quantity = quantity
        self.proceeds = proceeds
        self.cost_basis = cost_basis
        self.term = term
        self.disallowed_loss = ZERO
        self.lot_id = lot_id
        self.wash_sale_adjustment = wash_sale_adjustment

    def view(self) -> Realization:
        return Realization(
            self.date, self.symbol, self.quantity, self.proceeds, self.cost_basis,
            self.proceeds - self.cost_basis + self.disallowed_loss, self.term,
            self.disallowed_loss, self.lot_id, self.wash_sale_adjustment,
        )


class _UnreplacedLoss:
    """The part of a realised loss that no replacement shares have absorbed yet."""

    __slots__ = ("realized", "origin", "sold_on", "days_held", "shares", "loss")

    def __init__(self, realized: _Realized, origin: str, days_held: timedelta) -> None:
        self.realized = realized
        self.origin = origin
        self.sold_on = realized.date
        self.days_held = days_held
        self.shares = realized.quantity
        self.loss = realized.cost_basis - realized.proceeds

    def disallow(self, shares: Decimal) -> Decimal:
        """Disallow the loss on `shares` of the shares sold; returns the dollars disallowed."""
        disallowed = pro_rata(self.loss, shares, self.shares)
        self.shares -= shares
        self.loss -= disallowed
        self.realized.disallowed_loss += disallowed
        return disallowed


class _Holding:
    """The open lots of one symbol, in holding order."""

    __slots__ = ("symbol", "lots", "group")

    def __init__(self, symbol: str, group: _WashGroup) -> None:
        self.symbol = symbol
        self.lots: list[_Lot] = []
        self.group = group


class _WashGroup:
    """Substantially identical securities: their holdings and their unreplaced losses."""

    __slots__ = ("holdings", "unreplaced")

    def __init__(self) -> None:
        self.holdings: list[_Holding] = []
        # In sale-date order, because sales arrive in date order.
        self.unreplaced: list[_UnreplacedLoss] = []


_ORDER = attrgetter("order")
_ACQUIRED = attrgetter("acquired")
_SOLD_ON = attrgetter("sold_on")


# --- the ledger -------------------------------------------------------------------------


class LotLedger:
    """One account's tax lots. Feed it events in effective-date order.

    Wash sales follow CONTRACT.md. A loss sale looks for replacement shares among the
    open lots of its wash group acquired within 30 days either side; what it cannot
    place stays pending, and a later purchase or transfer in whose acquisition date
    falls within 30 days of the sale takes it over, rewriting the earlier
    realisation's disallowed loss. Only shares still open can serve as replacement:
    the disallowed loss has to land in the basis of a lot the account holds, so shares
    bought and already sold again by the time the loss is realised do not count.

    Matching is share for share, also across tickers of one wash group. Replacement
    shares are taken in order of acquisition among the lots known when the match is
    made; a lot that is only partly matched is split, the matched shares becoming a
    lot of their own with id "<lot_id>.<n>"."""

    __slots__ = ("_group_of", "_holdings", "_groups", "_open", "_used_ids", "_realized", "_last_day", "_arrivals")

    def __init__(self, wash_group_of: Callable[[str], str] | None = None) -> None:
        self._group_of = wash_group_of or _own_group
        self._holdings: dict[str, _Holding] = {}
        self._groups: dict[str, _WashGroup] = {}
        self._open: dict[str, _Lot] = {}
        self._used_ids: set[str] = set()
        self._realized: list[_Realized] = []
        self._last_day: date | None = None
        self._arrivals = 0

    # --- events -------------------------------------------------------------------------

    def buy(self, *, lot_id: str, symbol: str, quantity: Decimal, cost: Decimal, on: date) -> TaxLot:
        """Opens a lot acquired on `on`. Returns it as it stands after any wash-sale match
        (parts carved off as replacements are listed by open_lots)."""
        quantity = _positive(quantity, "quantity", symbol)
        cost = _positive(cost, "cost", symbol)
        return self._acquire(lot_id, symbol, quantity, cost, acquired=on, on=on)

    def transfer_in(
        self, *, lot_id: str, symbol: str, quantity: Decimal, cost_basis: Decimal, acquired: date, on: date,
    ) -> TaxLot:
        """Opens a lot that arrives with its original basis and acquisition date; it takes
        part in wash-sale matching by that acquisition date."""
        quantity = _positive(quantity, "quantity", symbol)
        cost_basis = _non_negative(cost_basis, "cost_basis", symbol)
        return self._acquire(lot_id, symbol, quantity, cost_basis, acquired=acquired, on=on)

    def sell(
        self, *, symbol: str, quantity: Decimal, proceeds: Decimal, on: date,
        lots: Sequence[tuple[str | date, Decimal]] | None = None,
    ) -> list[Realization]:
        """Relieves lots first-in first-out, or those named in `lots` (each a lot id or an
        acquisition date with a quantity). Proceeds are shared pro rata by quantity.
        Returns one realisation per lot relieved, as known on the sale date."""
        quantity = _positive(quantity, "quantity", symbol)
        proceeds = _positive(proceeds, "proceeds", symbol)
        with localcontext(_ARITHMETIC):
            self._check_order(on)
            holding = self._holdings.get(symbol)
            plan = (
                self._first_in_first_out(holding, symbol, quantity) if lots is None
                else self._specific_identification(holding, symbol, quantity, lots)
            )
            self._last_day = on
            realized = self._relieve(holding, plan, quantity, proceeds, on)
            return [r.view() for r in realized]

    def split(self, *, symbol: str, ratio: Decimal, on: date) -> None:
        """`ratio` new shares per old share in every open lot of the symbol; basis unchanged."""
        ratio = _positive(ratio, "ratio", symbol)
        with localcontext(_ARITHMETIC):
            self._check_order(on)
            self._last_day = on
            holding = self._holdings.get(symbol)
            if holding is None:
                return
            for lot in holding.lots:
                lot.quantity *= ratio
            # Pending losses count sold shares; later replacements arrive in post-split shares.
            for loss in holding.group.unreplaced:
                if loss.realized.symbol == symbol:
                    loss.shares *= ratio

    # --- reads --------------------------------------------------------------------------

    def open_lots(self, symbol: str | None = None) -> list[TaxLot]:
        """Open lots by symbol, then in holding order (acquisition date, then arrival)."""
        if symbol is not None:
            holding = self._holdings.get(symbol)
            return [lot.view() for lot in holding.lots] if holding else []
        return [lot.view() for name in sorted(self._holdings) for lot in self._holdings[name].lots]

    def realizations(self, year: int | None = None) -> list[Realization]:
        """Realisations in the order of the sales, each as it stands now."""
        return [r.view() for r in self._realized if year is None or r.date.year == year]

    def position(self, symbol: str) -> Decimal:
        holding = self._holdings.get(symbol)
        return sum((lot.quantity for lot in holding.lots), ZERO) if holding else ZERO

    def symbols_held(self) -> list[str]:
        """Every symbol the account has held at some time, open or not."""
        return list(self._holdings)

    def lot_family(self, lot_id: str) -> list[TaxLot]:
        """The open lot `lot_id` and the parts carved off it as replacement shares, in
        holding order: what a sale naming `lot_id` may relieve."""
        return [lot.view() for lot in self._family(lot_id)]

    # --- acquisitions ---------------------------------------------------------------------

    def _acquire(self, lot_id: str, symbol: str, quantity: Decimal, basis: Decimal, acquired: date, on: date) -> TaxLot:
        self._check_order(on)
        if lot_id in self._used_ids:
            raise DuplicateLot(f"lot {lot_id!r} already exists in this account", "lot_id")
        self._last_day = on
        holding = self._holding(symbol)
        self._arrivals += 1
        lot = _Lot(
            lot_id, symbol, quantity, basis, acquired, acquired, ZERO,
            origin=lot_id, order=(acquired, self._arrivals, 0), can_replace=True,
        )
        self._add(holding, lot)
        if holding.group.unreplaced:
            # The only arithmetic of an acquisition (a transfer of a hundred lots pays for
            # no context switch where no loss waits for a replacement).
            with localcontext(_ARITHMETIC):
                self._replace_earlier_losses(lot, holding.group)
        return lot.view()

    def _replace_earlier_losses(self, lot: _Lot, group: _WashGroup) -> None:
        window = WashSaleWindow.around(lot.acquired)
        losses = group.unreplaced
        for i in range(bisect_left(losses, window.first_day, key=_SOLD_ON), len(losses)):
            loss = losses[i]
            if loss.sold_on > window.last_day:
                break
            if loss.shares and loss.origin != lot.origin:
                self._disallow(loss, lot, min(loss.shares, lot.quantity))
                if not lot.can_replace:
                    break

    # --- sales ----------------------------------------------------------------------------

    def _first_in_first_out(self, holding: _Holding | None, symbol: str, quantity: Decimal) -> dict[_Lot, Decimal]:
        plan: dict[_Lot, Decimal] = {}
        needed = quantity
        for lot in holding.lots if holding else ():
            taken = min(lot.quantity, needed)
            plan[lot] = taken
            needed -= taken
            if not needed:
                return plan
        held = quantity - needed
        raise InsufficientShares(f"cannot sell {quantity} {symbol}: the account holds {held}", "quantity")

    def _specific_identification(
        self, holding: _Holding | None, symbol: str, quantity: Decimal, picks: Sequence[tuple[str | date, Decimal]],
    ) -> dict[_Lot, Decimal]:
        plan: dict[_Lot, Decimal] = {}
        total = ZERO
        for i, (lot_key, shares) in enumerate(picks):
            field = f"lots[{i}]"
            shares = _positive(shares, f"{field}.quantity", symbol)
            total += shares
            if isinstance(lot_key, date):
                named = f"of {symbol} acquired {lot_key}"
                candidates = self._acquired_on(holding, lot_key)
            else:
                named = f"{lot_key!r} of {symbol}"
                candidates = [lot for lot in self._family(lot_key) if lot.symbol == symbol]
            if not candidates:
                raise UnknownLot(f"no open lot {named}", field)
            needed = shares
            for lot in candidates:
                taken = min(lot.quantity - plan.get(lot, ZERO), needed)
                if taken:
                    plan[lot] = plan.get(lot, ZERO) + taken
                    needed -= taken
            if needed:
                raise InsufficientShares(
                    f"cannot relieve {shares} from lot {named}: only {shares - needed} open", field,
                )
        if total != quantity:
            raise LotSelectionMismatch(f"lots of {symbol} add up to {total}, the sale is of {quantity}", "lots")
        return plan

    @staticmethod
    def _acquired_on(holding: _Holding | None, day: date) -> list[_Lot]:
        if holding is None:
            return []
        lots = holding.lots
        found = []
        for i in range(bisect_left(lots, day, key=_ACQUIRED), len(lots)):
            if lots[i].acquired != day:
                break
            found.append(lots[i])
        return found

    def _relieve(
        self, holding: _Holding, plan: dict[_Lot, Decimal], quantity: Decimal, proceeds: Decimal, on: date,
    ) -> list[_Realized]:
        realized: list[_Realized] = []
        losses: list[_UnreplacedLoss] = []
        proceeds_left, shares_left = proceeds, quantity
        for lot, shares in plan.items():
            part_proceeds = pro_rata(proceeds_left, shares, shares_left)
            proceeds_left -= part_proceeds
            shares_left -= shares
            basis = pro_rata(lot.cost_basis, shares, lot.quantity)
            adjustment = pro_rata(lot.wash_sale_adjustment, shares, lot.quantity)
            sale = _Realized(
                on, lot.symbol, shares, part_proceeds, basis,
                holding_term(lot.holding_period_start, on), lot.lot_id, adjustment,
            )
            realized.append(sale)
            if basis > part_proceeds:
                losses.append(_UnreplacedLoss(sale, lot.origin, on - lot.holding_period_start))
            lot.quantity -= shares
            lot.cost_basis -= basis
            lot.wash_sale_adjustment -= adjustment
            if not lot.quantity:
                self._remove(holding, lot)
        self._realized.extend(realized)
        # Matched only once every lot is relieved, so the shares just sold never count as replacements.
        if losses:
            self._replace_now(holding.group, losses, WashSaleWindow.around(on))
        return realized

    def _replace_now(self, group: _WashGroup, losses: list[_UnreplacedLoss], window: WashSaleWindow) -> None:
        replacements = _replacements_within(group, window)
        for loss in losses:
            for lot in replacements:
                if not loss.shares:
                    break
                if lot.can_replace and lot.origin != loss.origin:
                    self._disallow(loss, lot, min(loss.shares, lot.quantity))
            if loss.shares:
                group.unreplaced.append(loss)

    # --- wash-sale adjustment --------------------------------------------------------------

    def _disallow(self, loss: _UnreplacedLoss, lot: _Lot, shares: Decimal) -> None:
        """Moves the loss on `shares` sold shares into `shares` replacement shares of `lot`."""
        disallowed = loss.disallow(shares)
        replacement = self._carve(lot, shares)
        replacement.cost_basis += disallowed
        replacement.wash_sale_adjustment += disallowed
        replacement.holding_period_start -= loss.days_held

    def _carve(self, lot: _Lot, shares: Decimal) -> _Lot:
        """The `shares` of `lot` that now serve as replacement, as a lot of their own unless
        they are the whole lot."""
        if shares == lot.quantity:
            lot.can_replace = False
            return lot
        lot_id = self._next_child_id(lot)
        basis = pro_rata(lot.cost_basis, shares, lot.quantity)
        adjustment = pro_rata(lot.wash_sale_adjustment, shares, lot.quantity)
        lot.quantity -= shares
        lot.cost_basis -= basis
        lot.wash_sale_adjustment -= adjustment
        part = _Lot(
            lot_id, lot.symbol, shares, basis, lot.acquired, lot.holding_period_start, adjustment,
            origin=lot.origin, order=(lot.acquired, lot.order[1], lot.carved), can_replace=False,
        )
        self._add(self._holdings[lot.symbol], part)
        return part

    def _next_child_id(self, lot: _Lot) -> str:
        while True:
            lot.carved += 1
            lot_id = f"{lot.lot_id}.{lot.carved}"
            if lot_id not in self._used_ids:
                return lot_id

    def _family(self, lot_id: str) -> list[_Lot]:
        """The lot and its carved parts: a lot named when a sale was planned may since
        have been split by a wash-sale match, and its shares are then in the parts."""
        named = self._open.get(lot_id)
        family = [named] if named is not None else []
        prefix = lot_id + "."
        sample = named or next((lot for lot in self._open.values() if lot.lot_id.startswith(prefix)), None)
        if sample is None:
            return family
        parts = [lot for lot in self._holdings[sample.symbol].lots
                 if lot.lot_id.startswith(prefix) and lot is not named]
        return family + parts

    # --- bookkeeping ----------------------------------------------------------------------

    def _check_order(self, on: date) -> None:
        if self._last_day is not None and on < self._last_day:
            raise EventOutOfOrder(
                f"event dated {on} arrives after one dated {self._last_day}; apply events in date order", "date",
            )

    def _holding(self, symbol: str) -> _Holding:
        holding = self._holdings.get(symbol)
        if holding is None:
            group_name = self._group_of(symbol)
            group = self._groups.get(group_name)
            if group is None:
                group = self._groups[group_name] = _WashGroup()
            holding = self._holdings[symbol] = _Holding(symbol, group)
            group.holdings.append(holding)
        return holding

    def _add(self, holding: _Holding, lot: _Lot) -> None:
        insort(holding.lots, lot, key=_ORDER)
        self._open[lot.lot_id] = lot
        self._used_ids.add(lot.lot_id)

    def _remove(self, holding: _Holding, lot: _Lot) -> None:
        del holding.lots[bisect_left(holding.lots, lot.order, key=_ORDER)]
        del self._open[lot.lot_id]


def _replacements_within(group: _WashGroup, window: WashSaleWindow) -> list[_Lot]:
    """Open lots of the group that can still replace a loss, acquired within the window,
    in order of acquisition."""
    found = []
    for holding in group.holdings:
        lots = holding.lots
        for i in range(bisect_left(lots, window.first_day, key=_ACQUIRED), len(lots)):
            lot = lots[i]
            if lot.acquired > window.last_day:
                break
            if lot.can_replace:
                found.append(lot)
    if len(group.holdings) > 1:
        found.sort(key=_ORDER)
    return found


def _own_group(symbol: str) -> str:
    return symbol


def _positive(value: Decimal, field: str, symbol: str) -> Decimal:
    if not _is_number(value) or value <= 0:
        raise InvalidAmount(f"must be a positive number for {symbol}, got {value!r}", field)
    return value if isinstance(value, Decimal) else Decimal(value)


def _non_negative(value: Decimal, field: str, symbol: str) -> Decimal:
    if not _is_number(value) or value < 0:
        raise InvalidAmount(f"must be a non-negative number for {symbol}, got {value!r}", field)
    return value if isinstance(value, Decimal) else Decimal(value)


def _is_number(value: object) -> bool:
    # Floats would smuggle binary rounding into the books; ints are exact and welcome.
    return (isinstance(value, Decimal) and value.is_finite()) or (type(value) is int)
