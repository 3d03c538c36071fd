"""Replay and explain a recorded decision."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lotline.application.account_analysis import DayContext, run_analysis
from lotline.application.history import AccountHistory
from lotline.domain.account import Account
from lotline.domain.book import actions_of_securities
from lotline.domain.decision import Decision, DecisionOutcome, ProposedOrder
from lotline.domain.decision import decision_id as day_decision_id
from lotline.domain.errors import UnknownEntity
from lotline.domain.model import Model
from lotline.domain.security import Security
from lotline.domain.settings import FirmSettings
from lotline.domain.template import TargetTemplate

if TYPE_CHECKING:
    from lotline.application.lotline import Lotline
    from lotline.domain.market import MarketSnapshot


def recorded_decision(lotline: Lotline, decision_id: str, user: str) -> Decision.DecisionRecorded:
    from lotline.application.queries import readable_account

    lotline.catch_up()
    row = lotline.views.decision(decision_id)
    if row is None:
        raise UnknownEntity(f"unknown decision {decision_id!r}", "decision")
    readable_account(lotline, user, row.account_id)
    # A redo lives on the same stream as the day's first decision.
    events = lotline.store.events.get(Decision.id_for(day_decision_id(row.account_id, row.date)), gt=row.originator_version - 1,
                                      lte=row.originator_version)
    (event,) = list(events)
    return event


@dataclass
class ReplayOutcome:
    decision_id: str
    identical: bool
    differences: list[str]
    recorded: DecisionOutcome
    replayed: DecisionOutcome | None  # None: the decision could not be replayed


def replay(lotline: Lotline, decision_id: str, user: str) -> ReplayOutcome:
    """Rebuilds every input from the history as it stood at the decision and runs the
    same analysis again; compares order for order."""
    event = recorded_decision(lotline, decision_id, user)
    repository = lotline.store.repository
    return replay_recorded(decision_id, event, lambda stream, version: repository.get(stream, version=version),
                           lotline.snapshots.load)


def replay_recorded(decision_id: str, event: Decision.DecisionRecorded, aggregate_at: Callable[[Any, int], Any],
                    snapshot_of: Callable[[str], MarketSnapshot | None]) -> ReplayOutcome:
    """Replays a recorded decision with `aggregate_at(stream id, version)` (an aggregate
    as its first `version` events left it) and `snapshot_of(digest)` (a stored market)."""
    inputs = event.inputs
    account = aggregate_at(Account.id_for(event.account_id), inputs.account_version)
    template = aggregate_at(TargetTemplate.id_for(inputs.template_id), inputs.template_version)
    models = {m: aggregate_at(Model.id_for(m), v) for m, v in inputs.model_versions.items()}
    securities = {s: aggregate_at(Security.id_for(s), v) for s, v in inputs.security_versions.items()}
    settings = inputs.settings
    if inputs.settings_version:
        recorded_settings = aggregate_at(FirmSettings.ID, inputs.settings_version)
        from lotline.domain.settings import effective_settings

        settings = effective_settings(recorded_settings)
    if "ltcg_wait_days" not in inputs.settings:
        # Recorded before short-term gains were deferred: replayed as it was made.
        settings = {**settings, "ltcg_wait_days": Decimal(0)}
    if "max_price_age_days" not in inputs.settings:
        # Recorded before decisions required the day's closes: replayed as it was made.
        settings = {**settings, "max_price_age_days": Decimal(36_500)}
    snapshot = snapshot_of(inputs.market_digest)
    differences: list[str] = []
    if snapshot is None:
        return ReplayOutcome(decision_id, False, [f"market snapshot {inputs.market_digest} is missing"], event.outcome, None)
    risk = snapshot.risk_model(int(settings["risk_lookback_days"]), int(settings["risk_min_returns"]))
    history = AccountHistory(account, securities, actions_of_securities(securities.values()))
    context = DayContext(event.date, inputs.settings_version, dict(settings), snapshot, inputs.market_digest, risk,
                         {template.template_id: template}, dict(models), dict(securities))
    replayed_inputs, replayed = run_analysis(account, history, template, models, context, event.decision_id)
    if risk.digest() != inputs.risk_digest:
        differences.append(f"risk model digest: recorded {inputs.risk_digest[:12]}, replayed {risk.digest()[:12]}")
    if replayed_inputs.lots != inputs.lots:
        differences.append("lots differ from the recorded ones")
    if replayed_inputs.cash != inputs.cash:
        differences.append(f"cash: recorded {inputs.cash}, replayed {replayed_inputs.cash}")
    recorded = event.outcome
    if recorded.trade != replayed.trade:
        differences.append(f"trade: recorded {recorded.trade}, replayed {replayed.trade}")
    if recorded.reasons != replayed.reasons:
        differences.append(f"reasons: recorded {list(recorded.reasons)}, replayed {list(replayed.reasons)}")
    if recorded.benefit != replayed.benefit:
        differences.append(f"benefit: recorded {recorded.benefit}, replayed {replayed.benefit}")
    recorded_orders = {o.order_id: o for o in recorded.orders}
    replayed_orders = {o.order_id: o for o in replayed.orders}
    for order_id in sorted(set(recorded_orders) | set(replayed_orders)):
        a, b = recorded_orders.get(order_id), replayed_orders.get(order_id)
        if a is None:
            differences.append(f"{order_id}: not recorded, replayed {_order(b)}")
        elif b is None:
            differences.append(f"{order_id}: recorded {_order(a)}, not replayed")
        elif a != b:
            differences.append(f"{order_id}: recorded {_order(a)}, replayed {_order(b)}")
    from lotline.domain.analysis import ANALYSIS_RULES

    rules = inputs.libraries.get("analysis_rules", "1")
    if differences and rules != str(ANALYSIS_RULES):
        differences.insert(0, f"recorded under analysis rules {rules}, replayed under rules {ANALYSIS_RULES}: "
                              "the decision was made by an earlier version of the analysis")
    return ReplayOutcome(decision_id, not differences, differences, recorded, replayed)


def _order(order: ProposedOrder) -> str:
    lots = ", ".join(f"{r.lot_id}:{r.quantity}" for r in order.lots)
    return (f"{order.side} {order.quantity} {order.symbol} @ {order.price} ({order.reason})"
            + (f" from [{lots}]" if lots else ""))


def explain(lotline: Lotline, decision_id: str, user: str) -> dict[str, Any]:
    """`lotline explain` (``explanation``)."""
    from lotline.application.explanation import explain as told

    return told(lotline, decision_id, user)
