"""`python -m lotline.application ...` runs the `lotline` command (for environments without the script)."""

from lotline.application.cli import run

run()
