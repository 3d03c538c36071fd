"""What one analysis of one account on one day hands the optimiser.

Plain floats: the caller converts from Decimal at the boundary and quantises the
orders that come back. Importing this module does not import numpy, so the layers
that only build problems stay light.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lotline.domain.risk import RiskModel

CASH_CLASS = "cash"


@dataclass(frozen=True, slots=True)
class SecurityInput:
    """A security the account holds or its target names.

    ``target_weight`` is the blended target (0 for a holding outside the target);
    ``can_buy`` is false for restricted and wash-blocked securities;
    ``must_exit`` is the do-not-hold restriction: the position goes to zero today;
    ``class_below_target``: its asset class weighs less than its target before trading
    (compared exactly, before the conversion to floats), which makes a purchase of it
    a move back toward the target rather than a model change (see ``reasons``)."""

    symbol: str
    asset_class: str
    wash_group: str
    price: float
    target_weight: float
    can_buy: bool = True
    must_exit: bool = False
    class_below_target: bool = False


@dataclass(frozen=True, slots=True)
class LotInput:
    """One open tax lot. ``tax_rate`` is the rate that applies if it is sold today
    (short or long term); ``loss_sale_blocked`` means the wash rule forbids selling it
    at a loss today; ``defer_sale``: its gain is short term and turns long term within
    the firm's wait, so it is sold only where nothing else meets a constraint."""

    lot_id: str
    symbol: str
    quantity: float
    cost_basis: float
    tax_rate: float
    can_sell: bool = True
    loss_sale_blocked: bool = False
    defer_sale: bool = False


@dataclass(frozen=True, slots=True)
class ClassLimit:
    """The blended target weight of an asset class (``"cash"`` included) and how far
    the post-trade weight may drift from it. ``beyond_limit``: before trading the class
    is further from its target than the template's drift limit (``drift_limit`` may be
    the tighter band a breached class is traded back into); it makes the class's
    orders `drift_limit` ones (see ``reasons``)."""

    asset_class: str
    target_weight: float
    drift_limit: float
    beyond_limit: bool = False


@dataclass(frozen=True, slots=True)
class OptimiserSettings:
    """The firm's and the account's knobs; each default is the design's."""

    risk_aversion: float = 10.0
    trading_cost_bp: float = 5.0
    min_trade_value: float = 100.0
    fractional_shares: bool = False
    harvest_losses: bool = True
    taxable: bool = True
    # Orders the account must make (do-not-hold sales, cash for a request) go out even
    # when smaller than ``min_trade_value``.
    mandatory_min_trade_bypass: bool = True

    @property
    def trading_cost(self) -> float:
        """Cost per dollar traded, each side."""
        return self.trading_cost_bp / 10_000.0


@dataclass(frozen=True)
class Problem:
    """One account on one day. ``required_cash`` is the reserve plus due cash requests,
    in dollars; ``gain_budget_remaining`` is what is left of the annual net-gain budget
    (None: no budget); ``withdrawal`` is the cash requested out of the account (part of
    ``required_cash``): targets, tracking and drift limits apply to what remains."""

    securities: tuple[SecurityInput, ...]
    lots: tuple[LotInput, ...]
    cash: float
    required_cash: float
    class_limits: tuple[ClassLimit, ...]
    gain_budget_remaining: float | None
    risk: RiskModel
    settings: OptimiserSettings = field(default_factory=OptimiserSettings)
    withdrawal: float = 0.0
