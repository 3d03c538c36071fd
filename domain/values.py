"""Small value checks shared by the aggregates. Money and quantities are Decimal."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from domain.errors import InvalidInput

WEIGHT_TOLERANCE = Decimal("0.000001")
CASH = "cash"


def to_decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, bool):
        raise InvalidInput(f"must be a number, got {value!r}", field)
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"must be a number, got {value!r}", field) from None
    if not result.is_finite():
        raise InvalidInput(f"must be a finite number, got {value!r}", field)
    return result


def non_negative(value: Decimal, field: str) -> Decimal:
    if value < 0:
        raise InvalidInput(f"must not be negative, got {value}", field)
    return value


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
