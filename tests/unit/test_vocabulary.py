"""The vocabulary a decision is told in (domain/vocabulary.py): codes stored as the
strings they were, each with its plain words."""

from __future__ import annotations

import json
from decimal import Decimal as D

from lotline.domain.decision import DecisionOutcome, ObjectiveRecord, ProposedOrder
from lotline.domain.vocabulary import REASON_WORDS, TRIGGER_WORDS, OrderReason, OrderStatus, Trigger

ZERO = ObjectiveRecord(tracking=D(0), tax=D(0), cost=D(0), total=D(0))


def test_codes_are_the_strings_stored_and_every_code_has_its_words():
    assert Trigger.DRIFT_LIMIT == "drift_limit" and OrderReason("harvest") is OrderReason.HARVEST
    assert repr(OrderStatus.FILLED) == "'filled'" and f"{OrderStatus.FILLED}" == "filled"
    assert OrderStatus.ALL == tuple(OrderStatus)
    assert TRIGGER_WORDS["net_benefit"] == Trigger.NET_BENEFIT.meaning
    assert set(REASON_WORDS) == set(OrderReason) and all(REASON_WORDS.values())


def test_a_stored_outcome_loads_into_the_enums_and_serialises_as_it_was_stored():
    sale = ProposedOrder(order_id="ACC-1/2026-03-02/1", side="sell", symbol="VTI", quantity=D(1), price=D(250),
                         value=D(250), reason=OrderReason.DRIFT_LIMIT)
    stored = DecisionOutcome(trade=True, reasons=(Trigger.DRIFT_LIMIT,), benefit=D(0), threshold=D(10), before=ZERO,
                             after=ZERO, classes=(), orders=(sale,)).model_dump_json()
    assert '"reasons":["drift_limit"]' in stored and '"reason":"drift_limit"' in stored
    loaded = DecisionOutcome.model_validate(json.loads(stored))
    assert loaded.reasons == (Trigger.DRIFT_LIMIT,) and type(loaded.orders[0].reason) is OrderReason
    assert loaded.model_dump_json() == stored


def test_a_decision_recorded_with_the_former_codes_is_read_with_the_contract_codes():
    from lotline.domain.decision import Decision

    def order(n, side, reason, gain="0"):
        return {"order_id": f"A/2026-03-02/{n}", "side": side, "symbol": "VTI", "quantity": "1", "price": "250",
                "value": "250", "reason": reason, "realised_gain": gain, "lots": []}

    def upcast(triggers, *orders):
        state = {"outcome": {"reasons": triggers, "orders": list(orders)}}
        return [o["reason"] for o in Decision.DecisionRecorded.upcast(state, 1)["outcome"]["orders"]]

    former = [order(1, "buy", "drift"), order(2, "buy", "model_change"), order(3, "sell", "cash", "5"),
              order(4, "sell", "harvest", "-3"), order(5, "sell", "harvest", "12"), order(6, "sell", "restriction")]
    assert upcast(["drift_limit"], *former) == ["drift_limit", "transition", "cash_request", "harvest", "drift_limit",
                                                "restriction"]
    # Without a drift limit behind the decision, a former `drift` order, and a `harvest`
    # that realised a gain, were rebalancing.
    assert upcast(["net_benefit"], *former)[0::4] == ["rebalance", "rebalance"]
    assert Decision.DecisionRecorded.class_version == 2 and all(r in set(OrderReason) for r in upcast([], *former))
