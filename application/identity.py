"""Who acts, and how that was established: the one place a command's acting user is
decided, and the keys that can decide it.

`identify(lotline, key, claimed_user)` is called before every command: by the command
line with the key from `--key-file` (else `LOTLINE_KEY`) and the user from `--as`
(else `LOTLINE_USER`), and later by the HTTP API with the key of an
`Authorization: Bearer KEY` header. The firm's `authentication` setting says how:

- `asserted` (a new store's): the claimed user is taken at its word; no claim is
  `system`. A key presented anyway is checked, and then decides the user.
- `key`: a key must be presented; it decides the user, and a claimed user must be
  the key's holder.

The `Identity` it returns goes into the command; every event the command records says
how its actor was established (`auth`: "asserted" or "key").

A key is `ll_<key id>_<secret>`: the key id (12 hex digits) names the key in the
User's `KeyIssued` and `KeyRevoked` events and finds its stored credential; the secret
(256 random bits) is known only to its holder. The store keeps a salted scrypt hash of
the secret (infrastructure/credentials.py), never the key. A key is good while its
user is not removed and the user's events name it as their current key (a new key or
a revocation ends it) and its credential is the one those events recorded."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from lotline.domain.aggregate import Auth
from lotline.domain.errors import NotAuthorised
from lotline.domain.roles import SYSTEM_USER
from lotline.domain.settings import Authentication, FirmSettings
from lotline.domain.user import KeyCredential, User
from lotline.domain.values import shown

if TYPE_CHECKING:
    from lotline.application.lotline import Lotline
    from lotline.application.unit_of_work import UnitOfWork

KEY_PREFIX = "ll_"
KEY_FORM = re.compile(r"ll_([0-9a-f]{12})_([A-Za-z0-9_-]{20,200})")
# scrypt's cost: 16 MiB and some tens of milliseconds per check. Recorded with each
# credential, so a later, higher cost leaves the keys already issued working.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
HASH_BYTES = 32

INVALID_KEY = "the key presented is not valid (unknown, revoked or replaced)"


@dataclass(frozen=True)
class Identity:
    """Who acts, and how that was established."""

    user: str
    auth: Auth = Auth.ASSERTED

    @classmethod
    def of(cls, value: Any) -> Any:
        """A bare user name is a claim taken at its word (pydantic's before-validator
        of commands' `user`, so `Fill(user="olivia", ...)` reads as it always did)."""
        return cls(value) if isinstance(value, str) else value


SYSTEM = Identity(SYSTEM_USER)


def identify(lotline: Lotline, key: str | None, claimed_user: str | None) -> Identity:
    """The acting user of a command: decided by the key presented, else (where the
    firm's authentication is `asserted`) by the claim, else `system`. NotAuthorised,
    never naming the key, when no key is presented where one is needed, when the key is
    not valid, or when the claim names another user than the key's holder."""
    uow = lotline.fresh()
    if key is not None:
        holder = key_holder(lotline, uow, key)
        if claimed_user is not None and claimed_user != holder:
            raise NotAuthorised(f"the key presented is not the key of {shown(claimed_user)}: --as (or LOTLINE_USER) "
                                "may name only the key's holder")
        return Identity(holder, Auth.KEY)
    if authentication(uow) is Authentication.KEY:
        raise NotAuthorised("the firm's authentication is key: present your key in LOTLINE_KEY or in the file "
                            "named by --key-file")
    return Identity(claimed_user or SYSTEM_USER, Auth.ASSERTED)


def authentication(uow: UnitOfWork) -> Authentication:
    """The firm's `authentication` setting (a store without settings: `asserted`)."""
    settings = uow.find(FirmSettings, "firm")
    return settings.authentication if settings is not None else Authentication.ASSERTED


def key_holder(lotline: Lotline, uow: UnitOfWork, key: str) -> str:
    """The user whose current key `key` is; NotAuthorised (the same message whatever is
    wrong, and never the key) otherwise."""
    form = KEY_FORM.fullmatch(key.strip())
    if form is None:
        raise NotAuthorised(INVALID_KEY)
    key_id, secret = form.groups()
    credential = lotline.credentials.find(key_id)
    if credential is None:
        raise NotAuthorised(INVALID_KEY)
    user = uow.find(User, credential.user_id)
    if user is None or user.removed or user.key_id != key_id or user.key_digest != credential.digest():
        raise NotAuthorised(INVALID_KEY)
    if not hmac.compare_digest(_scrypt(secret, credential), bytes.fromhex(credential.hash)):
        raise NotAuthorised(INVALID_KEY)
    return user.user_id


def new_key(user_id: str) -> tuple[str, KeyCredential]:
    """A new key for `user_id` (to be shown once) and the credential the store keeps of
    it: a per-key random salt and the scrypt hash of the key's secret, with the cost
    parameters used."""
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    unsalted = KeyCredential(key_id=key_id, user_id=user_id, algorithm="scrypt", n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                             salt=secrets.token_bytes(16).hex(), hash="")
    credential = replace(unsalted, hash=_scrypt(secret, unsalted).hex())
    return f"{KEY_PREFIX}{key_id}_{secret}", credential


def _scrypt(secret: str, credential: KeyCredential) -> bytes:
    if credential.algorithm != "scrypt":
        raise NotAuthorised(INVALID_KEY)
    return hashlib.scrypt(secret.encode(), salt=bytes.fromhex(credential.salt), n=credential.n, r=credential.r,
                          p=credential.p, dklen=HASH_BYTES, maxmem=64 * 1024 * 1024)
