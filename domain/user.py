"""Users of the firm and the roles they hold."""

from __future__ import annotations

from lotline.domain.aggregate import Actor, Aggregate, DomainEvent, aggregate_id
from lotline.domain.errors import InvalidInput, NotAuthorised
from lotline.domain.roles import GRANTS, Permission, Role


class User(Aggregate):
    user_id: str
    roles: tuple[Role, ...]
    removed: bool

    class Added(DomainEvent):
        user_id: str
        roles: tuple[str, ...]

        def apply(self, user: User) -> None:
            user.user_id = self.user_id
            user.roles = tuple(Role(r) for r in self.roles)
            user.removed = False

    class RolesChanged(DomainEvent):
        roles: tuple[str, ...]

        def apply(self, user: User) -> None:
            user.roles = tuple(Role(r) for r in self.roles)

    class Removed(DomainEvent):
        def apply(self, user: User) -> None:
            user.removed = True

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
