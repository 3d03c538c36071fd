"""Bad input never yields a traceback: every case below exits with one line on stderr
naming the field and the (cut) value, and records nothing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import store_contents
from tests.scenarios import CONTRACT_EXAMPLE


def one_line(result) -> str:
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err[:2000]
    assert "Traceback" not in result.err
    assert len(lines[0]) < 400, lines[0][:400]
    return lines[0]


@pytest.fixture
def loaded(sqlite_cli):
    """A store holding the contract's example firm."""
    result = sqlite_cli.load(CONTRACT_EXAMPLE)
    assert result.code == 0, result.err
    return sqlite_cli


def refused_as_bad_input(cli, *args: str) -> str:
    before = store_contents(cli.url)
    result = cli(*args)
    assert result.code == 2, (result.code, result.err)
    line = one_line(result)
    assert line.startswith("lotline: bad input: ")
    assert store_contents(cli.url) == before
    return line


def load_bad(cli, text: str, name: str = "bad.yaml") -> str:
    return refused_as_bad_input(cli, "load", str(cli.write(name, text)))


# --- scenario files ----------------------------------------------------------------------

@pytest.mark.parametrize("old,new,expected", [
    ("as_of: 2026-01-05", "as_of: 2026-02-30", "as_of: must be a date YYYY-MM-DD, got '2026-02-30'"),
    ("as_of: 2026-01-05", "as_of: 20260105", "as_of: must be a date YYYY-MM-DD, got 20260105"),
    ("date: 2026-01-10, side: sell", "date: 1768000000, side: sell", "trades[0].date: must be a date YYYY-MM-DD, got 1768000000"),
    ("2026-01-05: {VTI", "20260105: {VTI", "prices.20260105: must be a date YYYY-MM-DD, got 20260105"),
    ('quantity: "10", cost_basis: "2000.00"', "quantity: 1e400, cost_basis: \"2000.00\"",
     "accounts[0].lots[0].quantity: must be at most 1e12 in magnitude, got 1E+400"),
    ('quantity: "10", cost_basis: "2000.00"', "quantity: 1.0e+400, cost_basis: \"2000.00\"",
     "accounts[0].lots[0].quantity: must be a finite number, got inf"),
    ('quantity: "5", price: "190.00"', 'quantity: "5.1234567", price: "190.00"',
     "trades[0].quantity: must have at most 6 decimal places, got 5.1234567"),
    ('price: "190.00"', 'price: "190.0000001"', "trades[0].price: must have at most 6 decimal places, got 190.0000001"),
    ('{VTI: "250.00"', '{VTI: 1e999999', "prices.2026-01-05.VTI: must be at most 1e12 in magnitude, got 1E+999999"),
    ('{VTI: "250.00"', '{VTI: "-250"', "prices.2026-01-05.VTI: must be positive, got -250"),
    ("acquired: 2025-01-02", "acquired: 2026-01-06",
     "accounts[0].lots[0].acquired: acquired 2026-01-06 is after the file's date 2026-01-05"),
    ("acquired: 2024-06-03", "acquired: 2026-01-16",
     "transfers[0].lots[0].acquired: acquired 2026-01-16 is after the transfer's date 2026-01-15"),
    ("{id: carol, role: compliance}", "{id: alice, role: compliance}",
     "users[5].id: duplicate id 'alice' (also users[2])"),
    ("{symbol: ITOT, asset_class", "{symbol: VTI, asset_class", "securities[1].symbol: duplicate id 'VTI' (also securities[0])"),
    ("id: ACC-2", "id: ACC-1", "accounts[1].id: duplicate id 'ACC-1' (also accounts[0])"),
    ("id: ACC-2", 'id: "ACC-\\u202e2"', "accounts[1].id: must be printable, without control or bidirectional characters, got 'ACC-\\u202e2'"),
    ("{id: bob, role", '{id: "b\\x07ob", role', "users[3].id: must be printable, without control or bidirectional characters, got 'b\\x07ob'"),
    ("{id: bob, role", '{id: "", role', "users[3].id: must not be empty"),
    ('{VTI: "0.7", SCHB', '{"V\\u200fTI": "0.7", SCHB', "models[0].weights.'V\\u200fTI': must be printable, without control or bidirectional characters"),
    ('{VTI: "0.7", SCHB', '{VTI: "0.7", VTI: "0.3", SCHB', "file: line 18: duplicate key 'VTI'"),
])
def test_a_bad_value_in_a_scenario_names_its_field_and_records_nothing(loaded, old, new, expected):
    assert old in CONTRACT_EXAMPLE
    line = load_bad(loaded, CONTRACT_EXAMPLE.replace(old, new, 1))
    assert expected in line


