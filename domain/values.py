"""Small value checks shared by the aggregates. Money and quantities are Decimal."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from lotline.domain.errors import InvalidInput

# --- quanta: the steps amounts are rounded to, defined here only --------------------

ZERO = Decimal(0)
CENT = Decimal("0.01")  # money
WEIGHT = Decimal("0.000001")  # a weight as recorded and reported: six places
SHARE_DECIMALS = Decimal("0.000001")  # a fractional share: six places
ADJUSTED_CLOSE = Decimal("0.0000000001")  # a close adjusted for later splits: ten places
WEIGHT_TOLERANCE = Decimal("0.000001")  # weights that must sum to 1 may miss it by this

CASH = "cash"


def to_decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool):
        raise InvalidInput(f"must be a number, got {value!r}", field)
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"must be a number, got {cut(repr(value))}", field) from None
    if not result.is_finite():
        raise InvalidInput(f"must be a finite number, got {cut(repr(value))}", field)
    return result


def non_negative(value: Decimal, field: str) -> Decimal:
    if value < 0:
        raise InvalidInput(f"must not be negative, got {value}", field)
    return value


def required_reason(reason: str | None, why: str) -> str:
    """The reason a person must give (rejecting, withdrawing, changing a setting,
    correcting a close): missing or blank is bad input, `reason: required: ...`."""
    if reason is None or not reason.strip():
        raise InvalidInput(f"required: {why} (--reason TEXT)", "reason")
    return reason


def positive(value: Decimal, field: str) -> Decimal:
    if value <= 0:
        raise InvalidInput(f"must be positive, got {value}", field)
    return value


def rate(value: Decimal, field: str) -> Decimal:
    if not Decimal(0) <= value <= Decimal(1):
        raise InvalidInput(f"must be between 0 and 1, got {value}", field)
    return value


def sums_to_one(weights: dict[str, Decimal], field: str) -> None:
    total = sum(weights.values(), Decimal(0))
    if abs(total - 1) > WEIGHT_TOLERANCE:
        raise InvalidInput(f"must sum to 1, got {total}", field)


# --- bounds on what users type -----------------------------------------------------

MAX_NUMBER = Decimal("1e12")
MAX_PLACES = 6
MAX_ID_LENGTH = 128
SHOWN_LENGTH = 80
# Unicode bidirectional controls: they make an id read differently from what it is.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")


def cut(text: str, limit: int = SHOWN_LENGTH) -> str:
    """`text` on one line, at most `limit` characters (an ellipsis marks the cut)."""
    text = " ".join(text.split("\n")) if "\n" in text else text
    text = text.replace("\r", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shown(value: Any, limit: int = SHOWN_LENGTH) -> str:
    """An offending input as an error message echoes it: its repr (control and
    bidirectional characters escaped), cut to `limit` characters. Never expands a
    large or deeply shared structure in full."""
    import reprlib

    if isinstance(value, str):
        text = repr(value[: limit + 1])
    elif isinstance(value, (bytes, bytearray)):
        text = repr(bytes(value[: limit + 1]))
    elif isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        text = _number_text(value, limit)
    else:
        limited = reprlib.Repr()
        limited.maxlevel, limited.maxdict, limited.maxlist, limited.maxtuple = 3, 4, 4, 4
        limited.maxset = limited.maxfrozenset = limited.maxdeque = limited.maxarray = 4
        limited.maxstring, limited.maxlong, limited.maxother = limit, limit, limit
        try:
            text = limited.repr(value)
        except Exception:  # noqa: BLE001 - a repr that fails still names the type
            text = f"<{type(value).__name__}>"
    return cut(text, limit)


def _number_text(value: int | float | Decimal, limit: int) -> str:
    if isinstance(value, int) and value.bit_length() > 4 * limit:
        return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    if isinstance(value, Decimal):
        digits = len(value.as_tuple().digits)
        if digits > limit:
            return f"<a number of {digits} digits>"
        return str(value)
    return repr(value)


def decimal_places(value: Decimal) -> int:
    """Significant decimal places: 1.50 has one."""
    if not value.is_finite() or value == 0:
        return 0
    exponent = value.normalize().as_tuple().exponent
    return max(0, -int(exponent))


def bounded(value: Decimal, field: str | None, places: int | None = MAX_PLACES, limit: Decimal = MAX_NUMBER) -> Decimal:
    """A finite number of at most `limit` in magnitude and at most `places` decimals."""
    if not value.is_finite():
        raise InvalidInput(f"must be a finite number, got {shown(value)}", field)
    if abs(value) > limit:
        raise InvalidInput(f"must be at most {limit:.0e} in magnitude, got {shown(value)}".replace("e+", "e"), field)
    if places is not None and decimal_places(value) > places:
        raise InvalidInput(f"must have at most {places} decimal places, got {shown(value)}", field)
    return value


def quantity(value: Any, field: str | None) -> Decimal:
    """A number of shares: at most 1e12, at most 6 decimals (sign is the caller's rule)."""
    return bounded(to_decimal(value, field or "quantity"), field)


def price(value: Any, field: str | None) -> Decimal:
    """A price or close: positive, at most 1e12, at most 6 decimals."""
    result = bounded(to_decimal(value, field or "price"), field)
    if result <= 0:
        raise InvalidInput(f"must be positive, got {shown(result)}", field)
    return result


def money(value: Any, field: str | None) -> Decimal:
    """An amount of money: at most 1e12 in magnitude, at most 6 decimals (lenient)."""
    return bounded(to_decimal(value, field or "amount"), field)


def identifier(value: Any, field: str | None) -> str:
    """An id (user, symbol, account, model, template, entry): printable text of 1 to 128
    characters with no control or bidirectional characters and no surrounding spaces."""
    if not isinstance(value, str):
        raise InvalidInput(f"must be text, got {shown(value)}", field)
    if not value:
        raise InvalidInput("must not be empty", field)
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInput(f"must be at most {MAX_ID_LENGTH} characters, got {shown(value)}", field)
    if any(ch in BIDI_CONTROLS for ch in value) or not value.isprintable():
        raise InvalidInput(f"must be printable, without control or bidirectional characters, got {shown(value)}", field)
    if value != value.strip():
        raise InvalidInput(f"must not start or end with a space, got {shown(value)}", field)
    return value
