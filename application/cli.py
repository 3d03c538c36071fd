"""The `lotline` command: a thin face on the service layer. Heavy libraries are
imported inside the commands that need them, so start-up stays light."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer

from lotline.domain.errors import InvalidInput, LotlineError, RuleRefused
from lotline.domain.roles import SYSTEM_USER
from lotline.domain.values import cut, shown

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
    """A date option: YYYY-MM-DD only (not 20260105, not a week date), a real day."""
    if value is None:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise ValueError(value)
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidInput(f"must be a date YYYY-MM-DD, got {shown(value)}", field) from None


FIRST_YEAR, LAST_YEAR = 1900, 9999


def check_year(year: int | None, field: str = "year") -> int | None:
    """A tax year option: 1900 to 9999."""
    if year is not None and not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"must be between {FIRST_YEAR} and {LAST_YEAR}, got {shown(year)}", field)
    return year


def clock_from_env():
    """LOTLINE_NOW pins the clock (ISO timestamp): backtests and reproducible runs."""
    pinned = os.environ.get("LOTLINE_NOW")
    if not pinned:
        from lotline.application.service import utc_now

        return utc_now
    try:
        moment = datetime.fromisoformat(pinned.strip())
    except ValueError:
        raise InvalidInput(f"must be an ISO timestamp, got {shown(pinned)}", "LOTLINE_NOW") from None
    return lambda: moment


@contextmanager
def service(store: str | None, create: bool = False) -> Iterator[Any]:
    """The store of a command. Only `create=True` (load, demo) may set up a new SQLite
    file; every other command on a missing file is bad input and creates nothing."""
    from lotline.application.service import Lotline
    from lotline.infrastructure.eventstore import safe_url, sqlite_file, store_url

    clock = clock_from_env()
    url = store_url(store, dict(os.environ))
    check_store_file(sqlite_file(url), create)
    try:
        lotline = Lotline(url, clock=clock)
    except LotlineError:
        raise
    except Exception as error:
        problem = database_problem(error)
        if problem is None:
            raise
        raise InvalidInput(f"cannot open {shown(safe_url(url))}: {problem}", "store") from None
    try:
        yield lotline
    finally:
        lotline.close()


def check_store_file(path: Path | None, create: bool) -> None:
    """A SQLite store's file exists (or, when creating, its directory does)."""
    if path is None:
        return
    if path.exists():
        if path.is_dir():
            raise InvalidInput(f"{shown(str(path))} is a directory, not a store file", "store")
        return
    if not create:
        raise InvalidInput(f"no store at {cut(str(path))}; create one with lotline load or lotline demo", "store")
    directory = path.parent
    if not directory.is_dir():
        raise InvalidInput(f"no directory {cut(str(directory))} to create the store {cut(path.name)} in", "store")


