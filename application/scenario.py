"""Scenario files (`lotline load`): the input shapes, strict, with errors that name
the path and the value (`accounts[0].parameters.tax.short_term_rate: ...`).

An entry says how a file names things (its section, its id, who acts, why); the values
inside it are the domain's own models, with the domain's defaults: a lot brought in is
a `LotArrival`, a lot named on a sale a `LotPick`, a restriction a `Restriction`, the
tax, cash and trading parameters `TaxPreferences`, `CashPreferences` and
`TradingPreferences` (the keys a file gives are their fields set: on an existing
account the others keep their recorded values). The checks below reach into them.

Limits on what a file may hold, each refused as bad input (exit 2) in one line that
echoes the offending value cut to 80 characters:

- size: at most 50 MB (`LOTLINE_MAX_INPUT_MB` changes the limit; it applies to price
  CSV files too), checked before the file is read;
- YAML: at most 100 aliases, expanding to at most 100,000 nodes beyond the file's own,
  and no nesting deeper than 64 levels (JSON: the same depth); no duplicate keys;
- numbers: finite and at most 1e12 in magnitude; quantities, prices, closes and
  amounts of money at most 6 decimal places (weights and rates keep their own checks);
- dates: a YAML date or the text YYYY-MM-DD between 1900-01-01 and 2999-12-31, never
  a number; YAML timestamps are read as text, so 2026-02-30 is a bad date, not a crash;
- ids (users, symbols, accounts, models, templates, entries, and the keys naming
  them): printable, 1 to 128 characters, no control or bidirectional characters;
- no id twice in one section (users, securities, models, templates, accounts);
- no lot acquired after the file's `as_of` (a transfer's lots: after its date).
"""

from __future__ import annotations

import json
import os
import re
import datetime as dt
import types
import typing
from datetime import date
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from lotline.domain.account import LotArrival, LotPick
from lotline.domain.errors import InvalidInput
from lotline.domain.parameters import CashPreferences, Restriction, TaxPreferences, TaxStatus, TradingPreferences
from lotline.domain.values import BIDI_CONTROLS, bounded, cut, identifier, shown

DEFAULT_MAX_INPUT_MB = 50
MAX_ALIASES = 100
MAX_ALIAS_EXPANSION = 100_000
MAX_DEPTH = 64
FIRST_DATE, LAST_DATE = dt.date(1900, 1, 1), dt.date(2999, 12, 31)
DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
# Decimal fields held to 6 decimal places (quantities, prices, closes, money); the
# others (weights, rates, ratios, settings) are only bounded in magnitude.
SIX_PLACES = frozenset({"quantity", "price", "cost_basis", "cash", "amount", "per_share", "annual_gain_budget",
                        "min_trade_value", "prices"})
FREE_TEXT = frozenset({"reason"})  # not an id: any text


class Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _dates_are_not_numbers(cls, value: Any, info: ValidationInfo) -> Any:
        annotation = _annotation(cls, info.field_name)
        if annotation is not None and _mentions_date(annotation):
            _check_date_input(value, annotation)
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _within_bounds(cls, value: Any, info: ValidationInfo) -> Any:
        _check_value(value, info.field_name or "")
        return value


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


class ParametersEntry(Entry):
    """An account's parameters, each group optional: a group left out keeps the
    account's recorded value (a new account's: the domain's default)."""

    modifications: dict[str, Decimal] | None = None
    model_choices: dict[str, str] | None = None
    substitutions: dict[str, str] | None = None
    restrictions: list[Restriction] | None = None
    tax: TaxPreferences | None = None
    cash: CashPreferences | None = None
    trading: TradingPreferences | None = None


class AccountEntry(Acted):
    id: str
    advisor: str
    # None: an existing account keeps its recorded status; a new one is taxable.
    tax_status: TaxStatus | None = None
    template: str
    opened: dt.date | None = None
    cash: Decimal = Decimal("0")
    lots: list[LotArrival] = []
    parameters: ParametersEntry | None = None


class TradeEntry(Acted):
    id: str | None = None  # an entry with an id is recorded once (reloading skips it)
    account: str
    date: dt.date
    side: Literal["buy", "sell"]
    symbol: str
    quantity: Decimal
    price: Decimal
    lots: list[LotPick] | None = None


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
    lots: list[LotArrival]


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



