from datetime import date, timedelta
from decimal import Decimal

import pytest

from lotline.domain.errors import InvalidInput, UnknownEntity
from lotline.domain.ledger import (
    DuplicateLot,
    EventOutOfOrder,
    InsufficientShares,
    InvalidAmount,
    LedgerError,
    LotLedger,
    LotSelectionMismatch,
    TaxLot,
    UnknownLot,
)
from lotline.domain.tax import WashSaleWindow, holding_term

D = Decimal
day = date.fromisoformat

GROUPS = {"VTI": "us-total-market", "ITOT": "us-total-market"}


def ledger() -> LotLedger:
    return LotLedger(wash_group_of=lambda symbol: GROUPS.get(symbol, symbol))


def lots_by_id(book: LotLedger) -> dict[str, TaxLot]:
    return {lot.lot_id: lot for lot in book.open_lots()}


# --- first-in first-out and specific identification ----------------------------------------


def test_fifo_relieves_the_oldest_lot_first_and_shares_proceeds_by_quantity():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-01-02"))
    book.buy(lot_id="B", symbol="VTI", quantity=D(10), cost=D(1200), on=day("2025-02-03"))

    sold = book.sell(symbol="VTI", quantity=D(15), proceeds=D(1800), on=day("2025-06-02"))

    assert [(r.lot_id, r.quantity, r.proceeds, r.cost_basis, r.gain) for r in sold] == [
        ("A", D(10), D(1200), D(1000), D(200)),
        ("B", D(5), D(600), D(600), D(0)),
    ]
    assert book.open_lots("VTI") == [
        TaxLot("B", "VTI", D(5), D(600), day("2025-02-03"), day("2025-02-03"), D(0)),
    ]
    assert book.position("VTI") == D(5)


def test_fifo_follows_acquisition_date_not_arrival_then_arrival_on_ties():
    book = ledger()
    book.buy(lot_id="NEW", symbol="BND", quantity=D(5), cost=D(500), on=day("2026-01-05"))
    book.transfer_in(lot_id="OLD", symbol="BND", quantity=D(5), cost_basis=D(400),
                     acquired=day("2024-06-03"), on=day("2026-01-06"))
    book.buy(lot_id="SAME-DAY", symbol="BND", quantity=D(5), cost=D(510), on=day("2026-01-06"))
    book.transfer_in(lot_id="SAME-DAY-2", symbol="BND", quantity=D(5), cost_basis=D(520),
                     acquired=day("2026-01-06"), on=day("2026-01-06"))

    assert [lot.lot_id for lot in book.open_lots("BND")] == ["OLD", "NEW", "SAME-DAY", "SAME-DAY-2"]
    sold = book.sell(symbol="BND", quantity=D(12), proceeds=D(1200), on=day("2026-02-01"))
    assert [r.lot_id for r in sold] == ["OLD", "NEW", "SAME-DAY"]


def test_partial_relief_rounds_basis_to_the_cent_and_the_last_share_takes_the_rest():
    book = ledger()
    book.buy(lot_id="A", symbol="BND", quantity=D(3), cost=D(100), on=day("2025-01-02"))

    first = book.sell(symbol="BND", quantity=D(1), proceeds=D(40), on=day("2025-02-03"))
    assert first[0].cost_basis == D("33.33")
    assert book.open_lots("BND")[0].cost_basis == D("66.67")
    last = book.sell(symbol="BND", quantity=D(2), proceeds=D(80), on=day("2025-02-04"))
    assert last[0].cost_basis == D("66.67")
    assert book.open_lots("BND") == []


def test_proceeds_shared_pro_rata_add_up_exactly():
    book = ledger()
    for lot_id in "ABC":
        book.buy(lot_id=lot_id, symbol="BND", quantity=D(1), cost=D(10), on=day("2025-01-02"))

    sold = book.sell(symbol="BND", quantity=D(3), proceeds=D(100), on=day("2025-03-03"))

    assert [r.proceeds for r in sold] == [D("33.33"), D("33.34"), D("33.33")]
    assert sum(r.proceeds for r in sold) == D(100)


