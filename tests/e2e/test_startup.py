"""The command starts light: the numerical stack loads only where a command needs it."""

import json
import subprocess
import sys
from pathlib import Path

FIRM = Path(__file__).resolve().parents[2] / "examples" / "firm.yaml"
HEAVY = ("numpy", "scipy", "cvxopt", "numba", "pandas", "exchange_calendars")


def test_the_cli_does_not_import_the_numerical_stack_at_start():
    probe = ("import sys, lotline.application.cli; "
             f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def modules_after(*argv: str, store: str) -> tuple[int, list[str]]:
    """Runs one command in a fresh interpreter; its exit code and the heavy modules it loaded."""
    probe = ("import json, sys\n"
             "from lotline.application.cli import main\n"
             f"code = main({[*argv, '--store', store]!r})\n"
             f"print(json.dumps([code, sorted(m for m in {HEAVY!r} if m in sys.modules)]), file=sys.stderr)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    code, loaded = json.loads(out.stderr.strip().splitlines()[-1])
    return code, loaded


def test_reading_holdings_lots_and_orders_and_approving_a_day_load_no_numerical_library(tmp_path):
    store = f"sqlite:///{tmp_path / 'firm.db'}"
    subprocess.run([sys.executable, "-m", "lotline.application", "load", str(FIRM), "--store", store],
                   capture_output=True, check=True)
    assert modules_after("holdings", "SMITH-TAX", "--as-of", "2026-03-02", "--as", "olivia", store=store) == (0, [])
    assert modules_after("lots", "SMITH-TAX", "--as-of", "2026-03-02", "--as", "olivia", store=store) == (0, [])
    assert modules_after("orders", "--date", "2026-03-02", "--as", "olivia", store=store) == (0, [])
    # The trading-day check reads the NYSE table, not exchange-calendars (nor pandas).
    assert modules_after("approve", "--date", "2026-03-02", "--as", "olivia", store=store) == (0, [])
    assert modules_after("approve", "--date", "2026-11-26", "--as", "olivia", store=store) == (2, [])


def test_a_read_of_a_caught_up_store_answers_while_a_writer_holds_it(tmp_path):
    """A read checks, without the write lock, that the read models have applied every
    event; a caught-up store answers while another process (the night's run) writes."""
    import sqlite3

    path = tmp_path / "firm.db"
    store = f"sqlite:///{path}"
    subprocess.run([sys.executable, "-m", "lotline.application", "load", str(FIRM), "--store", store],
                   capture_output=True, check=True)
    holdings = [sys.executable, "-m", "lotline.application", "holdings", "SMITH-TAX", "--as-of", "2026-03-02",
                "--as", "olivia", "--json"]
    before = subprocess.run([*holdings, "--store", store], capture_output=True, text=True, check=True)
    writer = sqlite3.connect(path, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE projection_tracking SET position = position")
        # Waiting a second for the lock would fail the read ("database is locked").
        during = subprocess.run([*holdings, "--store", f"{store}?timeout=1"], capture_output=True, text=True)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert (during.returncode, during.stdout) == (0, before.stdout), during.stderr
