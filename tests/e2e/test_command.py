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
    assert events[0]["type"] == "Opened" and events[0]["actor"] == "alice"
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