def test_an_id_longer_than_128_characters_is_shown_cut_to_80(loaded):
    line = load_bad(loaded, CONTRACT_EXAMPLE.replace("id: ACC-2", "id: " + "A" * 5000))
    assert "accounts[1].id: must be at most 128 characters, got 'AAAA" in line
    assert line.endswith("…") and len(line) < 200


@pytest.mark.parametrize("name,text,expected", [
    ("deep.yaml", "as_of: " + "[" * 100_000 + "]" * 100_000 + "\n", "file: nested deeper than 64 levels"),
    ("deep.json", '{"as_of": ' + "[" * 100_000 + "]" * 100_000 + "}", "file: nested deeper than 64 levels"),
    ("deep2.json", '{"as_of": ' + "[" * 900 + "]" * 900 + "}", "file: nested deeper than 64 levels"),
    ("dup.json", '{"as_of": "2026-01-05", "as_of": "2026-01-06"}', "file: duplicate key 'as_of'"),
    ("num.json", '{"as_of": 20260105}', "as_of: must be a date YYYY-MM-DD, got 20260105"),
    ("int.yaml", "as_of: " + "1" * 5000 + "\n", "file: not valid YAML"),
    ("int.json", '{"as_of": ' + "1" * 5000 + "}", "file: not valid JSON"),
    ("quote.yaml", 'as_of: "2026-01-05\nusers: []\n', "file: not valid YAML"),
    ("stamp.yaml", "as_of: !!timestamp 2026-02-30\n", "as_of: must be a date YYYY-MM-DD, got '2026-02-30'"),
    ("loop.yaml", "users: &a [*a]\n", "file: a YAML alias refers to a node that contains it"),
])
def test_malformed_files_are_one_line_errors(loaded, name, text, expected):
    assert expected in load_bad(loaded, text, name)


def billion_laughs(levels: int) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefghijk", "bcdefghijkl"[: levels - 1]):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [8, 9])
def test_an_alias_bomb_is_refused_in_one_short_line(loaded, levels):
    bomb = billion_laughs(levels)
    assert len(bomb) < 520
    started = time.monotonic()
    line = load_bad(loaded, bomb)
    assert "file: YAML aliases expand to more than 100000 extra nodes" in line
    assert time.monotonic() - started < 10


def test_more_than_100_aliases_are_refused(loaded):
    text = "settings: &s {}\n" + "".join(f"k{i}: *s\n" for i in range(101))
    assert "file: more than 100 YAML aliases" in load_bad(loaded, text)


def test_a_binary_scenario_file_is_bad_input(loaded):
    path = loaded.tmp / "firm.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe")
    line = refused_as_bad_input(loaded, "load", str(path))
    assert line.startswith("lotline: bad input: file: ")


def test_files_over_the_size_limit_are_refused_unread(loaded, monkeypatch):
    monkeypatch.setenv("LOTLINE_MAX_INPUT_MB", "0.001")
    line = load_bad(loaded, CONTRACT_EXAMPLE)  # about 3 kB
    assert "file: larger than the 0.001 MB limit (" in line
    csv = loaded.write("closes.csv", "date,symbol,close\n" + "2026-01-05,VTI,250\n" * 100)
    assert "file: larger than the 0.001 MB limit (" in refused_as_bad_input(loaded, "prices", "load", str(csv), "--as", "olivia")
    monkeypatch.setenv("LOTLINE_MAX_INPUT_MB", "lots")
    assert "LOTLINE_MAX_INPUT_MB: must be a positive number of MB, got 'lots'" in load_bad(loaded, CONTRACT_EXAMPLE)


def test_the_default_limit_is_50_mb(monkeypatch):
    from lotline.application.scenario import max_input_bytes

    monkeypatch.delenv("LOTLINE_MAX_INPUT_MB", raising=False)
    assert max_input_bytes() == 50_000_000


# --- price files --------------------------------------------------------------------------

@pytest.mark.parametrize("content,expected", [
    (b"\x00\x01\x02PK\x03\x04binary", "file: not a text CSV file"),
    (b"date,symbol,close\n2026-01-05,V\xffTI,250\n", "file: not a text CSV file"),
    (b'date,symbol,close\n2026-01-05,"VTI,250\n2026-01-06,VTI,251\n', "file: line 3: not valid CSV: unexpected end of data"),
    (b"date,symbol,close\n2026-01-06,VTI,250\n2026-01-06,VTI,251\n",
     "file: line 3: close of VTI on 2026-01-06 is 251, but line 2 says 250"),
    (b"date,symbol,close\n2026-01-06,VTI,1e999999\n", "file: line 2: close of VTI must be at most 1e12 in magnitude"),
    (b"date,symbol,close\n2026-01-06,VTI,250.0000001\n", "file: line 2: close of VTI must have at most 6 decimal places"),
    (b"date,symbol,close\n20260106,VTI,250\n", "file: line 2: date must be YYYY-MM-DD, got '20260106'"),
    (b"date,symbol,close\n2026-02-30,VTI,250\n", "file: line 2: date must be YYYY-MM-DD, got '2026-02-30'"),
    ("date,symbol,close\n2026-01-06,V\u202eTI,250\n".encode(), "file: line 2: symbol must be printable"),
    (b"Date,VTI,BND\n2026-01-06,250," + b"7" * 200_000 + b"\n", "file: line 2: not valid CSV: field larger than field limit"),
])
def test_a_bad_price_file_is_one_line_and_loads_nothing(loaded, content, expected):
    path = loaded.tmp / "closes.csv"
    path.write_bytes(content)
    assert expected in refused_as_bad_input(loaded, "prices", "load", str(path), "--as", "olivia")