def max_input_bytes() -> int:
    """The size limit of scenario and price files: 50 MB, or LOTLINE_MAX_INPUT_MB."""
    text = os.environ.get("LOTLINE_MAX_INPUT_MB", "").strip()
    if not text:
        return DEFAULT_MAX_INPUT_MB * 1_000_000
    try:
        mb = Decimal(text)
    except InvalidOperation:
        mb = Decimal("NaN")
    if not mb.is_finite() or mb <= 0 or mb > 1_000_000:
        raise InvalidInput(f"must be a positive number of MB, got {shown(text)}", "LOTLINE_MAX_INPUT_MB")
    return int(mb * 1_000_000)


def _limit_text(limit: int) -> str:
    mb = (Decimal(limit) / 1_000_000).normalize()
    return f"{mb:f}"


def read_input(path: Path) -> bytes:
    """The bytes of a user's file, refused unread when larger than the limit."""
    limit = max_input_bytes()
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                raise InvalidInput(f"larger than the {_limit_text(limit)} MB limit ({size} bytes)", "file")
            data = handle.read(limit + 1)  # a pipe or device has no size: read one byte too many at most
    except OSError as error:
        raise InvalidInput(f"cannot read {cut(str(path))}: {error.strerror or type(error).__name__}", "file") from None
    if len(data) > limit:
        raise InvalidInput(f"larger than the {_limit_text(limit)} MB limit (more than {limit} bytes)", "file")
    return data


def read_scenario(path: Path, today: date | None = None) -> Scenario:
    """Reads and validates a scenario file as a whole. `today` stands in for a missing
    `as_of` when lots are checked against the file's date."""
    path = Path(path)
    data = read_input(path)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("not a text file (not UTF-8)", "file") from None
    raw = parse_json(text) if path.suffix.lower() == ".json" else parse_yaml(text)
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"a scenario is a mapping of sections, got {type(raw).__name__}", "file")
    for section, value in list(raw.items()):
        # `trades:` with nothing under it is an empty section, not a bad one.
        if value is None and section != "as_of":
            raw[section] = {} if section in ("settings", "prices") else []
    return parse_scenario(raw, today)


def parse_scenario(raw: dict[str, Any], today: date | None = None) -> Scenario:
    try:
        scenario = Scenario.model_validate(raw)
    except ValidationError as error:
        raise validation_to_input(error) from None
    except RecursionError:
        raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", "file") from None
    check_scenario(scenario, today)
    return scenario


def check_scenario(scenario: Scenario, today: date | None = None) -> None:
    """What one entry cannot tell alone: ids given twice in a section, lots acquired
    after the file's date (a transfer's lots: after the transfer)."""
    for section, key in (("users", "id"), ("securities", "symbol"), ("models", "id"), ("templates", "id"),
                         ("accounts", "id")):
        first_at: dict[str, int] = {}
        for index, entry in enumerate(getattr(scenario, section)):
            value = getattr(entry, key)
            if value in first_at:
                raise InvalidInput(f"duplicate id {shown(value)} (also {section}[{first_at[value]}])",
                                   f"{section}[{index}].{key}")
            first_at[value] = index
    as_of = scenario.as_of or today
    if as_of is not None:
        for index, account in enumerate(scenario.accounts):
            for number, lot in enumerate(account.lots):
                if lot.acquired > as_of:
                    raise InvalidInput(f"acquired {lot.acquired} is after the file's date {as_of}",
                                       f"accounts[{index}].lots[{number}].acquired")
    for index, transfer in enumerate(scenario.transfers):
        for number, lot in enumerate(transfer.lots):
            if lot.acquired > transfer.date:
                raise InvalidInput(f"acquired {lot.acquired} is after the transfer's date {transfer.date}",
                                   f"transfers[{index}].lots[{number}].acquired")


# --- reading YAML and JSON within limits ---------------------------------------------------

_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


