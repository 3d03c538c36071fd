"""What `lotline backtest` shows: a progress bar by day, a table of the strategies (or
the JSON document) and, with `--plot`, a picture of after-tax value and class drift
over time, one line per strategy (matplotlib, imported only here)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path


from lotline.application.backtest import StrategyResult, document, tax_alpha
from lotline.domain.errors import InvalidInput


@contextmanager
def day_progress(wanted: bool, total: int) -> Iterator[Callable[[int], None] | None]:
    """A bar over every strategy's days, on a terminal's stderr; nothing with --json."""
    if not (wanted and sys.stderr.isatty()):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("Backtest: trading days"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("days", total=total)
        yield lambda n: bar.advance(task, n)


def show_backtest(results: Sequence[StrategyResult], as_json: bool) -> None:
    from lotline.application.rendering import console, emit_json

    if as_json:
        return emit_json(document(results))
    from rich.table import Table

    first = results[0]
    table = Table(title=f"Backtest {first.start} to {first.end}, {first.days} trading days")
    for heading in ("strategy", "final value", "after-tax value", "taxes paid", "losses harvested", "wash sales",
                    "tracking error", "class drift", "turnover", "trades"):
        table.add_column(heading, justify="left" if heading == "strategy" else "right")
    for r in results:
        table.add_row(r.strategy, f"{r.final_value:,.2f}", f"{r.after_tax_liquidation_value:,.2f}",
                      f"{r.taxes_paid:,.2f}", f"{r.losses_harvested:,.2f}", str(r.wash_sale_violations),
                      f"{r.tracking_error_annual:.2%}", f"{r.mean_abs_class_drift:.2%}", f"{r.turnover_annual:.0%}",
                      str(r.trades))
    out = console()
    if not sys.stdout.isatty():
        from rich.console import Console

        out = Console(width=160)  # a file or a pipe gets every column whole
    out.print(table)
    alpha = tax_alpha(results)
    if alpha is not None:
        out.print(f"Tax alpha (holistic against no-harvest): {alpha * 100:.2f}% of the initial value a year")
    failed = sum(r.failed_decisions for r in results)
    if failed:
        out.print(f"{failed} account-days could not be analysed (a security without a close that day)")


def check_plot_path(path: Path | None) -> None:
    if path is None:
        return
    if path.suffix.lower() != ".png":
        raise InvalidInput(f"must name a .png file, got {str(path)!r}", "plot")
    if not path.parent.resolve().is_dir():
        raise InvalidInput(f"no directory {str(path.parent)!r} to write the picture in", "plot")


def plot(results: Sequence[StrategyResult], path: Path) -> None:
    """After-tax liquidation value (the firm's, each day's close) and mean absolute class
    drift over time, one line per strategy, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    figure, (value_axis, drift_axis) = pyplot.subplots(2, 1, figsize=(10, 7), sharex=True)
    for r in results:
        days = [p.on for p in r.series]
        value_axis.plot(days, [float(p.after_tax) for p in r.series], label=r.strategy, linewidth=1.2)
        drift_axis.plot(days, [p.drift * 100 for p in r.series], label=r.strategy, linewidth=1.0)
    value_axis.set_ylabel("after-tax liquidation value ($)")
    value_axis.set_title("Backtest: after-tax value and class drift")
    value_axis.legend()
    value_axis.grid(alpha=0.3)
    drift_axis.set_ylabel("mean |class drift| (%)")
    drift_axis.grid(alpha=0.3)
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    pyplot.close(figure)


