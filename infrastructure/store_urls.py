"""Which store a command means: its SQLAlchemy URL (--store, LOTLINE_STORE, the
embedded SQLite file), checked, and a SQLite store's file. Light (no event store
library), so a read answered from the read models alone needs nothing heavier."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from lotline.domain.errors import InvalidInput
from lotline.domain.values import shown

DEFAULT_STORE = "sqlite:///lotline.db"


def store_url(explicit: str | None, environ: dict[str, str]) -> str:
    """--store, then LOTLINE_STORE, then the embedded SQLite file; checked to be a
    SQLite or PostgreSQL URL (InvalidInput on `store` otherwise)."""
    url = explicit or environ.get("LOTLINE_STORE") or DEFAULT_STORE
    check_store_url(url)
    return url


STORE_URL_FORMS = "sqlite:///PATH.db or postgresql+psycopg://USER@HOST/DB"


def check_store_url(url: str) -> Any:
    """The parsed SQLAlchemy URL of a store: SQLite (pysqlite) or PostgreSQL (psycopg)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    except (ArgumentError, ValueError, TypeError, AttributeError):
        raise InvalidInput(f"not a database URL ({STORE_URL_FORMS}), got {shown(url)}", "store") from None
    if backend not in ("sqlite", "postgresql"):
        raise InvalidInput(f"only SQLite and PostgreSQL stores are supported ({STORE_URL_FORMS}), got "
                           f"{shown(safe_url(url))}", "store")
    wanted = {"sqlite": ("pysqlite",), "postgresql": ("psycopg", "psycopg2")}[backend]
    if driver not in wanted or (driver == "psycopg2" and importlib.util.find_spec("psycopg2") is None):
        raise InvalidInput(f"the {backend} driver {driver!r} is not available ({STORE_URL_FORMS}), got "
                           f"{shown(safe_url(url))}", "store")
    return parsed


def create_private_file(url: str) -> None:
    """A new SQLite store is created readable and writable by its owner only (0600):
    the history of a firm's clients is nobody else's to read. An existing file keeps
    the mode it has."""
    path = sqlite_file(url)
    if path is None or path.exists():
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass


def safe_url(url: str) -> str:
    """The URL as an error may show it: the password hidden."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not a URL at all: shown as given
        return url


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite store (None for PostgreSQL or an in-memory database)."""
    parsed = check_store_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database.startswith("file:"):  # a SQLite URI filename (uri=true): file:PATH?mode=...
        if "mode=memory" in database or "mode=memory" in str(parsed.query):
            return None
        database = database[len("file:"):].split("?", 1)[0]
    if not database or database == ":memory:":
        return None
    return Path(database)
