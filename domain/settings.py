"""Firm settings: the overlay manager's dials, recorded as events like everything else;
and `authentication`, how the acting user is established, which is the admin's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING

from lotline.domain.aggregate import Actor, Aggregate, Auth, DomainEvent, aggregate_id
from lotline.domain.errors import InvalidInput, NotAuthorised, RuleRefused
from lotline.domain.values import non_negative, positive, shown, to_decimal

if TYPE_CHECKING:
    from lotline.domain.user import User


@dataclass(frozen=True)
class Setting:
    key: str
    default: str
    description: str
    check: Callable[[Decimal, str], Decimal]


def _whole(value: Decimal, field: str) -> Decimal:
    positive(value, field)
    if value != value.to_integral_value():
        raise InvalidInput(f"must be a whole number, got {value}", field)
    return value


def _count(value: Decimal, field: str) -> Decimal:
    non_negative(value, field)
    if value != value.to_integral_value():
        raise InvalidInput(f"must be a whole number, got {value}", field)
    return value


def _fraction(value: Decimal, field: str) -> Decimal:
    if not Decimal(0) < value <= Decimal(1):
        raise InvalidInput(f"must be above 0 and at most 1, got {value}", field)
    return value


def _flag(value: Decimal, field: str) -> Decimal:
    if value not in (0, 1):
        raise InvalidInput(f"must be 0 or 1, got {value}", field)
    return value


SETTINGS: dict[str, Setting] = {
    s.key: s
    for s in (
        Setting("trade_threshold_bp", "5", "trade for net benefit only above this many bp of account value", non_negative),
        Setting("risk_aversion", "10", "gamma: weight of tracking variance against taxes and costs", positive),
        Setting("trading_cost_bp", "5", "commission and spread per side, bp of the trade", non_negative),
        Setting("risk_lookback_days", "252", "closes used to estimate the covariance", _whole),
        Setting("risk_min_returns", "60", "below this many returns a security gets the diagonal fallback", _whole),
        Setting("min_trade_value", "100", "orders below this many dollars are dropped unless mandatory (an account may set its own)", non_negative),
        Setting("drift_band", "0.5", "a class beyond its drift limit is traded back to within this fraction of the limit", _fraction),
        Setting("approval_min_benefit", "0", "approve releases a net-benefit-only decision when its benefit is at least this (dollars)", non_negative),
        Setting("max_price_age_days", "0", "a decision may value a security at a close at most this many calendar days old (0: the day's own close)", _count),
        Setting("ltcg_wait_days", "31", "a short-term gain that turns long term within this many days is not sold for net benefit alone", _count),
        Setting("approval_mandatory_only", "0", "1: approve releases only decisions an instruction demands (cash, restriction, drift)", _flag),
    )
}


class Authentication(StrEnum):
    """How the acting user is established: `asserted` (taken at its word, as on a
    one-person laptop; a new store's) or `key` (every command presents a key, and the
    key decides)."""

    ASSERTED = "asserted"
    KEY = "key"


AUTHENTICATION = "authentication"
AUTHENTICATION_DESCRIPTION = ("how the acting user is established: asserted (taken at its word) or key (every command "
                              "presents a key, which decides); changed by an admin")


class FirmSettings(Aggregate):
    values: dict[str, Decimal]
    authentication: Authentication

    class Created(DomainEvent):
        def apply(self, settings: FirmSettings) -> None:
            settings.values = {}
            settings.authentication = Authentication.ASSERTED

    class SettingChanged(DomainEvent):
        key: str
        value: Decimal

        def apply(self, settings: FirmSettings) -> None:
            settings.values = {**settings.values, self.key: self.value}

    class AuthenticationChanged(DomainEvent):
        authentication: str

        def apply(self, settings: FirmSettings) -> None:
            settings.authentication = Authentication(self.authentication)

    ID = aggregate_id("settings", "firm")

    @staticmethod
    def id_for(_: str = "firm"):
        return FirmSettings.ID

    @classmethod
    def create(cls, actor: Actor) -> FirmSettings:
        return cls._start(cls.ID, cls.Created, actor)

    def change(self, key: str, raw: object, actor: Actor) -> None:
        setting = SETTINGS.get(key)
        if key == AUTHENTICATION:
            raise InvalidInput("is changed on its own, by an admin: lotline settings authentication VALUE",
                               f"settings.{AUTHENTICATION}")
        if setting is None:
            raise InvalidInput(f"unknown setting {key!r} (one of {', '.join(sorted(SETTINGS))})", "settings")
        value = setting.check(to_decimal(raw, f"settings.{key}"), f"settings.{key}")
        if self.value(key) != value:
            self._trigger(self.SettingChanged, actor, key=key, value=value)

    def change_authentication(self, raw: str, actor: Actor, admin: User) -> None:
        """Only an admin changes it (authorised by the caller), and only one who holds a
        key: switching to `key` needs an admin who can still act afterwards, and
        switching back to `asserted` needs the admin to present that key."""
        try:
            mode = Authentication(raw.strip() if isinstance(raw, str) else raw)
        except ValueError:
            raise InvalidInput(f"must be asserted or key, got {shown(raw)}", f"settings.{AUTHENTICATION}") from None
        if mode is self.authentication:
            return
        if mode is Authentication.KEY and admin.key_id is None:
            raise RuleRefused(f"user {admin.user_id!r} holds no key: issue yourself one first (lotline users key "
                              f"{admin.user_id}), or no admin could act under key authentication", AUTHENTICATION)
        if mode is Authentication.ASSERTED and actor.auth != Auth.KEY:
            raise NotAuthorised("only an admin presenting a key may switch authentication back to asserted",
                                AUTHENTICATION)
        self._trigger(self.AuthenticationChanged, actor, authentication=mode.value)

    def value(self, key: str) -> Decimal:
        return self.values.get(key, Decimal(SETTINGS[key].default))


def effective_settings(settings: FirmSettings | None) -> dict[str, Decimal]:
    return {key: (settings.value(key) if settings else Decimal(s.default)) for key, s in SETTINGS.items()}
