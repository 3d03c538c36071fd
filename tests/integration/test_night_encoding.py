"""Events are written by pydantic's JSON writer (the night's hot path): the stored bytes
must stay exactly what json.dumps of the dumped state wrote before, so the integrity
chain, an outside copy of the history and every reader see the same history."""

from __future__ import annotations

import zlib

from lotline.application.commands import Rebalance
from lotline.application.handlers.analysis import rebalance
from lotline.application.lotline import Lotline
from lotline.infrastructure.eventstore import legacy_encoding


def _plain(state: bytes) -> bytes:
    return zlib.decompress(state) if state[:1] == b"x" else state


def test_every_event_of_a_night_is_stored_as_json_dumps_wrote_it(sqlite_url):
    from benchmarks.daily_run import DAY, write_firm

    write_firm(sqlite_url, 3, seed=5)
    with Lotline(sqlite_url) as lotline:
        results = rebalance(Rebalance(user="olivia", on=DAY), lotline)
        assert len(results) == 3 and all(r.decision_id for r in results)
        notifications = lotline.store.recorder.select_notifications(start=1, limit=10_000)
        topics = {n.topic.rsplit(":", 1)[-1] for n in notifications}
        assert "Decision.DecisionRecorded" in topics and "Account.Opened" in topics
        for notification in notifications:
            event = lotline.store.mapper.to_domain_event(notification)
            assert _plain(notification.state) == legacy_encoding(event), notification.topic
            assert _plain(lotline.store.mapper.to_stored_event(event).state) == legacy_encoding(event)


def test_an_event_with_text_beyond_ascii_keeps_its_escaped_encoding(sqlite_url):
    from tests.integration.test_event_store import _actor

    from lotline.domain.security import Security

    event = Security.admit("ITOT", "us_equity", "us-total", _actor()).collect_events()[0]
    event = event.model_copy(update={"asset_class": "équité"})
    with Lotline(sqlite_url) as lotline:
        stored = lotline.store.mapper.to_stored_event(event)
        assert stored.state == legacy_encoding(event)
        assert b"\\u00e9quit\\u00e9" in stored.state
        assert lotline.store.mapper.to_domain_event(stored).asset_class == "équité"
