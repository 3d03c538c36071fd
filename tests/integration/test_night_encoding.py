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


def test_a_decision_recorded_by_another_writer_after_the_batch_looked_is_kept_and_built_on(sqlite_url):
    """The night reads which accounts of a batch are still undecided in one query; a
    writer recording one of them in the meantime makes the batch's commit collide, and
    the batch is redone account by account on the decision as it now stands."""
    from benchmarks.daily_run import DAY, write_firm

    from lotline.application.account_analysis import day_context, optimised
    from lotline.application.batch_analysis import rebalance_accounts
    from lotline.domain.decision import Decision, decision_id
    from lotline.domain.roles import Role
    from lotline.domain.aggregate import Actor
    from datetime import datetime, timezone

    write_firm(sqlite_url, 3, seed=5)
    actor = Actor("olivia", Role.OVERLAY_MANAGER, DAY, datetime(2026, 3, 2, 22, tzinfo=timezone.utc))
    interfered = []

    def decide_and_interfere(analysis, key):
        if not interfered:  # while the first account is analysed, another writer fails the second's
            interfered.append(True)
            with Lotline(sqlite_url) as other:
                other.execute(lambda uow: uow.add(Decision.first_failure("A000001", DAY, "the other writer", actor)))
        return optimised(analysis, key)

    with Lotline(sqlite_url) as lotline:
        results = rebalance_accounts(lotline, ["A000000", "A000001", "A000002"], day_context(lotline, DAY), actor,
                                     decide=decide_and_interfere)
        assert [r.account for r in results if r.decision_id] == ["A000000", "A000001", "A000002"]
        decision = lotline.fresh().get(Decision, decision_id("A000001", DAY))
        assert decision.recorded is not None and decision.failures == ["the other writer"]
        assert decision.version == 2  # the failure, then the decision recorded on it
