"""Price files: the wide format (`Date`, then one column per symbol) and the long one
(`date,symbol,close`). Any bad row is reported by its line number; nothing is loaded.

Limits (bad input, exit 2): the file's size (50 MB, `LOTLINE_MAX_INPUT_MB`, as for
scenario files); text only (UTF-8, no NUL bytes); quotes closed; dates YYYY-MM-DD;
symbols printable ids; closes positive, at most 1e12, at most 6 decimal places; one
close per symbol and day (the same close twice is fine, two different ones are not)."""

from __future__ import annotations

import csv
import hashlib
import re
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from lotline.application.scenario import read_input
from lotline.domain.errors import InvalidInput
from lotline.domain.values import cut, identifier, price, shown

Close = tuple[date, str, Decimal]

DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


def read_price_file(path: Path) -> list[Close]:
    return read_price_file_and_digest(path)[0]


def read_price_file_and_digest(path: Path) -> tuple[list[Close], str]:
    """The file's closes and the SHA-256 of the bytes they were read from."""
    data = read_input(Path(path))
    return _closes(data, path), hashlib.sha256(data).hexdigest()


def _closes(data: bytes, path: Path) -> list[Close]:
    if b"\x00" in data:
        raise InvalidInput("not a text CSV file", "file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("not a text CSV file", "file") from None
    rows = _rows(text)
    if not rows:
        raise InvalidInput(f"{cut(str(path))} is empty", "file")
    header = [cell.strip() for cell in rows[0]]
    lowered = [cell.lower() for cell in header]
    if lowered[:3] == ["date", "symbol", "close"] and len(header) == 3:
        closes = _long(rows)
    elif lowered and lowered[0] == "date" and len(header) > 1:
        closes = _wide(header, rows)
    else:
        raise InvalidInput(f"line 1: expected a header 'Date,SYMBOL,...' or 'date,symbol,close', got {shown(','.join(header))}",
                           "file")
    return _without_repeats(closes)


def _rows(text: str) -> list[list[str]]:
    reader = csv.reader(text.splitlines(), strict=True)
    try:
        return list(reader)
    except csv.Error as error:
        raise InvalidInput(f"line {reader.line_num}: not valid CSV: {error}", "file") from None


def _long(rows: list[list[str]]) -> list[tuple[int, Close]]:
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != 3:
            raise InvalidInput(f"line {line}: expected 3 cells (date,symbol,close), got {len(row)}", "file")
        day = _date(row[0], line)
        symbol = _symbol(row[1], line)
        out.append((line, (day, symbol, _close(row[2], line, symbol))))
    return out


def _wide(header: list[str], rows: list[list[str]]) -> list[tuple[int, Close]]:
    symbols = header[1:]
    for column, symbol in enumerate(symbols, start=2):
        if not symbol:
            raise InvalidInput(f"line 1: column {column} has no symbol", "file")
        _symbol(symbol, 1)
    out = []
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise InvalidInput(f"line {line}: expected {len(header)} cells, got {len(row)}", "file")
        day = _date(row[0], line)
        for symbol, cell in zip(symbols, row[1:]):
            if cell.strip():  # a blank cell: no close that day (a holiday abroad, not yet listed)
                out.append((line, (day, symbol, _close(cell, line, symbol))))
    return out


def _without_repeats(closes: list[tuple[int, Close]]) -> list[Close]:
    """The same close twice is one close; two different closes for a symbol and day
    are bad input, naming both."""
    seen: dict[tuple[date, str], tuple[int, Decimal]] = {}
    out = []
    for line, (day, symbol, close) in closes:
        earlier = seen.get((day, symbol))
        if earlier is None:
            seen[(day, symbol)] = (line, close)
            out.append((day, symbol, close))
        elif earlier[1] != close:
            raise InvalidInput(f"line {line}: close of {symbol} on {day} is {close}, but line {earlier[0]} "
                               f"says {earlier[1]}", "file")
    return out


def _date(cell: str, line: int) -> date:
    text = cell.strip()
    try:
        if not DATE_TEXT.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"line {line}: date must be YYYY-MM-DD, got {shown(text)}", "file") from None


def _symbol(cell: str, line: int) -> str:
    symbol = cell.strip()
    if not symbol:
        raise InvalidInput(f"line {line}: symbol is empty", "file")
    try:
        return identifier(symbol, None)
    except InvalidInput as error:
        raise InvalidInput(f"line {line}: symbol {error.detail}", "file") from None


def _close(cell: str, line: int, symbol: str) -> Decimal:
    text = cell.strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidInput(f"line {line}: close of {symbol} must be a number, got {shown(text)}", "file") from None
    if not value.is_finite() or value <= 0:
        raise InvalidInput(f"line {line}: close of {symbol} must be positive, got {shown(text)}", "file")
    try:
        return price(value, None)
    except InvalidInput as error:
        raise InvalidInput(f"line {line}: close of {symbol} {error.detail}", "file") from None