def test_specific_identification_by_lot_id_and_by_acquisition_date():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-01-02"))
    book.buy(lot_id="B", symbol="VTI", quantity=D(10), cost=D(2000), on=day("2025-02-03"))
    book.buy(lot_id="C", symbol="VTI", quantity=D(10), cost=D(3000), on=day("2025-03-03"))

    sold = book.sell(symbol="VTI", quantity=D(8), proceeds=D(2400), on=day("2025-04-01"),
                     lots=[("C", D(5)), (day("2025-02-03"), D(3))])

    assert [(r.lot_id, r.quantity, r.cost_basis, r.proceeds) for r in sold] == [
        ("C", D(5), D(1500), D(1500)),
        ("B", D(3), D(600), D(900)),
    ]
    assert {lot.lot_id: lot.quantity for lot in book.open_lots()} == {"A": D(10), "B": D(7), "C": D(5)}


def test_specific_identification_by_date_takes_lots_of_that_day_in_holding_order():
    book = ledger()
    book.buy(lot_id="A1", symbol="VTI", quantity=D(4), cost=D(400), on=day("2025-01-02"))
    book.buy(lot_id="A2", symbol="VTI", quantity=D(4), cost=D(480), on=day("2025-01-02"))

    sold = book.sell(symbol="VTI", quantity=D(6), proceeds=D(720), on=day("2025-04-01"),
                     lots=[(day("2025-01-02"), D(6))])

    assert [(r.lot_id, r.quantity) for r in sold] == [("A1", D(4)), ("A2", D(2))]


def test_naming_one_lot_twice_relieves_it_once_for_the_total():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-01-02"))

    sold = book.sell(symbol="VTI", quantity=D(6), proceeds=D(720), on=day("2025-04-01"),
                     lots=[("A", D(2)), (day("2025-01-02"), D(4))])

    assert [(r.lot_id, r.quantity) for r in sold] == [("A", D(6))]


# --- errors ------------------------------------------------------------------------------


def test_selling_more_than_held_is_refused_with_the_symbol_and_quantities():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-01-02"))

    with pytest.raises(InsufficientShares, match=r"cannot sell 11 VTI: the account holds 10"):
        book.sell(symbol="VTI", quantity=D(11), proceeds=D(1100), on=day("2025-02-03"))
    with pytest.raises(InsufficientShares, match=r"holds 0"):
        book.sell(symbol="BND", quantity=D(1), proceeds=D(100), on=day("2025-02-03"))


def test_specific_identification_errors_name_the_lot():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-01-02"))
    book.buy(lot_id="X", symbol="BND", quantity=D(10), cost=D(1000), on=day("2025-01-02"))
    on = day("2025-02-03")

    with pytest.raises(UnknownLot, match=r"lots\[0\]: no open lot 'Z' of VTI"):
        book.sell(symbol="VTI", quantity=D(1), proceeds=D(100), on=on, lots=[("Z", D(1))])
    with pytest.raises(UnknownLot, match=r"no open lot 'X' of VTI"):
        book.sell(symbol="VTI", quantity=D(1), proceeds=D(100), on=on, lots=[("X", D(1))])
    with pytest.raises(UnknownLot, match=r"no open lot of VTI acquired 2025-01-03"):
        book.sell(symbol="VTI", quantity=D(1), proceeds=D(100), on=on, lots=[(day("2025-01-03"), D(1))])
    with pytest.raises(InsufficientShares, match=r"lots\[0\]: cannot relieve 12 from lot 'A' of VTI: only 10 open"):
        book.sell(symbol="VTI", quantity=D(12), proceeds=D(100), on=on, lots=[("A", D(12))])
    with pytest.raises(LotSelectionMismatch, match=r"lots of VTI add up to 3, the sale is of 4"):
        book.sell(symbol="VTI", quantity=D(4), proceeds=D(100), on=on, lots=[("A", D(3))])


def test_unknown_lot_is_also_an_unknown_entity():
    assert issubclass(UnknownLot, UnknownEntity)


@pytest.mark.parametrize("error", [InsufficientShares, UnknownLot, InvalidAmount, DuplicateLot,
                                   LotSelectionMismatch, EventOutOfOrder])
def test_every_ledger_error_is_bad_input(error):
    assert issubclass(error, LedgerError)
    assert issubclass(error, InvalidInput)
    assert issubclass(error, ValueError)


