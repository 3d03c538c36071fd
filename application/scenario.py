"""Scenario files (`lotline load`): the input shapes, strict, with errors that name
the path and the value (`accounts[0].parameters.tax.short_term_rate: ...`)."""

from __future__ import annotations

import json
import datetime as dt
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from domain.errors import InvalidInput


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Acted(Entry):
    actor: str | None = None
    reason: str | None = None


class UserEntry(Acted):
    id: str
    role: str | None = None
    roles: list[str] | None = None

    @model_validator(mode="after")
    def _one_role_field(self) -> UserEntry:
        if (self.role is None) == (self.roles is None):
            raise ValueError("give either role or roles")
        return self

    def role_names(self) -> list[str]:
        return [self.role] if self.role is not None else list(self.roles or [])


class SecurityEntry(Acted):
    symbol: str
    asset_class: str
    wash_group: str | None = None


class ModelEntry(Acted):
    id: str
    weights: dict[str, Decimal]


class ClassEntry(Entry):
    weight: Decimal
    model: str | None = None
    alternatives: list[str] = []
    max_modification: Decimal | None = None
    drift_limit: Decimal | None = None


class TemplateEntry(Acted):
    id: str
    classes: dict[str, ClassEntry]


class LotEntry(Entry):
    symbol: str
    quantity: Decimal
    cost_basis: Decimal
    acquired: dt.date


class RestrictionEntry(Entry):
    symbol: str
    rule: Literal["do_not_buy", "do_not_sell", "do_not_hold"]
    reason: str | None = None


class TaxEntry(Entry):
    short_term_rate: Decimal = Decimal("0.37")
    long_term_rate: Decimal = Decimal("0.20")
    harvest_losses: bool = True
    annual_gain_budget: Decimal | None = None


class CashEntry(Entry):
    reserve: Decimal = Decimal("0")


class TradingEntry(Entry):
    min_trade_value: Decimal | None = None
    fractional_shares: bool = False


class ParametersEntry(Entry):
    modifications: dict[str, Decimal] | None = None
    model_choices: dict[str, str] | None = None
    substitutions: dict[str, str] | None = None
    restrictions: list[RestrictionEntry] | None = None
    tax: TaxEntry | None = None
    cash: CashEntry | None = None
    trading: TradingEntry | None = None


class AccountEntry(Acted):
    id: str
    advisor: str
    # None: an existing account keeps its recorded status; a new one is taxable.
    tax_status: Literal["taxable", "tax_deferred", "tax_exempt"] | None = None
    template: str
    opened: dt.date | None = None
    cash: Decimal = Decimal("0")
    lots: list[LotEntry] = []
    parameters: ParametersEntry | None = None


class LotPickEntry(Entry):
    acquired: dt.date | None = None
    lot_id: str | None = None
    quantity: Decimal


class TradeEntry(Acted):
    id: str | None = None  # an entry with an id is recorded once (reloading skips it)
    account: str
    date: dt.date
    side: Literal["buy", "sell"]
    symbol: str
    quantity: Decimal
    price: Decimal
    lots: list[LotPickEntry] | None = None


class CashRequestEntry(Acted):
    id: str | None = None  # an entry with an id is recorded once (reloading skips it)
    account: str
    amount: Decimal
    date: dt.date | None = None
    by: dt.date | None = None


class CashMovementEntry(Acted):
    id: str | None = None  # an entry with an id is recorded once (reloading skips it)
    account: str
    date: dt.date
    amount: Decimal


class TransferEntry(Acted):
    id: str | None = None  # an entry with an id is recorded once (reloading skips it)
    account: str
    date: dt.date
    lots: list[LotEntry]


class SplitEntry(Acted):
    id: str | None = None  # an entry with an id is recorded once (reloading skips it)
    symbol: str
    date: dt.date
    ratio: Decimal


class DividendEntry(Acted):
    id: str | None = None  # an entry with an id is recorded once (reloading skips it)
    symbol: str
    ex_date: dt.date
    pay_date: dt.date
    per_share: Decimal


class Scenario(Entry):
    as_of: dt.date | None = None
    users: list[UserEntry] = []
    securities: list[SecurityEntry] = []
    prices: dict[date, dict[str, Decimal]] = {}
    models: list[ModelEntry] = []
    templates: list[TemplateEntry] = []
    settings: dict[str, Decimal] = Field(default_factory=dict)
    accounts: list[AccountEntry] = []
    trades: list[TradeEntry] = []
    cash_requests: list[CashRequestEntry] = []
    cash_movements: list[CashMovementEntry] = []
    transfers: list[TransferEntry] = []
    splits: list[SplitEntry] = []
    dividends: list[DividendEntry] = []



def read_scenario(path: Path) -> Scenario:
    try:
        text = path.read_text()
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}", "file") from None
    try:
        raw = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        first = str(error).splitlines()[0]
        raise InvalidInput(f"not valid {'JSON' if path.suffix.lower() == '.json' else 'YAML'}: {first}", "file") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"a scenario is a mapping of sections, got {type(raw).__name__}", "file")
    for section, value in list(raw.items()):
        # `trades:` with nothing under it is an empty section, not a bad one.
        if value is None and section != "as_of":
            raw[section] = {} if section in ("settings", "prices") else []
    return parse_scenario(raw)


def parse_scenario(raw: dict[str, Any]) -> Scenario:
    try:
        return Scenario.model_validate(raw)
    except ValidationError as error:
        raise validation_to_input(error) from None


def validation_to_input(error: ValidationError) -> InvalidInput:
    """One line naming the first offending field and its value."""
    first = error.errors()[0]
    loc = [part for part in first["loc"] if part != "[key]"]
    field = format_path(loc)
    value = first.get("input")
    kind = first["type"]
    if kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "required"
    elif kind.startswith("decimal") or kind in ("float_parsing", "int_parsing", "float_type", "decimal_type"):
        message = f"must be a number, got {value!r}"
    elif kind.startswith("date") or kind.startswith("datetime"):
        message = f"must be a date YYYY-MM-DD, got {value!r}"
    elif kind == "literal_error":
        message = f"{first['msg'].replace('Input should be', 'must be')}, got {value!r}"
    elif kind == "value_error":
        message = first["msg"].removeprefix("Value error, ")
    else:
        message = f"{first['msg']}, got {value!r}"
    return InvalidInput(message, field or None)


def format_path(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out
