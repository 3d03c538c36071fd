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

        def counted(self, session, after):
            notifications = select(self, session, after)
            batches.append(sum(len(zlib.decompress(n.state)) if n.state[:1] == b"x" else len(n.state)
                               for n in notifications if "DecisionRecorded" in n.topic))
            return notifications

        monkeypatch.setattr(tracking.ReadModels, "_select_notifications", counted)
        lotline.read_models.rebuild()
    # Each batch stops once past the cap: at most the cap plus one decision of JSON.
    assert max(batches) <= 4 * largest
    assert sum(batches) == sum(len(zlib.decompress(state)) for state in compressed)