def test_a_refused_sale_changes_nothing():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-01-02"))
    book.buy(lot_id="B", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-01-03"))
    before = book.open_lots()

    with pytest.raises(UnknownLot):
        book.sell(symbol="VTI", quantity=D(5), proceeds=D(400), on=day("2025-02-01"),
                  lots=[("A", D(4)), ("nope", D(1))])
    with pytest.raises(InsufficientShares):
        book.sell(symbol="VTI", quantity=D(21), proceeds=D(400), on=day("2025-02-01"))

    assert book.open_lots() == before
    assert book.realizations() == []


@pytest.mark.parametrize("bad", [D(0), D(-1), D("NaN"), D("Infinity"), 1.5, "10", True])
def test_non_positive_or_non_decimal_amounts_are_refused(bad):
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-01-02"))
    on = day("2025-02-01")

    with pytest.raises(InvalidAmount, match=r"quantity: must be a positive number for VTI"):
        book.buy(lot_id="B", symbol="VTI", quantity=bad, cost=D(1), on=on)
    with pytest.raises(InvalidAmount, match=r"cost: .* for VTI"):
        book.buy(lot_id="B", symbol="VTI", quantity=D(1), cost=bad, on=on)
    with pytest.raises(InvalidAmount, match=r"proceeds: .* for VTI"):
        book.sell(symbol="VTI", quantity=D(1), proceeds=bad, on=on)
    with pytest.raises(InvalidAmount, match=r"lots\[0\].quantity: .* for VTI"):
        book.sell(symbol="VTI", quantity=D(1), proceeds=D(1), on=on, lots=[("A", bad)])
    with pytest.raises(InvalidAmount, match=r"ratio: .* for VTI"):
        book.split(symbol="VTI", ratio=bad, on=on)
    assert book.open_lots() == [TaxLot("A", "VTI", D(10), D(1000), day("2025-01-02"), day("2025-01-02"), D(0))]


def test_integers_are_accepted_as_exact_amounts():
    book = ledger()
    lot = book.buy(lot_id="A", symbol="VTI", quantity=10, cost=1000, on=day("2025-01-02"))
    assert isinstance(lot.quantity, Decimal) and isinstance(lot.cost_basis, Decimal)


def test_a_transfer_may_arrive_with_zero_basis_but_not_a_negative_one():
    book = ledger()
    book.transfer_in(lot_id="G", symbol="VTI", quantity=D(1), cost_basis=D(0),
                     acquired=day("2020-01-02"), on=day("2025-01-02"))
    with pytest.raises(InvalidAmount, match=r"cost_basis: must be a non-negative number for VTI, got Decimal\('-1'\)"):
        book.transfer_in(lot_id="H", symbol="VTI", quantity=D(1), cost_basis=D(-1),
                         acquired=day("2020-01-02"), on=day("2025-01-02"))


def test_lot_ids_are_never_reused_including_carved_ones():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(40), cost=D(400), on=day("2026-01-02"))
    book.sell(symbol="VTI", quantity=D(40), proceeds=D(300), on=day("2026-01-10"))
    book.buy(lot_id="R", symbol="VTI", quantity=D(100), cost=D(750), on=day("2026-01-15"))

    for taken in ("A", "R", "R.1"):
        with pytest.raises(DuplicateLot, match=f"lot '{taken}' already exists"):
            book.buy(lot_id=taken, symbol="VTI", quantity=D(1), cost=D(1), on=day("2026-01-15"))


def test_carved_ids_skip_ids_already_taken():
    book = ledger()
    book.buy(lot_id="R.1", symbol="BND", quantity=D(1), cost=D(10), on=day("2026-01-02"))
    book.buy(lot_id="A", symbol="VTI", quantity=D(40), cost=D(400), on=day("2026-01-02"))
    book.sell(symbol="VTI", quantity=D(40), proceeds=D(300), on=day("2026-01-10"))
    book.buy(lot_id="R", symbol="VTI", quantity=D(100), cost=D(750), on=day("2026-01-15"))

    assert [lot.lot_id for lot in book.open_lots("VTI")] == ["R", "R.2"]


