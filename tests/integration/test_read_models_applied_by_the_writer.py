"""A night's decisions reach the read models as they are recorded: the writer (a pool
or Kafka worker, or the night's own process) applies each new decision's rows in the
transaction that records it, from the event it has in memory, and the catch-up skips
them. The read models must end as the catch-up alone would have left them, whatever
fails, and whatever is rebuilt or reshaped later."""

from __future__ import annotations

import sqlite3
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from lotline.application.commands import Rebalance
from lotline.application.demo import build_firm
from lotline.application.handlers.analysis import rebalance
from lotline.application.lotline import Lotline
from lotline.projections.decisions import DecisionsAndOrders
from lotline.projections.tracking import ReadModels
from tests.helpers import read_model_contents, scalar

START = date(2026, 3, 2)
NEXT = date(2026, 3, 3)
ACCOUNTS = 8
AT = datetime(2026, 3, 2, 21, tzinfo=timezone.utc)


def _firm(url: str) -> None:
    with Lotline(url, clock=lambda: AT) as lotline:
        build_firm(lotline, ACCOUNTS, seed=3, start=START)
        lotline.catch_up()


def _night(url: str, on: date) -> None:
    with Lotline(url, clock=lambda: datetime.combine(on, AT.timetz())) as lotline:
        rebalance(Rebalance(user="olivia", on=on, workers=1), lotline)


def _night_left_to_the_writer(url: str, monkeypatch: pytest.MonkeyPatch) -> list:
    """The night with no catch-up at all: what the read models hold is the writer's."""
    with Lotline(url, clock=lambda: AT) as lotline, monkeypatch.context() as patch:
        patch.setattr(Lotline, "catch_up", lambda self: None)
        return rebalance(Rebalance(user="olivia", on=START, workers=1), lotline)


def test_a_nights_decisions_are_in_the_read_models_as_recorded_and_as_a_rebuild_gives_them(store_url, monkeypatch):
    _firm(store_url)
    results = _night_left_to_the_writer(store_url, monkeypatch)
    with Lotline(store_url, clock=lambda: AT) as lotline:
        # Nothing caught up since the firm was built, yet every decision and its orders
        # are there, each at its own position in the history.
        behind = scalar(store_url, "SELECT min(position) FROM projection_tracking")
        assert behind < scalar(store_url, "SELECT max(id) FROM lotline_events")
        shown = {row.account_id: row for row in lotline.views.decisions_of_day(START)}
        assert sorted(shown) == sorted(r.account for r in results) and len(shown) == ACCOUNTS
        assert all(row.position > behind for row in shown.values())
        assert scalar(store_url, "SELECT count(*) FROM orders") == sum(r.orders for r in results) > 0
        assert scalar(store_url, "SELECT count(*) FROM audit_events WHERE kind = 'decision'") == ACCOUNTS
        lotline.catch_up()
        # The catch-up applied none of them twice, and dropped the marks as it passed them.
        assert scalar(store_url, "SELECT count(*) FROM inline_applied") == 0
        assert scalar(store_url, "SELECT count(*) FROM decisions") == ACCOUNTS
        caught_up = read_model_contents(store_url)
        lotline.read_models.rebuild()
    assert read_model_contents(store_url) == caught_up


def _copy(url: str, tmp_path: Path, name: str) -> str:
    """A copy of a SQLite store, through SQLite's backup (what is still in the WAL too)."""
    target = tmp_path / name
    with sqlite3.connect(url.removeprefix("sqlite:///")) as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return f"sqlite:///{target}"


def _comparable(url: str) -> dict[str, list]:
    """The read models, but for when each event was recorded: the store's clock never goes
    back past the machine's time of the newest chained event, so a second night's events
    carry the time the test ran."""
    contents = read_model_contents(url)
    for table in ("event_chain", "chain_head"):
        contents.pop(table, None)
    timestamp = 6  # audit_events: position, originator_id, kind, entity_id, account_id, type, timestamp, ...
    contents["audit_events"] = [row[:timestamp] + row[timestamp + 1:] for row in contents["audit_events"]]
    return contents


def test_read_models_end_as_the_catch_up_alone_leaves_them_when_one_fails_on_a_decision(sqlite_url, tmp_path,
                                                                                          monkeypatch):
    """The decisions read model cannot apply one account's first decision: the decision
    is recorded all the same, the read model's failure is recorded for that account only
    (it is then skipped: the next night's decision too, which it could apply), and every
    read model ends exactly as it does when the writer applies nothing."""
    _firm(sqlite_url)
    without = _copy(sqlite_url, tmp_path, "without.db")
    apply = DecisionsAndOrders.apply

    def failing(self, session, event, position):
        if getattr(event, "account_id", None) == "DEMO-0003" and getattr(event, "date", None) == START:
            raise ValueError("cannot show this decision")
        apply(self, session, event, position)

    monkeypatch.setattr(DecisionsAndOrders, "apply", failing)
    _night(sqlite_url, START)
    _night(sqlite_url, NEXT)
    assert scalar(sqlite_url, "SELECT count(*) FROM lotline_events WHERE topic LIKE '%DecisionRecorded'") == 2 * ACCOUNTS
    assert scalar(sqlite_url, "SELECT count(*) FROM read_model_failures WHERE account_id = 'DEMO-0003' "
                               "AND projection = 'decisions'") == 1
    assert scalar(sqlite_url, "SELECT count(*) FROM read_model_failures") == 1
    assert scalar(sqlite_url, "SELECT count(*) FROM decisions") == 2 * (ACCOUNTS - 1)
    # The same history, with the writer applying nothing: the same read models.
    monkeypatch.setattr(ReadModels, "apply_recorded", lambda self, recorded: 0)
    _night(without, START)
    _night(without, NEXT)
    assert _comparable(sqlite_url) == _comparable(without)


def test_a_read_model_rebuilt_or_reshaped_gets_back_the_decisions_the_writer_applied(sqlite_url, tmp_path,
                                                                                      monkeypatch):
    """Marks of what the writer applied must not make a read model emptied since (a
    rebuild, or a newer version's reshaped tables) skip those decisions."""
    _firm(sqlite_url)
    reshaped = _copy(sqlite_url, tmp_path, "reshaped.db")
    _night_left_to_the_writer(sqlite_url, monkeypatch)
    assert scalar(sqlite_url, "SELECT count(*) FROM inline_applied") > 0
    with Lotline(sqlite_url, clock=lambda: AT) as lotline:
        lotline.read_models.rebuild()
    assert scalar(sqlite_url, "SELECT count(*) FROM decisions") == ACCOUNTS
    rebuilt = _comparable(sqlite_url)

    _night_left_to_the_writer(reshaped, monkeypatch)
    # A newer version reads the decisions table with other columns: it is dropped and
    # built again from the whole history.
    engine = create_engine(reshaped)
    with engine.begin() as c:
        c.execute(text("ALTER TABLE decisions ADD COLUMN from_an_older_version TEXT"))
    engine.dispose()
    with Lotline(reshaped, clock=lambda: AT) as lotline:
        lotline.catch_up()
    assert scalar(reshaped, "SELECT count(*) FROM decisions") == ACCOUNTS
    assert _comparable(reshaped) == rebuilt
