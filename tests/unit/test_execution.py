"""The rules a fill follows, beside the code that holds them (domain/execution.py): a
decision's orders are tried on the book and fill together or not at all."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from lotline.domain.book import AccountBook
from lotline.domain.decision import LotRelief, ProposedOrder
from lotline.domain.execution import Unfillable, cash_requests_met, plan_execution

D = date(2026, 3, 2)
GROUPS = {"VEA": "intl-developed", "IEFA": "intl-developed", "BND": "us-agg", "VTI": "us-total"}


def book_with(*trades) -> AccountBook:
    book = AccountBook(lambda s: GROUPS.get(s, s))
    book.cash = Decimal("10000")
    for n, (side, symbol, quantity, price, on) in enumerate(trades, start=1):
        book.trade(side, symbol, Decimal(quantity), Decimal(price), on, lot_id=f"A/L{n}" if side == "buy" else None)
    return book


def order(number, side, symbol, quantity, price, lots=()):
    q, p = Decimal(quantity), Decimal(price)
    return ProposedOrder(order_id=f"A/2026-03-02/{number}", side=side, symbol=symbol, quantity=q, price=p,
                         value=(q * p).quantize(Decimal("0.01")), reason="rebalance",
                         lots=tuple(LotRelief(lot_id=i, quantity=Decimal(x)) for i, x in lots))


def test_sales_go_first_and_pay_for_the_purchases():
    book = book_with(("buy", "BND", "100", "70", date(2025, 1, 2)))
    book.cash = Decimal("0")
    plan = plan_execution(book, [order(1, "buy", "VTI", "20", "300"), order(2, "sell", "BND", "100", "72")],
                          {"VTI": Decimal("300"), "BND": Decimal("72")}, D, ["A/L2"])
    assert [(e.order.side, e.order.symbol, e.price) for e in plan] == [("sell", "BND", Decimal("72")),
                                                                         ("buy", "VTI", Decimal("300"))]
    assert book.cash == Decimal("1200.00") and book.positions() == {"VTI": Decimal("20")}


def test_a_symbol_without_a_close_leaves_the_whole_decision_unfilled():
    book = book_with(("buy", "BND", "100", "70", date(2025, 1, 2)))
    with pytest.raises(Unfillable, match="no close on 2026-03-02 for VTI"):
        plan_execution(book, [order(1, "sell", "BND", "10", "72"), order(2, "buy", "VTI", "1", "300")],
                       {"BND": Decimal("72")}, D)


def test_a_sale_of_shares_no_longer_held_is_unfillable_naming_the_order():
    book = book_with(("buy", "BND", "10", "70", date(2025, 1, 2)))
    with pytest.raises(Unfillable, match=r"A/2026-03-02/1: the account holds 10 BND, the order sells 11"):
        plan_execution(book, [order(1, "sell", "BND", "11", "72")], {"BND": Decimal("72")}, D)


def test_cash_is_never_negative_after_the_orders():
    book = book_with()
    with pytest.raises(Unfillable, match="cash would be -2000.00"):
        plan_execution(book, [order(1, "buy", "VTI", "40", "300")], {"VTI": Decimal("300")}, D)


def test_named_lots_no_longer_open_fall_back_to_first_in_first_out_with_a_note():
    book = book_with(("buy", "BND", "10", "70", date(2025, 1, 2)), ("buy", "BND", "10", "71", date(2025, 2, 3)))
    plan = plan_execution(book, [order(1, "sell", "BND", "5", "72", lots=[("A/L9", "5")])], {"BND": Decimal("72")}, D)
    assert plan[0].reliefs is None and "first-in first-out" in plan[0].note
    assert [(lot.lot_id, lot.quantity) for lot in book.open_lots()] == [("A/L1", Decimal("5")), ("A/L2", Decimal("10"))]


def test_a_lot_split_by_a_wash_sale_match_is_still_relieved_by_its_original_id():
    # VEA bought on 2026-02-20 (lot A/L2); IEFA sold at a loss on D washes into 30 of its shares,
    # which become lot A/L2.1. An order naming A/L2 for all 100 shares still fills.
    book = book_with(("buy", "IEFA", "30", "80", date(2025, 1, 2)), ("buy", "VEA", "100", "50", date(2026, 2, 20)))
    book.trade("sell", "IEFA", Decimal("30"), Decimal("70"), D)
    assert sorted(lot.lot_id for lot in book.open_lots()) == ["A/L2", "A/L2.1"]
    plan = plan_execution(book, [order(1, "sell", "VEA", "100", "55", lots=[("A/L2", "100")])], {"VEA": Decimal("55")}, D)
    assert plan[0].reliefs == (LotRelief(lot_id="A/L2", quantity=Decimal("100")),)
    assert book.positions() == {}


def test_a_loss_sale_with_its_wash_group_bought_within_30_days_is_refused_at_fill():
    book = book_with(("buy", "IEFA", "30", "80", date(2025, 1, 2)), ("buy", "VEA", "100", "50", date(2026, 2, 20)))
    with pytest.raises(Unfillable, match="would be a wash sale"):
        plan_execution(book, [order(1, "sell", "IEFA", "30", "70", lots=[("A/L1", "30")])], {"IEFA": Decimal("70")}, D)


def test_a_purchase_that_washes_a_recent_loss_is_refused_at_fill():
    book = book_with(("buy", "IEFA", "30", "80", date(2025, 1, 2)))
    book.trade("sell", "IEFA", Decimal("30"), Decimal("70"), date(2026, 2, 20))
    with pytest.raises(Unfillable, match="would wash a loss"):
        plan_execution(book, [order(1, "buy", "VEA", "10", "50")], {"VEA": Decimal("50")}, D, ["A/L3"])


def test_due_cash_requests_are_met_oldest_first_while_the_reserve_holds():
    class Request:
        def __init__(self, amount):
            self.amount = Decimal(amount)

    first, too_big, small = Request("3000"), Request("9000"), Request("1000")
    assert cash_requests_met([first, too_big, small], Decimal("6000"), Decimal("1500")) == [first, small]
