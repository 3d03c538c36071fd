"""The event store itself: old event versions read back upcast; concurrent writers."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from eventsourcing.persistence import StoredEvent

from lotline.application.lotline import Lotline
from lotline.domain.account import Account
from lotline.domain.security import Security
from tests.scenarios import CONTRACT_EXAMPLE


def test_a_stored_v1_event_is_read_back_upcast(store_url):
    with Lotline(store_url) as lotline:
        v1_state = {
            "timestamp": "2024-05-01T20:00:00+00:00", "actor": "ipc", "role": "policy_committee",
            "effective_date": "2024-05-01", "reason": None, "symbol": "VTI", "asset_class": "us_equity",
        }
        lotline.store.recorder.insert_events([StoredEvent(
            originator_id=Security.id_for("VTI"), originator_version=1,
            topic="domain.security:Security.Listed", state=json.dumps(v1_state).encode(),
        )])
        security = lotline.store.repository.get(Security.id_for("VTI"))
        assert security.wash_group == "VTI"
        assert security.asset_class == "us_equity"
        # New events are written at the current version and read back unchanged.
        fresh = lotline.store.mapper.to_stored_event(Security.admit("ITOT", "us_equity", "us-total", _actor()).collect_events()[0])
        assert json.loads(fresh.state)["class_version"] == 2
        assert lotline.store.mapper.to_domain_event(fresh).wash_group == "us-total"


def _actor():
    from datetime import date, datetime, timezone

    from lotline.domain.aggregate import Actor
    from lotline.domain.roles import Role

    return Actor("ipc", Role.POLICY_COMMITTEE, date(2026, 1, 5), datetime(2026, 1, 5, tzinfo=timezone.utc))


WRITER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from lotline.application.commands import LoadScenario
    from lotline.application.handlers.setup import load_scenario
    from lotline.application.lotline import Lotline
    url, folder, name, count = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    with Lotline(url) as lotline:
        for i in range(count):
            path = folder / f"{name}-{i}.yaml"
            path.write_text(
                "cash_movements:\\n"
                f"  - {{account: ACC-1, date: 2026-01-20, amount: '{i + 1}', reason: '{name} {i}'}}\\n"
            )
            load_scenario(LoadScenario(path=path, user="alice"), lotline)  # ACC-1's advisor
""")


def test_two_writers_on_one_account_lose_no_event(store_url, tmp_path):
    with Lotline(store_url) as lotline:
        from lotline.application.commands import LoadScenario
        from lotline.application.handlers.setup import load_scenario

        scenario = tmp_path / "firm.yaml"
        scenario.write_text(CONTRACT_EXAMPLE)
        load_scenario(LoadScenario(path=scenario), lotline)
    count = 12
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, store_url, str(tmp_path), name, str(count)],
                         stderr=subprocess.PIPE, text=True)
        for name in ("first", "second")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
    from lotline.application.queries import audit

    with Lotline(store_url) as lotline:
        trail = audit(lotline, "ACC-1", "carol")
        account = lotline.store.repository.get(Account.id_for("ACC-1"))
    reasons = [e["reason"] for e in trail if e["type"] == "CashDeposited" and e["effective_date"] == "2026-01-20"]
    assert sorted(reasons) == sorted(f"{n} {i}" for n in ("first", "second") for i in range(count))
    assert account.version == len(trail)


def test_large_events_are_stored_compressed_and_read_back_whole(store_url):
    from datetime import date
    from decimal import Decimal

    with Lotline(store_url) as lotline:
        actor = _actor()
        securities = {"VTI": Security.admit("VTI", "us_equity", None, actor)}
        from lotline.domain.account import Account, LotArrival
        from lotline.domain.parameters import TaxStatus
        from lotline.domain.template import ClassTarget, TargetTemplate
        from lotline.domain.model import Model

        model = Model.create("m", {"VTI": Decimal("1")}, securities, actor)
        template = TargetTemplate.create("t", {"us_equity": ClassTarget(weight=Decimal("1"), model="m")}, {"m": model}, actor)
        account = Account.open("BIG", "alice", TaxStatus.TAXABLE, template, date(2026, 1, 5), actor)
        lots = [LotArrival(symbol="VTI", quantity=Decimal(i + 1), cost_basis=Decimal(100 * (i + 1)), acquired=date(2025, 1, 2))
                for i in range(200)]
        account.transfer_in(lots, date(2026, 1, 5), securities, actor)
        event = account.collect_events()[-1]
        stored = lotline.store.mapper.to_stored_event(event)
        assert len(stored.state) < len(event.model_dump_json()) / 3
        lotline.store.save(event)
        again = list(lotline.store.events.get(Account.id_for("BIG")))[0]
        assert again == event


def test_the_later_writer_revalidates_against_the_new_state_and_is_refused(store_url, tmp_path):
    """Two overlay managers release the same orders at once: the one who commits second
    runs again on the new state, where the orders are no longer proposed."""
    from datetime import date, datetime, timezone

    import pytest

    from lotline.application.commands import Approve, LoadScenario, Rebalance
    from lotline.application.handlers.release import approve
    from lotline.application.handlers.setup import load_scenario
    from lotline.domain.aggregate import Actor
    from lotline.domain.decision import Decision
    from lotline.domain.errors import RuleRefused
    from lotline.domain.roles import Role
    from tests.integration.test_rebalance_behaviour import POLICY

    scenario = tmp_path / "firm.yaml"
    scenario.write_text(POLICY + '\naccounts:\n  - {id: N, advisor: alice, template: balanced, opened: 2025-01-02, cash: "50000"}\n'
                        'prices:\n  2026-03-02: {VTI: "300", SCHB: "25", BND: "73", VGIT: "60"}\n')
    with Lotline(store_url) as lotline:
        load_scenario(LoadScenario(path=scenario), lotline)
        from lotline.application.handlers.analysis import rebalance

        (result,) = rebalance(Rebalance(user="olivia", on=date(2026, 3, 2)), lotline)
        assert result.trade
        olivia = Actor("olivia", Role.OVERLAY_MANAGER, date(2026, 3, 2), datetime(2026, 3, 2, 22, tzinfo=timezone.utc))
        attempts = []

        def release(uow):
            attempts.append(1)
            decision = uow.get(Decision, result.decision_id)
            order_ids = sorted(decision.status)
            if len(attempts) == 1:  # meanwhile, the other writer commits first
                lotline.execute(lambda other: other.get(Decision, result.decision_id).approve(order_ids, olivia))
            decision.approve(order_ids, olivia)

        with pytest.raises(RuleRefused, match=r"is approved, not proposed"):
            lotline.execute(release)
        assert len(attempts) == 2
        events = list(lotline.store.events.get(Decision.id_for(result.decision_id)))
        assert [type(e).__name__ for e in events] == ["DecisionRecorded", "OrdersApproved"]
        assert approve(Approve(user="olivia", on=date(2026, 3, 2)), lotline).orders == 0
