"""Price files: the wide format (`Date`, then one column per symbol) and the long one
(`date,symbol,close`). Any bad row is reported by its line number; nothing is loaded."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from domain.errors import InvalidInput

Close = tuple[date, str, Decimal]


def read_price_file(path: Path) -> list[Close]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise InvalidInput(f"cannot read {path}: {error.strerror}", "file") from None
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise InvalidInput(f"{path} is empty", "file")
    header = [cell.strip() for cell in rows[0]]
    lowered = [cell.lower() for cell in header]
    if lowered[:3] == ["date", "symbol", "close"] and len(header) == 3:
        return _long(rows)
    if lowered and lowered[0] == "date" and len(header) > 1:
        return _wide(header, rows)
    raise InvalidInput(f"line 1: expected a header 'Date,SYMBOL,...' or 'date,symbol,close', got {','.join(header)!r}", "file")


def _long(rows: list[list[str]]) -> list[Close]:
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 3:
            raise InvalidInput(f"line {line}: expected 3 cells (date,symbol,close), got {len(row)}", "file")
        day = _date(row[0], line)
        symbol = row[1].strip()
        if not symbol:
            raise InvalidInput(f"line {line}: symbol is empty", "file")
        out.append((day, symbol, _close(row[2], line, symbol)))
    return out


def _wide(header: list[str], rows: list[list[str]]) -> list[Close]:
    symbols = header[1:]
    for column, symbol in enumerate(symbols, start=2):
        if not symbol:
            raise InvalidInput(f"line 1: column {column} has no symbol", "file")
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise InvalidInput(f"line {line}: expected {len(header)} cells, got {len(row)}", "file")
        day = _date(row[0], line)
        for symbol, cell in zip(symbols, row[1:]):
            if cell.strip():  # a blank cell: no close that day (a holiday abroad, not yet listed)
                out.append((day, symbol, _close(cell, line, symbol)))
    return out


def _date(cell: str, line: int) -> date:
    try:
        return date.fromisoformat(cell.strip())
    except ValueError:
        raise InvalidInput(f"line {line}: date must be YYYY-MM-DD, got {cell.strip()!r}", "file") from None


def _close(cell: str, line: int, symbol: str) -> Decimal:
    try:
        value = Decimal(cell.strip())
    except InvalidOperation:
        raise InvalidInput(f"line {line}: close of {symbol} must be a number, got {cell.strip()!r}", "file") from None
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"line {line}: close of {symbol} must be positive, got {cell.strip()!r}", "file")
    return value
