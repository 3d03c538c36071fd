"""Fuzzing the scenario loader and the price CSV reader (hypothesis): no input yields a
traceback; a refused input prints one line and records nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lotline.application.scenario import LimitedLoader
from lotline.domain.errors import InvalidInput
from tests.helpers import store_contents
from tests.scenarios import CONTRACT_EXAMPLE

FAST = settings(max_examples=600, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
THROUGH_THE_CLI = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                           suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                  HealthCheck.data_too_large])

BASE = yaml.load(CONTRACT_EXAMPLE, Loader=LimitedLoader)  # noqa: S506 - a SafeLoader; dates stay text

NASTY_TEXT = ["1e400", "-1e400", "1e999999", "1.0000001", "0", "-0", "NaN", "-Infinity", "2026-02-30", "20260105",
              "2026-W02-1", "9999-12-31", "0001-01-01", "", " ", "ACC\u202e-1", "a\x00b", "tab\there", "x" * 300,
              "1" * 5000, "'", '"', "&a", "*a", "<<", "{", "[", "~", "yes", "null", "2026-01-05T10:00:00"]
NASTY = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**18, max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NASTY_TEXT),
    st.text(max_size=12),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.dates().map(str),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += _paths(item, (*prefix, index))
    return out


PATHS = [p for p in _paths(BASE) if p]


def _mutate(document: Any, path: tuple, operation: str, value: Any) -> Any:
    document = json.loads(json.dumps(document))  # a deep copy of plain data
    *parents, last = path
    holder = document
    for part in parents:
        holder = holder[part]
    if operation == "replace":
        holder[last] = value
    elif operation == "delete":
        del holder[last]
    elif operation == "twice" and isinstance(holder, list):
        holder.append(json.loads(json.dumps(holder[last])))
    elif operation == "extra" and isinstance(holder[last], dict):
        holder[last]["colour" if not isinstance(value, str) or not value else value] = value
    return document


@st.composite
def scenario_files(draw) -> tuple[str, bytes]:
    """A scenario file: the contract's example mutated a little or a lot, as YAML or
    JSON; or text damaged in place; or any bytes at all."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "damaged", "bytes", "text"]))
    if kind == "bytes":
        return draw(st.sampled_from(["f.yaml", "f.json"])), draw(st.binary(max_size=300))
    if kind == "text":
        return draw(st.sampled_from(["f.yaml", "f.json"])), draw(st.text(max_size=300)).encode()
    if kind == "damaged":
        start = draw(st.integers(0, len(CONTRACT_EXAMPLE)))
        end = draw(st.integers(start, min(len(CONTRACT_EXAMPLE), start + 40)))
        patch = draw(st.one_of(st.text(max_size=20), st.sampled_from(NASTY_TEXT)))
        return "f.yaml", (CONTRACT_EXAMPLE[:start] + patch + CONTRACT_EXAMPLE[end:]).encode("utf-8", "surrogatepass")
    document = BASE
    for _ in range(draw(st.integers(1, 3))):
        candidates = [p for p in _paths(document) if p]
        path = draw(st.sampled_from(candidates))
        operation = draw(st.sampled_from(["replace", "replace", "replace", "delete", "twice", "extra"]))
        document = _mutate(document, path, operation, draw(NASTY))
    if draw(st.booleans()):
        return "f.json", json.dumps(document).encode()
    return "f.yaml", yaml.safe_dump(document, allow_unicode=draw(st.booleans())).encode("utf-8", "surrogatepass")


CELLS = st.one_of(
    st.sampled_from(["2026-01-06", "2026-01-07", "2026-02-30", "20260106", "VTI", "BND", "ITOT", "250", "250.00",
                     "251", "-1", "0", "1e400", "1e999999", "NaN", "Infinity", "250.1234567", "", " ", '"', '"VTI',
                     "V\u202eTI", "\x00", "a,b", "x" * 200]),
    st.text(max_size=8),
)


@st.composite
def price_files(draw) -> bytes:
    kind = draw(st.sampled_from(["long", "long", "wide", "wide", "bytes", "text"]))
    if kind == "bytes":
        return draw(st.binary(max_size=300))
    if kind == "text":
        return draw(st.text(max_size=300)).encode("utf-8", "surrogatepass")
    header = "date,symbol,close" if kind == "long" else "Date," + ",".join(draw(st.lists(
        st.one_of(st.sampled_from(["VTI", "BND", "ITOT", "SCHB"]), CELLS), min_size=1, max_size=4)))
    width = 3 if kind == "long" else header.count(",") + 1
    day = st.one_of(st.sampled_from(["2026-01-06", "2026-01-07"]), st.sampled_from(["2026-01-06"]), CELLS)
    symbol = st.one_of(st.sampled_from(["VTI", "BND", "ITOT"]), CELLS)
    close = st.one_of(st.sampled_from(["250", "250.00", "72.5", ""]), CELLS)
    regular = (st.tuples(day, symbol, close).map(list) if kind == "long"
               else st.tuples(day, st.lists(close, min_size=width - 1, max_size=width - 1)).map(lambda r: [r[0], *r[1]]))
    rows = draw(st.lists(st.one_of(regular, regular, st.lists(CELLS, min_size=width - 1, max_size=width + 1)), max_size=6))
    return ("\n".join([header, *(",".join(row) for row in rows)]) + "\n").encode("utf-8", "surrogatepass")


def _one_short_line(message: str) -> None:
    assert "\n" not in message and len(message) < 600, message[:2000]


# --- the readers alone: only InvalidInput, never anything else -------------------------------

@FAST
@given(scenario_files())
def test_the_scenario_reader_raises_nothing_but_bad_input(tmp_path_factory, file):
    from lotline.application.scenario import read_scenario

    name, content = file
    path = tmp_path_factory.getbasetemp() / name
    path.write_bytes(content)
    try:
        read_scenario(path)
    except InvalidInput as error:
        _one_short_line(str(error))


@FAST
@given(price_files())
def test_the_price_reader_raises_nothing_but_bad_input(tmp_path_factory, content):
    from lotline.application.price_files import read_price_file

    path = tmp_path_factory.getbasetemp() / "closes.csv"
    path.write_bytes(content)
    try:
        closes = read_price_file(path)
    except InvalidInput as error:
        _one_short_line(str(error))
    else:
        for _, symbol, close in closes:
            assert 0 < close <= 10**12 and symbol.isprintable()


# --- through the command: exit code, one line, nothing recorded ---------------------------------

@pytest.fixture
def firm(sqlite_cli):
    loaded = sqlite_cli.load(CONTRACT_EXAMPLE)
    assert loaded.code == 0, loaded.err
    return sqlite_cli


def _outcome_of(cli, *args: str) -> None:
    before = store_contents(cli.url)
    result = cli(*args)
    assert "Traceback" not in result.err
    assert result.code in (0, 1, 2), (result.code, result.err)
    if result.code != 0:
        _one_short_line(result.err.strip())
        assert result.err.startswith(("lotline: bad input: ", "lotline: refused: ")), result.err
        assert store_contents(cli.url) == before


@THROUGH_THE_CLI
@given(file=scenario_files())
def test_loading_any_scenario_file_is_done_or_one_line_and_nothing_recorded(firm, file):
    name, content = file
    path = firm.tmp / name
    path.write_bytes(content)
    _outcome_of(firm, "load", str(path))


@THROUGH_THE_CLI
@given(content=price_files())
def test_loading_any_price_file_is_done_or_one_line_and_nothing_recorded(firm, content):
    path = firm.tmp / "closes.csv"
    path.write_bytes(content)
    _outcome_of(firm, "prices", "load", str(path), "--as", "olivia")
