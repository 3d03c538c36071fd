"""The daily analysis: for each account, rebuild its book, pose the optimisation, solve
it, and record one decision with every input it read. `replay` does the same from the
history as it stood at a decision and compares."""

from __future__ import annotations

import platform
from functools import lru_cache
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from importlib import metadata as importlib_metadata
from typing import Any

from eventsourcing.persistence import IntegrityError
from sqlalchemy import select

from lotline.application.authorisation import authorise
from lotline.application.books import AccountHistory, account_history
from lotline.application.unit_of_work import UnitOfWork
from lotline.domain.account import Account
from lotline.domain.aggregate import Actor
from lotline.domain.decision import REDOABLE, Decision, DecisionInputs, DecisionOutcome, decision_id
from lotline.domain.errors import InvalidInput, RuleRefused, UnknownEntity
from lotline.domain.market import MarketSnapshot
from lotline.domain.model import Model
from lotline.domain.roles import Permission
from lotline.domain.security import Security
from lotline.domain.settings import FirmSettings, effective_settings
from lotline.domain.targets import security_targets
from lotline.domain.template import TargetTemplate
from lotline.infrastructure import market as market_table
from lotline.infrastructure import prices as price_table
from lotline.infrastructure.calendar import is_trading_day
from lotline.projections.decisions import decisions
from lotline.projections.directory import accounts, securities as security_rows


@dataclass
class DayContext:
    """Firm-wide inputs of one analysis day, read once and shared by every account."""

    on: date
    settings_version: int
    settings: dict[str, Decimal]
    snapshot: MarketSnapshot
    digest: str
    risk: Any
    templates: dict[str, TargetTemplate] = field(default_factory=dict)
    models: dict[str, Model] = field(default_factory=dict)
    securities: dict[str, Security] = field(default_factory=dict)

    def template(self, uow: UnitOfWork, template_id: str) -> TargetTemplate:
        if template_id not in self.templates:
            self.templates[template_id] = uow.get(TargetTemplate, template_id, "template")
        return self.templates[template_id]

    def model_map(self, uow: UnitOfWork) -> _Cached:
        return _Cached(self.models, uow, Model)


class _Cached(dict):
    def __init__(self, cache: dict, uow: UnitOfWork, cls: type) -> None:
        super().__init__()
        self._cache, self._uow, self._cls = cache, uow, cls

    def get(self, key: str, default: Any = None) -> Any:
        if key not in self._cache:
            found = self._uow.find(self._cls, key)
            if found is None:
                return default
            self._cache[key] = found
        return self._cache[key]

    def __getitem__(self, key: str) -> Any:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return self.get(key) is not None  # type: ignore[arg-type]


@lru_cache(maxsize=1)
def libraries() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("lotline", "numpy", "scipy", "cvxopt", "eventsourcing", "pydantic"):
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def check_trading_day(on: date) -> None:
    if not is_trading_day(on):
        raise InvalidInput(f"{on.isoformat()} is not an NYSE trading day", "date")


def day_context(service: Any, on: date) -> DayContext:
    """Settings, the day's market snapshot (stored, content-addressed) and risk model."""
    uow = UnitOfWork(service.store)
    settings_aggregate = uow.find(FirmSettings, "firm")
    settings = effective_settings(settings_aggregate)
    lookback = int(settings["risk_lookback_days"])
    with service.store.recorder.transaction(commit=False) as session:
        symbols = list(session.execute(select(security_rows.c.symbol).order_by(security_rows.c.symbol)).scalars())
        closes = price_table.history(session, symbols, on)
    splits = {}
    for symbol in symbols:
        security = uow.find(Security, symbol)
        if security is not None and security.splits:
            splits[symbol] = list(security.splits)
    snapshot = MarketSnapshot.build(on, closes, splits, lookback + 1)
    risk = snapshot.risk_model(lookback, int(settings["risk_min_returns"]))
    return DayContext(on, settings_aggregate.version if settings_aggregate else 0, settings, snapshot,
                      snapshot.digest(), risk)


def analyse_account(uow: UnitOfWork, account: Account, context: DayContext,
                    key: str | None = None) -> tuple[DecisionInputs, DecisionOutcome]:
    """Inputs and outcome of one account's analysis (pure but for reading aggregates)."""
    template = context.template(uow, account.template_id)
    models = context.model_map(uow)
    targets = security_targets(template, models, account.parameters)
    history = account_history(uow, account, set(targets.weights), context.securities)
    return run_analysis(account, history, template, models, context, key)


