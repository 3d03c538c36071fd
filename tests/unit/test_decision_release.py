"""Which decisions are released: `Decision.releasable` under an `ApprovalPolicy`."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal as D

import pytest

from lotline.domain.aggregate import Actor
from lotline.domain.decision import (
    ApprovalPolicy,
    Decision,
    DecisionInputs,
    DecisionOutcome,
    ObjectiveRecord,
    ProposedOrder,
)
from lotline.domain.errors import InvalidInput
from lotline.domain.parameters import Parameters
from lotline.domain.roles import Role
from lotline.domain.vocabulary import OrderReason, OrderStatus, Trigger

ON = date(2026, 3, 2)
OLIVIA = Actor("olivia", Role.OVERLAY_MANAGER, ON, datetime(2026, 3, 2, 21, tzinfo=timezone.utc))
ZERO = ObjectiveRecord(tracking=D(0), tax=D(0), cost=D(0), total=D(0))
INPUTS = DecisionInputs(
    account_version=1, template_id="balanced", template_version=1, model_versions={}, security_versions={},
    settings_version=0, settings={}, market_digest="m", risk_digest="r", tax_status="taxable",
    parameters=Parameters(), cash=D(0), lots=(), prices={}, total_value=D(0), required_cash=D(0),
    gain_budget_remaining=None, optimiser={}, libraries={},
)
SALE = ProposedOrder(order_id="ACC-1/2026-03-02/1", side="sell", symbol="VTI", quantity=D(1), price=D(250),
                     value=D(250), reason=OrderReason.REBALANCE)


def decision(*reasons: Trigger, benefit: str = "0", trade: bool = True) -> Decision:
    outcome = DecisionOutcome(trade=trade, reasons=reasons, benefit=D(benefit), threshold=D(10), before=ZERO,
                              after=ZERO, classes=(), orders=(SALE,))
    return Decision.first_record("ACC-1", ON, INPUTS, outcome, OLIVIA)


EVERYTHING = ApprovalPolicy(mandatory_only=False, min_benefit=D(0))
MANDATORY = ApprovalPolicy(mandatory_only=True, min_benefit=D(0))


@pytest.mark.parametrize("trigger", [Trigger.CASH_REQUEST, Trigger.RESTRICTION, Trigger.DRIFT_LIMIT])
def test_a_decision_an_instruction_demands_is_released_whatever_its_benefit(trigger):
    assert decision(trigger, benefit="-5").releasable(MANDATORY)
    assert decision(trigger, Trigger.NET_BENEFIT, benefit="1").releasable(ApprovalPolicy(False, D(1000)))


def test_a_benefit_only_decision_is_held_back_when_only_instructions_are_released():
    held = decision(Trigger.NET_BENEFIT, benefit="500").releasable(MANDATORY)
    assert not held and "only such decisions are released" in held.why_not
    assert decision(Trigger.NET_BENEFIT, benefit="500").releasable(EVERYTHING)


def test_a_benefit_only_decision_is_released_from_the_minimum_benefit_up():
    policy = ApprovalPolicy(mandatory_only=False, min_benefit=D(100))
    held = decision(Trigger.NET_BENEFIT, benefit="99.99").releasable(policy)
    assert not held.releasable and held.why_not.endswith("net benefit 99.99 is below the minimum 100")
    assert decision(Trigger.NET_BENEFIT, benefit="100").releasable(policy).releasable


def test_a_decision_without_proposed_orders_is_not_releasable():
    quiet = decision(Trigger.NO_TRADE, Trigger.BENEFIT_BELOW_THRESHOLD, trade=False).releasable(EVERYTHING)
    assert not quiet and quiet.why_not == "ACC-1/2026-03-02 has no proposed orders (it is no_trade)"
    released = decision(Trigger.DRIFT_LIMIT)
    released.approve(released.orders_in(OrderStatus.PROPOSED), OLIVIA)
    assert released.releasable(EVERYTHING).why_not == "ACC-1/2026-03-02 has no proposed orders (it is approved)"


def test_a_negative_minimum_benefit_is_refused():
    with pytest.raises(InvalidInput, match="min_benefit: must not be negative, got -1"):
        ApprovalPolicy(mandatory_only=False, min_benefit=D(-1))