def test_events_must_come_in_date_order():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-03-01"))

    with pytest.raises(EventOutOfOrder, match=r"dated 2025-02-28 arrives after one dated 2025-03-01"):
        book.buy(lot_id="B", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-02-28"))
    with pytest.raises(EventOutOfOrder):
        book.sell(symbol="VTI", quantity=D(1), proceeds=D(100), on=day("2025-02-28"))
    with pytest.raises(EventOutOfOrder):
        book.split(symbol="VTI", ratio=D(2), on=day("2025-02-28"))
    with pytest.raises(EventOutOfOrder):
        book.transfer_in(lot_id="T", symbol="VTI", quantity=D(1), cost_basis=D(1),
                         acquired=day("2020-01-01"), on=day("2025-02-28"))
    assert [lot.lot_id for lot in book.open_lots()] == ["A"]


# --- term ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("start", "sold", "term"), [
    ("2025-01-02", "2025-06-30", "short"),
    ("2025-01-02", "2026-01-02", "short"),  # exactly one year: not more than one
    ("2025-01-02", "2026-01-03", "long"),
    ("2025-01-02", "2026-01-05", "long"),
    ("2024-02-29", "2025-02-28", "short"),  # a leap-day purchase completes its year on Feb 28
    ("2024-02-29", "2025-03-01", "long"),
    ("2023-03-01", "2024-02-29", "short"),  # a leap day inside the year does not shorten it
    ("2023-03-01", "2024-03-01", "short"),
    ("2023-03-01", "2024-03-02", "long"),
    ("2023-02-28", "2024-02-29", "long"),
])
def test_long_term_means_held_more_than_one_year(start, sold, term):
    assert holding_term(day(start), day(sold)) == term


def test_realisation_term_comes_from_the_lots_holding_period_start():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(2), cost=D(200), on=day("2025-01-02"))

    short = book.sell(symbol="VTI", quantity=D(1), proceeds=D(150), on=day("2026-01-02"))
    long = book.sell(symbol="VTI", quantity=D(1), proceeds=D(150), on=day("2026-01-05"))

    assert (short[0].term, long[0].term) == ("short", "long")


# --- wash sales ------------------------------------------------------------------------


def test_irs_vita_example_disallows_the_loss_and_moves_it_into_the_new_lot():
    book = ledger()
    book.buy(lot_id="A", symbol="XYZ", quantity=D(100), cost=D(1000), on=day("2026-01-05"))
    sold = book.sell(symbol="XYZ", quantity=D(100), proceeds=D(750), on=day("2026-02-02"))
    assert sold[0].gain == D(-250)  # as known on the sale date

    lot = book.buy(lot_id="B", symbol="XYZ", quantity=D(100), cost=D(800), on=day("2026-02-20"))

    assert lot.cost_basis == D(1050)
    assert lot.wash_sale_adjustment == D(250)
    # Held Jan 5 to Feb 2 (28 days): the new lot's holding period starts 28 days before Feb 20.
    assert lot.holding_period_start == day("2026-01-23")
    [realized] = book.realizations()
    assert (realized.disallowed_loss, realized.gain, realized.cost_basis) == (D(250), D(0), D(1000))


def test_the_window_is_thirty_days_each_side_inclusive():
    window = WashSaleWindow.around(day("2026-03-15"))
    assert (window.first_day, window.last_day) == (day("2026-02-13"), day("2026-04-14"))
    assert day("2026-02-13") in window and day("2026-04-14") in window
    assert day("2026-02-12") not in window and day("2026-04-15") not in window


SALE_DAY = day("2026-03-15")


def _loss_sale_with_purchase(offset_days: int) -> LotLedger:
    """A lot bought long ago and sold at a $300 loss; another purchase `offset_days` from the sale."""
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(100), cost=D(1000), on=day("2025-06-02"))
    purchase = SALE_DAY + timedelta(days=offset_days)
    if offset_days <= 0:
        book.buy(lot_id="R", symbol="VTI", quantity=D(100), cost=D(800), on=purchase)
        book.sell(symbol="VTI", quantity=D(100), proceeds=D(700), on=SALE_DAY, lots=[("A", D(100))])
    else:
        book.sell(symbol="VTI", quantity=D(100), proceeds=D(700), on=SALE_DAY)
        book.buy(lot_id="R", symbol="VTI", quantity=D(100), cost=D(800), on=purchase)
    return book


@pytest.mark.parametrize("offset", [-30, -1, 0, 1, 30])
def test_a_purchase_within_thirty_days_of_a_loss_sale_makes_it_a_wash(offset):
    book = _loss_sale_with_purchase(offset)
    [realized] = book.realizations()
    assert (realized.disallowed_loss, realized.gain) == (D(300), D(0))
    [lot] = book.open_lots()
    assert (lot.lot_id, lot.cost_basis, lot.wash_sale_adjustment) == ("R", D(1100), D(300))


@pytest.mark.parametrize("offset", [-31, 31])
def test_a_purchase_thirty_one_days_away_is_outside_the_window(offset):
    book = _loss_sale_with_purchase(offset)
    [realized] = book.realizations()
    assert (realized.disallowed_loss, realized.gain) == (D(0), D(-300))
    [lot] = book.open_lots()
    assert (lot.cost_basis, lot.wash_sale_adjustment) == (D(800), D(0))