def database_problem(error: BaseException) -> str | None:
    """The database's own one-line message when `error` comes from the store (a
    read-only file, a file that is not a database, a server that is down); else None."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        module = type(current).__module__ or ""
        if module.split(".")[0] in ("sqlite3", "psycopg", "sqlalchemy", "eventsourcing", "eventsourcing_sqlalchemy"):
            original = getattr(current, "orig", None)
            text = str(original if original is not None else current).strip()
            text = re.sub(r"^\([\w.]+\)\s*", "", text.splitlines()[0] if text else "")  # "(sqlite3.OperationalError) "
            return one_line(text or type(current).__name__, 200)
        current = current.__cause__ or current.__context__
    return None


def one_line(text: str, limit: int = 1000) -> str:
    """A message as the one line on stderr: newlines folded, cut to `limit` characters."""
    return cut(" ".join(text.splitlines()) if text else text, limit)


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def console() -> Any:
    from rich.console import Console

    return Console()


@app.command()
def load(file: Annotated[Path, typer.Argument(help="Scenario file, YAML or JSON.")], store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Apply a scenario file, all or nothing."""
    from lotline.application.service import load_scenario

    with service(store, create=True) as lotline:
        summary = load_scenario(lotline, file, explicit_user(as_user))
    if as_json:
        emit_json({"file": str(file), **summary})
    elif summary["skipped"]:
        console().print(f"Skipped {file}: the same file (sha256 {summary['sha256']}) was loaded on "
                        f"{summary['loaded_at']} by {summary['loaded_by']}.", markup=False, highlight=False,
                        soft_wrap=True)
    else:
        skipped = summary["entries_skipped"]
        also = f"; {skipped} {'entry' if skipped == 1 else 'entries'} already recorded, skipped" if skipped else ""
        console().print(f"Loaded {file}: {summary['events']} events, {summary['prices']} closes recorded{also}.")


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
        read, failures = lotline.rebuild_projections(acting_user(as_user))
    if as_json:
        emit_json({"rebuilt": True, "events": read, "failures": failures})
        return
    console().print(f"Rebuilt every read model from {read} events.")
    if failures:
        # Plain print: an error names fields in brackets, which rich would read as markup.
        positions = sorted({f["position"] for f in failures})
        accounts = sorted({f["account"] for f in failures if f["account"] is not None})
        print(f"{len(positions)} {'event' if len(positions) == 1 else 'events'} could not be applied; "
              f"accounts whose reads refuse until it is repaired: {', '.join(accounts) or 'none'}.")
        for f in failures:
            owner = f"account {f['account']}" if f["account"] is not None else "no account"
            print(f"  event {f['position']} ({f['type']}, {owner}), {f['read_model']} read model: {f['error']}")


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns the exit code (0 done, 1 refused, 2 bad input)."""
    # Each account's problem is small: one BLAS thread is fastest, and several processes'
    # threads must not spin for the same cores. Set before numpy is first imported.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    try:
        code = app(args=argv, prog_name="lotline", standalone_mode=False)
        if isinstance(code, int):  # typer.Exit(n) comes back as the return value here
            return code
    except RuleRefused as error:
        print(f"lotline: refused: {one_line(str(error))}", file=sys.stderr)
        return 1
    except InvalidInput as error:
        print(f"lotline: bad input: {one_line(str(error))}", file=sys.stderr)
        return 2
    except LotlineError as error:
        print(f"lotline: error: {one_line(str(error))}", file=sys.stderr)
        return 1
    except typer.Exit as done:
        return done.exit_code
    except typer.Abort:
        print("lotline: aborted", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("lotline: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        # Typer's own usage errors (unknown option, missing argument), as one line.
        if hasattr(error, "format_message") and hasattr(error, "exit_code"):
            if type(error).__name__ == "NoArgsIsHelpError":
                print(error.format_message(), file=sys.stderr)
                return 2
            print(f"lotline: bad input: {one_line(error.format_message())}", file=sys.stderr)
            return 2
        # Anything else is a fault, never a traceback: one line, exit 1, and (commands
        # commit only at their end) nothing recorded.
        problem = database_problem(error)
        if problem is not None:
            print(f"lotline: error: store: {problem}", file=sys.stderr)
            return 1
        print(f"lotline: error: {type(error).__name__}: {one_line(str(error), 200)}", file=sys.stderr)
        return 1
    return 0


def run() -> None:
    sys.exit(main())


AsOf = Annotated[str | None, typer.Option("--as-of", help="Answer as of the end of this date (default today).")]


def _today(lotline: Any) -> date:
    return lotline.today()


@app.command()
def lots(account: Annotated[str, typer.Argument(help="Account id.")], as_of: AsOf = None,
         store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Open tax lots of an account."""
    from lotline.application.queries import lots_report

    with service(store) as lotline:
        report = lots_report(lotline, account, acting_user(as_user), parse_date(as_of, "as_of") or _today(lotline))
    if as_json:
        return emit_json(report)
    from rich.table import Table

    table = Table(title=f"Open lots of {account} as of {report['as_of']} (cash {report['cash']})")
    for column in ("lot", "symbol", "quantity", "cost basis", "acquired", "holding period from", "wash-sale adj."):
        table.add_column(column, justify="right" if column in ("quantity", "cost basis", "wash-sale adj.") else "left")
    for lot in report["lots"]:
        table.add_row(lot["lot_id"], lot["symbol"], lot["quantity"], lot["cost_basis"], lot["acquired"],
                      lot["holding_period_start"], lot["wash_sale_adjustment"])
    console().print(table)


