"""Commands: what a user asks Lotline to do, each with who asks. The command line (and
later the HTTP API) builds one and gives it to its handler (application/handlers/);
reading needs no command (application/queries.py, application/replay.py).

Who asks (`user`) is an `Identity` (application/identity.py: the user, and whether a
key decided it), established by `identify` before the command is built; a bare user
name reads as a claim taken at its word."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from lotline.application.identity import SYSTEM, Identity

Acting = Annotated[Identity, BeforeValidator(Identity.of)]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --- setting up: the firm's data, prices, settings (handlers/setup.py) -------------------

class LoadScenario(Command):
    """Apply a scenario file, all or nothing, as `user` (who must hold the role each
    entry needs; an admin may name another user who does as an entry's `actor:`). On a
    store with no users yet, `system` applies the whole file as the bootstrap admin."""

    path: Path
    user: Acting = SYSTEM


class LoadPrices(Command):
    """Record a price file's closes, all or nothing. A close that differs from a recorded
    one is refused unless `correct`, which records a correction; `reason` is then
    required."""

    user: Acting
    path: Path
    correct: bool = False
    reason: str | None = None


class ChangeSetting(Command):
    """Change one firm setting; the reason is required."""

    user: Acting
    key: str
    value: str
    reason: str | None = None


# --- the day's analysis (handlers/analysis.py) ------------------------------------------

class Rebalance(Command):
    """One decision per account and trading day, for every open account (or the named
    ones) still without one. `pinned_clock`: pool workers keep the caller's clock."""

    user: Acting
    on: date
    accounts: tuple[str, ...] | None = None
    workers: int = 1
    pinned_clock: bool = False


class RedoDecisions(Command):
    """A new decision for each named account whose decision of the day cannot go on."""

    user: Acting
    on: date
    accounts: tuple[str, ...] | None = None
    reason: str | None = None


# --- releasing the day's decisions (handlers/release.py) --------------------------------

class Approve(Command):
    """Release the day's proposed decisions that pass the filters (None: the firm's
    approval settings)."""

    user: Acting
    on: date
    accounts: tuple[str, ...] | None = None
    mandatory_only: bool | None = None
    min_benefit: Decimal | None = None


class Reject(Command):
    """Reject the day's proposed orders; the reason is required."""

    user: Acting
    on: date
    accounts: tuple[str, ...] | None = None
    reason: str | None = None


class Cancel(Command):
    """Withdraw approved, unfilled orders; the reason is required."""

    user: Acting
    on: date
    accounts: tuple[str, ...] | None = None
    reason: str | None = None


# --- execution (handlers/execution.py) ---------------------------------------------------

class Fill(Command):
    """Fill the day's approved decisions at its close, then the cash requests cash covers."""

    user: Acting
    on: date


# --- read models (handlers/read_models.py) -----------------------------------------------

class RebuildProjections(Command):
    user: Acting


# --- users' keys (handlers/users.py) ------------------------------------------------------

class IssueKey(Command):
    """A new key for `holder`, shown once; a key the holder held is revoked."""

    user: Acting
    holder: str
    reason: str | None = None


class RevokeKey(Command):
    user: Acting
    holder: str
    reason: str | None = None


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

    user: Acting


# --- the Kafka relay (handlers/publish.py) ---------------------------------------------------

class Publish(Command):
    """Relay recorded events to a Kafka topic from the position last published to it:
    every trade, order, fill and decision event (`every_event`: every event). Without
    `follow`, what is there; with it, new events as they are recorded."""

    user: Acting
    bootstrap: str
    topic: str = "lotline.events"
    every_event: bool = False
    follow: bool = False
    partitions: int = 6  # when the topic is created
    replication: int = 1  # when the topic is created
    batch: int = 10_000  # positions sent and acknowledged at a time: the most a kill -9 makes the relay send again
    interval: float = 0.25  # seconds between polls while following
