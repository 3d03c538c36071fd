"""What the handlers of a trading day share: the day must be one, the day's orders in
a status grouped by decision, an account's decision of the day, and whether it went
stale since the analysis."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from lotline.application.authorisation import authorise
from lotline.application.identity import Identity
from lotline.application.lotline import Lotline
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.account import Account
from lotline.domain.decision import Decision, decision_id
from lotline.domain.errors import UnknownEntity
from lotline.domain.execution import staleness
from lotline.domain.roles import Permission
from lotline.domain.security import Security
from lotline.projections.views import OrderRow


def orders_by_decision(lotline: Lotline, on: date, status: str, wanted: Sequence[str] | None) -> dict[str, list[OrderRow]]:
    """The day's orders in `status`, by decision; unknown accounts are bad input."""
    lotline.catch_up()
    with lotline.reading():
        rows = lotline.views.orders_of_day(on, status, wanted)
        known = lotline.views.decided_accounts(on)
    for account_id in wanted or ():
        if account_id not in known:
            raise UnknownEntity(f"no decision for account {account_id!r} on {on}", "account")
    out: dict[str, list[OrderRow]] = {}
    for row in rows:
        out.setdefault(row.decision_id, []).append(row)
    return out


def decision_of(uow: UnitOfWork, account_id: str, on: date) -> Decision:
    return uow.get(Decision, decision_id(account_id, on), "decision")


def why_stale(uow: UnitOfWork, decision: Decision) -> str | None:
    """Why the decision no longer holds (its account or a security it read changed
    since the analysis), or None."""
    recorded = decision.recorded
    assert recorded is not None
    account = uow.get(Account, decision.account_id, "account")
    securities = {s: uow.find(Security, s) for s in recorded.inputs.security_versions}
    return staleness(recorded, account, securities)


def go_stale(lotline: Lotline, account_id: str, on: date, why: str, user: Identity) -> None:
    """Records, in a unit of work of its own, that the account's decision went stale."""
    def work(uow: UnitOfWork) -> None:
        actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, lotline.clock())
        decision_of(uow, account_id, on).go_stale(why, actor)

    lotline.execute(work)
