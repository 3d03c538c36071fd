"""The command starts light: the numerical stack loads only where a command needs it."""

import subprocess
import sys


def test_the_cli_does_not_import_the_numerical_stack_at_start():
    probe = ("import sys, lotline.application.cli; "
             "print(sorted(m for m in ('numpy', 'scipy', 'cvxopt', 'pandas', 'exchange_calendars') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
