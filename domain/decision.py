"""A recorded decision: everything one analysis read, what it found, and what it proposed.
Complete enough that `replay` can rebuild the inputs and check the result years later."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from domain.parameters import Parameters

# The triggers the contract names, in the order they are reported.
CASH_REQUEST = "cash_request"
RESTRICTION = "restriction"
DRIFT_LIMIT = "drift_limit"
NET_BENEFIT = "net_benefit"
NO_TRADE = "no_trade"
BELOW_THRESHOLD = "benefit_below_threshold"
NO_ORDERS = "no_orders_after_rounding"


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LotRecord(_Record):
    lot_id: str
    symbol: str
    quantity: Decimal
    cost_basis: Decimal
    acquired: dt.date
    holding_period_start: dt.date
    wash_sale_adjustment: Decimal = Decimal(0)


class LotRelief(_Record):
    lot_id: str
    quantity: Decimal


class ProposedOrder(_Record):
    order_id: str
    side: str  # buy | sell
    symbol: str
    quantity: Decimal
    price: Decimal
    value: Decimal
    reason: str  # drift | cash | restriction | harvest | model_change | rebalance
    mandatory: bool = False
    realised_gain: Decimal = Decimal(0)
    lots: tuple[LotRelief, ...] = ()


class ObjectiveRecord(_Record):
    """Objective terms in dollars."""

    tracking: Decimal
    tax: Decimal
    cost: Decimal
    total: Decimal


class DecisionInputs(_Record):
    """What the analysis read, by version and digest where it is stored elsewhere, inline otherwise."""

    account_version: int
    template_id: str
    template_version: int
    model_versions: dict[str, int]
    security_versions: dict[str, int]
    settings_version: int
    settings: dict[str, Decimal]
    market_digest: str
    risk_digest: str
    tax_status: str
    parameters: Parameters
    cash: Decimal
    lots: tuple[LotRecord, ...]
    prices: dict[str, Decimal]
    total_value: Decimal
    required_cash: Decimal
    gain_budget_remaining: Decimal | None
    optimiser: dict[str, str]
    libraries: dict[str, str]


class ClassPosition(_Record):
    asset_class: str
    weight: Decimal
    target_weight: Decimal
    drift_limit: Decimal | None


class DecisionOutcome(_Record):
    """What the analysis concluded."""

    trade: bool
    reasons: tuple[str, ...]
    benefit: Decimal
    threshold: Decimal
    before: ObjectiveRecord
    after: ObjectiveRecord
    classes: tuple[ClassPosition, ...]
    orders: tuple[ProposedOrder, ...]  # proposed when trade, else what it would have done
    notes: tuple[str, ...] = ()
    solves: int = 0
