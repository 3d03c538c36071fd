"""The daily run over many accounts: each analysed in its own unit of work, their
decisions committed in batches (`COMMIT_EVERY`; a batch another writer collided with is
redone account by account), an account that fails recorded as failed while the others
go on, and, for a large run, chunks of accounts (`CHUNK`) in a pool of worker
processes, each with its own connection to the store."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Any

from eventsourcing.persistence import IntegrityError

from lotline.application.account_analysis import DayContext, Decide, analyse_account, day_context
from lotline.application.lotline import Lotline, Progress
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.account import Account
from lotline.domain.aggregate import Actor
from lotline.domain.decision import Decision, decision_id
from lotline.domain.errors import InvalidInput, RuleRefused


@dataclass
class AccountResult:
    account: str
    decision_id: str | None
    trade: bool = False
    reasons: tuple[str, ...] = ()
    benefit: Decimal = Decimal(0)
    orders: int = 0
    existing: bool = False
    failure: str | None = None


COMMIT_EVERY = 25
CHUNK = 50


def _undecided(lotline: Lotline, account_ids: list[str], on: date) -> set[str]:
    """Those of the accounts with no decision of the day recorded, read in one query
    (a decision recorded after it is found when the batch is committed: the batch is
    then redone account by account)."""
    begun = getattr(lotline.store.recorder, "streams_begun", None)
    if begun is None:
        return set()
    ids = {Decision.id_for(decision_id(a, on)): a for a in account_ids}
    recorded = begun(list(ids))
    return {a for oid, a in ids.items() if oid not in recorded}


def _analyse_into(uow: UnitOfWork, account_id: str, context: DayContext, actor: Actor,
                  decide: Decide | None = None) -> AccountResult:
    decision = uow.find(Decision, decision_id(account_id, context.on))
    if decision is not None and decision.recorded is not None:
        return AccountResult(account_id, decision.decision_id, existing=True)
    account = uow.get(Account, account_id, "account")
    inputs, outcome = analyse_account(uow, account, context, decide=decide)
    if decision is None:
        decision = Decision.first_record(account_id, context.on, inputs, outcome, actor)
        uow.add(decision)
    else:
        decision.record(inputs, outcome, actor)
    return AccountResult(account_id, decision.decision_id, outcome.trade, outcome.reasons, outcome.benefit,
                         len(outcome.orders) if outcome.trade else 0)


def _record_failure(lotline: Lotline, account_id: str, context: DayContext, actor: Actor, failure: str) -> AccountResult:
    # The account itself is not read: its own history may be what cannot be read.
    def work(uow: UnitOfWork) -> AccountResult:
        decision = uow.find(Decision, decision_id(account_id, context.on))
        if decision is None:
            uow.add(Decision.first_failure(account_id, context.on, failure, actor))
        elif decision.recorded is not None:
            return AccountResult(account_id, decision.decision_id, existing=True)
        else:
            decision.fail(failure, actor)
        return AccountResult(account_id, None, failure=failure)

    return lotline.execute(work)


def rebalance_accounts(lotline: Lotline, account_ids: list[str], context: DayContext, actor: Actor,
                       progress: Progress | None = None, decide: Decide | None = None) -> list[AccountResult]:
    """Analyses accounts one by one, committing their decisions in batches; an account
    that fails is recorded as failed and the others go on. `decide`: the optimiser's
    (None) or a backtest's other rebalancer."""
    results: list[AccountResult] = []
    pending: list[tuple[UnitOfWork, AccountResult]] = []
    # The read models' tables made or checked here, outside the commits: each decision
    # then reaches them as it is recorded (Lotline.commit), not by the catch-up's decoding.
    lotline.read_models.create_tables()

    def flush() -> None:
        if not pending:
            return
        try:
            lotline.commit(*[uow for uow, _ in pending])
            results.extend(r for _, r in pending)
        except IntegrityError:
            # Another writer touched one of these accounts: redo them one at a time.
            for _, result in pending:
                results.append(_one(lotline, result.account, context, actor, decide))
        if progress is not None:
            progress(len(pending))
        pending.clear()

    undecided: set[str] = set()
    for i, account_id in enumerate(account_ids):
        if i % COMMIT_EVERY == 0:
            undecided = _undecided(lotline, account_ids[i:i + COMMIT_EVERY], context.on)
        uow = lotline.fresh()
        if account_id in undecided:
            uow.known_missing(Decision, decision_id(account_id, context.on))
        try:
            result = _analyse_into(uow, account_id, context, actor, decide)
        except Exception as error:  # noqa: BLE001 - one account never stops the night
            flush()
            results.append(_record_failure(lotline, account_id, context, actor, describe(error)))
            if progress is not None:
                progress(1)
            continue
        pending.append((uow, result))
        if len(pending) >= COMMIT_EVERY:
            flush()
    flush()
    return results


