"""Errors that say the store cannot be reached or used just now (a dropped connection, a
database restarting, SQLite busy past its timeout), as against an error of one event or
one account. A long-running process waits and tries again; a catch-up stops and leaves
the batch for the next."""

from __future__ import annotations

import sqlalchemy.exc
from eventsourcing.persistence import InterfaceError, OperationalError

STORE_UNAVAILABLE: tuple[type[Exception], ...] = (
    sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, OperationalError, InterfaceError,
)