def run_analysis(
    account: Account, history: AccountHistory, template: TargetTemplate, models: Any, context: DayContext,
    key: str | None = None,
) -> tuple[DecisionInputs, DecisionOutcome]:
    from lotline.domain.analysis import analyse, conclude
    from lotline.domain.optimiser import optimise

    on = context.on
    book = history.book(on)
    snapshot = context.snapshot
    prices = {s: snapshot.latest[s] for s in history.securities if s in snapshot.latest}
    price_dates = {s: snapshot.latest_date(s) for s in prices}
    analysis = analyse(account, book, template, models, history.securities, context.settings, prices, context.risk, on,
                       price_dates=price_dates)
    result = optimise(analysis.problem)
    outcome = conclude(analysis, result, key or decision_id(account.account_id, on))
    used_models = {m for m in set(analysis.targets.models_used.values()) | {
        account.parameters.model_choices.get(c, t.model) for c, t in template.classes.items() if t.model}}
    inputs = DecisionInputs(
        account_version=account.version,
        template_id=template.template_id,
        template_version=template.version,
        model_versions={m: models[m].version for m in sorted(used_models) if m in models},
        security_versions={s: sec.version for s, sec in sorted(history.securities.items())},
        settings_version=context.settings_version,
        settings=context.settings,
        market_digest=context.digest,
        risk_digest=context.risk.digest(),
        tax_status=account.tax_status.value,
        parameters=account.parameters,
        cash=analysis.cash,
        lots=analysis.lots,
        prices=analysis.prices,
        total_value=analysis.total_value.quantize(Decimal("0.01")),
        required_cash=analysis.required_cash,
        gain_budget_remaining=analysis.gain_budget_remaining,
        optimiser={k: str(v) for k, v in sorted(vars_of(analysis.problem.settings).items())},
        libraries=dict(libraries()),
    )
    return inputs, outcome


def vars_of(settings: Any) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__slots__}


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


def open_accounts(service: Any, wanted: list[str] | None) -> list[str]:
    service.catch_up()
    with service.store.recorder.transaction(commit=False) as session:
        rows = session.execute(select(accounts.c.account_id, accounts.c.closed).order_by(accounts.c.account_id)).all()
    known = {r.account_id: r.closed for r in rows}
    if wanted:
        for account_id in wanted:
            if account_id not in known:
                raise UnknownEntity(f"unknown account {account_id!r}", "account")
        return sorted(set(wanted))
    return [a for a, closed in known.items() if not closed]


def existing_decisions(service: Any, on: date) -> dict[str, Any]:
    """Each account's current decision of the day (a redo's, when there is one)."""
    with service.store.recorder.transaction(commit=False) as session:
        rows = session.execute(select(decisions).where(decisions.c.date == on).order_by(decisions.c.position))
        return {r.account_id: r for r in rows}


def result_of_row(row: Any) -> AccountResult:
    import json

    return AccountResult(row.account_id, row.decision_id, row.trade, tuple(json.loads(row.reasons)),
                         Decimal(row.benefit), row.order_count, existing=True)


COMMIT_EVERY = 25
CHUNK = 50


def _analyse_into(uow: UnitOfWork, account_id: str, context: DayContext, actor: Actor) -> AccountResult:
    decision = uow.find(Decision, decision_id(account_id, context.on))
    if decision is not None and decision.recorded is not None:
        return AccountResult(account_id, decision.decision_id, existing=True)
    account = uow.get(Account, account_id, "account")
    inputs, outcome = analyse_account(uow, account, context)
    if decision is None:
        decision = Decision.first_record(account_id, context.on, inputs, outcome, actor)
        uow.add(decision)
    else:
        decision.record(inputs, outcome, actor)
    return AccountResult(account_id, decision.decision_id, outcome.trade, outcome.reasons, outcome.benefit,
                         len(outcome.orders) if outcome.trade else 0)


def _record_failure(service: Any, account_id: str, context: DayContext, actor: Actor, failure: str) -> AccountResult:
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

    return service.execute(work)


def rebalance_accounts(service: Any, account_ids: list[str], context: DayContext, actor: Actor,
                       progress: Any = None) -> list[AccountResult]:
    """Analyses accounts one by one, committing their decisions in batches; an account
    that fails is recorded as failed and the others go on."""
    results: list[AccountResult] = []
    pending: list[tuple[UnitOfWork, AccountResult]] = []

    def flush() -> None:
        if not pending:
            return
        try:
            with service.store.recorder.transaction(commit=True):
                service.store.save(*[a for uow, _ in pending for a in uow.changed()])
            results.extend(r for _, r in pending)
        except IntegrityError:
            # Another writer touched one of these accounts: redo them one at a time.
            for _, result in pending:
                results.append(_one(service, result.account, context, actor))
        if progress is not None:
            progress(len(pending))
        pending.clear()

    for account_id in account_ids:
        uow = UnitOfWork(service.store)
        try:
            result = _analyse_into(uow, account_id, context, actor)
        except Exception as error:  # noqa: BLE001 - one account never stops the night
            flush()
            results.append(_record_failure(service, account_id, context, actor, _describe(error)))
            if progress is not None:
                progress(1)
            continue
        pending.append((uow, result))
        if len(pending) >= COMMIT_EVERY:
            flush()
    flush()
    return results


