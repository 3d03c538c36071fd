"""The overlay manager releases the day's decisions: `approve` those that pass the
filters (a decision moves as a whole: its sales fund its purchases; one whose account
changed since the analysis goes stale instead), `reject` proposed ones, `cancel`
approved ones not yet filled. Each decision in a unit of work of its own."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from lotline.application.authorisation import authorise
from lotline.application.commands import Approve, Cancel, Reject
from lotline.application.handlers.trading_day import decision_of, orders_by_decision, why_stale
from lotline.application.lotline import Lotline
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.aggregate import Actor
from lotline.domain.decision import ApprovalPolicy, Decision, OrderStatus
from lotline.domain.roles import Permission
from lotline.domain.settings import FirmSettings, effective_settings
from lotline.domain.values import required_reason
from lotline.infrastructure.calendar import check_trading_day


@dataclass
class Released:
    accounts: int = 0
    orders: int = 0
    held_back: list[str] = field(default_factory=list)
    stale: list[dict[str, str]] = field(default_factory=list)


def approve(cmd: Approve, lotline: Lotline) -> Released:
    """Releases whole decisions that pass the filters (defaults: the firm's approval
    settings) and whose account is unchanged since the analysis; the others go stale."""
    on, user = cmd.on, cmd.user
    check_trading_day(on)
    uow = lotline.fresh()
    authorise(uow, user, Permission.RELEASE_ORDERS, on, lotline.clock())
    settings = effective_settings(uow.find(FirmSettings, "firm"))
    mandatory_only, min_benefit = cmd.mandatory_only, cmd.min_benefit
    policy = ApprovalPolicy(
        mandatory_only=settings["approval_mandatory_only"] == 1 if mandatory_only is None else mandatory_only,
        min_benefit=settings["approval_min_benefit"] if min_benefit is None else min_benefit,
    )
    released = Released()
    for key, rows in sorted(orders_by_decision(lotline, on, OrderStatus.PROPOSED, cmd.accounts).items()):
        account_id = rows[0].account_id

        def work(uow: UnitOfWork, account_id: str = account_id) -> tuple[str, str | None, int]:
            decision = decision_of(uow, account_id, on)
            if not decision.releasable(policy):
                return "held", None, 0
            actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, lotline.clock())
            why = why_stale(uow, decision)
            if why is not None:
                decision.go_stale(why, actor)
                return "stale", why, 0
            order_ids = decision.orders_in(OrderStatus.PROPOSED)
            decision.approve(order_ids, actor)
            return "approved", None, len(order_ids)

        outcome, why, count = lotline.execute(work)
        if outcome == "held":
            released.held_back.append(account_id)
        elif outcome == "stale":
            released.stale.append({"decision_id": key, "account": account_id, "reason": why or ""})
        else:
            released.accounts += 1
            released.orders += count
    return released


def reject(cmd: Reject, lotline: Lotline) -> Released:
    """Rejects the day's proposed decisions, each in a unit of work; the reason is required."""
    check_trading_day(cmd.on)
    required_reason(cmd.reason, "say why the orders are rejected")
    return _each_decision(cmd, lotline, OrderStatus.PROPOSED, _reject_proposed)


def cancel(cmd: Cancel, lotline: Lotline) -> Released:
    """Withdraws approved, unfilled orders, a decision's orders together."""
    check_trading_day(cmd.on)
    required_reason(cmd.reason, "say why the orders are withdrawn")
    return _each_decision(cmd, lotline, OrderStatus.APPROVED, Decision.cancel)


def _reject_proposed(decision: Decision, actor: Actor) -> tuple[str, ...]:
    order_ids = decision.orders_in(OrderStatus.PROPOSED)
    decision.reject(order_ids, actor)
    return order_ids


def _each_decision(cmd: Reject | Cancel, lotline: Lotline, status: OrderStatus,
                   move: Callable[[Decision, Actor], tuple[str, ...]]) -> Released:
    """Moves each of the day's decisions with orders in `status`, in a unit of work of its
    own, the reason recorded; counts the decisions and orders moved."""
    on, user, reason = cmd.on, cmd.user, cmd.reason
    authorise(lotline.fresh(), user, Permission.RELEASE_ORDERS, on, lotline.clock(), reason)
    moved = Released()
    for _, rows in sorted(orders_by_decision(lotline, on, status, cmd.accounts).items()):
        def work(uow: UnitOfWork, account_id: str = rows[0].account_id) -> int:
            actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, lotline.clock(), reason)
            return len(move(decision_of(uow, account_id, on), actor))

        moved.orders += lotline.execute(work)
        moved.accounts += 1
    return moved