def test_gains_are_never_wash_sales():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2026-01-02"))
    book.sell(symbol="VTI", quantity=D(10), proceeds=D(1100), on=day("2026-01-10"))
    lot = book.buy(lot_id="B", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2026-01-12"))

    assert lot.wash_sale_adjustment == D(0)
    assert book.realizations()[0].disallowed_loss == D(0)


def test_partial_replacement_disallows_the_loss_pro_rata():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(100), cost=D(1000), on=day("2026-01-02"))
    book.sell(symbol="VTI", quantity=D(100), proceeds=D(700), on=day("2026-02-02"))
    book.buy(lot_id="R", symbol="VTI", quantity=D(40), cost=D(280), on=day("2026-02-10"))

    [realized] = book.realizations()
    assert (realized.disallowed_loss, realized.gain) == (D(120), D(-180))
    assert lots_by_id(book)["R"].cost_basis == D(400)

    # The other 60 shares' loss is still open to a later purchase in the window...
    book.buy(lot_id="S", symbol="VTI", quantity=D(100), cost=D(700), on=day("2026-03-04"))
    [realized] = book.realizations()
    assert (realized.disallowed_loss, realized.gain) == (D(300), D(0))
    lots = lots_by_id(book)
    assert (lots["S"].quantity, lots["S"].cost_basis) == (D(40), D(280))
    assert (lots["S.1"].quantity, lots["S.1"].cost_basis, lots["S.1"].wash_sale_adjustment) == (D(60), D(600), D(180))
    # ...but not beyond it.
    book.buy(lot_id="T", symbol="VTI", quantity=D(100), cost=D(700), on=day("2026-03-05"))
    assert lots_by_id(book)["T"].wash_sale_adjustment == D(0)


def test_a_partly_matched_replacement_lot_is_split_into_matched_and_unmatched_parts():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(40), cost=D(400), on=day("2026-01-02"))
    book.sell(symbol="VTI", quantity=D(40), proceeds=D(300), on=day("2026-01-12"))

    lot = book.buy(lot_id="R", symbol="VTI", quantity=D(100), cost=D(750), on=day("2026-01-20"))

    assert lot == TaxLot("R", "VTI", D(60), D(450), day("2026-01-20"), day("2026-01-20"), D(0))
    assert book.open_lots() == [
        TaxLot("R", "VTI", D(60), D(450), day("2026-01-20"), day("2026-01-20"), D(0)),
        TaxLot("R.1", "VTI", D(40), D(400), day("2026-01-20"), day("2026-01-10"), D(100)),
    ]
    assert book.position("VTI") == D(100)


def test_the_unmatched_part_of_a_lot_can_replace_a_later_loss_and_splits_again():
    book = ledger()
    book.buy(lot_id="B", symbol="VTI", quantity=D(10), cost=D(100), on=day("2025-06-02"))
    book.buy(lot_id="A", symbol="VTI", quantity=D(40), cost=D(400), on=day("2026-01-02"))
    book.sell(symbol="VTI", quantity=D(40), proceeds=D(300), on=day("2026-01-12"), lots=[("A", D(40))])
    book.buy(lot_id="R", symbol="VTI", quantity=D(100), cost=D(750), on=day("2026-01-20"))

    book.sell(symbol="VTI", quantity=D(10), proceeds=D(50), on=day("2026-01-25"), lots=[("B", D(10))])

    lots = lots_by_id(book)
    assert set(lots) == {"R", "R.1", "R.2"}
    assert (lots["R"].quantity, lots["R"].cost_basis) == (D(50), D(375))
    assert (lots["R.2"].quantity, lots["R.2"].cost_basis, lots["R.2"].wash_sale_adjustment) == (D(10), D(125), D(50))
    assert lots["R.1"].wash_sale_adjustment == D(100)


def test_shares_of_the_lot_sold_do_not_replace_themselves():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(100), cost=D(1000), on=day("2026-01-02"))

    book.sell(symbol="VTI", quantity=D(40), proceeds=D(300), on=day("2026-01-10"))

    assert book.realizations()[0].disallowed_loss == D(0)
    assert book.open_lots() == [TaxLot("A", "VTI", D(60), D(600), day("2026-01-02"), day("2026-01-02"), D(0))]


