"""Commands: what a user asks Lotline to do, each with who asks. The command line (and
later the HTTP API) builds one and gives it to its handler (application/handlers/);
reading needs no command (application/queries.py, application/replay.py)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- setting up: the firm's data, prices, settings (handlers/setup.py) -------------------

class LoadScenario(Command):
    """Apply a scenario file, all or nothing. `as_user` acts for entries that name no
    actor; without one, each entry's own actor, else the first user whose role may."""

    path: Path
    as_user: str | None = None


class LoadPrices(Command):
    """Record a price file's closes, all or nothing. A close that differs from a recorded
    one is refused unless `correct`, which records a correction; `reason` is then
    required."""

    user: str
    path: Path
    correct: bool = False
    reason: str | None = None


class ChangeSetting(Command):
    """Change one firm setting; the reason is required."""

    user: str
    key: str
    value: str
    reason: str | None = None


# --- the day's analysis (handlers/analysis.py) ------------------------------------------

class Rebalance(Command):
    """One decision per account and trading day, for every open account (or the named
    ones) still without one. `pinned_clock`: pool workers keep the caller's clock."""

    user: str
    on: date
    accounts: tuple[str, ...] | None = None
    workers: int = 1
    pinned_clock: bool = False


class RedoDecisions(Command):
    """A new decision for each named account whose decision of the day cannot go on."""

    user: str
    on: date
    accounts: tuple[str, ...] | None = None
    reason: str | None = None


# --- releasing the day's decisions (handlers/release.py) --------------------------------

class Approve(Command):
    """Release the day's proposed decisions that pass the filters (None: the firm's
    approval settings)."""

    user: str
    on: date
    accounts: tuple[str, ...] | None = None
    mandatory_only: bool | None = None
    min_benefit: Decimal | None = None


class Reject(Command):
    """Reject the day's proposed orders; the reason is required."""

    user: str
    on: date
    accounts: tuple[str, ...] | None = None
    reason: str | None = None


class Cancel(Command):
    """Withdraw approved, unfilled orders; the reason is required."""

    user: str
    on: date
    accounts: tuple[str, ...] | None = None
    reason: str | None = None


# --- execution (handlers/execution.py) ---------------------------------------------------

class Fill(Command):
    """Fill the day's approved decisions at its close, then the cash requests cash covers."""

    user: str
    on: date


# --- read models (handlers/read_models.py) -----------------------------------------------

class RebuildProjections(Command):
    user: str


# --- the demo (handlers/demo.py) -----------------------------------------------------------

class RunDemo(Command):
    """Build a demo firm in an empty store and run trading days of the daily workflow."""

    accounts: int
    days: int
    seed: int
    workers: int = 1
    start: date | None = None  # None: the demo's own first day


# --- integrity (handlers/integrity.py) ------------------------------------------------------

class SealHistory(Command):
    """Chain the events recorded before the integrity chain existed (an admin, once)."""

    user: str