def _one(lotline: Lotline, account_id: str, context: DayContext, actor: Actor,
         decide: Decide | None = None) -> AccountResult:
    try:
        return lotline.execute(lambda uow: _analyse_into(uow, account_id, context, actor, decide))
    except Exception as error:  # noqa: BLE001
        return _record_failure(lotline, account_id, context, actor, describe(error))


def describe(error: Exception) -> str:
    """An account's failure as recorded: a named error's own words, else its type too."""
    text = str(error) or type(error).__name__
    return text if isinstance(error, (InvalidInput, RuleRefused)) else f"{type(error).__name__}: {text}"


_WORKER: dict[str, Any] = {}


def _start_worker(url: str, on: date, actor: Actor, pinned: bool, parent: int | None = None) -> None:
    import os

    from lotline.application.lotline import utc_now

    if parent is not None:
        _die_with_parent(parent)
    os.environ.setdefault("LOTLINE_WORKER", "1")
    clock = (lambda: actor.at) if pinned else utc_now
    lotline = Lotline(url, clock=clock)
    _WORKER.update(lotline=lotline, context=day_context(lotline, on), actor=actor, pinned=pinned)


def _die_with_parent(parent: int, interval: float = 0.2) -> None:
    """A pool worker ends as soon as the process that started it is gone (killed,
    crashed): it must not go on recording decisions nobody waits for. On Linux the
    kernel sends SIGKILL when the parent dies (PR_SET_PDEATHSIG); everywhere, a daemon
    thread checks the parent's pid and exits the process when it changes."""
    import os
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            PR_SET_PDEATHSIG = 1
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl here: the watch below still holds
            pass
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(interval)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="lotline-parent-watch", daemon=True).start()


def _work_chunk(account_ids: list[str]) -> list[AccountResult]:
    lotline, context, actor = _WORKER["lotline"], _WORKER["context"], _WORKER["actor"]
    if not _WORKER["pinned"]:
        actor = replace(actor, at=lotline.clock())
    return rebalance_accounts(lotline, account_ids, context, actor)


def rebalance_in_pool(lotline: Lotline, todo: list[str], on: date, actor: Actor, workers: int,
                      progress: Progress | None, pinned: bool) -> list[AccountResult]:
    """`rebalance_accounts` in chunks, over a pool of `workers` spawned processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    import os

    chunks = [todo[i:i + CHUNK] for i in range(0, len(todo), CHUNK)]
    results: list[AccountResult] = []
    # One BLAS thread per worker: the problems are small, and BLAS threads of several
    # workers spinning for the same cores slowed the run tenfold.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    # Spawned, not forked: each worker opens its own connections to the store.
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                             initializer=_start_worker, initargs=(lotline.url, on, actor, pinned, os.getpid())) as pool:
        futures = [pool.submit(_work_chunk, chunk) for chunk in chunks]
        catching_up = True
        for future in as_completed(futures):
            chunk_results = future.result()
            results += chunk_results
            if progress is not None:
                progress(len(chunk_results))
            if catching_up:
                # The read models follow the workers instead of waiting for them all to
                # finish: this process would otherwise sit idle, then catch up alone.
                try:
                    lotline.catch_up_beside_writers()
                except Exception:  # noqa: BLE001 - the catch-up after the pool reports it
                    catching_up = False
    return results
