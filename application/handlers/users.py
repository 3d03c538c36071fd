"""Users' keys, the admin's: `issue_key` (a new key, shown once; the key the user held
is revoked) and `revoke_key`. Each records the User's `KeyIssued` / `KeyRevoked` and
the key's stored credential in one transaction (application/identity.py says what a
key is and how it is checked)."""

from __future__ import annotations

from dataclasses import dataclass

from lotline.application.authorisation import authorise
from lotline.application.commands import IssueKey, RevokeKey
from lotline.application.identity import new_key
from lotline.application.lotline import Lotline
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.roles import Permission
from lotline.domain.user import User


@dataclass(frozen=True)
class IssuedKey:
    user: str
    key_id: str
    key: str  # shown once, never stored
    replaced: str | None  # the id of the key it revoked


@dataclass(frozen=True)
class RevokedKey:
    user: str
    key_id: str


def issue_key(cmd: IssueKey, lotline: Lotline) -> IssuedKey:
    def work(uow: UnitOfWork) -> IssuedKey:
        holder = uow.get(User, cmd.holder, "user")
        actor = authorise(uow, cmd.user, Permission.MANAGE_KEYS, lotline.today(), lotline.clock(), cmd.reason)
        replaced = holder.key_id
        key, credential = new_key(holder.user_id)
        holder.issue_key(credential.key_id, credential.digest(), actor)
        uow.keys_issued.append(credential)
        if replaced is not None:
            uow.keys_revoked.append(replaced)
        return IssuedKey(holder.user_id, credential.key_id, key, replaced)

    return lotline.execute(work)


def revoke_key(cmd: RevokeKey, lotline: Lotline) -> RevokedKey:
    def work(uow: UnitOfWork) -> RevokedKey:
        holder = uow.get(User, cmd.holder, "user")
        actor = authorise(uow, cmd.user, Permission.MANAGE_KEYS, lotline.today(), lotline.clock(), cmd.reason)
        key_id = holder.key_id
        holder.revoke_key(actor)
        assert key_id is not None
        uow.keys_revoked.append(key_id)
        return RevokedKey(holder.user_id, key_id)

    return lotline.execute(work)
