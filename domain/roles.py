"""Roles describe work, not people. The matrix here is the contract's role table."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    POLICY_COMMITTEE = "policy_committee"
    ADVISOR = "advisor"
    OVERLAY_MANAGER = "overlay_manager"
    COMPLIANCE = "compliance"
    SYSTEM = "system"


class Permission(StrEnum):
    MANAGE_USERS = "manage users"
    MANAGE_POLICY = "manage securities, models and templates"
    MANAGE_ACCOUNT = "manage an account"
    MANAGE_MARKET = "record prices, splits, dividends, trade history and firm settings"
    REBALANCE = "rebalance"
    RELEASE_ORDERS = "approve, reject and fill orders"
    REBUILD_PROJECTIONS = "rebuild projections"
    READ_ANY_ACCOUNT = "read any account"
    VERIFY = "verify the store's integrity"
    SEAL_HISTORY = "chain the history recorded before the integrity chain"
    AUDIT_FIRM = "read the firm's whole audit trail"
    MANAGE_KEYS = "issue and revoke keys and change the authentication setting"
    ACT_ON_BEHALF = "load entries on behalf of another user"
    PUBLISH = "publish recorded events to Kafka"
    RUN_NIGHT_WORKER = "analyse accounts as a night worker"


GRANTS: dict[Permission, tuple[Role, ...]] = {
    Permission.MANAGE_USERS: (Role.ADMIN,),
    Permission.MANAGE_POLICY: (Role.POLICY_COMMITTEE,),
    Permission.MANAGE_ACCOUNT: (Role.ADVISOR,),
    Permission.MANAGE_MARKET: (Role.OVERLAY_MANAGER,),
    Permission.REBALANCE: (Role.OVERLAY_MANAGER, Role.SYSTEM),
    Permission.RELEASE_ORDERS: (Role.OVERLAY_MANAGER,),
    Permission.REBUILD_PROJECTIONS: (Role.ADMIN,),
    Permission.VERIFY: (Role.COMPLIANCE, Role.ADMIN, Role.SYSTEM),
    Permission.SEAL_HISTORY: (Role.ADMIN,),
    Permission.AUDIT_FIRM: (Role.COMPLIANCE, Role.ADMIN, Role.SYSTEM),
    # An advisor reads only their own accounts; that check needs the account.
    Permission.READ_ANY_ACCOUNT: (
        Role.ADMIN,
        Role.POLICY_COMMITTEE,
        Role.OVERLAY_MANAGER,
        Role.COMPLIANCE,
        Role.SYSTEM,
    ),
    Permission.MANAGE_KEYS: (Role.ADMIN,),
    # An admin loading a scenario file may name another user as an entry's `actor:`:
    # that user must hold the role the entry needs (application/loading.py).
    Permission.ACT_ON_BEHALF: (Role.ADMIN,),
    Permission.PUBLISH: (Role.ADMIN, Role.SYSTEM),
    Permission.RUN_NIGHT_WORKER: (Role.SYSTEM, Role.ADMIN),
}

SYSTEM_USER = "system"


def parse_role(value: str) -> Role:
    from lotline.domain.errors import InvalidInput

    try:
        return Role(value)
    except ValueError:
        known = ", ".join(r.value for r in Role if r is not Role.SYSTEM)
        raise InvalidInput(f"unknown role {value!r} (one of {known})", "role") from None


def check_read(user_id: str, roles: Iterable[str] | None, account_id: str | None, advisor: str | None) -> None:
    """Everyone reads; an advisor only their own accounts. `roles`: the user's, None
    when there is no such user (or they were removed); `advisor`: the account's."""
    from lotline.domain.errors import NotAuthorised

    if user_id == SYSTEM_USER:
        return
    if roles is None:
        raise NotAuthorised(f"unknown user {user_id!r}")
    if any(role in GRANTS[Permission.READ_ANY_ACCOUNT] for role in roles):
        return
    if account_id is None or advisor == user_id:
        return
    raise NotAuthorised(f"user {user_id!r} may not read account {account_id!r}: not its advisor")