@app.command()
def gains(account: Annotated[str, typer.Argument(help="Account id.")],
          year: Annotated[int | None, typer.Option(help="Tax year (default this year).")] = None,
          store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Realised gains and losses: short and long term, wash-sale disallowed amounts."""
    from lotline.application.queries import gains_report

    with service(store) as lotline:
        report = gains_report(lotline, account, acting_user(as_user), check_year(year) or _today(lotline).year)
    if as_json:
        return emit_json(report)
    from rich.table import Table

    table = Table(title=f"Realised in {report['year']} by {account}: short term {report['short_term']}, "
                        f"long term {report['long_term']}, disallowed {report['disallowed_loss']}")
    for column in ("date", "symbol", "quantity", "proceeds", "cost basis", "gain", "term", "disallowed", "lot"):
        table.add_column(column)
    for r in report["realizations"]:
        table.add_row(r["date"], r["symbol"], r["quantity"], r["proceeds"], r["cost_basis"], r["gain"], r["term"],
                      r["disallowed_loss"], r["lot_id"])
    console().print(table)


@app.command()
def holdings(account: Annotated[str, typer.Argument(help="Account id.")], as_of: AsOf = None,
             store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Positions, market values, weights against target, drift per asset class."""
    from lotline.application.queries import holdings_report

    with service(store) as lotline:
        report = holdings_report(lotline, account, acting_user(as_user), parse_date(as_of, "as_of") or _today(lotline))
    if as_json:
        return emit_json(report)
    from rich.table import Table

    out = console()
    table = Table(title=f"{account} as of {report['as_of']}: value {report['total_value']}, cash {report['cash']}")
    for column in ("symbol", "class", "quantity", "close", "close of", "market value", "weight", "target"):
        table.add_column(column, justify="left" if column in ("symbol", "class", "close of") else "right")
    for p in report["positions"]:
        table.add_row(p["symbol"], p["asset_class"] or "", p["quantity"], p.get("price") or "", p.get("price_date") or "",
                      p["market_value"], p["weight"], p["target_weight"])
    out.print(table)
    classes = Table(title="Asset classes")
    for column in ("class", "weight", "target", "drift", "limit"):
        classes.add_column(column, justify="left" if column == "class" else "right")
    for c in report["asset_classes"]:
        classes.add_row(c["asset_class"], c["weight"], c["target_weight"], c["drift"], c["drift_limit"] or "")
    out.print(classes)
    for note in report["notes"]:
        out.print(f"note: {note}")


@prices_app.command("load")
def prices_load(file: Annotated[Path, typer.Argument(help="CSV: wide (Date, SYMBOL...) or long (date,symbol,close).")],
                store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Load closing prices; bad rows are reported by line and nothing is loaded."""
    from lotline.application.service import load_prices

    with service(store) as lotline:
        read = load_prices(lotline, file, acting_user(as_user))
    if as_json:
        emit_json({"file": str(file), "closes": read})
    else:
        console().print(f"Read {read} closes from {file}.")


@app.command()
def settings(key: Annotated[str | None, typer.Argument(help="Setting to show or change.")] = None,
             value: Annotated[str | None, typer.Argument(help="New value (overlay manager).")] = None,
             reason: Annotated[str | None, typer.Option(help="Why the setting changes.")] = None,
             store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Firm settings: show them, or change one."""
    from lotline.application.service import change_setting, firm_settings
    from lotline.domain.settings import SETTINGS

    if key is not None and key not in SETTINGS:
        raise InvalidInput(f"unknown setting {key!r} (one of {', '.join(sorted(SETTINGS))})", "key")
    with service(store) as lotline:
        if value is not None:
            change_setting(lotline, key, value, acting_user(as_user), reason)
        current = firm_settings(lotline, acting_user(as_user))
    shown = {key: current[key]} if key else current
    if as_json:
        return emit_json({k: v["value"] for k, v in shown.items()})
    from rich.table import Table

    table = Table(title="Firm settings")
    for column in ("key", "value", "default", "meaning"):
        table.add_column(column)
    for k, v in shown.items():
        table.add_row(k, v["value"], v["default"], v["description"])
    console().print(table)


AccountOpt = Annotated[list[str] | None, typer.Option("--account", help="Only this account (repeatable).")]
DateOpt = Annotated[str | None, typer.Option("--date", help="Trading day (default today).")]


@app.command()
def rebalance(date_: DateOpt = None, account: AccountOpt = None,
              workers: Annotated[int | None, typer.Option("--workers", help="Worker processes (default: the machine's cores).")] = None,
              redo: Annotated[bool, typer.Option("--redo", help="A new decision for the named accounts whose decision "
                                                 "that day was rejected, cancelled, stale, unfilled or failed.")] = False,
              reason: Annotated[str | None, typer.Option(help="Why the decision is redone (with --redo).")] = None,
              store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """The daily analysis: one recorded decision per account and trading day."""
    from lotline.application.rebalance import rebalance as run
    from lotline.application.rebalance import redo as run_redo

    if workers is not None and workers < 1:
        raise InvalidInput(f"must be at least 1, got {workers}", "workers")
    with service(store) as lotline:
        on = parse_date(date_, "date") or _today(lotline)
        if redo:
            results = run_redo(lotline, on, account, acting_user(as_user), reason)
        else:
            with progress_bar(not as_json, f"Analysing accounts for {on.isoformat()}") as advance:
                results = run(lotline, on, account, acting_user(as_user), workers or os.cpu_count() or 1, advance,
                              pinned_clock=bool(os.environ.get("LOTLINE_NOW")))
    document = {
        "date": on.isoformat(),
        "decisions": [
            {"decision_id": r.decision_id, "account": r.account, "trade": r.trade, "reasons": list(r.reasons),
             "benefit": str(r.benefit), "orders": r.orders, **({"existing": True} if r.existing else {})}
            for r in results if r.decision_id
        ],
        "failures": [{"account": r.account, "reason": r.failure} for r in results if r.failure],
    }
    if as_json:
        return emit_json(document)
    print_rebalance_summary(on, results)


@contextmanager
def progress_bar(wanted: bool, label: str) -> Iterator[Any]:
    """A rich progress bar on a terminal; nothing otherwise (and never with --json)."""
    if not (wanted and sys.stdout.isatty()):
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)


def print_rebalance_summary(on: date, results: list[Any]) -> None:
    from collections import Counter

    from rich.table import Table

    out = console()
    decided = [r for r in results if r.decision_id]
    trading = [r for r in decided if r.trade]
    failed = [r for r in results if r.failure]
    by_reason = Counter(reason for r in trading for reason in r.reasons)
    table = Table(title=f"Rebalance {on.isoformat()}")
    table.add_column("")
    table.add_column("accounts", justify="right")
    table.add_row("analysed", str(len(results)))
    table.add_row("  already decided earlier", str(sum(1 for r in decided if r.existing)))
    table.add_row("to trade", str(len(trading)))
    for reason in ("cash_request", "restriction", "drift_limit", "net_benefit"):
        table.add_row(f"  {reason}", str(by_reason.get(reason, 0)))
    table.add_row("no trade", str(len(decided) - len(trading)))
    table.add_row("failed", str(len(failed)))
    out.print(table)
    orders = sum(r.orders for r in trading)
    out.print(f"{orders} orders proposed; release them with `lotline approve --date {on.isoformat()}`.")
    for r in failed:
        out.print(f"[red]failed[/] {r.account}: {r.failure}")


@app.command()
def orders(date_: DateOpt = None, account: Annotated[str | None, typer.Option("--account")] = None,
           status: Annotated[str | None, typer.Option(help="proposed, approved, rejected, cancelled, stale, superseded, "
                                                      "filled or unfilled.")] = None,
           store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """The day's orders (default today) and where each stands."""
    from lotline.application.queries import orders_report

    with service(store) as lotline:
        on = parse_date(date_, "date") or _today(lotline)
        report = orders_report(lotline, acting_user(as_user), on, account, status)
    if as_json:
        return emit_json(report)
    from rich.table import Table

    table = Table(title=f"Orders of {on.isoformat()}")
    for column in ("order", "account", "side", "symbol", "quantity", "value", "reason", "status", "fill price"):
        table.add_column(column)
    for o in report["orders"]:
        table.add_row(o["order_id"], o["account"], o["side"], o["symbol"], o["quantity"], o["value"], o["reason"],
                      o["status"], o.get("fill_price") or "")
    console().print(table)
    for o in report["orders"]:
        if o.get("unfilled_reason") or o.get("stale_reason"):
            console().print(f"{o['order_id']} {o['status']}: {o.get('unfilled_reason') or o.get('stale_reason')}")


@app.command()
def explain(decision: Annotated[str, typer.Argument(help="Decision id, e.g. ACC-1/2026-03-02.")],
            store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Why a decision traded or did not: triggers, objective terms, each order's reason."""
    from lotline.application.replay import explain as run

    with service(store) as lotline:
        report = run(lotline, decision, acting_user(as_user))
    if as_json:
        return emit_json(report)
    out = console()
    out.print(f"[bold]{report['decision_id']}[/]: {'trades' if report['trade'] else 'does not trade'} "
              f"(recorded {report['recorded_at']} by {report['actor']} as {report['role']})")
    for t in report["triggers"]:
        out.print(f"  - {t['trigger']}: {t['meaning']}")
    b, a = report["objective_before"], report["objective_after"]
    out.print(f"Objective in dollars, before -> after: tracking {b['tracking']} -> {a['tracking']}, "
              f"tax {b['tax']} -> {a['tax']}, cost {b['cost']} -> {a['cost']}, total {b['total']} -> {a['total']}")
    out.print(f"Net benefit {report['benefit']} against a threshold of {report['threshold']} "
              f"on an account worth {report['total_value']}.")
    listed = report.get("orders_proposed", report.get("orders_considered", []))
    out.print("Orders proposed:" if report["trade"] else "Orders it would have proposed:" if listed else "No orders.")
    for o in listed:
        lots = "; lots " + ", ".join(f"{x['lot_id']} x {x['quantity']}" for x in o["lots"]) if o["lots"] else ""
        out.print(f"  {o['side']} {o['quantity']} {o['symbol']} at {o['price']} ({o['value']}): {o['why']}{lots}")
    for note in report["notes"]:
        out.print(f"note: {note}")


@app.command()
def replay(decision: Annotated[str, typer.Argument(help="Decision id.")],
           store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Recompute a past decision from the history recorded before it; exit 1 if it differs."""
    from lotline.application.replay import replay as run

    with service(store) as lotline:
        outcome = run(lotline, decision, acting_user(as_user))
    if as_json:
        emit_json({"decision_id": decision, "identical": outcome.identical, "differences": outcome.differences})
    elif outcome.identical:
        console().print(f"{decision}: replayed identically ({len(outcome.recorded.orders)} orders).")
    else:
        print(f"{decision}: replay differs:", file=sys.stderr)
        for line in outcome.differences:
            print(f"  {line}", file=sys.stderr)
    if not outcome.identical:
        raise typer.Exit(1)


@app.command()
def approve(date_: DateOpt = None, account: AccountOpt = None,
            mandatory_only: Annotated[bool | None, typer.Option("--mandatory-only/--any", help="Only decisions an instruction demands.")] = None,
            min_benefit: Annotated[str | None, typer.Option("--min-benefit", help="Net-benefit-only decisions need at least this benefit (dollars).")] = None,
            store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Release the day's proposed orders that pass the filters (defaults: firm settings)."""
    from lotline.application.workflow import approve as run
    from lotline.domain.values import to_decimal

    with service(store) as lotline:
        on = parse_date(date_, "date") or _today(lotline)
        floor = to_decimal(min_benefit, "min_benefit") if min_benefit is not None else None
        released = run(lotline, on, account, acting_user(as_user), mandatory_only, floor)
    if as_json:
        return emit_json({"date": on.isoformat(), "accounts": released.accounts, "orders": released.orders,
                          "held_back": released.held_back, "stale": released.stale})
    console().print(f"Approved {released.orders} orders of {released.accounts} accounts; "
                    f"{len(released.held_back)} held back by the filters.")
    for stale in released.stale:
        console().print(f"stale: {stale['decision_id']}: {stale['reason']}; redo it with `lotline rebalance --redo "
                        f"--account {stale['account']} --date {on.isoformat()} --reason ...`")


@app.command()
def reject(date_: DateOpt = None, account: AccountOpt = None,
           reason: Annotated[str | None, typer.Option(help="Why the orders are rejected.")] = None,
           store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Reject the day's proposed orders."""
    from lotline.application.workflow import reject as run

    with service(store) as lotline:
        on = parse_date(date_, "date") or _today(lotline)
        rejected = run(lotline, on, account, acting_user(as_user), reason)
    if as_json:
        return emit_json({"date": on.isoformat(), "accounts": rejected.accounts, "orders": rejected.orders})
    console().print(f"Rejected {rejected.orders} orders of {rejected.accounts} accounts.")


@app.command()
def fill(date_: DateOpt = None, store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Simulated execution of approved orders at the day's close; records the trades."""
    from lotline.application.workflow import fill as run

    with service(store) as lotline:
        on = parse_date(date_, "date") or _today(lotline)
        filled = run(lotline, on, acting_user(as_user))
    if as_json:
        return emit_json({"date": on.isoformat(), "accounts": filled.accounts, "trades": filled.trades,
                          "cash_requests_fulfilled": filled.cash_requests, "notes": filled.notes,
                          "unfilled": filled.unfilled, "stale": filled.stale})
    console().print(f"Filled {filled.trades} orders in {filled.accounts} accounts at the {on.isoformat()} close; "
                    f"{filled.cash_requests} cash requests fulfilled.")
    for item in filled.unfilled:
        console().print(f"unfilled: {item['decision_id']}: {item['reason']}")
    for item in filled.stale:
        console().print(f"stale: {item['decision_id']}: {item['reason']}")
    for note in filled.notes:
        console().print(f"note: {note}")


@app.command()
def cancel(date_: DateOpt = None, account: AccountOpt = None,
           reason: Annotated[str | None, typer.Option(help="Why the approved orders are withdrawn (required).")] = None,
           store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Withdraw approved, unfilled orders (a decision's orders together)."""
    from lotline.application.workflow import cancel as run

    with service(store) as lotline:
        on = parse_date(date_, "date") or _today(lotline)
        cancelled = run(lotline, on, account, acting_user(as_user), reason)
    if as_json:
        return emit_json({"date": on.isoformat(), "accounts": cancelled.accounts, "orders": cancelled.orders})
    console().print(f"Cancelled {cancelled.orders} orders of {cancelled.accounts} accounts.")


@app.command()
def demo(accounts: Annotated[int, typer.Option(help="Client accounts to create.")] = 40,
         days: Annotated[int, typer.Option(help="Trading days of the daily workflow to run.")] = 3,
         seed: Annotated[int, typer.Option(help="Seed of the firm, its prices and its clients.")] = 7,
         workers: Annotated[int, typer.Option(help="Worker processes for the daily analysis.")] = 1,
         store: Store = None, as_user: AsUser = None, as_json: Json = False) -> None:
    """Build a demo firm in an empty store and run trading days of the daily workflow."""
    from lotline.application.demo import run_demo

    if accounts < 1 or accounts > 100_000:
        raise InvalidInput(f"must be between 1 and 100000, got {accounts}", "accounts")
    if days < 1 or days > 30:
        raise InvalidInput(f"must be between 1 and 30, got {days}", "days")
    out = console()
    with service(store, create=True) as lotline:
        def say(text: str, _: int) -> None:
            if not as_json:
                out.print(text)

        if not as_json:
            out.print(f"Building a demo firm of {accounts} accounts in {lotline.url} ...")
        report = run_demo(lotline, accounts, days, seed, workers=workers, progress=say)
    if as_json:
        return emit_json({
            "accounts": report.accounts,
            "days": [{"date": d.day.isoformat(), "analysed": d.analysed, "trading": d.trading,
                      "reasons": dict(d.reasons), "failed": d.failed, "orders": d.orders, "filled": d.filled,
                      "cash_requests_fulfilled": d.cash_requests} for d in report.days],
            "realised": {"short_term": str(report.short_term), "long_term": str(report.long_term),
                         "estimated_tax": str(report.tax), "losses_harvested": str(report.harvested)},
            "drift": {"mean_worst_before": str(report.drift_before.quantize(Decimal("0.0001"))),
                      "mean_worst_after": str(report.drift_after.quantize(Decimal("0.0001")))},
            "total_value": str(report.value),
        })
    from rich.table import Table

    table = Table(title=f"Demo firm: {report.accounts} accounts, {len(report.days)} trading days")
    for column in ("day", "analysed", "traded", "cash request", "restriction", "drift limit", "net benefit",
                   "no trade", "failed", "orders filled", "cash requests met"):
        table.add_column(column, justify="right" if column != "day" else "left")
    for d in report.days:
        table.add_row(d.day.isoformat(), str(d.analysed), str(d.trading), str(d.reasons.get("cash_request", 0)),
                      str(d.reasons.get("restriction", 0)), str(d.reasons.get("drift_limit", 0)),
                      str(d.reasons.get("net_benefit", 0)), str(d.analysed - d.trading - d.failed), str(d.failed),
                      str(d.filled), str(d.cash_requests))
    out.print(table)
    pct = lambda x: f"{x * 100:.2f}%"  # noqa: E731
    out.print(f"Taxable accounts realised {report.short_term} short term and {report.long_term} long term "
              f"(estimated tax {report.tax}); losses harvested {report.harvested}.")
    out.print(f"Worst asset-class drift per account, mean: {pct(report.drift_before)} before, "
              f"{pct(report.drift_after)} after (largest: {pct(report.worst_before)} before, {pct(report.worst_after)} after).")
    out.print(f"Firm assets {report.value}. Next: lotline explain DEMO-0001/{report.days[0].day.isoformat()} --as carol")