def test_the_same_close_twice_in_one_file_is_one_close(loaded):
    path = loaded.write("closes.csv", "date,symbol,close\n2026-01-06,VTI,250\n2026-01-06,VTI,250.00\n")
    result = loaded("prices", "load", str(path), "--as", "olivia", "--json")
    assert result.code == 0, result.err
    assert result.json()["closes"] == 1


# --- options and the environment ----------------------------------------------------------

@pytest.mark.parametrize("args,expected", [
    (("gains", "ACC-1", "--year", "99999"), "year: must be between 1900 and 9999, got 99999"),
    (("gains", "ACC-1", "--year", "1200"), "year: must be between 1900 and 9999, got 1200"),
    (("lots", "ACC-1", "--as-of", "2026-02-30"), "as_of: must be a date YYYY-MM-DD, got '2026-02-30'"),
    (("holdings", "ACC-1", "--as-of", "20260105"), "as_of: must be a date YYYY-MM-DD, got '20260105'"),
    (("rebalance", "--date", "2026-W10-1"), "date: must be a date YYYY-MM-DD, got '2026-W10-1'"),
    (("audit", "ACC-1", "--since", "x" * 500), "since: must be a date YYYY-MM-DD, got 'xxxx"),
])
def test_bad_options_are_bad_input(loaded, args, expected):
    line = refused_as_bad_input(loaded, *args, "--as", "olivia")
    assert expected in line


def test_a_clock_that_is_not_a_timestamp_is_bad_input(loaded, monkeypatch):
    monkeypatch.setenv("LOTLINE_NOW", "tomorrow")
    line = refused_as_bad_input(loaded, "lots", "ACC-1")
    assert line == "lotline: bad input: LOTLINE_NOW: must be an ISO timestamp, got 'tomorrow'"


def test_an_unexpected_fault_is_one_line_exit_1_and_records_nothing(loaded, monkeypatch):
    import lotline.application.queries

    def broken(*args, **kwargs):
        raise RuntimeError("boom\n  in a second line")

    monkeypatch.setattr(lotline.application.queries, "lots_report", broken)
    before = store_contents(loaded.url)
    result = loaded("lots", "ACC-1")
    assert result.code == 1
    assert one_line(result) == "lotline: error: RuntimeError: boom   in a second line"
    assert store_contents(loaded.url) == before


# --- the store ----------------------------------------------------------------------------

def run(capsys, *args: str):
    """The command with exactly these arguments (the cli fixture adds its own --store)."""
    from lotline.application.cli import main
    from tests.conftest import Result

    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)


@pytest.mark.parametrize("store,expected", [
    ("notaurl", "store: not a database URL"),
    ("mysql://root@localhost/firm", "store: only SQLite and PostgreSQL stores are supported"),
    ("scenario.yaml", "store: not a database URL"),
    ("postgresql://postgres:secret@127.0.0.1/firm", "store: the postgresql driver 'psycopg2' is not available"),
    ("sqlite+aiosqlite:///x.db", "store: the sqlite driver 'aiosqlite' is not available"),
])
def test_a_store_that_is_not_a_sqlite_or_postgresql_url_is_bad_input(sqlite_cli, capsys, monkeypatch, store, expected):
    sqlite_cli.write("scenario.yaml", CONTRACT_EXAMPLE)
    monkeypatch.chdir(sqlite_cli.tmp)
    result = run(capsys, "lots", "ACC-1", "--store", store)
    assert result.code == 2
    line = one_line(result)
    assert line.startswith("lotline: bad input: " + expected), line
    assert "secret" not in line
    assert sorted(p.name for p in sqlite_cli.tmp.iterdir()) == ["scenario.yaml"]


@pytest.fixture
def short_folder() -> Iterator[Path]:
    """An empty folder with a short path. A message cuts a path past 80 characters, and
    tmp_path's length depends on the runner (pytest-xdist adds a folder per worker)."""
    folder = Path(tempfile.mkdtemp(prefix="lotline-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.parametrize("command", [("lots", "ACC-1"), ("settings",), ("audit", "ACC-1"), ("orders",),
                                     ("projections", "rebuild"), ("rebalance", "--date", "2026-03-02")])
