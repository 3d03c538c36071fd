"""The `lotline` command: a thin face on the handlers. Each command parses its
arguments, builds a command (application/commands.py) for its handler
(application/handlers/) or calls a query (application/queries.py, replay.py), and
shows the result (application/rendering.py). Heavy libraries are imported inside the
commands that need them, so start-up stays light."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from lotline.domain.errors import InvalidInput, LotlineError, NotAuthorised, RuleRefused
from lotline.domain.values import cut, shown

if TYPE_CHECKING:
    from lotline.application.direct_reads import DirectRead
    from lotline.application.identity import Identity
    from lotline.application.lotline import Lotline

from typer.core import TyperArgument, TyperGroup, TyperOption


class ListsByDefault(TyperGroup):
    """A group whose `list` command runs when no other is named: `lotline prices`,
    `lotline prices VTI --since D`, `lotline users --json`."""

    def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]
        if not args or (args[0] not in self.commands and args[0] not in ctx.help_option_names):
            args = ["list", *args]
        return super().parse_args(ctx, args)


def _type_label(self, ctx):  # type: ignore[no-untyped-def]
    """Help shows an option's metavar (`D`, `USER`) or a plain word for its value, and
    nothing for a flag, instead of Python type names (`<str>`, `<bool>`)."""
    if self.metavar is not None:
        return self.metavar
    if isinstance(self, TyperArgument) or getattr(self, "is_flag", False) or getattr(self, "count", False):
        return None
    label = {"int": "N", "float": "X", "path": "PATH"}.get(self.bare_type().lower().strip("<>"), "TEXT")
    return f"{label}..." if getattr(self, "multiple", False) else label


TyperOption.display_type_rich = _type_label  # type: ignore[method-assign]
TyperArgument.display_type_rich = _type_label  # type: ignore[method-assign]

app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, help="Lotline: event-sourced, tax-aware daily rebalancing.")
prices_app = typer.Typer(cls=ListsByDefault, help="Market data: `lotline prices [SYMBOL] [--since D]` lists the closes on file.")
projections_app = typer.Typer(no_args_is_help=True, help="Read models.")
users_app = typer.Typer(cls=ListsByDefault, help="Users: `lotline users` lists them and their roles; keys.")
app.add_typer(prices_app, name="prices")
app.add_typer(projections_app, name="projections")
app.add_typer(users_app, name="users")


def _show_version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"lotline {version('lotline')}")
        except PackageNotFoundError:
            print("lotline (not installed)")
        raise typer.Exit(0)


@app.callback()
def _lotline(version: Annotated[bool, typer.Option("--version", is_eager=True, callback=_show_version,
                                                   help="Print the version and exit.")] = False) -> None:
    """Lotline: event-sourced, tax-aware daily rebalancing."""

Store = Annotated[str | None, typer.Option("--store", metavar="URL", help="SQLAlchemy URL of the store (else LOTLINE_STORE, else sqlite:///lotline.db).")]
AsUser = Annotated[str | None, typer.Option("--as", metavar="USER", help="Acting user (else LOTLINE_USER, else system).")]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON document and nothing else (default: tables and lines for people).")]
KeyFile = Annotated[Path | None, typer.Option("--key-file", metavar="PATH", help="File holding your key (else LOTLINE_KEY); where one "
                                              "is presented, the key decides who acts.")]
Wide = Annotated[bool, typer.Option("--wide", help="Show every column however wide the table gets (default: "
                                   "the columns that fit the terminal).")]
KEY_FILE_LIMIT = 4096


def acting(lotline: Lotline, as_user: str | None, key_file: Path | None) -> Identity:
    """Who acts (application/identity.py): the key presented (`--key-file`, else
    LOTLINE_KEY) where there is one; else, where the firm's authentication is
    `asserted`, `--as`, else LOTLINE_USER, else system."""
    from lotline.application.identity import identify

    return identify(lotline, presented_key(key_file), explicit_user(as_user))


def explicit_user(as_user: str | None) -> str | None:
    return as_user or os.environ.get("LOTLINE_USER") or None


def presented_key(key_file: Path | None) -> str | None:
    """The key in the file named by `--key-file`, else in LOTLINE_KEY, else None. An
    error never shows the key."""
    if key_file is None:
        return os.environ.get("LOTLINE_KEY", "").strip() or None
    try:
        with key_file.open("rb") as handle:
            raw = handle.read(KEY_FILE_LIMIT + 1)
    except OSError as error:
        raise InvalidInput(f"cannot read {cut(str(key_file))}: {error.strerror}", "key_file") from None
    try:
        key = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        key = ""
    if not key or len(raw) > KEY_FILE_LIMIT:
        raise NotAuthorised(f"no key in {cut(str(key_file))}: a key file holds one key, as `lotline users key` printed it",
                            "key_file")
    return key


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
NUMBER = re.compile(r"-?\d+(\.\d*)?|-?\.\d+")


def check_year(year: int | None, field: str = "year") -> int | None:
    """A tax year option: 1900 to 9999."""
    if year is not None and not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidInput(f"must be between {FIRST_YEAR} and {LAST_YEAR}, got {shown(year)}", field)
    return year


def business_day_from_env() -> Callable[[], date] | None:
    """LOTLINE_NOW (an ISO timestamp or date) pins the business date commands default to,
    for backtests and reproducible runs. It never sets the time events are recorded at:
    that is the store's clock."""
    pinned = os.environ.get("LOTLINE_NOW")
    if not pinned:
        return None
    try:
        day = datetime.fromisoformat(pinned.strip()).date()
    except ValueError:
        raise InvalidInput(f"must be an ISO timestamp, got {shown(pinned)}", "LOTLINE_NOW") from None
    return lambda: day


