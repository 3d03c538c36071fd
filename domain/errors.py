"""Named errors. Two families, because users and scripts react to them differently:
bad input (exit 2: fix the file or the argument) and a refused rule (exit 1: the
request was understood and the firm's rules say no)."""

from __future__ import annotations


class LotlineError(Exception):
    """Base of every error Lotline reports to a user."""


class InvalidInput(LotlineError, ValueError):
    """The request is malformed: unknown field, unknown symbol, a bad number or date."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        self.detail = message
        super().__init__(f"{field}: {message}" if field else message)

    def at(self, prefix: str) -> InvalidInput:
        """The same error, located under a path prefix (e.g. an entry of a scenario file)."""
        field = f"{prefix}.{self.field}" if self.field else prefix
        return type(self)(self.detail, field)


class UnknownEntity(InvalidInput):
    """An id that names nothing in the store (account, symbol, model, user, decision)."""


class RuleRefused(LotlineError):
    """A well-formed request that the firm's rules refuse."""

    def __init__(self, message: str, field: str | None = None) -> None:
        self.field = field
        self.detail = message
        super().__init__(f"{field}: {message}" if field else message)

    def at(self, prefix: str) -> RuleRefused:
        field = f"{prefix}.{self.field}" if self.field else prefix
        return type(self)(self.detail, field)


class NotAuthorised(RuleRefused):
    """The acting user holds no role that may do this."""


class PolicyLimitExceeded(RuleRefused):
    """A customisation beyond what the policy committee allows."""


class ConcurrencyConflict(RuleRefused):
    """Another writer changed the same aggregate and the command no longer holds."""


class AccountHistoryBroken(RuleRefused):
    """An event of the account cannot be applied to a read model: its reads refuse,
    naming the event, until the history is repaired and the read models rebuilt."""
