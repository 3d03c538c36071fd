"""The listing commands (what exists: `accounts`, `models`, `templates`, `users`,
`securities`, `cash-requests`, `prices`) and `exceptions` (what needs looking at on a
day). Read commands: everyone may run them; an advisor sees their own accounts only.
Registered on the `lotline` app by application/cli.py; heavy libraries are imported
inside the commands."""

from __future__ import annotations

from typing import Annotated

import typer

from lotline.application.cli import (
    AsUser,
    Json,
    KeyFile,
    Store,
    Wide,
    acting,
    app,
    opened,
    parse_date,
    prices_app,
    users_app,
)

def _show_listing(kind: str, store: str | None, as_user: str | None, key_file, as_json: bool, wide: bool) -> None:
    """A listing that takes nothing but the reader: `listings.<kind>_listing`, shown by
    `rendering.show_<kind>`."""
    from lotline.application import listings, rendering

    with opened(store) as lotline:
        report = getattr(listings, f"{kind}_listing")(lotline, acting(lotline, as_user, key_file).user)
    getattr(rendering, f"show_{kind}")(report, as_json, wide)


AsOfOpt = Annotated[str | None, typer.Option("--as-of", metavar="D", help="Value accounts at the latest closes on or "
                                             "before this date, YYYY-MM-DD (default today).")]


@app.command("accounts")
def accounts_command(
    advisor: Annotated[str | None, typer.Option("--advisor", metavar="USER", help="Only this advisor's accounts "
                                                "(default every account you may read).")] = None,
    template: Annotated[str | None, typer.Option("--template", metavar="T", help="Only accounts on this template "
                                                 "(default any).")] = None,
    as_of: AsOfOpt = None, wide: Wide = False,
    store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False,
) -> None:
    """Accounts with their value, cash, worst asset-class drift and last decision."""
    from lotline.application.listings import accounts_listing
    from lotline.application.rendering import show_accounts

    with opened(store) as lotline:
        on = parse_date(as_of, "as_of") or lotline.today()
        report = accounts_listing(lotline, acting(lotline, as_user, key_file).user, on, advisor, template)
    show_accounts(report, as_json, wide)


@app.command("models")
def models_command(wide: Wide = False, store: Store = None, as_user: AsUser = None, key_file: KeyFile = None,
                   as_json: Json = False) -> None:
    """Models: each one's asset class and security weights."""
    _show_listing("models", store, as_user, key_file, as_json, wide)


@app.command("templates")
def templates_command(wide: Wide = False, store: Store = None, as_user: AsUser = None, key_file: KeyFile = None,
                      as_json: Json = False) -> None:
    """Target templates: each class's weight, model, alternatives, tilt and drift limit."""
    _show_listing("templates", store, as_user, key_file, as_json, wide)


@app.command("securities")
def securities_command(wide: Wide = False, store: Store = None, as_user: AsUser = None, key_file: KeyFile = None,
                       as_json: Json = False) -> None:
    """Securities: asset class, wash group and last close on file."""
    _show_listing("securities", store, as_user, key_file, as_json, wide)


@app.command("cash-requests")
def cash_requests_command(
    open_only: Annotated[bool, typer.Option("--open", help="Only requests not yet met (default: every request).")] = False,
    wide: Wide = False, store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False,
) -> None:
    """Cash requests: account, amount, due dates and whether each is met."""
    from lotline.application.listings import cash_requests_listing
    from lotline.application.rendering import show_cash_requests

    with opened(store) as lotline:
        report = cash_requests_listing(lotline, acting(lotline, as_user, key_file).user, open_only)
    show_cash_requests(report, as_json, wide)


@users_app.command("list")
def users_list(wide: Wide = False, store: Store = None, as_user: AsUser = None, key_file: KeyFile = None,
               as_json: Json = False) -> None:
    """Users and their roles (`lotline users` alone does the same)."""
    _show_listing("users", store, as_user, key_file, as_json, wide)


@prices_app.command("list")
def prices_list(
    symbol: Annotated[str | None, typer.Argument(metavar="[SYMBOL]", help="One symbol's closes (default: a line per "
                                                 "symbol with closes on file).")] = None,
    since: Annotated[str | None, typer.Option("--since", metavar="D", help="Only closes from this date, YYYY-MM-DD "
                                              "(default: all).")] = None,
    wide: Wide = False, store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False,
) -> None:
    """The closes on file (`lotline prices [SYMBOL]` does the same)."""
    from lotline.application.listings import prices_listing
    from lotline.application.rendering import show_prices

    with opened(store) as lotline:
        report = prices_listing(lotline, acting(lotline, as_user, key_file).user, symbol, parse_date(since, "since"))
    show_prices(report, as_json, wide)


@app.command("exceptions")
def exceptions_command(
    date_: Annotated[str | None, typer.Option("--date", metavar="D", help="The day to look at, YYYY-MM-DD "
                                              "(default today).")] = None,
    wide: Wide = False, store: Store = None, as_user: AsUser = None, key_file: KeyFile = None, as_json: Json = False,
) -> None:
    """What needs looking at on a day: drift, cash requests, decisions, stale closes.

    Failed, stale, unfilled or unreleased decisions count too. Exit 0 whatever it finds."""
    from lotline.application.listings import exceptions_report
    from lotline.application.rendering import show_exceptions

    with opened(store) as lotline:
        on = parse_date(date_, "date") or lotline.today()
        report = exceptions_report(lotline, acting(lotline, as_user, key_file).user, on)
    show_exceptions(report, as_json, wide)
