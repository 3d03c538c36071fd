"""Preferences given key by key: the keys given over the current values."""

from __future__ import annotations

from decimal import Decimal as D

from lotline.domain.parameters import CashPreferences, TaxPreferences, TradingPreferences


def test_the_keys_given_replace_the_current_values_and_the_others_stay():
    current = TaxPreferences(short_term_rate=D("0.32"), long_term_rate=D("0.15"), annual_gain_budget=D("5000"))
    given = TaxPreferences.model_validate({"long_term_rate": "0.238", "annual_gain_budget": None})
    assert given.given_over(current) == TaxPreferences(short_term_rate=D("0.32"), long_term_rate=D("0.238"),
                                                       harvest_losses=True, annual_gain_budget=None)
    assert TradingPreferences.model_validate({}).given_over(TradingPreferences(fractional_shares=True)).fractional_shares


def test_on_a_new_account_the_keys_left_out_take_the_domain_defaults():
    given = CashPreferences.model_validate({})
    assert given.given_over(CashPreferences()) == CashPreferences() == CashPreferences(reserve=D("0"))
    tax = TaxPreferences.model_validate({"harvest_losses": False}).given_over(TaxPreferences())
    assert (tax.short_term_rate, tax.long_term_rate, tax.harvest_losses) == (D("0.37"), D("0.20"), False)