def test_read_commands_on_a_missing_store_file_create_nothing(sqlite_cli, capsys, command, short_folder):
    missing = short_folder / "typo.db"
    result = run(capsys, *command, "--store", f"sqlite:///{missing}")
    assert result.code == 2, result.err
    assert one_line(result) == (f"lotline: bad input: store: no store at {missing}; "
                                "create one with lotline load or lotline demo")
    assert not missing.exists()


def test_load_into_a_missing_directory_names_the_directory(sqlite_cli, capsys, short_folder):
    scenario = sqlite_cli.write("scenario.yaml", CONTRACT_EXAMPLE)
    missing = short_folder / "missing" / "dir"
    result = run(capsys, "load", str(scenario), "--store", f"sqlite:///{missing / 'firm.db'}")
    assert result.code == 2
    assert one_line(result) == f"lotline: bad input: store: no directory {missing} to create the store firm.db in"
    assert not (short_folder / "missing").exists()


def test_a_file_that_is_not_a_database_is_bad_input_and_left_alone(sqlite_cli, capsys):
    scenario = sqlite_cli.write("scenario.yaml", CONTRACT_EXAMPLE)
    for command in (("lots", "ACC-1"), ("load", str(scenario))):
        result = run(capsys, *command, "--store", f"sqlite:///{scenario}")
        assert result.code == 2
        line = one_line(result)
        assert line.startswith("lotline: bad input: store: cannot open 'sqlite:///")
        assert line.endswith(": file is not a database")
    assert scenario.read_text() == CONTRACT_EXAMPLE


def test_a_read_only_store_is_one_line_and_unchanged(loaded, capsys):
    before = store_contents(loaded.url)
    path = loaded.url.removeprefix("sqlite:///")
    read_only = f"sqlite:///file:{path}?mode=ro&uri=true"
    scenario = loaded.write("more.yaml", "users:\n  - {id: dora, role: advisor}\n")
    for command in (("load", str(scenario), "--as", "root"), ("lots", "ACC-1")):
        result = run(capsys, *command, "--store", read_only)
        assert result.code in (1, 2), result.err
        line = one_line(result)
        assert "store: " in line and "readonly database" in line, line
    assert store_contents(loaded.url) == before


def test_load_and_demo_still_create_a_new_store(sqlite_cli, capsys):
    fresh = sqlite_cli.tmp / "fresh.db"
    scenario = sqlite_cli.write("scenario.yaml", CONTRACT_EXAMPLE)
    result = run(capsys, "load", str(scenario), "--store", f"sqlite:///{fresh}")
    assert result.code == 0, result.err
    assert fresh.exists()


# --- pool workers die with their parent -----------------------------------------------------

PARENT = textwrap.dedent("""
    import multiprocessing, os, sys, time
    from concurrent.futures import ProcessPoolExecutor

    import lotline.application.batch_analysis as batch_analysis

    def start(parent, thread_only):
        if thread_only:
            sys.platform = "watch-only"  # leave the kernel's death signal out: the watch thread alone
        batch_analysis._die_with_parent(parent, interval=0.05)

    def pid():
        return os.getpid()

    if __name__ == "__main__":
        thread_only = sys.argv[1] == "thread"
        pool = ProcessPoolExecutor(max_workers=2, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=start, initargs=(os.getpid(), thread_only))
        pids = {pool.submit(pid).result() for _ in range(8)}
        for _ in range(4):
            pool.submit(time.sleep, 120)  # the workers are busy, as with a long analysis
        print(" ".join(map(str, sorted(pids))), flush=True)
        time.sleep(120)
""")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("mode", ["signal", "thread"])
def test_pool_workers_end_when_their_parent_is_killed(tmp_path, mode):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    root = Path(__file__).resolve().parents[2]
    parent = subprocess.Popen([sys.executable, str(script), mode], cwd=root, stdout=subprocess.PIPE, text=True,
                              stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(root)})
    try:
        workers = [int(p) for p in parent.stdout.readline().split()]
        assert workers and all(alive(p) for p in workers)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(p) for p in workers), "workers outlived their parent"
    finally:
        if parent.poll() is None:
            parent.kill()
        for p in workers if "workers" in locals() else []:
            if alive(p):
                os.kill(p, signal.SIGKILL)


def test_without_as_of_a_lot_acquired_after_today_is_bad_input(loaded):
    # The pinned clock says 2026-03-02: a file without as_of is dated today.
    text = CONTRACT_EXAMPLE.replace("as_of: 2026-01-05\n", "").replace("acquired: 2025-01-02", "acquired: 2026-03-03")
    line = load_bad(loaded, text)
    assert "accounts[0].lots[0].acquired: acquired 2026-03-03 is after the file's date 2026-03-02" in line
