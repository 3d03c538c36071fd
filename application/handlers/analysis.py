"""The day's analysis: `rebalance` (one decision per account and trading day) and
`redo_decisions` (a new decision where the day's one cannot go on)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from lotline.application.account_analysis import Decide, analyse_account, day_context
from lotline.application.authorisation import authorise
from lotline.application.batch_analysis import (
    CHUNK,
    AccountResult,
    describe,
    rebalance_accounts,
    rebalance_in_pool,
)
from lotline.application.commands import Rebalance, RedoDecisions
from lotline.infrastructure.calendar import check_trading_day
from lotline.application.lotline import Lotline, Progress
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.account import Account
from lotline.domain.aggregate import Actor
from lotline.domain.decision import REDOABLE, Decision, decision_id
from lotline.domain.errors import InvalidInput, RuleRefused, UnknownEntity
from lotline.domain.roles import Permission
from lotline.projections.views import DecisionRow


def rebalance(cmd: Rebalance, lotline: Lotline, progress: Progress | None = None,
              decide: Decide | None = None) -> list[AccountResult]:
    """One decision per account and trading day. A re-run analyses only the accounts
    still without a decision (failed ones included) and lists the others as they are.
    `decide`: the optimiser's (None), or a backtest's other rebalancer (in this process)."""
    on = cmd.on
    check_trading_day(on)
    actor = authorise(lotline.fresh(), cmd.user, Permission.REBALANCE, on, lotline.clock())
    ids = _open_accounts(lotline, cmd.accounts)
    done = {row.account_id: row for row in lotline.views.decisions_of_day(on)}  # a redo's row comes last
    todo = [a for a in ids if a not in done]
    results = [_result_of_row(done[a]) for a in ids if a in done]
    if progress is not None and results:
        progress(len(results))
    if todo:
        context = day_context(lotline, on)
        lotline.snapshots.store(context.snapshot)
        if cmd.workers <= 1 or len(todo) <= CHUNK or decide is not None:
            results += rebalance_accounts(lotline, todo, context, actor, progress, decide)
        else:
            results += rebalance_in_pool(lotline, todo, on, actor, cmd.workers, progress, cmd.pinned_clock)
    lotline.catch_up()
    return sorted(results, key=lambda r: r.account)


def redo_decisions(cmd: RedoDecisions, lotline: Lotline) -> list[AccountResult]:
    """A new decision for each named account whose decision of the day was rejected,
    cancelled, went stale, was left unfilled or could not be made; the old one stays
    recorded, superseded. Every account is checked before any is analysed."""
    on, reason = cmd.on, cmd.reason
    check_trading_day(on)
    if not cmd.accounts:
        raise InvalidInput("name the accounts to redo (--account)", "account")
    if not reason or not reason.strip():
        raise InvalidInput("required: say why the decision is redone", "reason")
    uow = lotline.fresh()
    actor = authorise(uow, cmd.user, Permission.RELEASE_ORDERS, on, lotline.clock(), reason)
    ids = _open_accounts(lotline, cmd.accounts)
    for account_id in ids:
        decision = uow.find(Decision, decision_id(account_id, on))
        if decision is None:
            raise RuleRefused(f"account {account_id!r} has no decision on {on} to redo; run rebalance", "account")
        if decision.state() not in REDOABLE:
            raise RuleRefused(f"{decision.decision_id} is {decision.state()}; only a rejected, cancelled, stale, "
                              "unfilled or failed decision can be redone", "account")
    context = day_context(lotline, on)
    lotline.snapshots.store(context.snapshot)
    results = []
    for account_id in ids:
        def work(uow: UnitOfWork, account_id: str = account_id) -> AccountResult:
            decision = uow.get(Decision, decision_id(account_id, on), "decision")
            key = decision_id(account_id, on, decision.attempts + 1) if decision.recorded else decision.decision_id
            inputs, outcome = analyse_account(uow, uow.get(Account, account_id, "account"), context, key)
            decision.redo(inputs, outcome, actor)
            return AccountResult(account_id, decision.decision_id, outcome.trade, outcome.reasons, outcome.benefit,
                                 len(outcome.orders) if outcome.trade else 0)

        try:
            results.append(lotline.execute(work))
        except RuleRefused:
            raise
        except Exception as error:  # noqa: BLE001 - recorded, and the other accounts go on
            results.append(_record_redo_failure(lotline, account_id, on, actor, describe(error)))
    lotline.catch_up()
    return results


def _open_accounts(lotline: Lotline, wanted: Sequence[str] | None) -> list[str]:
    """The named accounts (each must exist), else every open account."""
    lotline.catch_up()
    known = lotline.views.accounts_closed()
    if wanted:
        for account_id in wanted:
            if account_id not in known:
                raise UnknownEntity(f"unknown account {account_id!r}", "account")
        return sorted(set(wanted))
    return [a for a, closed in known.items() if not closed]


def _result_of_row(row: DecisionRow) -> AccountResult:
    return AccountResult(row.account_id, row.decision_id, row.trade, row.reasons, row.benefit, row.order_count,
                         existing=True)


def _record_redo_failure(lotline: Lotline, account_id: str, on: date, actor: Actor, failure: str) -> AccountResult:
    def work(uow: UnitOfWork) -> AccountResult:
        uow.get(Decision, decision_id(account_id, on), "decision").fail_redo(failure, actor)
        return AccountResult(account_id, None, failure=failure)

    return lotline.execute(work)
