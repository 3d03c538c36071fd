"""The pure parts of "the day always completes": the date of each latest close in the
day's market snapshot, the freshness check, and the rule that blocks a loss sale."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from lotline.domain.analysis import check_prices_fresh
from lotline.domain.errors import InvalidInput
from lotline.domain.market import MarketSnapshot
from lotline.domain.settings import SETTINGS
from lotline.domain.tax import WASH_SALE_DAYS, Acquisition, loss_sale_blocked, same_origin

D = date(2026, 3, 3)

CLOSES = {
    "VTI": [(date(2026, 2, 26), Decimal("290.10")), (date(2026, 2, 27), Decimal("291.00")),
            (date(2026, 3, 2), Decimal("292.50"))],
    "BND": [(date(2026, 2, 26), Decimal("73.00")), (date(2026, 2, 27), Decimal("73.10"))],
}
SPLITS = {"VTI": [(date(2026, 2, 27), Decimal("2"))]}
# Recorded by the code before the snapshot knew its dates: snapshots already stored keep
# their digest, and their payloads load.
OLD_DIGEST = "b10ae96fe416f8390b5fdd4def877c665bdb58862401c19fd7c5b1352555d12d"
OLD_PAYLOAD = ('{"date":"2026-03-03","latest":{"BND":"73.10","VTI":"292.50"},"history":{"BND":[["2026-02-26","73.00"],'
               '["2026-02-27","73.10"]],"VTI":[["2026-02-26","145.0500000000"],["2026-02-27","291.00"],'
               '["2026-03-02","292.50"]]}}')


def test_the_snapshot_knows_the_date_of_each_latest_close_and_keeps_its_digest():
    snapshot = MarketSnapshot.build(D, CLOSES, SPLITS, 3)
    assert snapshot.latest_dates() == {"VTI": date(2026, 3, 2), "BND": date(2026, 2, 27)}
    assert snapshot.latest_date("VOO") is None
    assert snapshot.digest() == OLD_DIGEST
    assert snapshot.canonical_json() == OLD_PAYLOAD
    loaded = MarketSnapshot.from_json(OLD_PAYLOAD)
    assert loaded == snapshot and loaded.digest() == OLD_DIGEST
    assert loaded.latest_date("BND") == date(2026, 2, 27)


def test_closes_must_be_of_the_day_unless_the_firm_allows_older_ones():
    prices = {"VTI": Decimal("292.50"), "BND": Decimal("73.10")}
    dates = {"VTI": date(2026, 3, 2), "BND": date(2026, 2, 27)}
    with pytest.raises(InvalidInput) as stale:
        check_prices_fresh(["BND", "VOO", "VTI"], prices, dates, D, 0)
    assert stale.value.detail == "no close on 2026-03-03 for BND (last 2026-02-27), VOO (none), VTI (last 2026-03-02)"
    with pytest.raises(InvalidInput) as older:
        check_prices_fresh(["BND", "VTI"], prices, dates, D, 1)
    assert older.value.detail == "no close on 2026-03-03 or the 1 day before for BND (last 2026-02-27)"
    check_prices_fresh(["BND", "VTI"], prices, dates, D, 4)
    check_prices_fresh(["VTI"], prices, {"VTI": D}, D, 0)


def test_max_price_age_days_is_a_whole_number_from_zero():
    check = SETTINGS["max_price_age_days"].check
    assert SETTINGS["max_price_age_days"].default == "0"
    assert check(Decimal(0), "f") == 0 and check(Decimal(5), "f") == 5
    for bad in ("-1", "0.5"):
        with pytest.raises(InvalidInput):
            check(Decimal(bad), "f")


def test_lots_of_one_purchase_or_transfer_are_of_one_origin():
    assert same_origin("A/L3", "A/L3")
    assert same_origin("A/L3", "A/L3.1") and same_origin("A/L3.2", "A/L3")
    assert not same_origin("A/L3", "A/L31") and not same_origin("A/L3", "A/L4")


def bought(days_before: int, lot_id: str = "A/L9", group: str = "us-agg") -> Acquisition:
    return Acquisition(lot_id, group, D - timedelta(days=days_before))


@pytest.mark.parametrize(("days_before", "blocked"), [
    (0, True), (10, True), (WASH_SALE_DAYS, True), (WASH_SALE_DAYS + 1, False), (400, False),
    # One already recorded for the days after (a trade entered ahead): the ledger would match it too.
    (-5, True), (-WASH_SALE_DAYS - 1, False),
])
def test_an_acquisition_in_the_wash_group_within_30_days_blocks_a_loss_sale(days_before, blocked):
    assert loss_sale_blocked("A/L1", "us-agg", D, [bought(days_before)]) is blocked


def test_only_other_acquisitions_of_the_same_group_block():
    # Another group, the lot itself, the lot it was carved from: none of them.
    assert not loss_sale_blocked("A/L1", "us-agg", D, [bought(5, group="us-total")])
    assert not loss_sale_blocked("A/L9", "us-agg", D, [bought(5)])
    assert not loss_sale_blocked("A/L9.1", "us-agg", D, [bought(5)])
    assert loss_sale_blocked("A/L9.1", "us-agg", D, [bought(5), bought(5, lot_id="A/L10")])
