"""Users of the firm, the roles they hold, and the key each may hold."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from lotline.domain.aggregate import Actor, Aggregate, DomainEvent, aggregate_id
from lotline.domain.errors import InvalidInput, NotAuthorised, RuleRefused
from lotline.domain.roles import GRANTS, Permission, Role


@dataclass(frozen=True)
class KeyCredential:
    """What the store keeps of a user's key: a salted slow hash of its secret (scrypt,
    with its cost parameters and a per-key random salt), never the key itself. Made by
    application/identity.py; stored in a table of its own (infrastructure/credentials.py)
    in the transaction that records the key's `User.KeyIssued`.

    Why the hash is not in the event: events are the record everyone reads (the audit
    trail, replay, a relay to Kafka), and a hash there would let anyone holding a copy
    of the history try guesses at leisure. The event records the key id and
    `digest()`, a SHA-256 of this whole credential: it ties the stored row to the
    recorded, chained history (a row swapped in the table no longer matches, and the
    key is refused), and it is of no help in guessing a key, since testing a guess needs
    the salt, which stays in the table. (The secret has 256 random bits anyway.)"""

    key_id: str
    user_id: str
    algorithm: str
    n: int
    r: int
    p: int
    salt: str  # hex
    hash: str  # hex

    def digest(self) -> str:
        text = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


class User(Aggregate):
    user_id: str
    roles: tuple[Role, ...]
    removed: bool
    key_id: str | None  # the key the user holds now (None: none)
    key_digest: str | None  # the digest of its stored credential

    class Added(DomainEvent):
        user_id: str
        roles: tuple[str, ...]

        def apply(self, user: User) -> None:
            user.user_id = self.user_id
            user.roles = tuple(Role(r) for r in self.roles)
            user.removed = False
            user.key_id = None
            user.key_digest = None

    class RolesChanged(DomainEvent):
        roles: tuple[str, ...]

        def apply(self, user: User) -> None:
            user.roles = tuple(Role(r) for r in self.roles)

    class Removed(DomainEvent):
        def apply(self, user: User) -> None:
            user.removed = True

    class KeyIssued(DomainEvent):
        """A key was issued to the user (`lotline users key`): its id and the digest of
        its stored credential, never the key or its hash."""

        key_id: str
        credential_digest: str

        def apply(self, user: User) -> None:
            user.key_id = self.key_id
            user.key_digest = self.credential_digest

    class KeyRevoked(DomainEvent):
        """The user's key was revoked (`lotline users revoke-key`, or a new key)."""

        key_id: str

        def apply(self, user: User) -> None:
            user.key_id = None
            user.key_digest = None

    @staticmethod
    def id_for(user_id: str):
        return aggregate_id("user", user_id)

    @classmethod
    def add(cls, user_id: str, roles: tuple[Role, ...], actor: Actor) -> User:
        _check(user_id, roles)
        return cls._start(cls.id_for(user_id), cls.Added, actor, user_id=user_id, roles=tuple(roles))

    def change_roles(self, roles: tuple[Role, ...], actor: Actor) -> None:
        _check(self.user_id, roles)
        if tuple(roles) != self.roles or self.removed:
            self._trigger(self.RolesChanged, actor, roles=tuple(roles))

    def remove(self, actor: Actor) -> None:
        if not self.removed:
            self._trigger(self.Removed, actor)

    def issue_key(self, key_id: str, credential_digest: str, actor: Actor) -> None:
        """The user holds one key at a time: a key held already is revoked first."""
        if self.removed:
            raise RuleRefused(f"user {self.user_id!r} was removed", "user")
        if not key_id or len(credential_digest) != 64:
            raise InvalidInput("a key needs an id and the SHA-256 of its credential", "key")
        if self.key_id is not None:
            self._trigger(self.KeyRevoked, actor, key_id=self.key_id)
        self._trigger(self.KeyIssued, actor, key_id=key_id, credential_digest=credential_digest)

    def revoke_key(self, actor: Actor) -> None:
        if self.key_id is None:
            raise RuleRefused(f"user {self.user_id!r} holds no key", "user")
        self._trigger(self.KeyRevoked, actor, key_id=self.key_id)

    def role_for(self, permission: Permission) -> Role:
        """The role under which this user may act; refused when none allows it."""
        if not self.removed:
            for role in GRANTS[permission]:
                if role in self.roles:
                    return role
        held = ", ".join(self.roles) or "none"
        raise NotAuthorised(f"user {self.user_id!r} (roles: {held}) may not {permission.value}")


def _check(user_id: str, roles: tuple[Role, ...]) -> None:
    if not user_id or not user_id.strip():
        raise InvalidInput("must not be empty", "id")
    if user_id == "system":
        raise InvalidInput("'system' is reserved", "id")
    if not roles:
        raise InvalidInput("a user holds at least one role", "role")
    if Role.SYSTEM in roles:
        raise InvalidInput("'system' is not a role a user can hold", "role")
