"""The `lotline` command: a thin face on the service layer. Heavy libraries are
imported inside the commands that need them, so start-up stays light."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from domain.errors import InvalidInput, LotlineError, RuleRefused
from domain.roles import SYSTEM_USER

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, help="Lotline: event-sourced, tax-aware daily rebalancing.")
prices_app = typer.Typer(no_args_is_help=True, help="Market data.")
projections_app = typer.Typer(no_args_is_help=True, help="Read models.")
app.add_typer(prices_app, name="prices")
app.add_typer(projections_app, name="projections")

Store = Annotated[str | None, typer.Option("--store", help="SQLAlchemy URL of the store (else LOTLINE_STORE, else sqlite:///lotline.db).")]
AsUser = Annotated[str | None, typer.Option("--as", help="Acting user (else LOTLINE_USER, else system).")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def acting_user(as_user: str | None) -> str:
    return as_user or os.environ.get("LOTLINE_USER") or SYSTEM_USER


def explicit_user(as_user: str | None) -> str | None:
    return as_user or os.environ.get("LOTLINE_USER") or None


def parse_date(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"must be a date YYYY-MM-DD, got {value!r}", field) from None


def clock_from_env():
    """LOTLINE_NOW pins the clock (ISO timestamp): backtests and reproducible runs."""
    pinned = os.environ.get("LOTLINE_NOW")
    if not pinned:
        from application.service import utc_now

        return utc_now
    moment = datetime.fromisoformat(pinned)
    return lambda: moment


@contextmanager
def service(store: str | None) -> Iterator[Any]:
    from application.service import Lotline

    lotline = Lotline(store, clock=clock_from_env())
    try:
        yield lotline
    finally:
        lotline.close()


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def console() -> Any:
    from rich.console import Console

    return Console()


@app.command()
def load(file: Annotated[Path, typer.Argument(help="Scenario file, YAML or JSON.")], store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Apply a scenario file, all or nothing."""
    from application.service import load_scenario

    with service(store) as lotline:
        summary = load_scenario(lotline, file, explicit_user(as_user))
    if as_json:
        emit_json({"file": str(file), **summary})
    else:
        console().print(f"Loaded {file}: {summary['events']} events, {summary['prices']} closes recorded.")


@app.command()
def audit(
    account: Annotated[str, typer.Argument(help="Account id.")],
    since: Annotated[str | None, typer.Option(help="From this effective date (YYYY-MM-DD).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this effective date (YYYY-MM-DD).")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV.")] = False,
    store: Store = None, as_user: AsUser = None, as_json: Json = False,
) -> None:
    """Every event of an account, oldest first."""
    with service(store) as lotline:
        events = lotline.audit(account, acting_user(as_user), parse_date(since, "since"), parse_date(until, "until"))
    if as_json:
        emit_json({"account": account, "events": events})
    elif as_csv:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["position", "type", "timestamp", "effective_date", "actor", "role", "reason", "data"])
        for e in events:
            writer.writerow([e["position"], e["type"], e["timestamp"], e["effective_date"], e["actor"], e["role"],
                             e["reason"] or "", json.dumps(e["data"], sort_keys=True)])
        sys.stdout.write(out.getvalue())
    else:
        from rich.table import Table

        table = Table(title=f"Audit trail of {account}")
        for column in ("#", "type", "effective", "recorded", "actor", "role", "data"):
            table.add_column(column)
        for e in events:
            data = ", ".join(f"{k}={v}" for k, v in e["data"].items())
            table.add_row(str(e["position"]), e["type"], e["effective_date"], e["timestamp"][:19], e["actor"], e["role"], data)
        console().print(table)


@projections_app.command("rebuild")
def projections_rebuild(store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Rebuild every read model from the history."""
    with service(store) as lotline:
        read = lotline.rebuild_projections(acting_user(as_user))
    if as_json:
        emit_json({"rebuilt": True, "events": read})
    else:
        console().print(f"Rebuilt every read model from {read} events.")


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns the exit code (0 done, 1 refused, 2 bad input)."""
    try:
        app(args=argv, prog_name="lotline", standalone_mode=False)
    except RuleRefused as error:
        print(f"lotline: refused: {error}", file=sys.stderr)
        return 1
    except InvalidInput as error:
        print(f"lotline: bad input: {error}", file=sys.stderr)
        return 2
    except LotlineError as error:
        print(f"lotline: error: {error}", file=sys.stderr)
        return 1
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        print("lotline: aborted", file=sys.stderr)
        return 1
    except Exception as error:
        # Typer's own usage errors (unknown option, missing argument), as one line.
        if hasattr(error, "format_message") and hasattr(error, "exit_code"):
            if type(error).__name__ == "NoArgsIsHelpError":
                print(error.format_message(), file=sys.stderr)
                return 2
            print(f"lotline: bad input: {error.format_message()}", file=sys.stderr)
            return 2
        raise
    return 0


def run() -> None:
    sys.exit(main())