def _one(service: Any, account_id: str, context: DayContext, actor: Actor) -> AccountResult:
    try:
        return service.execute(lambda uow: _analyse_into(uow, account_id, context, actor))
    except Exception as error:  # noqa: BLE001
        return _record_failure(service, account_id, context, actor, _describe(error))


def _describe(error: Exception) -> str:
    text = str(error) or type(error).__name__
    return text if isinstance(error, (InvalidInput, RuleRefused)) else f"{type(error).__name__}: {text}"


_WORKER: dict[str, Any] = {}


def _start_worker(url: str, on: date, actor: Actor, pinned: bool, parent: int | None = None) -> None:
    import os

    from lotline.application.service import Lotline, utc_now

    if parent is not None:
        _die_with_parent(parent)
    os.environ.setdefault("LOTLINE_WORKER", "1")
    clock = (lambda: actor.at) if pinned else utc_now
    service = Lotline(url, clock=clock)
    _WORKER.update(service=service, context=day_context(service, on), actor=actor, pinned=pinned)


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
    service, context, actor = _WORKER["service"], _WORKER["context"], _WORKER["actor"]
    if not _WORKER["pinned"]:
        actor = Actor(actor.user, actor.role, actor.effective_date, service.clock(), actor.reason)
    return rebalance_accounts(service, account_ids, context, actor)


def rebalance(service: Any, on: date, wanted: list[str] | None, user: str, workers: int = 1,
              progress: Any = None, pinned_clock: bool = False) -> list[AccountResult]:
    """One decision per account and trading day. A re-run analyses only the accounts
    still without a decision (failed ones included) and lists the others as they are."""
    check_trading_day(on)
    actor = authorise(UnitOfWork(service.store), user, Permission.REBALANCE, on, service.clock())
    ids = open_accounts(service, wanted)
    done = existing_decisions(service, on)
    todo = [a for a in ids if a not in done]
    results = [result_of_row(done[a]) for a in ids if a in done]
    if progress is not None and results:
        progress(len(results))
    if todo:
        context = day_context(service, on)
        with service.store.recorder.transaction(commit=True) as session:
            market_table.store_snapshot(session, context.snapshot)
        if workers <= 1 or len(todo) <= CHUNK:
            results += rebalance_accounts(service, todo, context, actor, progress)
        else:
            results += _in_pool(service, todo, on, actor, workers, progress, pinned_clock)
    service.catch_up()
    return sorted(results, key=lambda r: r.account)


def _in_pool(service: Any, todo: list[str], on: date, actor: Actor, workers: int, progress: Any,
             pinned: bool) -> list[AccountResult]:
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
                             initializer=_start_worker, initargs=(service.url, on, actor, pinned, os.getpid())) as pool:
        futures = [pool.submit(_work_chunk, chunk) for chunk in chunks]
        for future in as_completed(futures):
            chunk_results = future.result()
            results += chunk_results
            if progress is not None:
                progress(len(chunk_results))
    return results


def redo(service: Any, on: date, wanted: list[str] | None, user: str, reason: str | None) -> list[AccountResult]:
    """A new decision for each named account whose decision of the day was rejected,
    cancelled, went stale, was left unfilled or could not be made; the old one stays
    recorded, superseded. Every account is checked before any is analysed."""
    check_trading_day(on)
    if not wanted:
        raise InvalidInput("name the accounts to redo (--account)", "account")
    if not reason or not reason.strip():
        raise InvalidInput("required: say why the decision is redone", "reason")
    uow = UnitOfWork(service.store)
    actor = authorise(uow, user, Permission.RELEASE_ORDERS, on, service.clock(), reason)
    ids = open_accounts(service, wanted)
    for account_id in ids:
        decision = uow.find(Decision, decision_id(account_id, on))
        if decision is None:
            raise RuleRefused(f"account {account_id!r} has no decision on {on} to redo; run rebalance", "account")
        if decision.state() not in REDOABLE:
            raise RuleRefused(f"{decision.decision_id} is {decision.state()}; only a rejected, cancelled, stale, "
                              "unfilled or failed decision can be redone", "account")
    context = day_context(service, on)
    with service.store.recorder.transaction(commit=True) as session:
        market_table.store_snapshot(session, context.snapshot)
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
            results.append(service.execute(work))
        except RuleRefused:
            raise
        except Exception as error:  # noqa: BLE001 - recorded, and the other accounts go on
            results.append(_record_redo_failure(service, account_id, on, actor, _describe(error)))
    service.catch_up()
    return results


def _record_redo_failure(service: Any, account_id: str, on: date, actor: Actor, failure: str) -> AccountResult:
    def work(uow: UnitOfWork) -> AccountResult:
        uow.get(Decision, decision_id(account_id, on), "decision").fail_redo(failure, actor)
        return AccountResult(account_id, None, failure=failure)

    return service.execute(work)