def test_parts_carved_from_one_purchase_do_not_replace_each_other():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(40), cost=D(400), on=day("2026-01-02"))
    book.sell(symbol="VTI", quantity=D(40), proceeds=D(300), on=day("2026-01-12"))
    book.buy(lot_id="R", symbol="VTI", quantity=D(100), cost=D(750), on=day("2026-01-20"))

    book.sell(symbol="VTI", quantity=D(40), proceeds=D(200), on=day("2026-01-25"), lots=[("R.1", D(40))])

    assert book.realizations()[1].disallowed_loss == D(0)
    assert lots_by_id(book)["R"].wash_sale_adjustment == D(0)


def test_another_lot_of_the_same_symbol_bought_in_the_window_replaces():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(100), cost=D(1000), on=day("2026-01-02"))
    book.buy(lot_id="B", symbol="VTI", quantity=D(100), cost=D(900), on=day("2026-01-05"))

    book.sell(symbol="VTI", quantity=D(100), proceeds=D(800), on=day("2026-01-10"))

    assert book.realizations()[0].disallowed_loss == D(200)
    assert book.open_lots() == [TaxLot("B", "VTI", D(100), D(1100), day("2026-01-05"), day("2025-12-28"), D(200))]


def test_a_sale_through_several_lots_matches_only_shares_left_open():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(100), cost=D(1000), on=day("2026-01-02"))
    book.buy(lot_id="B", symbol="VTI", quantity=D(100), cost=D(1000), on=day("2026-01-05"))

    book.sell(symbol="VTI", quantity=D(150), proceeds=D(1200), on=day("2026-01-10"))

    a, b = book.realizations()
    assert (a.lot_id, a.disallowed_loss) == ("A", D(100))  # 50 of its 100 shares replaced by B's 50 left open
    assert (b.lot_id, b.disallowed_loss) == ("B", D(0))  # B's own shares never replace B
    assert book.open_lots() == [TaxLot("B", "VTI", D(50), D(600), day("2026-01-05"), day("2025-12-28"), D(100))]


def test_replacement_shares_are_taken_in_order_of_acquisition():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(50), cost=D(500), on=day("2025-06-02"))
    book.buy(lot_id="R2", symbol="ITOT", quantity=D(50), cost=D(400), on=day("2026-01-02"))
    book.buy(lot_id="R1", symbol="VTI", quantity=D(50), cost=D(400), on=day("2026-01-03"))

    book.sell(symbol="VTI", quantity=D(50), proceeds=D(400), on=day("2026-01-10"), lots=[("A", D(50))])

    lots = lots_by_id(book)
    assert lots["R2"].wash_sale_adjustment == D(100)
    assert lots["R1"].wash_sale_adjustment == D(0)


def test_each_share_serves_as_replacement_once():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(100), cost=D(1000), on=day("2025-06-02"))
    book.buy(lot_id="B", symbol="VTI", quantity=D(100), cost=D(1000), on=day("2025-06-03"))
    book.sell(symbol="VTI", quantity=D(100), proceeds=D(900), on=day("2026-01-10"))
    book.sell(symbol="VTI", quantity=D(100), proceeds=D(800), on=day("2026-01-12"))

    book.buy(lot_id="R", symbol="VTI", quantity=D(100), cost=D(850), on=day("2026-01-20"))
    assert [r.disallowed_loss for r in book.realizations()] == [D(100), D(0)]

    book.buy(lot_id="S", symbol="VTI", quantity=D(100), cost=D(850), on=day("2026-01-21"))
    assert [r.disallowed_loss for r in book.realizations()] == [D(100), D(200)]
    lots = lots_by_id(book)
    assert (lots["R"].cost_basis, lots["S"].cost_basis) == (D(950), D(1050))


def test_one_purchase_replaces_several_earlier_losses_in_sale_order():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(30), cost=D(300), on=day("2025-06-02"))
    book.buy(lot_id="B", symbol="VTI", quantity=D(30), cost=D(300), on=day("2025-07-01"))
    book.sell(symbol="VTI", quantity=D(30), proceeds=D(240), on=day("2026-01-10"))
    book.sell(symbol="VTI", quantity=D(30), proceeds=D(210), on=day("2026-01-12"))

    book.buy(lot_id="R", symbol="VTI", quantity=D(50), cost=D(400), on=day("2026-01-20"))

    assert [r.disallowed_loss for r in book.realizations()] == [D(60), D(60)]
    # The first loss takes 30 shares, carved off as R.1; the second takes the 20 left, R itself.
    assert book.open_lots() == [
        TaxLot("R", "VTI", D(20), D(220), day("2026-01-20"), day("2025-07-09"), D(60)),
        TaxLot("R.1", "VTI", D(30), D(300), day("2026-01-20"), day("2025-06-12"), D(60)),
    ]


