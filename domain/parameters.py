"""An account's parameters: the advisor's customisation, applied in every analysis."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

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
    model_config = ConfigDict(frozen=True, extra="forbid")


class Restriction(_Value):
    symbol: str
    rule: RestrictionRule
    reason: str | None = None


class TaxPreferences(_Value):
    short_term_rate: Decimal = Decimal("0.37")
    long_term_rate: Decimal = Decimal("0.20")
    harvest_losses: bool = True
    annual_gain_budget: Decimal | None = None


class CashPreferences(_Value):
    reserve: Decimal = Decimal("0")


class TradingPreferences(_Value):
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
