"""Who may do what: the contract's role table, enforced on every command. Who acts is
decided before (application/identity.py); the actor returned here records it."""

from __future__ import annotations

from datetime import date, datetime

from lotline.domain.account import Account
from lotline.domain.aggregate import Actor
from lotline.domain.errors import NotAuthorised
from lotline.domain.roles import GRANTS, SYSTEM_USER, Permission, Role, check_read
from lotline.domain.user import User
from lotline.application.identity import Identity
from lotline.application.unit_of_work import UnitOfWork


def authorise(
    uow: UnitOfWork,
    who: Identity,
    permission: Permission,
    effective_date: date,
    at: datetime,
    reason: str | None = None,
    account: Account | None = None,
) -> Actor:
    """The actor under which `who` may act, or NotAuthorised."""
    user_id = who.user
    if user_id == SYSTEM_USER:
        if Role.SYSTEM in GRANTS[permission]:
            return Actor(SYSTEM_USER, Role.SYSTEM, effective_date, at, reason, who.auth)
        raise NotAuthorised(f"user 'system' may not {permission.value}; act as a named user (--as)")
    user = uow.find(User, user_id)
    if user is None or user.removed:
        raise NotAuthorised(f"unknown user {user_id!r}")
    if permission is Permission.MANAGE_ACCOUNT and account is not None and account.advisor != user_id:
        raise NotAuthorised(f"user {user_id!r} is not the advisor of account {account.account_id!r}")
    role = user.role_for(permission)
    return Actor(user_id, role, effective_date, at, reason, who.auth)


def authorise_read(uow: UnitOfWork, user_id: str, account_id: str | None, advisor: str | None) -> None:
    """Everyone reads; an advisor only their own accounts (`check_read`)."""
    user = None if user_id == SYSTEM_USER else uow.find(User, user_id)
    check_read(user_id, None if user is None or user.removed else user.roles, account_id, advisor)
