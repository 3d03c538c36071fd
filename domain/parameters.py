"""An account's parameters: the advisor's customisation, applied in every analysis."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Self

from pydantic import BaseModel, ConfigDict


class TaxStatus(StrEnum):
    TAXABLE = "taxable"
    TAX_DEFERRED = "tax_deferred"
    TAX_EXEMPT = "tax_exempt"


class RestrictionRule(StrEnum):
    DO_NOT_BUY = "do_not_buy"
    DO_NOT_SELL = "do_not_sell"
    DO_NOT_HOLD = "do_not_hold"


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class Restriction(_Value):
    symbol: str
    rule: RestrictionRule
    reason: str | None = None


class _Preferences(_Value):
    """A group of preferences whose keys may be given one at a time (a scenario file's
    `tax`, `cash`, `trading`): a key left out keeps its current value (on a new
    account, the default declared here)."""

    def given_over(self, current: Self) -> Self:
        """The keys given here (pydantic's fields set: those the input named) over
        `current`'s values for the others."""
        return current.model_copy(update={name: getattr(self, name) for name in self.model_fields_set})


class TaxPreferences(_Preferences):
    short_term_rate: Decimal = Decimal("0.37")
    long_term_rate: Decimal = Decimal("0.20")
    harvest_losses: bool = True
    annual_gain_budget: Decimal | None = None


class CashPreferences(_Preferences):
    reserve: Decimal = Decimal("0")


class TradingPreferences(_Preferences):
    min_trade_value: Decimal | None = None  # None: the firm's `min_trade_value` setting
    fractional_shares: bool = False


class Parameters(_Value):
    modifications: dict[str, Decimal] = {}
    model_choices: dict[str, str] = {}
    substitutions: dict[str, str] = {}
    restrictions: tuple[Restriction, ...] = ()
    tax: TaxPreferences = TaxPreferences()
    cash: CashPreferences = CashPreferences()
    trading: TradingPreferences = TradingPreferences()

    def restricted(self, rule: RestrictionRule) -> frozenset[str]:
        return frozenset(r.symbol for r in self.restrictions if r.rule == rule)
