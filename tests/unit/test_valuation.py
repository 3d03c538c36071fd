"""An account valued at closes (domain/valuation.py): market values, total, security and
class weights, drift."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from lotline.domain.errors import InvalidInput
from lotline.domain.valuation import Valuation

CLASSES = {"VTI": "us_equity", "ITOT": "us_equity", "BND": "bonds", "VXUS": "intl_equity"}
TARGETS = {"us_equity": D("0.6"), "bonds": D("0.38"), "cash": D("0.02")}
LIMITS = {"us_equity": D("0.05"), "bonds": D("0.05"), "cash": D("0.03")}
CLOSES = {"VTI": D("250"), "ITOT": D("120"), "BND": D("72.5"), "VXUS": D("60")}


def value(cash="1000", holdings=(("VTI", "100"), ("BND", "200")), **options) -> Valuation:
    return Valuation.of(D(cash), [(s, D(q)) for s, q in holdings], CLOSES, CLASSES, TARGETS, LIMITS, **options)


def test_market_values_total_and_weights():
    v = value()
    assert v.market_values == {"BND": D("14500.0"), "VTI": D("25000")}
    assert v.total == D("40500.0")
    assert v.weights["VTI"] == D("25000") / D("40500.0")
    assert v.class_weights["us_equity"] == v.weights["VTI"]
    assert v.class_weights["cash"] == D("1000") / D("40500.0")
    assert sum(v.class_weights.values()) == pytest.approx(D(1))


def test_a_symbol_held_in_several_lots_is_valued_lot_by_lot_and_a_class_sums_its_securities():
    v = value(holdings=(("VTI", "60"), ("ITOT", "10"), ("VTI", "40")))
    assert v.market_values["VTI"] == D("25000")
    assert v.class_weights["us_equity"] == v.weights["ITOT"] + v.weights["VTI"]


def test_a_targeted_security_not_held_is_valued_at_zero_and_its_class_listed():
    v = value(also=["VXUS"])
    assert v.market_values["VXUS"] == 0 and v.weights["VXUS"] == 0
    assert v.class_weights["intl_equity"] == 0
    assert list(v.closes) == ["BND", "VTI", "VXUS"]


def test_drift_breaches_and_below_target():
    v = value()  # us_equity 0.617, bonds 0.358, cash 0.025
    assert v.drift("us_equity") == v.class_weights["us_equity"] - D("0.6")
    assert v.drift("intl_equity") == 0
    assert v.below_target("bonds") and not v.below_target("us_equity")
    assert v.breached() == ()
    heavy = value(cash="0", holdings=(("VTI", "200"), ("BND", "100")))  # us_equity 0.873, bonds 0.127, cash 0
    assert heavy.breached() == ("us_equity", "bonds")  # cash 0.02 off, within its 0.03
    assert set(heavy.drifts()) == {"us_equity", "bonds", "cash"}


def test_an_empty_account_weighs_nothing():
    v = value(cash="0", holdings=())
    assert v.total == 0 and v.class_weights == {"us_equity": 0, "bonds": 0, "cash": 0}


def test_market_values_rounded_to_the_cent_on_request():
    v = Valuation.of(D("0"), [("VTI", D("0.003")), ("BND", D("1"))], {"VTI": D("1.5"), "BND": D("1.005")}, CLASSES,
                     TARGETS, LIMITS, rounded_to=D("0.01"))
    assert v.market_values == {"BND": D("1.00"), "VTI": D("0.00")} and v.total == D("1.00")


def test_every_security_valued_needs_a_close():
    with pytest.raises(InvalidInput, match="prices: no close for ITOT, VXUS"):
        Valuation.of(D("0"), [("ITOT", D("1"))], {"VTI": D("1")}, CLASSES, TARGETS, LIMITS, also=["VXUS"])
