"""Test helpers that look at a store from outside Lotline."""

from __future__ import annotations

from sqlalchemy import create_engine, inspect, text


def store_contents(url: str) -> dict[str, list]:
    """Every row of the event, price and key-credential tables: 'nothing recorded' means
    this is unchanged."""
    engine = create_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        out = {}
        with engine.connect() as c:
            for table in ("lotline_events", "prices", "user_keys"):
                out[table] = [tuple(r) for r in c.execute(text(f"SELECT * FROM {table} ORDER BY 1"))] if table in tables else []
        return out
    finally:
        engine.dispose()


def read_model_contents(url: str) -> dict[str, list]:
    """Every row of every read-model table, for comparing a rebuild with incremental state."""
    engine = create_engine(url)
    try:
        out = {}
        with engine.connect() as c:
            for table in sorted(inspect(engine).get_table_names()):
                if table in ("lotline_events", "prices", "projection_tracking") or table.startswith("lotline_"):
                    continue
                out[table] = sorted(tuple(str(v) for v in r) for r in c.execute(text(f"SELECT * FROM {table}")))
        return out
    finally:
        engine.dispose()


def scalar(url: str, sql: str) -> int:
    """One number a query gives (0 for none)."""
    engine = create_engine(url)
    try:
        with engine.connect() as c:
            return c.execute(text(sql)).scalar() or 0
    finally:
        engine.dispose()