T = TypeVar("T")


def read_directly(store: str | None, as_user: str | None, key_file: Path | None,
                  answer: Callable[[DirectRead], T]) -> T | None:
    """`answer` from the read models alone (application/direct_reads.py), without opening
    the event store; None when that cannot be done with certainty: the command then
    reads the usual way, which catches the read models up."""
    from lotline.application.direct_reads import NotDirect, direct_read, wanted
    from lotline.infrastructure.store_urls import DEFAULT_STORE, store_url
    from lotline.projections.direct import plain_sqlite_file

    if not wanted() or key_file is not None or os.environ.get("LOTLINE_KEY", "").strip():
        return None  # a key decides who acts: checked the usual way
    business_day = business_day_from_env()
    url = store or os.environ.get("LOTLINE_STORE") or DEFAULT_STORE
    path = plain_sqlite_file(url)
    if path is not None:  # `sqlite:///PATH`: its file checked without parsing the URL through SQLAlchemy
        check_store_file(Path(path), False)
    elif not store_url(store, dict(os.environ)).startswith("postgresql"):
        return None
    try:
        with direct_read(url, None, explicit_user(as_user), business_day) as read:
            return None if read is None else answer(read)
    except NotDirect:
        return None


@contextmanager
def opened(store: str | None, create: bool = False) -> Iterator[Lotline]:
    """The store of a command. Only `create=True` (load, demo) may set up a new SQLite
    file; every other command on a missing file is bad input and creates nothing."""
    from lotline.application.lotline import Lotline
    from lotline.infrastructure.store_urls import safe_url, sqlite_file, store_url

    business_day = business_day_from_env()
    url = store_url(store, dict(os.environ))
    check_store_file(sqlite_file(url), create)
    try:
        lotline = Lotline(url, business_day=business_day)
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


