"""The demo's plain rebalance to target: what it trades, and what it must not try."""

from datetime import date
from decimal import Decimal

from lotline.application.plain_rebalance import FRACTION, PlainAccount, rebalance_to_target
from lotline.domain.book import AccountBook
from lotline.domain.targets import SecurityTargets

DAY = date(2026, 3, 2)


def _account(cash: str, lots: dict[str, str]) -> PlainAccount:
    book = AccountBook()
    book.cash = Decimal(cash)
    for symbol, quantity in lots.items():
        book.cash += Decimal(quantity) * Decimal("100")
        book.trade("buy", symbol, Decimal(quantity), Decimal("100"), date(2025, 1, 2), lot_id=f"L-{symbol}")
    targets = SecurityTargets(weights={"VTI": Decimal("0.5"), "BND": Decimal("0.5")},
                              class_weights={"us_equity": Decimal("0.5"), "bonds": Decimal("0.5"), "cash": Decimal(0)},
                              class_of={"VTI": "us_equity", "BND": "bonds"}, models_used={})
    return PlainAccount("A", book, targets, {"VTI": "us_equity", "BND": "bonds"},
                        {"us_equity": Decimal("0.03"), "bonds": Decimal("0.03")}, frozenset(), FRACTION, None)


def test_a_fractional_account_is_traded_to_its_target_weights():
    account = _account("0", {"VTI": "10", "BND": "30"})
    trades, _ = rebalance_to_target(account, {"VTI": Decimal("100"), "BND": Decimal("100")}, DAY)
    assert trades == 2
    assert account.book.positions() == {"VTI": Decimal("20"), "BND": Decimal("20")}


def test_a_remainder_worth_less_than_a_cent_is_not_traded():
    # The targets ask one ten-thousandth of a share more of each: $0.002 at $20. The
    # ledger cannot record a trade whose cost rounds to nothing; the plain rebalance
    # must not try.
    account = _account("0.004", {"VTI": "10", "BND": "10"})
    closes = {"VTI": Decimal("20"), "BND": Decimal("20")}
    trades, realised = rebalance_to_target(account, closes, DAY)
    assert (trades, realised) == (0, [])
    assert account.book.cash == Decimal("0.004")
