"""How amounts read on a terminal (application/formats.py)."""

from decimal import Decimal

from lotline.application.formats import money, percent, plural, price, quantity, timestamp


def test_money_has_a_dollar_sign_thousands_separators_and_cents():
    assert money("1234567.891") == "$1,234,567.89"
    assert money(Decimal("-12.5")) == "-$12.50"
    assert money("3", signed=True) == "+$3.00" and money("0", signed=True) == "$0.00"
    assert money(None) == ""


def test_weights_and_drift_are_percentages_with_a_sign_for_drift():
    assert percent("0.108302") == "10.83%"
    assert percent("-0.0052", signed=True) == "-0.52%"
    assert percent("0.0052", signed=True) == "+0.52%"
    assert percent("-0.00001", signed=True) == "0.00%"  # never a negative zero


def test_quantities_prices_plurals_and_times():
    assert quantity("1250.000000") == "1,250" and quantity("12.50") == "12.5"
    assert price("250") == "$250.00" and price("72.505") == "$72.505"
    assert plural(1, "order") == "1 order" and plural(0, "order") == "0 orders"
    assert plural(2, "entry", "entries") == "2 entries" and plural(1200, "event") == "1,200 events"
    assert timestamp("2026-03-02T21:00:05.123+00:00") == "2026-03-02 21:00"
