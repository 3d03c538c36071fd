"""How amounts read on a terminal: money with a dollar sign and thousands separators,
weights and drift as percentages, counts with the right plural. Every table and line
the command line prints goes through these; `--json` never does (it keeps the
contract's decimal strings)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

Number = Decimal | str | int | float | None


def _decimal(value: Number) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        return None


def money(value: Number, signed: bool = False) -> str:
    """`$1,234,567.89`, `-$12.50` (`+$12.50` when `signed`); empty for no amount."""
    amount = _decimal(value)
    if amount is None:
        return "" if value is None else str(value)
    amount = amount.quantize(Decimal("0.01"))
    sign = "-" if amount < 0 else "+" if signed and amount > 0 else ""
    return f"{sign}${abs(amount):,.2f}"


def quantity(value: Number) -> str:
    """Shares with thousands separators and no trailing zeros: `1,250`, `12.5`."""
    amount = _decimal(value)
    if amount is None:
        return "" if value is None else str(value)
    text = f"{amount:,f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def price(value: Number) -> str:
    """A close: dollars to the cent, more places only when the close has them."""
    amount = _decimal(value)
    if amount is None:
        return "" if value is None else str(value)
    places = max(2, -amount.normalize().as_tuple().exponent) if amount != amount.to_integral() else 2
    return f"${amount:,.{min(places, 6)}f}"


def percent(value: Number, signed: bool = False, places: int = 2) -> str:
    """A fraction as a percentage: `0.108302` is `10.83%`; drift `+0.52%` when `signed`."""
    fraction = _decimal(value)
    if fraction is None:
        return "" if value is None else str(value)
    scaled = (fraction * 100).quantize(Decimal(1).scaleb(-places))
    if scaled == 0:
        scaled = abs(scaled)  # never "-0.00%"
    sign = "+" if signed and scaled > 0 else ""
    return f"{sign}{scaled:,.{places}f}%"


def plural(count: int, noun: str, many: str | None = None) -> str:
    """`1 order`, `2 orders`, `0 orders`; `many` for irregular nouns (`entry`, `entries`)."""
    return f"{count:,} {noun if count == 1 else many or noun + 's'}"


def timestamp(text: str | None) -> str:
    """An ISO timestamp as `YYYY-MM-DD HH:MM` (UTC as recorded)."""
    if not text:
        return ""
    return text[:16].replace("T", " ")
