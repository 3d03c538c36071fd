"""The demo: `run_demo` builds a demo firm in an empty store and runs trading days of
the daily workflow through the same handlers (application/demo.py)."""

from __future__ import annotations

from collections.abc import Callable

from lotline.application.commands import RunDemo
from lotline.application.demo import DEFAULT_START, DemoReport
from lotline.application.demo import run_demo as run
from lotline.application.lotline import Lotline


def run_demo(cmd: RunDemo, lotline: Lotline, progress: Callable[[str, int], None] | None = None) -> DemoReport:
    """`progress` is told what the demo is doing, with 1 when a trading day is done."""
    return run(lotline, cmd.accounts, cmd.days, cmd.seed, cmd.start or DEFAULT_START, workers=cmd.workers,
               progress=progress)
