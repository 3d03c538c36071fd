"""The words a decision is told in, each code beside its meaning in plain words: why an
account trades today (`Trigger`), why each order (`OrderReason`), and where an order
stands (`OrderStatus`).

String enums: a member is its code (`Trigger.DRIFT_LIMIT == "drift_limit"`), so events
store, JSON carries and tables hold the same strings as before there were enums, and
stored events load into members. A member's `repr` is its code's too, so a list of
them prints as the list of strings it replaces."""

from __future__ import annotations

from enum import StrEnum, nonmember


class _Worded(StrEnum):
    """A code and its plain-word meaning (`meaning`)."""

    meaning: str

    def __new__(cls, code: str, meaning: str) -> _Worded:
        member = str.__new__(cls, code)
        member._value_ = code
        member.meaning = meaning
        return member

    def __repr__(self) -> str:
        return repr(self._value_)


class Trigger(_Worded):
    """Why a decision trades, in the order they are reported; or, when it does not, why
    not: `no_trade` followed by one of the two codes after it."""

    CASH_REQUEST = "cash_request", "a cash request is due and cash after the reserve does not cover it"
    RESTRICTION = "restriction", "the account holds a security its restrictions say it must not hold"
    DRIFT_LIMIT = "drift_limit", "an asset class is further from its target than the template's drift limit"
    NET_BENEFIT = "net_benefit", "the net benefit of the trade list exceeds the firm's threshold"
    NO_TRADE = "no_trade", "no trade"
    BENEFIT_BELOW_THRESHOLD = (
        "benefit_below_threshold", "nothing demands a trade and the net benefit does not exceed the threshold"
    )
    NO_ORDERS_AFTER_ROUNDING = (
        "no_orders_after_rounding", "after whole shares and the minimum trade size no order is left"
    )


# The triggers that are instructions: the client's or the policy's, not a judgement of
# benefit. A decision they trigger is released whatever its benefit.
INSTRUCTIONS = frozenset({Trigger.CASH_REQUEST, Trigger.RESTRICTION, Trigger.DRIFT_LIMIT})


class OrderReason(_Worded):
    """Why an order is proposed, one code per order (the contract's seven). The optimiser
    names it (``domain.optimiser.reasons`` holds the rules, first match wins); decisions
    recorded before these codes read with them (``Decision.DecisionRecorded``'s upcaster).

    - `drift_limit`: the order's class (or cash) is beyond its drift limit before
      trading, and the order moves it back toward its target;
    - `cash_request`: a sale raising the cash the account requires (its reserve plus due
      cash requests): a lot kept for it when orders are rounded, or, when the account
      holds less than it requires, a sale nothing else explains;
    - `restriction`: a sale of a position the client's do-not-hold restriction forbids;
    - `harvest`: a sale realising a loss (never a gain) in a taxable account that
      harvests losses, and a purchase replacing such a sale in the same class;
    - `transition`: a sale of a security not in the account's target (it left the
      model, or a legacy position), and a purchase replacing it in the same class;
    - `fund_purchase`: a purchase investing cash the account holds beyond what it
      requires (the decision's buys spend more than its sales bring in, and so does
      the purchase's class);
    - `rebalance`: otherwise; a move toward the target within the limits, made because
      the net benefit pays for it."""

    DRIFT_LIMIT = "drift_limit", "brings an asset class that is beyond its drift limit back toward its target"
    CASH_REQUEST = "cash_request", "raises the cash the account requires: its reserve and due cash requests"
    RESTRICTION = "restriction", "sells a position the client's restriction says not to hold"
    HARVEST = "harvest", "realises a loss that lowers the client's taxes, or replaces such a sale in its class"
    TRANSITION = "transition", "moves out of a security that is not in the target, or replaces such a sale in its class"
    REBALANCE = "rebalance", "moves an asset class toward its target, within its limit, for the net benefit"
    FUND_PURCHASE = "fund_purchase", "invests cash the account holds beyond what it requires"


# Codes recorded before the contract's seven, read as these (``drift`` depends on the
# decision: see ``Decision.DecisionRecorded.upcast_v1_v2``).
FORMER_REASONS: dict[str, OrderReason] = {"cash": OrderReason.CASH_REQUEST, "model_change": OrderReason.TRANSITION}


class OrderStatus(_Worded):
    """Where an order stands. Proposed orders are released (approved) or rejected;
    approved ones are filled, cancelled, or left unfilled with a reason; a decision
    whose account changed after it goes stale; a redone decision's orders are
    superseded."""

    PROPOSED = "proposed", "proposed by the day's decision, waiting to be released or rejected"
    APPROVED = "approved", "released by the overlay manager, waiting to be filled"
    REJECTED = "rejected", "turned down by the overlay manager"
    CANCELLED = "cancelled", "released, then withdrawn before it was filled"
    STALE = "stale", "the account changed after the analysis: it no longer goes out"
    SUPERSEDED = "superseded", "replaced by a decision redone the same day"
    FILLED = "filled", "executed at the day's close"
    UNFILLED = "unfilled", "released, but the decision's orders could not be executed together"

    # Every status's code, in the order above (a member compares equal to its code).
    ALL = nonmember(tuple(code for code, _ in (PROPOSED, APPROVED, REJECTED, CANCELLED, STALE, SUPERSEDED, FILLED,
                                                UNFILLED)))


# Code -> meaning, for the explanation of a decision (`lotline explain`).
TRIGGER_WORDS: dict[str, str] = {trigger: trigger.meaning for trigger in Trigger}
REASON_WORDS: dict[str, str] = {reason: reason.meaning for reason in OrderReason}
