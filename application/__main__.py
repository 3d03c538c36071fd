"""`python -m application ...` runs the `lotline` command (for environments without the script)."""

from application.cli import run

run()
