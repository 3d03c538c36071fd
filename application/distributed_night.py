"""The night across machines. `rebalance --bootstrap` prepares the day once (the market
snapshot stored, the risk model estimated from it), publishes one task per account still
without a decision (infrastructure/kafka_tasks.py) and waits until each has a decision
or a recorded failure. `lotline worker` processes take the tasks, rebuild the day from
what the bootstrap recorded (never re-estimating it from the prices), analyse and
record exactly as the local night does (batch_analysis.py), and only then commit their
offsets. A redelivered task for an account already decided records nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from lotline.application.account_analysis import DayContext, day_context
from lotline.application.authorisation import authorise
from lotline.application.batch_analysis import AccountResult, rebalance_accounts
from lotline.application.commands import Rebalance
from lotline.application.handlers.analysis import _open_accounts, _result_of_row
from lotline.infrastructure.calendar import check_trading_day
from lotline.application.identity import Identity
from lotline.application.lotline import Lotline, Progress
from lotline.domain.aggregate import Actor, Auth
from lotline.domain.decision import Decision, decision_id
from lotline.domain.errors import LotlineError
from lotline.domain.roles import Permission, Role
from lotline.domain.settings import FirmSettings, effective_settings

POLL_SECONDS = 0.5  # the look is one indexed read of the new events' ids
# The read models follow the night every this many accounts ended: each catch-up a batch of
# many (the cost per batch does not grow with a slow night's length), and the night's end
# catches up at most this many.
CATCH_UP_ACCOUNTS = 200
DEFAULT_TIMEOUT = 6 * 3600.0
NAMED_OPEN = 20  # a timeout names this many open accounts, then counts the rest
T = TypeVar("T")


class NightUnfinished(LotlineError):
    """The wait ended with accounts still open (no worker, or too few, within the time)."""


def rebalance_over_kafka(cmd: Rebalance, lotline: Lotline, servers: list[str], timeout: float = DEFAULT_TIMEOUT,
                         progress: Progress | None = None, topic: str | None = None) -> list[AccountResult]:
    """`rebalance` with the analyses done by `lotline worker` processes. The broker is
    reached (and the topic made) before anything is stored, so an unreachable broker
    records nothing."""
    from lotline.infrastructure.kafka_tasks import TOPIC, AnalysisTask, TaskPublisher, ensure_topic

    on = cmd.on
    check_trading_day(on)
    actor = authorise(lotline.fresh(), cmd.user, Permission.REBALANCE, on, lotline.clock())
    ids = _open_accounts(lotline, cmd.accounts)
    done = {row.account_id: row for row in lotline.views.decisions_of_day(on)}
    results = {a: _result_of_row(done[a]) for a in ids if a in done}
    if progress is not None and hasattr(progress, "total"):
        progress.total(len(ids))  # the bar shows N of the total and the time left
    if progress is not None and results:
        progress(len(results))
    todo = [a for a in ids if a not in done]
    if not todo:
        return sorted(results.values(), key=lambda r: r.account)
    ensure_topic(servers, topic or TOPIC)
    publisher = TaskPublisher(servers, topic or TOPIC)
    try:
        context = day_context(lotline, on)
        lotline.snapshots.store(context.snapshot)
        since = lotline.store.recorder.max_notification_id() or 0
        night, risk_digest = uuid.uuid4().hex, context.risk.digest()
        publisher.publish(AnalysisTask(a, on, context.digest, risk_digest, context.settings_version, actor.user,
                                       actor.role.value, actor.auth.value, night) for a in todo)
    finally:
        publisher.close()
    results.update(wait_for_accounts(lotline, on, set(todo), since, timeout, progress))
    return sorted(results.values(), key=lambda r: r.account)


def wait_for_accounts(lotline: Lotline, on: date, open_accounts: set[str], since: int, timeout: float,
                      progress: Progress | None = None, clock: Callable[[], float] = time.monotonic
                      ) -> dict[str, AccountResult]:
    """Follows the store until every account in `open_accounts` has a decision or a
    failure recorded after `since`; NightUnfinished naming those still open at the
    timeout. Progress is counted from the ids of the events recorded since the last look
    (the account's decision stream written), nothing decoded: the read models, whose
    catch-up decodes every decision, are caught up every `CATCH_UP_ACCOUNTS` accounts and
    once at the end, and the results are read from them then."""
    deadline = clock() + timeout
    streams = {Decision.id_for(decision_id(a, on)): a for a in open_accounts}
    unwritten = set(open_accounts)  # no event on the account's decision stream since `since`
    accounts = set(open_accounts)
    seen = since
    behind = 0  # accounts ended since the read models last caught up
    while True:
        seen, written = lotline.store.recorder.streams_written_after(seen)
        ended = {streams[s] for s in written if s in streams} & unwritten
        unwritten -= ended
        behind += len(ended)
        if progress is not None and ended:
            progress(len(ended))
        if not unwritten:
            lotline.catch_up()
            finished = _finished_after(lotline, on, accounts, since)
            open_accounts.difference_update(finished)
            if not open_accounts:
                return finished
            # Written but not (yet) shown by the read models: waited for as any open account.
        if clock() >= deadline:
            still = sorted(unwritten or open_accounts)
            named = ", ".join(still[:NAMED_OPEN]) + (f" and {len(still) - NAMED_OPEN} more" if len(still) > NAMED_OPEN else "")
            raise NightUnfinished(f"timed out after {timeout:g} s with {len(still)} account(s) still open: {named}")
        if behind >= CATCH_UP_ACCOUNTS:
            lotline.catch_up()
            behind = 0
        time.sleep(POLL_SECONDS)


def _finished_after(lotline: Lotline, on: date, accounts: set[str], since: int) -> dict[str, AccountResult]:
    """The accounts' decisions or failures recorded after `since`, as the read models show them."""
    finished: dict[str, AccountResult] = {}
    for row in lotline.views.decisions_of_day_after(on, since):
        if row.account_id in accounts:
            finished[row.account_id] = _result_of_row(row)
            finished[row.account_id].existing = False
    for account_id, failure in lotline.views.failures_of_day_after(on, since):
        if account_id in accounts and account_id not in finished:
            finished[account_id] = AccountResult(account_id, None, failure=failure)
    return finished


@dataclass
class WorkerReport:
    decided: int = 0
    failed: int = 0
    already_decided: int = 0
    not_tasks: int = 0
    other_store: int = 0


def run_worker(lotline: Lotline, who: Identity, servers: list[str], group: str | None = None,
               stop: Callable[[], bool] = lambda: False, exit_when_idle: float | None = None,
               say: Callable[[str], None] | None = None, topic: str | None = None) -> WorkerReport:
    """Takes tasks until `stop()` (or, with `exit_when_idle`, until no task came for that
    many seconds): each batch analysed and recorded, then its offsets committed."""
    from lotline.infrastructure.kafka_tasks import GROUP, TOPIC, TaskConsumer

    authorise(lotline.fresh(), who, Permission.RUN_NIGHT_WORKER, lotline.today(), lotline.clock())

    def assigned(partitions: list[int]) -> None:
        if say is not None:  # when the worker is ready, and after each rebalance of the group
            say(f"holds {len(partitions)} partition(s) of {topic or TOPIC} in group {group or GROUP}: "
                + (", ".join(map(str, partitions)) or "none (more workers than partitions)"))

    consumer = TaskConsumer(servers, group or GROUP, topic or TOPIC, assigned)
    report = WorkerReport()
    days = DayContexts(lotline)
    idle_since = time.monotonic()
    try:
        while not stop():
            received = consumer.poll(1.0)
            if not received:
                if exit_when_idle is not None and time.monotonic() - idle_since >= exit_when_idle:
                    break
                continue
            idle_since = time.monotonic()
            batches: dict[tuple, list[str]] = {}
            for item in received:
                if item.task is None:
                    report.not_tasks += 1
                    if say is not None:
                        say(f"skipped {item.problem}")
                    continue
                t = item.task
                key = (t.date, t.market_digest, t.risk_digest, t.settings_version, t.user, t.role, t.auth)
                batches.setdefault(key, []).append(t.account)
            for (on, market, risk, settings_version, user, role, auth), accounts in batches.items():
                actor = Actor(user, Role(role), on, lotline.clock(), None, Auth(auth))
                try:
                    results = _until_stored(
                        lambda: _analyse_batch(lotline, days, accounts, on, market, risk, settings_version, actor),
                        say, stop)
                except _Stopped:
                    return report  # the batch's offsets uncommitted: its tasks are taken again
                if results is None:
                    # Another store's night (a worker pointed at the wrong --store, an old
                    # task): recording failures here would end that night wrongly.
                    report.other_store += len(accounts)
                    if say is not None:
                        say(f"skipped {len(accounts)} task(s) of {on.isoformat()}: their market snapshot "
                            f"{market[:12]} is not in this store (is --store the bootstrap's?)")
                    continue
                for result in results:
                    if result.existing:
                        report.already_decided += 1
                    elif result.failure:
                        report.failed += 1
                    else:
                        report.decided += 1
            # Only now: every task of the batch is recorded.
            if not consumer.commit() and say is not None:
                say("the group was rebalanced while this batch was worked: its tasks go to the partitions' "
                    "new holders, who find the decisions recorded here already made")
    finally:
        consumer.close()
    return report


# Waits between attempts at a batch while the store cannot be reached; the last repeats.
STORE_RETRY_SECONDS = (1, 2, 5, 10, 30)


class _Stopped(Exception):
    """The worker was told to stop while it waited for the store."""


def _until_stored(work: Callable[[], T], say: Callable[[str], None] | None, stop: Callable[[], bool],
                  sleep: Callable[[float], None] = time.sleep) -> T:
    """`work()`, tried again while the store cannot be reached (a dropped connection, a
    restarting database). The batch's offsets are not committed meanwhile, so nothing is
    lost, and what an attempt recorded the next finds decided. _Stopped when `stop()`
    comes first."""
    from lotline.infrastructure.store_errors import STORE_UNAVAILABLE

    waits = iter(STORE_RETRY_SECONDS)
    wait = 0
    while True:
        try:
            return work()
        except STORE_UNAVAILABLE as error:
            wait = next(waits, wait)
            if say is not None:
                first = (str(error).strip().splitlines() or [""])[0][:200]
                say(f"the store cannot be reached ({type(error).__name__}: {first}); the batch is tried again "
                    f"in {wait} s")
            for _ in range(wait * 10):
                if stop():
                    raise _Stopped() from None
                sleep(0.1)


def _analyse_batch(lotline: Lotline, days: DayContexts, accounts: list[str], on: date, market: str, risk: str,
                   settings_version: int, actor: Actor) -> list[AccountResult] | None:
    """The batch's results; None when this store cannot rebuild the day the tasks name
    (tasks of another store's night): nothing is recorded for them."""
    try:
        context = days.get(on, market, risk, settings_version)
    except DayUnavailable:
        return None
    return rebalance_accounts(lotline, accounts, context, actor)


class DayUnavailable(LotlineError):
    """The day a task names cannot be rebuilt from this store."""


class DayContexts:
    """The day a worker is working on, rebuilt once from what the bootstrap recorded: the
    stored snapshot, the settings at the recorded version, the risk model estimated from
    the snapshot (and checked against the bootstrap's digest). Only the latest is kept."""

    def __init__(self, lotline: Lotline) -> None:
        self._lotline = lotline
        self._key: tuple | None = None
        self._context: DayContext | None = None

    def get(self, on: date, market: str, risk: str, settings_version: int) -> DayContext:
        key = (on, market, risk, settings_version)
        if key != self._key:
            self._context, self._key = recorded_day(self._lotline, on, market, risk, settings_version), key
        assert self._context is not None
        return self._context


def recorded_day(lotline: Lotline, on: date, market: str, risk: str, settings_version: int) -> DayContext:
    snapshot = lotline.snapshots.load(market)
    if snapshot is None or snapshot.date != on:
        raise DayUnavailable(f"the market snapshot {market[:12]} of {on.isoformat()} is not in the store")
    recorded = lotline.store.repository.get(FirmSettings.ID, version=settings_version) if settings_version else None
    settings = effective_settings(recorded)
    model = snapshot.risk_model(int(settings["risk_lookback_days"]), int(settings["risk_min_returns"]))
    if model.digest() != risk:
        raise DayUnavailable(f"the risk model rebuilt from snapshot {market[:12]} differs from the bootstrap's "
                             f"({model.digest()[:12]} against {risk[:12]})")
    return DayContext(on, settings_version, settings, snapshot, market, model)