class LimitedLoader(yaml.SafeLoader):
    """yaml.SafeLoader with limits: aliases (and what they expand to), nesting depth,
    duplicate keys. Timestamps stay text, for pydantic to parse (2026-02-30 is then a
    bad date, not a crash in YAML's own date constructor)."""

    yaml_implicit_resolvers = {
        first: [(tag, pattern) for tag, pattern in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0
        self._nodes = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise InvalidInput(f"more than {MAX_ALIASES} YAML aliases", "file")
            return super().compose_node(parent, index)
        self._nodes += 1
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", "file")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_mapping_node(self, anchor: Any) -> Any:
        node = super().compose_mapping_node(anchor)
        seen: set[str] = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE:
                if key.value in seen:
                    raise InvalidInput(f"line {key.start_mark.line + 1}: duplicate key {shown(key.value)}", "file")
                seen.add(key.value)
        return node

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        if node is not None and self._aliases:
            _check_expansion(node, self._nodes + MAX_ALIAS_EXPANSION)
        return node


LimitedLoader.add_constructor(_TIMESTAMP, lambda loader, node: loader.construct_scalar(node))


def _check_expansion(root: Any, limit: int) -> None:
    """The document as its aliases expand it: at most `limit` nodes, at most MAX_DEPTH
    deep, and no alias inside its own anchor."""
    measured: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()

    def measure(node: Any) -> tuple[int, int]:
        key = id(node)
        if key in measured:
            return measured[key]
        if key in open_nodes:
            raise InvalidInput("a YAML alias refers to a node that contains it", "file")
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        else:
            measured[key] = (1, 1)
            return measured[key]
        open_nodes.add(key)
        size, depth = 1, 1
        for child in children:
            child_size, child_depth = measure(child)
            size += child_size
            depth = max(depth, child_depth + 1)
            if size > limit:
                raise InvalidInput(f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION} extra nodes", "file")
            if depth > MAX_DEPTH:
                raise InvalidInput(f"YAML aliases nest deeper than {MAX_DEPTH} levels", "file")
        open_nodes.discard(key)
        measured[key] = (size, depth)
        return measured[key]

    measure(root)


def parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=LimitedLoader)  # noqa: S506 - a SafeLoader subclass
    except InvalidInput:
        raise
    except yaml.MarkedYAMLError as error:
        where = f" at line {error.problem_mark.line + 1}" if error.problem_mark is not None else ""
        problem = error.problem or error.context or "unreadable"
        raise InvalidInput(f"not valid YAML: {cut(problem)}{where}", "file") from None
    except yaml.YAMLError as error:
        raise InvalidInput(f"not valid YAML: {cut(str(error))}", "file") from None
    except RecursionError:
        raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", "file") from None
    except Exception as error:  # noqa: BLE001 - a constructor's own error (a huge integer, bad base64)
        raise InvalidInput(f"not valid YAML: {cut(f'{type(error).__name__}: {error}')}", "file") from None


def parse_json(text: str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise InvalidInput(f"duplicate key {shown(key)}", "file")
            out[key] = value
        return out

    try:
        raw = json.loads(text, object_pairs_hook=no_duplicates)
    except InvalidInput:
        raise
    except RecursionError:
        raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", "file") from None
    except json.JSONDecodeError as error:
        raise InvalidInput(f"not valid JSON: {cut(error.msg)} at line {error.lineno} column {error.colno}", "file") from None
    except Exception as error:  # noqa: BLE001 - e.g. an integer of more digits than Python converts
        raise InvalidInput(f"not valid JSON: {cut(f'{type(error).__name__}: {error}')}", "file") from None
    _check_depth(raw)
    return raw


def _check_depth(raw: Any) -> None:
    todo = [(raw, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise InvalidInput(f"nested deeper than {MAX_DEPTH} levels", "file")
            todo.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))


# --- field checks shared by every entry ------------------------------------------------------


@lru_cache(maxsize=None)
def _annotation(cls: type[BaseModel], name: str | None) -> Any:
    field = cls.model_fields.get(name or "")
    return None if field is None else field.annotation


@lru_cache(maxsize=None)
def _is_value(annotation: Any) -> bool:
    """A domain model inside an entry (a lot, a restriction, preferences): the entry
    holding it checks its fields (an entry checks its own)."""
    return isinstance(annotation, type) and issubclass(annotation, BaseModel) and not issubclass(annotation, Entry)


@lru_cache(maxsize=None)
def _mentions_date(annotation: Any) -> bool:
    if annotation is dt.date:
        return True
    if _is_value(annotation):
        return any(_mentions_date(field.annotation) for field in annotation.model_fields.values())
    return any(_mentions_date(arg) for arg in typing.get_args(annotation))


def _check_date_input(value: Any, annotation: Any) -> None:
    """Dates are a YAML date or the text YYYY-MM-DD, never a number (pydantic would
    read one as Unix time). An error names where inside `value` it is."""
    if annotation is dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return
        if isinstance(value, str) and DATE_TEXT.fullmatch(value.strip()):
            return  # pydantic parses it: 2026-02-30 is refused there
        if isinstance(value, (str, int, float, Decimal, dt.datetime)):
            raise InvalidInput(f"must be a date YYYY-MM-DD, got {shown(value)}")
        return  # a list, a mapping: pydantic names the type
    if _is_value(annotation):
        if isinstance(value, dict):
            for name, field in annotation.model_fields.items():
                if name in value and _mentions_date(field.annotation):
                    try:
                        _check_date_input(value[name], field.annotation)
                    except InvalidInput as error:
                        raise _under(_path_part(name), error) from None
        return
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return
        for arg in args:
            if arg is not type(None) and _mentions_date(arg):
                _check_date_input(value, arg)
        return
    if origin is dict and isinstance(value, dict) and len(args) == 2:
        key_type, value_type = args
        for key, item in value.items():
            try:
                if _mentions_date(key_type):
                    _check_date_input(key, key_type)
                if _mentions_date(value_type):
                    _check_date_input(item, value_type)
            except InvalidInput as error:
                raise _under(_path_part(key), error) from None
        return
    if origin is list and isinstance(value, list) and args:
        for index, item in enumerate(value):
            try:
                _check_date_input(item, args[0])
            except InvalidInput as error:
                raise _under(f"[{index}]", error) from None


def _check_value(value: Any, name: str) -> None:
    """Ids printable, numbers bounded, dates in range: the parts of a validated field
    that are not entries themselves (those check their own fields), a domain value's
    fields by their names. An error names where inside `value` it is."""
    if value is None or isinstance(value, (bool, Entry)):
        return
    if isinstance(value, str):
        if name not in FREE_TEXT:
            identifier(value, None)
    elif isinstance(value, Decimal):
        bounded(value, None, places=6 if name in SIX_PLACES else None)
        if name == "prices" and value <= 0:
            raise InvalidInput(f"must be positive, got {shown(value)}")
    elif isinstance(value, dt.date):
        if not FIRST_DATE <= value <= LAST_DATE:
            raise InvalidInput(f"must be between {FIRST_DATE} and {LAST_DATE}, got {value}")
    elif isinstance(value, BaseModel):
        for field_name in type(value).model_fields:
            try:
                _check_value(getattr(value, field_name), field_name)
            except InvalidInput as error:
                raise _under(field_name, error) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            try:
                _check_value(key, name)
                _check_value(item, name)
            except InvalidInput as error:
                raise _under(_path_part(key), error) from None
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            try:
                _check_value(item, name)
            except InvalidInput as error:
                raise _under(f"[{index}]", error) from None


def _under(part: str, error: InvalidInput) -> InvalidInput:
    """`error`, raised inside a key, an index or a field, located under it. (Paths are
    made only for an error: a large file has many values and few errors.)"""
    inner = error.field
    field = part if not inner else f"{part}{inner}" if inner.startswith("[") else f"{part}.{inner}"
    return type(error)(error.detail, field)


def _path_part(key: Any) -> str:
    """A key as a field path shows it: plain when printable, else escaped; cut."""
    if isinstance(key, dt.date):
        return key.isoformat()
    text = str(key)
    if text.isprintable() and not any(ch in BIDI_CONTROLS for ch in text):
        return cut(text, 40)
    return shown(text, 40)


def validation_to_input(error: ValidationError) -> InvalidInput:
    """One line naming the first offending field and its value (cut to 80 characters)."""
    first = error.errors()[0]
    loc = [part for part in first["loc"] if part != "[key]"]
    field = format_path(loc)
    value = first.get("input")
    kind = first["type"]
    cause = (first.get("ctx") or {}).get("error")
    if isinstance(cause, InvalidInput):
        # Our own checks: the message, and where inside the field (a key, an index).
        message = cause.detail
        if cause.field:
            field = f"{field}{cause.field}" if cause.field.startswith("[") or not field else f"{field}.{cause.field}"
    elif kind == "extra_forbidden":
        message = "unknown field"
    elif kind == "missing":
        message = "required"
    elif kind == "finite_number":
        message = f"must be a finite number, got {shown(value)}"
    elif kind.startswith("decimal") or kind in ("float_parsing", "int_parsing", "float_type", "decimal_type"):
        message = f"must be a number, got {shown(value)}"
    elif kind.startswith("date") or kind.startswith("datetime"):
        message = f"must be a date YYYY-MM-DD, got {shown(value)}"
    elif kind in ("literal_error", "enum"):
        message = f"{first['msg'].replace('Input should be', 'must be')}, got {shown(value)}"
    elif kind == "value_error":
        message = cut(first["msg"].removeprefix("Value error, "), 200)
    else:
        message = f"{cut(first['msg'], 120)}, got {shown(value)}"
    return InvalidInput(message, field or None)


def format_path(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + _path_part(part)
    return out
