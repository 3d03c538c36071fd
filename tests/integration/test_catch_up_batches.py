"""The read models catch up in batches bounded by the events' JSON, compressed or not:
a night's decisions (stored compressed, six to one) are not decoded thousands at once,
so the memory of a night does not grow with its accounts."""

from __future__ import annotations

import zlib
from datetime import date, datetime, timezone

from lotline.application.commands import Rebalance
from lotline.application.demo import build_firm
from lotline.application.handlers.analysis import rebalance
from lotline.application.lotline import Lotline
from lotline.projections import tracking

START = date(2026, 3, 2)


def test_a_catch_up_batch_holds_compressed_decisions_by_their_json_size(sqlite_url, monkeypatch):
    with Lotline(sqlite_url, clock=lambda: datetime(2026, 3, 2, 21, tzinfo=timezone.utc)) as lotline:
        build_firm(lotline, 12, seed=3, start=START)
        rebalance(Rebalance(user="olivia", on=START), lotline)
        decided = lotline.store.recorder.select_notifications(start=None, limit=1000,
                                                              topics=["domain.decision:Decision.DecisionRecorded"])
        compressed = [n.state for n in decided if n.state[:1] == b"x"]
        assert len(compressed) == 12
        largest = max(len(zlib.decompress(state)) for state in compressed)
        monkeypatch.setattr(tracking, "BATCH_BYTES", 3 * largest)
        batches: list[int] = []
        select = tracking.ReadModels._select_notifications

        def counted(self, session, after, *cap):
            notifications = select(self, session, after, *cap)
            batches.append(sum(len(zlib.decompress(n.state)) if n.state[:1] == b"x" else len(n.state)
                               for n in notifications if "DecisionRecorded" in n.topic))
            return notifications

        monkeypatch.setattr(tracking.ReadModels, "_select_notifications", counted)
        lotline.read_models.rebuild()
    # Each batch stops once past the cap: at most the cap plus one decision of JSON.
    assert max(batches) <= 4 * largest
    assert sum(batches) == sum(len(zlib.decompress(state)) for state in compressed)


def test_a_catch_up_beside_the_pools_writers_holds_a_few_decisions_a_transaction(sqlite_url, monkeypatch):
    """While the night's workers record, the read models follow in short transactions (on
    SQLite each holds the write lock the workers need), and end as a whole catch-up would."""
    from lotline.application import lotline as lotline_module

    with Lotline(sqlite_url, clock=lambda: datetime(2026, 3, 2, 21, tzinfo=timezone.utc)) as lotline:
        build_firm(lotline, 12, seed=3, start=START)
        lotline.catch_up()
        rebalance_without_catch_up = Rebalance(user="olivia", on=START)
        monkeypatch.setattr(Lotline, "catch_up", lambda self: None)  # the decisions left behind
        rebalance(rebalance_without_catch_up, lotline)
        monkeypatch.undo()
        decided = lotline.store.recorder.select_notifications(start=None, limit=1000,
                                                              topics=["domain.decision:Decision.DecisionRecorded"])
        largest = max(len(zlib.decompress(n.state)) if n.state[:1] == b"x" else len(n.state) for n in decided)
        monkeypatch.setattr(lotline_module, "CATCH_UP_BESIDE_WRITERS_BYTES", 2 * largest)
        decisions_a_batch: list[int] = []
        select = tracking.ReadModels._select_notifications

        def counted(self, session, after, *cap):
            notifications = select(self, session, after, *cap)
            decisions_a_batch.append(sum("DecisionRecorded" in n.topic for n in notifications))
            return notifications

        monkeypatch.setattr(tracking.ReadModels, "_select_notifications", counted)
        lotline.catch_up_beside_writers()
        monkeypatch.undo()
        followed = lotline.views.decisions_of_day(START)
        lotline.read_models.rebuild()
        rebuilt = lotline.views.decisions_of_day(START)
    assert len(followed) == 12 and followed == rebuilt
    # Each transaction stops once past the cap: at most three decisions.
    assert 1 <= max(decisions_a_batch) <= 3