def test_another_ticker_of_the_same_wash_group_replaces():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(2500), on=day("2025-06-02"))
    book.sell(symbol="VTI", quantity=D(10), proceeds=D(2300), on=day("2026-01-10"))

    itot = book.buy(lot_id="I", symbol="ITOT", quantity=D(20), cost=D(2300), on=day("2026-01-12"))
    schb = book.buy(lot_id="S", symbol="SCHB", quantity=D(20), cost=D(2300), on=day("2026-01-12"))

    assert schb.wash_sale_adjustment == D(0)
    assert itot.wash_sale_adjustment == D(0)  # the unmatched half of the ITOT lot
    assert [(lot.lot_id, lot.quantity, lot.wash_sale_adjustment) for lot in book.open_lots("ITOT")] == [
        ("I", D(10), D(0)), ("I.1", D(10), D(200)),
    ]
    assert book.realizations()[0].disallowed_loss == D(200)


def test_without_groups_every_symbol_is_its_own_group():
    book = LotLedger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(2500), on=day("2025-06-02"))
    book.sell(symbol="VTI", quantity=D(10), proceeds=D(2300), on=day("2026-01-10"))
    book.buy(lot_id="I", symbol="ITOT", quantity=D(10), cost=D(1200), on=day("2026-01-12"))

    assert book.realizations()[0].disallowed_loss == D(0)


def test_a_chain_of_losses_carries_the_disallowed_loss_forward():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(100), cost=D(1000), on=day("2026-01-02"))
    book.sell(symbol="VTI", quantity=D(100), proceeds=D(800), on=day("2026-02-02"))
    b = book.buy(lot_id="B", symbol="VTI", quantity=D(100), cost=D(900), on=day("2026-02-10"))
    # A was held 31 days.
    assert (b.cost_basis, b.holding_period_start) == (D(1100), day("2026-01-10"))

    book.sell(symbol="VTI", quantity=D(100), proceeds=D(850), on=day("2026-03-02"))
    c = book.buy(lot_id="C", symbol="VTI", quantity=D(100), cost=D(870), on=day("2026-03-20"))

    # B counts as held from Jan 10, i.e. 51 days by Mar 2.
    assert c == TaxLot("C", "VTI", D(100), D(1120), day("2026-03-20"), day("2026-01-28"), D(250))
    first, second = book.realizations()
    assert (first.disallowed_loss, first.gain) == (D(200), D(0))
    assert (second.cost_basis, second.wash_sale_adjustment, second.disallowed_loss, second.gain) == (
        D(1100), D(200), D(250), D(0))
    # Selling C outside any window finally recognises the whole chain's loss.
    book.sell(symbol="VTI", quantity=D(100), proceeds=D(870), on=day("2026-06-01"))
    third = book.realizations()[2]
    assert (third.gain, third.wash_sale_adjustment, third.term) == (D(-250), D(250), "short")
    assert sum(r.gain for r in book.realizations()) == D(800 + 850 + 870 - 1000 - 900 - 870)


def test_holding_period_shift_for_a_replacement_bought_before_the_sale_can_make_it_long_term():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-01-02"))
    book.buy(lot_id="R", symbol="VTI", quantity=D(10), cost=D(900), on=day("2025-06-01"))

    book.sell(symbol="VTI", quantity=D(10), proceeds=D(900), on=day("2025-06-10"), lots=[("A", D(10))])

    # A was held 159 days, so R counts as held from 159 days before June 1.
    r = lots_by_id(book)["R"]
    assert r.holding_period_start == day("2024-12-24")
    sold = book.sell(symbol="VTI", quantity=D(10), proceeds=D(1000), on=day("2025-12-26"))
    assert sold[0].term == "long"


def test_the_sale_date_return_value_is_a_snapshot_and_realizations_are_rewritten():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-12-02"))
    sold = book.sell(symbol="VTI", quantity=D(10), proceeds=D(900), on=day("2025-12-20"))
    book.buy(lot_id="R", symbol="VTI", quantity=D(10), cost=D(900), on=day("2026-01-05"))

    assert sold[0].disallowed_loss == D(0)
    assert [r.disallowed_loss for r in book.realizations(2025)] == [D(100)]
    assert book.realizations(2026) == []


