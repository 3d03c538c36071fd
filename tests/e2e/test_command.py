"""The `lotline` command run as a user runs it: a real subprocess, the default store
in the working directory, the README's first steps."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

FIRM = Path(__file__).resolve().parents[2] / "examples" / "firm.yaml"


def lotline(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    # The command installed beside the interpreter running the tests, else on PATH.
    executable = shutil.which("lotline", path=str(Path(sys.executable).parent)) or shutil.which("lotline")
    if executable is None:
        pytest.fail("the lotline command is not installed (pip install .)")
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("LOTLINE_")}
    full_env.update(env or {})
    return subprocess.run([executable, *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)


def test_load_the_example_firm_into_the_default_store_and_read_an_audit_trail(tmp_path):
    loaded = lotline("load", str(FIRM), cwd=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert (tmp_path / "lotline.db").exists()
    trail = lotline("audit", "SMITH-TAX", "--as", "carol", "--json", cwd=tmp_path)
    assert trail.returncode == 0, trail.stderr
    events = json.loads(trail.stdout)["events"]
    # The first file of an empty store is its bootstrap: applied by system, as the admin.
    assert (events[0]["type"], events[0]["actor"], events[0]["role"]) == ("Opened", "system", "admin")
    assert any(e["type"] == "CashRequested" and e["data"]["amount"] == "12000.00" for e in events)


def test_store_from_environment_and_exit_codes(tmp_path):
    env = {"LOTLINE_STORE": f"sqlite:///{tmp_path / 'firm.db'}"}
    assert lotline("load", str(FIRM), cwd=tmp_path, env=env).returncode == 0
    assert (tmp_path / "firm.db").exists() and not (tmp_path / "lotline.db").exists()
    unknown = lotline("audit", "SMITH-TAX", "--as", "mallory", cwd=tmp_path, env=env)
    assert unknown.returncode == 1 and unknown.stderr.strip() == "lotline: refused: unknown user 'mallory'"
    bad = lotline("audit", "SMITH-TAX", "--since", "yesterday", cwd=tmp_path, env=env)
    assert bad.returncode == 2 and bad.stderr.strip() == "lotline: bad input: since: must be a date YYYY-MM-DD, got 'yesterday'"
    bad_option = lotline("audit", "SMITH-TAX", "--colour", cwd=tmp_path, env=env)
    assert bad_option.returncode == 2 and len(bad_option.stderr.strip().splitlines()) == 1
    other_advisor = lotline("audit", "SMITH-TAX", "--json", cwd=tmp_path, env={**env, "LOTLINE_USER": "bob"})
    assert other_advisor.returncode == 1 and other_advisor.stdout == ""


def test_the_demo_runs_on_a_fresh_store_and_refuses_to_overwrite_a_history(tmp_path):
    result = lotline("demo", "--accounts", "6", "--days", "2", "--seed", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Demo firm: 6 accounts, 2 trading days" in result.stdout
    assert "Worst asset-class drift" in result.stdout
    explained = lotline("explain", "DEMO-0001/2026-03-02", "--as", "carol", "--json", cwd=tmp_path)
    assert explained.returncode == 0 and json.loads(explained.stdout)["decision_id"] == "DEMO-0001/2026-03-02"
    replayed = lotline("replay", "DEMO-0001/2026-03-02", "--as", "carol", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    again = lotline("demo", cwd=tmp_path)
    assert again.returncode == 1 and "empty store" in again.stderr


def test_demo_json_is_one_document(tmp_path):
    result = lotline("demo", "--accounts", "3", "--days", "1", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["accounts"] == 3 and len(document["days"]) == 1
    assert document["days"][0]["analysed"] == 3 and document["days"][0]["failed"] == 0