@app.command()
def load(file: Annotated[Path, typer.Argument(help="Scenario file, YAML or JSON.")], store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Apply a scenario file, all or nothing."""
    from lotline.application.commands import LoadScenario
    from lotline.application.handlers.setup import load_scenario
    from lotline.application.rendering import progress_bar, show_loaded

    with opened(store, create=True) as lotline:
        who = acting(lotline, as_user, key_file)
        with progress_bar(not as_json, f"Loading {file.name}") as advance:
            loaded = load_scenario(LoadScenario(path=file, user=who), lotline, advance)
    show_loaded(file, loaded, as_json)


@app.command()
def audit(
    account: Annotated[str | None, typer.Argument(help="Account id (or --firm).")] = None,
    firm: Annotated[bool, typer.Option("--firm", help="Every event of the store (compliance, admin).")] = False,
    kind: Annotated[str | None, typer.Option(metavar="K", help="With --firm: only this kind (user, security, model, "
                                             "template, settings, prices, account, decision, scenario_file; "
                                             "default every kind).")] = None,
    actor: Annotated[str | None, typer.Option(metavar="USER", help="With --firm: only events by this user "
                                              "(default anyone).")] = None,
    since: Annotated[str | None, typer.Option(metavar="D", help="From this effective date, YYYY-MM-DD (default: "
                                              "the first).")] = None,
    until: Annotated[str | None, typer.Option(metavar="D", help="Up to this effective date, YYYY-MM-DD (default: "
                                              "the last).")] = None,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV: a header row, then one row per event (default: "
                                         "a table).")] = False, wide: Wide = False,
    store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False,
) -> None:
    """Every event of an account, or with --firm of the whole store, oldest first."""
    from lotline.application.queries import audit as read
    from lotline.application.queries import firm_audit
    from lotline.application.rendering import show_audit, show_firm_audit

    if firm:
        if account is not None:
            raise InvalidInput(f"give an account or --firm, not both, got {shown(account)}", "account")
        with opened(store) as lotline:
            events = firm_audit(lotline, acting(lotline, as_user, key_file).user, kind, actor, parse_date(since, "since"),
                                parse_date(until, "until"))
        return show_firm_audit(events, as_json, as_csv, wide)
    for name, value in (("kind", kind), ("actor", actor)):
        if value is not None:
            raise InvalidInput(f"--{name} filters the firm's audit trail: add --firm", name)
    if account is None:
        raise InvalidInput("required: an account id, or --firm for every event of the store", "account")
    with opened(store) as lotline:
        since_, until_ = parse_date(since, "since"), parse_date(until, "until")
        events = read(lotline, account, acting(lotline, as_user, key_file).user, since_, until_)
    show_audit(account, events, as_json, as_csv, wide)


@projections_app.command("rebuild")
def projections_rebuild(store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Rebuild every read model from the history."""
    from lotline.application.commands import RebuildProjections
    from lotline.application.handlers.read_models import rebuild_projections
    from lotline.application.rendering import progress_bar, show_rebuilt

    with opened(store) as lotline:
        with progress_bar(not as_json, "Rebuilding read models", lotline.store.recorder.max_notification_id() or 0) as advance:
            rebuilt = rebuild_projections(RebuildProjections(user=acting(lotline, as_user, key_file)), lotline, advance)
    show_rebuilt(rebuilt, as_json)


@app.command()
def verify(expect_head: Annotated[str | None, typer.Option("--expect-head", metavar="POSITION:DIGEST", help="A head kept outside the store "
                                                           "(POSITION:DIGEST, as verify or publish printed it): "
                                                           "the store's must be the same.")] = None,
           seal: Annotated[bool, typer.Option("--seal", help="First chain the history recorded before the "
                                              "integrity chain existed (an admin, once).")] = False,
           store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Check the integrity of the whole event history (exit 1 naming the first bad position)."""
    from lotline.application.commands import SealHistory
    from lotline.application.handlers.integrity import seal_history
    from lotline.application.queries import verify_store
    from lotline.application.rendering import progress_bar, show_verification

    with opened(store) as lotline:
        who = acting(lotline, as_user, key_file)
        if seal:
            seal_history(SealHistory(user=who), lotline)
        with progress_bar(not as_json, "Verifying the history", lotline.store.recorder.max_notification_id() or 0) as advance:
            result = verify_store(lotline, who.user, expect_head, advance)
    show_verification(result, as_json)
    if not result.intact:
        raise typer.Exit(1)


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


AsOf = Annotated[str | None, typer.Option("--as-of", metavar="D", help="Answer as of the end of this date, YYYY-MM-DD "
                                          "(default today).")]


def _today(lotline: Lotline) -> date:
    return lotline.today()


@app.command()
def lots(account: Annotated[str, typer.Argument(help="Account id.")], as_of: AsOf = None, wide: Wide = False,
         store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Open tax lots of an account."""
    from lotline.application.rendering import show_lots

    show_lots(account, _as_of_report("lots_report", account, as_of, store, as_user, key_file), as_json, wide)


@app.command()
def gains(account: Annotated[str, typer.Argument(help="Account id.")],
          year: Annotated[int | None, typer.Option(help="Tax year (default this year).")] = None, wide: Wide = False,
          store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Realised gains and losses: short and long term, wash-sale disallowed amounts."""
    from lotline.application.queries import gains_report
    from lotline.application.rendering import show_gains

    with opened(store) as lotline:
        tax_year = check_year(year) or _today(lotline).year
        report = gains_report(lotline, account, acting(lotline, as_user, key_file).user, tax_year)
    show_gains(account, report, as_json, wide)


@app.command()
def holdings(account: Annotated[str, typer.Argument(help="Account id.")], as_of: AsOf = None, wide: Wide = False,
             store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Positions, market values, weights against target, drift per asset class."""
    from lotline.application.rendering import show_holdings

    show_holdings(account, _as_of_report("holdings_report", account, as_of, store, as_user, key_file), as_json, wide)


def _as_of_report(report: str, account: str, as_of: str | None, store: str | None, as_user: str | None,
                  key_file: Path | None) -> dict:
    """An account's report as of a day (`report`: the name both readers give it): from the
    read models alone when they are current, else the usual way. Each reader is imported
    only when used: the usual one loads the event store."""
    def directly(read: DirectRead) -> dict:
        from lotline.application import direct_reads

        return getattr(direct_reads, report)(read, account, parse_date(as_of, "as_of") or read.today)

    found = read_directly(store, as_user, key_file, directly)
    if found is not None:
        return found
    from lotline.application import queries

    with opened(store) as lotline:
        on = parse_date(as_of, "as_of") or _today(lotline)
        return getattr(queries, report)(lotline, account, acting(lotline, as_user, key_file).user, on)


@prices_app.command("load")
def prices_load(file: Annotated[Path, typer.Argument(help="CSV: wide (Date, SYMBOL...) or long (date,symbol,close).")],
                correct: Annotated[bool, typer.Option("--correct", help="Correct closes that differ from the recorded "
                                                      "ones (with --reason).")] = False,
                reason: Annotated[str | None, typer.Option(metavar="TEXT", help="Why (required with --correct).")] = None,
                store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Load closing prices; bad rows are reported by line and nothing is loaded.

    A close that differs from a recorded one is refused unless --correct --reason TEXT."""
    from lotline.application.commands import LoadPrices
    from lotline.application.handlers.setup import load_prices
    from lotline.application.rendering import show_prices_loaded

    with opened(store) as lotline:
        loaded = load_prices(LoadPrices(user=acting(lotline, as_user, key_file), path=file, correct=correct,
                                        reason=reason), lotline)
    show_prices_loaded(file, loaded, as_json)


@app.command(context_settings={"ignore_unknown_options": True})  # a value may be negative: `risk_aversion -5`
def settings(key: Annotated[str | None, typer.Argument(help="Setting to show or change.")] = None,
             value: Annotated[str | None, typer.Argument(help="New value (overlay manager).")] = None,
             reason: Annotated[str | None, typer.Option(metavar="TEXT", help="Why the setting changes (required with a value).")] = None,
             store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Firm settings: show them, or change one."""
    from lotline.application.commands import ChangeSetting
    from lotline.application.handlers.setup import change_setting
    from lotline.application.queries import firm_settings
    from lotline.application.rendering import show_settings
    from lotline.domain.settings import AUTHENTICATION, SETTINGS

    for given in (key, value):
        if given is not None and given.startswith("-") and not NUMBER.fullmatch(given):
            raise InvalidInput(f"No such option: {given}", "option")
    if key is not None and key not in SETTINGS and key != AUTHENTICATION:
        raise InvalidInput(f"unknown setting {key!r} (one of {', '.join(sorted([*SETTINGS, AUTHENTICATION]))})", "key")
    with opened(store) as lotline:
        who = acting(lotline, as_user, key_file)
        if value is not None:
            change_setting(ChangeSetting(user=who, key=key, value=value, reason=reason), lotline)
        current = firm_settings(lotline, who.user)
    show_settings({key: current[key]} if key else current, as_json)


Bootstrap = Annotated[str | None, typer.Option("--bootstrap", help="Kafka bootstrap servers HOST:PORT: publish the "
                                                "night's tasks there for `lotline worker` processes and wait.")]
NightTimeout = Annotated[float | None, typer.Option("--timeout", help="With --bootstrap: seconds to wait for every "
                                                    "account (default 21600).")]
TaskTopic = Annotated[str | None, typer.Option("--topic", help="With --bootstrap: the tasks' topic (default "
                                               "lotline.analysis; workers take the same --topic).")]
AccountOpt = Annotated[list[str] | None, typer.Option("--account", metavar="ID", help="Only this account (repeatable; "
                                                      "default every account).")]
DateOpt = Annotated[str | None, typer.Option("--date", metavar="D", help="Trading day, YYYY-MM-DD (default today; "
                                             "a weekend or holiday is refused).")]


def trading_day(on: date) -> date:
    """`on`, when the NYSE trades that day; else bad input, in the words of every
    command that takes a trading day."""
    from lotline.infrastructure.calendar import check_trading_day

    check_trading_day(on)
    return on


def _accounts(account: list[str] | None) -> tuple[str, ...] | None:
    """The accounts a command names (`--account`, repeatable); None: every account."""
    return tuple(account) if account is not None else None


@app.command()
def rebalance(date_: DateOpt = None, account: AccountOpt = None,
              workers: Annotated[int | None, typer.Option("--workers", metavar="N", help="Worker processes (default: the machine's cores).")] = None,
              redo: Annotated[bool, typer.Option("--redo", help="A new decision for the named accounts whose decision "
                                                 "that day was rejected, cancelled, stale, unfilled or failed.")] = False,
              reason: Annotated[str | None, typer.Option(metavar="TEXT", help="Why the decision is redone (with --redo).")] = None,
              bootstrap: Bootstrap = None, timeout: NightTimeout = None, topic: TaskTopic = None,
              store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """The daily analysis: one recorded decision per account and trading day."""
    from lotline.application.commands import Rebalance, RedoDecisions
    from lotline.application.handlers.analysis import rebalance as run
    from lotline.application.handlers.analysis import redo_decisions
    from lotline.application.rendering import progress_bar, show_rebalance

    if workers is not None and workers < 1:
        raise InvalidInput(f"must be at least 1, got {workers}", "workers")
    if bootstrap is not None or timeout is not None or topic is not None:
        return _rebalance_over_kafka(date_, account, redo, bootstrap, timeout, topic, store, as_user, key_file, as_json)
    with opened(store) as lotline:
        on = parse_date(date_, "date") or _today(lotline)
        accounts = _accounts(account)
        who = acting(lotline, as_user, key_file)
        if redo:
            results = redo_decisions(RedoDecisions(user=who, on=on, accounts=accounts, reason=reason), lotline)
        else:
            command = Rebalance(user=who, on=on, accounts=accounts,
                                workers=workers or os.cpu_count() or 1, pinned_clock=bool(os.environ.get("LOTLINE_NOW")))
            lotline.catch_up()
            total = len(set(accounts)) if accounts else sum(1 for closed in lotline.views.accounts_closed().values()
                                                            if not closed)
            with progress_bar(not as_json, f"Analysing accounts for {on.isoformat()}", total) as advance:
                results = run(command, lotline, advance)
    show_rebalance(on, results, as_json)


@app.command()
def orders(date_: DateOpt = None,
           account: Annotated[str | None, typer.Option("--account", help="Only this account (default every "
                                                       "account you may read).")] = None,
           status: Annotated[str | None, typer.Option(help="Only orders in this status: proposed, approved, rejected, "
                                                      "cancelled, stale, superseded, filled or unfilled (default any).")] = None,
           as_csv: Annotated[bool, typer.Option("--csv", help="Print the blotter as CSV for the trading desk: a header "
                                                "row, then one row per order.")] = False,
           wide: Wide = False,
           store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """The blotter: the day's orders, their value, reason, estimated tax, status and fill price.

    Totals per account and per day follow the table; --csv prints one row per order for the trading desk."""
    from lotline.application.rendering import show_orders

    if as_json and as_csv:
        raise InvalidInput("give --json or --csv, not both", "csv")

    def directly(read: DirectRead) -> tuple[date, dict]:
        from lotline.application.direct_reads import orders_report as read_orders

        day = trading_day(parse_date(date_, "date") or read.today)
        return day, read_orders(read, account, day, status)

    answered = read_directly(store, as_user, key_file, directly) if account is not None else None
    if answered is not None:
        on, report = answered
    else:
        from lotline.application.queries import orders_report

        with opened(store) as lotline:
            on = trading_day(parse_date(date_, "date") or _today(lotline))
            report = orders_report(lotline, acting(lotline, as_user, key_file).user, on, account, status)
    show_orders(on, report, as_json, as_csv, wide)


@app.command()
def explain(decision: Annotated[str, typer.Argument(help="Decision id, e.g. ACC-1/2026-03-02.")],
            store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Why a decision traded or did not: triggers, objective terms, each order's reason."""
    from lotline.application.rendering import show_explanation

    show_explanation(_decision_read("explain_report", "explain", decision, store, as_user, key_file), as_json)


@app.command()
def replay(decision: Annotated[str, typer.Argument(help="Decision id.")],
           store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Recompute a past decision from the history recorded before it; exit 1 if it differs."""
    from lotline.application.rendering import show_replay

    outcome = _decision_read("replay_outcome", "replay", decision, store, as_user, key_file)
    show_replay(decision, outcome, as_json)
    if not outcome.identical:
        raise typer.Exit(1)


def _decision_read(direct: str, usual: str, decision: str, store: str | None, as_user: str | None,
                   key_file: Path | None) -> Any:
    """A read of one decision: `direct` (application/direct_reads.py) from the read models
    and the events it names when they are current, else `usual` (application/replay.py)
    through the event store. Each is imported only when used."""
    def directly(read: DirectRead) -> Any:
        from lotline.application import direct_reads

        return getattr(direct_reads, direct)(read, decision)

    found = read_directly(store, as_user, key_file, directly)
    if found is not None:
        return found
    from lotline.application import replay as decisions

    with opened(store) as lotline:
        return getattr(decisions, usual)(lotline, decision, acting(lotline, as_user, key_file).user)


@app.command()
def approve(date_: DateOpt = None, account: AccountOpt = None,
            mandatory_only: Annotated[bool | None, typer.Option("--mandatory-only/--any", help="Only decisions an "
                                                                "instruction demands, or any (default: the firm "
                                                                "setting approval_mandatory_only).")] = None,
            min_benefit: Annotated[str | None, typer.Option("--min-benefit", metavar="X", help="Net-benefit-only "
                                                            "decisions need at least this benefit, in dollars "
                                                            "(default: the firm setting approval_min_benefit).")] = None,
            store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Release the day's proposed orders that pass the filters (defaults: firm settings)."""
    from lotline.application.commands import Approve
    from lotline.application.handlers.release import approve as run
    from lotline.application.rendering import show_approved
    from lotline.domain.values import to_decimal

    with opened(store) as lotline:
        on = parse_date(date_, "date") or _today(lotline)
        floor = to_decimal(min_benefit, "min_benefit") if min_benefit is not None else None
        released = run(Approve(user=acting(lotline, as_user, key_file), on=on, accounts=_accounts(account),
                               mandatory_only=mandatory_only, min_benefit=floor), lotline)
    show_approved(on, released, as_json)


@app.command()
def reject(date_: DateOpt = None, account: AccountOpt = None,
           reason: Annotated[str | None, typer.Option(metavar="TEXT", help="Why the orders are rejected (required).")] = None,
           store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Reject the day's proposed orders."""
    from lotline.application.commands import Reject
    from lotline.application.handlers.release import reject as run
    from lotline.application.rendering import show_rejected

    with opened(store) as lotline:
        on = parse_date(date_, "date") or _today(lotline)
        rejected = run(Reject(user=acting(lotline, as_user, key_file), on=on, accounts=_accounts(account), reason=reason), lotline)
    show_rejected(on, rejected, as_json)


@app.command()
def fill(date_: DateOpt = None, store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Simulated execution of approved orders at the day's close; records the trades."""
    from lotline.application.commands import Fill
    from lotline.application.handlers.execution import fill as run
    from lotline.application.rendering import progress_bar, show_filled

    with opened(store) as lotline:
        on = parse_date(date_, "date") or _today(lotline)
        with progress_bar(not as_json, f"Filling {on.isoformat()}") as advance:
            filled = run(Fill(user=acting(lotline, as_user, key_file), on=on), lotline, advance)
    show_filled(on, filled, as_json)


@app.command()
def cancel(date_: DateOpt = None, account: AccountOpt = None,
           reason: Annotated[str | None, typer.Option(metavar="TEXT", help="Why the approved orders are withdrawn (required).")] = None,
           store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Withdraw approved, unfilled orders (a decision's orders together)."""
    from lotline.application.commands import Cancel
    from lotline.application.handlers.release import cancel as run
    from lotline.application.rendering import show_cancelled

    with opened(store) as lotline:
        on = parse_date(date_, "date") or _today(lotline)
        cancelled = run(Cancel(user=acting(lotline, as_user, key_file), on=on, accounts=_accounts(account), reason=reason), lotline)
    show_cancelled(on, cancelled, as_json)


@app.command()
def demo(accounts: Annotated[int, typer.Option(help="Client accounts to create.")] = 40,
         days: Annotated[int, typer.Option(help="Trading days of the daily workflow to run.")] = 3,
         seed: Annotated[int, typer.Option(help="Seed of the firm, its prices and its clients.")] = 7,
         workers: Annotated[int, typer.Option(help="Worker processes for the daily analysis.")] = 1,
         store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Build a demo firm in an empty store and run trading days of the daily workflow."""
    from lotline.application.commands import RunDemo
    from lotline.application.handlers.demo import run_demo
    from lotline.application.rendering import demo_progress, show_demo, show_demo_start

    if accounts < 1 or accounts > 100_000:
        raise InvalidInput(f"must be between 1 and 100000, got {accounts}", "accounts")
    if days < 1 or days > 30:
        raise InvalidInput(f"must be between 1 and 30, got {days}", "days")
    say = demo_progress(as_json)
    with opened(store, create=True) as lotline:
        acting(lotline, as_user, key_file)  # anyone may: it creates its own users and acts as them
        show_demo_start(accounts, lotline.url, as_json)
        report = run_demo(RunDemo(accounts=accounts, days=days, seed=seed, workers=workers), lotline, say)
    show_demo(report, as_json)


@users_app.command("key")
def users_key(user: Annotated[str, typer.Argument(help="The user to issue a key to.")],
              reason: Annotated[str | None, typer.Option(metavar="TEXT", help="Why the key is issued.")] = None,
              store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Issue USER a key and print it, once (admin). A key USER held is revoked."""
    from lotline.application.commands import IssueKey
    from lotline.application.handlers.users import issue_key
    from lotline.application.rendering import show_key_issued

    with opened(store) as lotline:
        issued = issue_key(IssueKey(user=acting(lotline, as_user, key_file), holder=user, reason=reason), lotline)
    show_key_issued(issued, as_json)


@users_app.command("revoke-key")
def users_revoke_key(user: Annotated[str, typer.Argument(help="The user whose key is revoked.")],
                     reason: Annotated[str | None, typer.Option(metavar="TEXT", help="Why the key is revoked.")] = None,
                     store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Revoke USER's key (admin)."""
    from lotline.application.commands import RevokeKey
    from lotline.application.handlers.users import revoke_key
    from lotline.application.rendering import show_key_revoked

    with opened(store) as lotline:
        revoked = revoke_key(RevokeKey(user=acting(lotline, as_user, key_file), holder=user, reason=reason), lotline)
    show_key_revoked(revoked, as_json)


# --- the Kafka relay: `publish` and `schemas` (handlers/publish.py, projections/messages.py) ---

@app.command()
def publish(bootstrap: Annotated[str, typer.Option("--bootstrap", help="Kafka bootstrap servers, HOST:PORT[,HOST:PORT...].")],
            topic: Annotated[str, typer.Option(help="Topic to publish to.")] = "lotline.events",
            every_event: Annotated[bool, typer.Option("--all", help="Every event, not only trade, order, fill and "
                                                      "decision events.")] = False,
            follow: Annotated[bool, typer.Option("--follow", help="Keep polling for new events (stop with Ctrl-C).")] = False,
            partitions: Annotated[int, typer.Option(help="Partitions of the topic when it is created.")] = 6,
            replication: Annotated[int, typer.Option(help="Replication factor of the topic when it is created.")] = 1,
            interval: Annotated[float, typer.Option(help="Seconds between polls with --follow.")] = 0.25,
            batch: Annotated[int, typer.Option(help="Positions sent, acknowledged and recorded at a time (the most "
                                               "a killed relay sends again).")] = 10_000,
            store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Relay recorded events to Kafka from the position last published to the topic."""
    import json

    from lotline.application.commands import Publish
    from lotline.application.handlers.publish import check
    from lotline.application.handlers.publish import publish as run
    from lotline.infrastructure.kafka_relay import BrokerUnreachable, DeliveryFailed

    command = Publish(user="system", bootstrap=bootstrap, topic=topic, every_event=every_event, follow=follow,
                      partitions=partitions, replication=replication, interval=interval, batch=batch)
    check(command)  # bad input before the store is opened

    def say(line: str) -> None:
        if not as_json:
            print(line, flush=True)

    def warn(line: str) -> None:
        print(f"lotline: {one_line(line)}", file=sys.stderr, flush=True)

    with opened(store) as lotline:
        command = command.model_copy(update={"user": acting(lotline, as_user, key_file)})
        try:
            done = run(command, lotline, say, warn)
        except BrokerUnreachable as error:
            print(f"lotline: error: {one_line(str(error))}", file=sys.stderr)
            raise typer.Exit(2) from None
        except DeliveryFailed as error:
            print(f"lotline: error: Kafka did not acknowledge the events sent ({one_line(str(error), 300)}); the "
                  "recorded position was kept: run publish again to resume", file=sys.stderr)
            raise typer.Exit(1) from None
    if as_json:
        print(json.dumps({"topic": done.topic, "published": done.published, "position": done.position,
                          "head": done.head}))
    else:
        print(f"published {done.published} events to {done.topic}, last position {done.position}"
              + (f" (head {done.head})" if done.head else ""))


@app.command()
def schemas(message_type: Annotated[str | None, typer.Argument(help="One message type, e.g. Account.TradeExecuted.")] = None,
            write: Annotated[Path | None, typer.Option("--write", help="Write every schema, generated from the event models, "
                                                       "as files into this folder (regenerating the shipped ones: "
                                                       "--write projections/schemas).")] = None,
            store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """The JSON Schema of every message `publish` sends (or of one type), as the package ships them."""
    import json

    from lotline.projections.messages import message_type as type_name, published_by_default, shipped_schemas, write_schemas

    if write is not None:
        written = write_schemas(write)
        if as_json:
            print(json.dumps({"written": [str(p) for p in written]}))
        else:
            print(f"wrote {len(written)} schemas into {write}")
        return
    found = shipped_schemas()
    if message_type is not None:
        if message_type not in found:
            raise InvalidInput(f"unknown message type {shown(message_type)} (lotline schemas lists them)", "type")
        print(json.dumps(found[message_type], indent=None if as_json else 2))
        return
    if as_json:
        print(json.dumps({"schemas": found}))
        return
    default = {type_name(cls) for cls in published_by_default()}
    for name, schema in found.items():
        print(f"{name:34} v{schema['properties']['class_version']['const']}  {schema['$id']}"
              + ("" if name in default else "  (with --all)"))



# --- the distributed night (Kafka): `rebalance --bootstrap` and `worker` -------------------


def _rebalance_over_kafka(date_: str | None, account: list[str] | None, redo: bool, bootstrap: str | None,
                          timeout: float | None, topic: str | None, store: str | None, as_user: str | None, key_file: Path | None,
                          as_json: bool) -> None:
    from lotline.application.commands import Rebalance
    from lotline.application.distributed_night import DEFAULT_TIMEOUT, rebalance_over_kafka
    from lotline.application.rendering import progress_bar, show_rebalance
    from lotline.infrastructure.kafka_tasks import parse_bootstrap, parse_topic

    servers, topic = parse_bootstrap(bootstrap), parse_topic(topic)
    if redo:
        raise InvalidInput("a redo runs here, not over Kafka: drop --bootstrap", "bootstrap")
    if timeout is not None and not 0 < timeout <= 7 * 24 * 3600:
        raise InvalidInput(f"must be between 0 and 604800 seconds, got {shown(timeout)}", "timeout")
    with opened(store) as lotline:
        on = parse_date(date_, "date") or _today(lotline)
        command = Rebalance(user=acting(lotline, as_user, key_file), on=on, accounts=_accounts(account))
        with progress_bar(not as_json, f"Waiting for the workers' decisions for {on.isoformat()}") as advance:
            results = rebalance_over_kafka(command, lotline, servers, timeout or DEFAULT_TIMEOUT, advance, topic)
    show_rebalance(on, results, as_json)


@app.command()
def worker(bootstrap: Annotated[str | None, typer.Option("--bootstrap", help="Kafka bootstrap servers HOST:PORT.")] = None,
           group: Annotated[str, typer.Option("--group", help="Consumer group of the workers.")] = "lotline-workers",
           exit_when_idle: Annotated[float | None, typer.Option("--exit-when-idle", help="Stop after this many seconds "
                                                                "without a task (default: run until stopped).")] = None,
           topic: Annotated[str | None, typer.Option("--topic", help="The tasks' topic (default lotline.analysis).")] = None,
           store: Store = None, as_user: AsUser = None, key_file: KeyFile = None) -> None:
    """Analyse accounts for a night run distributed over Kafka (system, admin)."""
    import signal

    from lotline.application.distributed_night import run_worker
    from lotline.infrastructure.kafka_tasks import parse_bootstrap, parse_topic

    servers, topic = parse_bootstrap(bootstrap), parse_topic(topic)
    if not group.strip() or len(group) > 200:
        raise InvalidInput(f"must be a consumer group name, got {shown(group)}", "group")
    if exit_when_idle is not None and exit_when_idle <= 0:
        raise InvalidInput(f"must be more than 0 seconds, got {shown(exit_when_idle)}", "exit_when_idle")
    stopping: list[int] = []
    # SIGTERM ends the worker after the batch in hand: recorded, offsets committed, group left.
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.append(signum))
    with opened(store) as lotline:
        who = acting(lotline, as_user, key_file)
        report = run_worker(lotline, who, servers, group, stop=lambda: bool(stopping), exit_when_idle=exit_when_idle,
                            say=lambda line: print(f"lotline worker: {line}", file=sys.stderr), topic=topic)
    print(f"decided {report.decided}, failed {report.failed}, already decided {report.already_decided}"
          + (f", skipped (another store's) {report.other_store}" if report.other_store else "")
          + (f", not tasks {report.not_tasks}" if report.not_tasks else ""))


@app.command()
def backtest(prices: Annotated[Path, typer.Option("--prices", help="Closes, a CSV as `prices load` reads (wide or long).")],
             scenario: Annotated[Path, typer.Option("--scenario", help="The firm, a scenario file as `load` reads.")],
             start: Annotated[str | None, typer.Option(help="First day (default: the day after the scenario's as_of).")] = None,
             end: Annotated[str | None, typer.Option(help="Last day (default: the price file's last).")] = None,
             strategy: Annotated[str, typer.Option(help="holistic, no-harvest, threshold or all.")] = "all",
             plot: Annotated[Path | None, typer.Option("--plot", help="Draw after-tax value and class drift over "
                                                       "time to this PNG.")] = None,
             store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False) -> None:
    """Run a price history day by day through the daily workflow, in a temporary store
    (the store named by --store is never opened)."""
    from lotline.application.backtest import read_input, run_backtest
    from lotline.application.backtest_report import check_plot_path, day_progress, show_backtest
    from lotline.application.backtest_report import plot as draw

    check_plot_path(plot)
    given = read_input(prices, scenario, parse_date(start, "start"), parse_date(end, "end"), strategy)
    with day_progress(not as_json, len(given.days) * len(given.strategies)) as advance:
        results = run_backtest(given, advance)
    if plot is not None:
        draw(results, plot)
    show_backtest(results, as_json)


# The listing and exceptions commands live in their own module; importing it registers them.
import lotline.application.cli_views  # noqa: E402,F401