def test_a_split_changes_quantity_not_basis_and_later_sales_use_the_new_shares():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-01-02"))
    book.buy(lot_id="B", symbol="BND", quantity=D(10), cost=D(700), on=day("2025-01-02"))

    book.split(symbol="VTI", ratio=D("1.5"), on=day("2025-06-02"))
    assert book.position("VTI") == D(15)
    assert book.position("BND") == D(10)
    sold = book.sell(symbol="VTI", quantity=D(6), proceeds=D(480), on=day("2025-07-01"))

    assert (sold[0].cost_basis, sold[0].gain) == (D(400), D(80))
    assert book.open_lots("VTI") == [TaxLot("A", "VTI", D(9), D(600), day("2025-01-02"), day("2025-01-02"), D(0))]


def test_a_split_between_a_loss_sale_and_its_replacement_counts_post_split_shares():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(100), cost=D(1000), on=day("2025-06-02"))
    book.sell(symbol="VTI", quantity=D(100), proceeds=D(800), on=day("2026-01-10"))
    book.split(symbol="VTI", ratio=D(2), on=day("2026-01-15"))

    book.buy(lot_id="R", symbol="VTI", quantity=D(100), cost=D(400), on=day("2026-01-20"))
    assert book.realizations()[0].disallowed_loss == D(100)
    book.buy(lot_id="S", symbol="VTI", quantity=D(150), cost=D(600), on=day("2026-01-21"))
    assert book.realizations()[0].disallowed_loss == D(200)
    assert [(lot.lot_id, lot.quantity) for lot in book.open_lots()] == [("R", D(100)), ("S", D(50)), ("S.1", D(100))]


def test_split_of_a_symbol_not_held_is_a_no_op():
    book = ledger()
    book.split(symbol="VTI", ratio=D(2), on=day("2025-06-02"))
    assert book.open_lots() == []


def test_a_transfer_in_replaces_by_its_acquisition_date_even_when_it_arrives_later():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-06-02"))
    book.sell(symbol="VTI", quantity=D(10), proceeds=D(800), on=day("2026-01-10"))

    old = book.transfer_in(lot_id="OLD", symbol="VTI", quantity=D(10), cost_basis=D(500),
                           acquired=day("2024-06-03"), on=day("2026-01-15"))
    recent = book.transfer_in(lot_id="T", symbol="VTI", quantity=D(10), cost_basis=D(850),
                              acquired=day("2026-01-05"), on=day("2026-02-25"))

    assert old.wash_sale_adjustment == D(0)
    assert recent == TaxLot("T", "VTI", D(10), D(1050), day("2026-01-05"), day("2025-05-28"), D(200))
    assert book.realizations()[0].disallowed_loss == D(200)


def test_a_transferred_lot_already_held_replaces_a_later_loss():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-06-02"))
    book.transfer_in(lot_id="T", symbol="ITOT", quantity=D(10), cost_basis=D(400),
                     acquired=day("2026-01-02"), on=day("2026-01-08"))

    book.sell(symbol="VTI", quantity=D(10), proceeds=D(800), on=day("2026-01-10"))

    assert lots_by_id(book)["T"].cost_basis == D(600)


def test_only_shares_still_open_can_replace():
    book = ledger()
    book.buy(lot_id="A", symbol="VTI", quantity=D(10), cost=D(1000), on=day("2025-06-02"))
    book.buy(lot_id="R", symbol="VTI", quantity=D(10), cost=D(900), on=day("2026-01-02"))
    book.sell(symbol="VTI", quantity=D(10), proceeds=D(950), on=day("2026-01-05"), lots=[("R", D(10))])

    book.sell(symbol="VTI", quantity=D(10), proceeds=D(800), on=day("2026-01-10"))

    assert [r.disallowed_loss for r in book.realizations()] == [D(0), D(0)]


def test_open_lots_are_listed_by_symbol_then_holding_order():
    book = ledger()
    book.buy(lot_id="V", symbol="VTI", quantity=D(1), cost=D(10), on=day("2025-01-02"))
    book.buy(lot_id="B2", symbol="BND", quantity=D(1), cost=D(10), on=day("2025-01-03"))
    book.transfer_in(lot_id="B1", symbol="BND", quantity=D(1), cost_basis=D(10),
                     acquired=day("2024-01-02"), on=day("2025-01-03"))

    assert [lot.lot_id for lot in book.open_lots()] == ["B1", "B2", "V"]
    assert book.open_lots("SCHB") == []
    assert book.position("SCHB") == D(0)
