"""`lotline backtest`: the scenario's firm run day by day through the NYSE trading days
of a price file, in a store of its own in a temporary directory (never the user's),
with the daily workflow as built: each day `rebalance`, `approve` every decision, `fill`
at the day's close, through the same handlers as the night run.

Strategies: `holistic` (the workflow as built), `no-harvest` (the same with every
account's `harvest_losses` off), `threshold` (the action-driven rebalancer of
domain/threshold.py in place of the optimiser: everything else, the inputs a decision
records, approval and fills, is the workflow's own). The measures are
domain/backtest_metrics.py's."""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from lotline.application.account_analysis import Decide
from lotline.application.identity import SYSTEM, Identity
from lotline.application.lotline import Lotline
from lotline.application.scenario import Scenario, UserEntry
from lotline.domain import backtest_metrics as metrics
from lotline.domain.errors import InvalidInput
from lotline.domain.tax import holding_term

STRATEGIES = ("holistic", "no-harvest", "threshold")
BACKTEST_USER = "backtest"  # the overlay manager who runs the backtest's days
ZERO = Decimal(0)
CENT = Decimal("0.01")

Close = tuple[date, str, Decimal]
DayDone = Callable[[int], None]


@dataclass(frozen=True)
class BacktestInput:
    """What a backtest reads, checked as a whole before any day runs."""

    scenario: Scenario
    scenario_name: str
    scenario_sha256: str
    closes: list[Close]
    prices_name: str
    prices_sha256: str
    days: list[date]
    strategies: tuple[str, ...]

    @property
    def start(self) -> date:
        return self.days[0]

    @property
    def end(self) -> date:
        return self.days[-1]


def strategies_named(name: str) -> tuple[str, ...]:
    if name == "all":
        return STRATEGIES
    if name not in STRATEGIES:
        raise InvalidInput(f"unknown strategy {name!r} (one of {', '.join(STRATEGIES)}, all)", "strategy")
    return (name,)


def read_input(prices: Path, scenario: Path, start: date | None, end: date | None, strategy: str) -> BacktestInput:
    """The price file, the scenario and the days to run; bad input names its field."""
    from lotline.application.price_files import read_price_file_and_digest
    from lotline.application.scenario import read_scenario
    from lotline.infrastructure.calendar import is_trading_day

    strategies = strategies_named(strategy)
    try:
        closes, prices_sha256 = read_price_file_and_digest(prices)
    except InvalidInput as error:
        raise InvalidInput(error.detail, _under("prices", error.field)) from None
    try:
        parsed = read_scenario(scenario)
        scenario_sha256 = hashlib.sha256(scenario.read_bytes()).hexdigest()
    except InvalidInput as error:
        raise InvalidInput(error.detail, _under("scenario", error.field)) from None
    except OSError as error:
        raise InvalidInput(f"cannot read {scenario}: {error.strerror}", "scenario") from None
    known = {s.symbol for s in parsed.securities}
    unknown = sorted({symbol for _, symbol, _ in closes} - known)
    if unknown:
        raise InvalidInput(f"symbol {unknown[0]!r} is not among the scenario's securities", "prices")
    if start is not None and end is not None and end < start:
        raise InvalidInput(f"{end.isoformat()} is before --start {start.isoformat()}", "end")
    as_of = parsed.as_of
    if start is not None and as_of is not None and start <= as_of:
        raise InvalidInput(f"{start.isoformat()} is not after the scenario's as_of {as_of.isoformat()}: the firm "
                           "is set up as of that day and runs from the next", "start")
    first = start or (date.min if as_of is None else date.fromordinal(as_of.toordinal() + 1))
    last = end or date.max
    days = sorted({d for d, _, _ in closes if first <= d <= last and is_trading_day(d)})
    if not days:
        raise InvalidInput(f"no NYSE trading day of {prices.name} between {first if start or as_of else 'its start'} "
                           f"and {last if end else 'its end'}", "start" if start else "end" if end else "prices")
    return BacktestInput(parsed, scenario.name, scenario_sha256, closes, prices.name, prices_sha256, days, strategies)


def _under(option: str, field: str | None) -> str:
    """A file's error named by the option that gave the file (`prices`, `scenario`)."""
    return option if field in (None, "file") else f"{option}.{field}"


# --- running one strategy -----------------------------------------------------------

@dataclass
class DayPoint:
    """The firm on one day's close, after the day's trades."""

    on: date
    value: Decimal
    after_tax: Decimal
    drift: float  # mean |class weight - target| over the accounts' classes


@dataclass
class StrategyResult:
    strategy: str
    start: date
    end: date
    days: int
    initial_value: Decimal
    final_value: Decimal
    final_cash: Decimal
    final_market_value: Decimal
    after_tax_liquidation_value: Decimal
    taxes_by_year: dict[int, Decimal]
    realized_short_term: Decimal
    realized_long_term: Decimal
    losses_harvested: Decimal
    wash_sale_violations: int
    tracking_error_annual: float
    mean_abs_class_drift: float
    turnover_annual: float
    trades: int
    failed_decisions: int
    trading_days: dict[str, list[str]] = field(default_factory=dict)  # date -> why each account traded
    series: list[DayPoint] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)  # processor time after each day (benchmarks)

    @property
    def taxes_paid(self) -> Decimal:
        return sum(self.taxes_by_year.values(), ZERO)


def run_strategy(given: BacktestInput, strategy: str, day_done: DayDone | None = None) -> StrategyResult:
    """One strategy through every day, in a store of its own that is deleted after."""
    with tempfile.TemporaryDirectory(prefix="lotline-backtest-", dir=_scratch()) as directory:
        url = f"sqlite:///{Path(directory) / 'backtest.db'}"
        lotline = Lotline(url, environ={}, store_settings=CACHED)
        try:
            manager = _set_up(lotline, given, strategy)
            tracker = _Tracker(given)
            began, cpu = time.process_time(), []
            for n, day in enumerate(given.days):
                _run_day(lotline, manager, day, _decide(strategy, day, given.days[n - 1] if n else None))
                tracker.observe(lotline, day)
                cpu.append(time.process_time() - began)
                if day_done is not None:
                    day_done(1)
            result = tracker.result(lotline, strategy)
            result.cpu_seconds = cpu
            return result
        finally:
            lotline.close()


def _scratch() -> str | None:
    """Where the temporary store goes: memory-backed /dev/shm where there is one (a
    day's commits then cost no disk flush), else the system's temporary directory."""
    import os

    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


# Aggregates cached between units of work: an account read every day would otherwise be
# rebuilt from all its events every day. The backtest's store has one writer (this
# process), so the cache is kept current by saving through it (no fast-forward query).
CACHED = {"AGGREGATE_CACHE_MAXSIZE": "5000", "AGGREGATE_CACHE_FASTFORWARD": "n"}


def _set_up(lotline: Lotline, given: BacktestInput, strategy: str) -> Identity:
    """The scenario loaded as a file would be on an empty store (by `system`, the
    bootstrap admin), the backtest's overlay manager added, then the price file's closes."""
    from lotline.application.authorisation import authorise
    from lotline.application.loading import ScenarioLoader
    from lotline.application.price_records import record_closes
    from lotline.domain.errors import RuleRefused
    from lotline.domain.price_series import CloseDiffers, PriceSource
    from lotline.domain.roles import Permission
    from lotline.projections.prices import ClosesInMemory

    scenario = _for_strategy(given.scenario, strategy)
    as_of = scenario.as_of or given.start
    uow = lotline.fresh()
    ScenarioLoader(uow, scenario, SYSTEM, [], as_of, lotline.clock(),
                   prices_source=PriceSource(given.scenario_name, given.scenario_sha256)).run()
    lotline.commit(uow)
    manager = Identity(_manager_id(given.scenario))
    uow = lotline.fresh()
    actor = authorise(uow, manager, Permission.MANAGE_MARKET, as_of, lotline.clock())
    try:
        record_closes(uow, given.closes, PriceSource(given.prices_name, given.prices_sha256), actor)
    except CloseDiffers as differs:
        raise InvalidInput(f"{differs.detail} (the scenario's prices and the price file disagree)", "prices") from None
    except RuleRefused as refused:
        raise InvalidInput(str(refused), "prices") from None
    lotline.commit(uow)
    lotline.catch_up()
    # This process alone writes the backtest's store: its closes are read from memory.
    lotline.prices = ClosesInMemory(lotline.prices, {s.symbol for s in scenario.securities})
    return manager


def _manager_id(scenario: Scenario) -> str:
    taken = {u.id for u in scenario.users}
    name, n = BACKTEST_USER, 1
    while name in taken:
        n += 1
        name = f"{BACKTEST_USER}-{n}"
    return name


def _for_strategy(scenario: Scenario, strategy: str) -> Scenario:
    """The scenario with the backtest's overlay manager; for `no-harvest`, every
    account with loss harvesting off."""
    from lotline.application.scenario import ParametersEntry
    from lotline.domain.parameters import TaxPreferences

    users = [*scenario.users, UserEntry(id=_manager_id(scenario), role="overlay_manager",
                                        reason="runs the backtest's days")]
    accounts = scenario.accounts
    if strategy == "no-harvest":
        accounts = []
        for entry in scenario.accounts:
            parameters = entry.parameters or ParametersEntry()
            tax = parameters.tax or TaxPreferences()
            accounts.append(entry.model_copy(update={"parameters": parameters.model_copy(
                update={"tax": tax.model_copy(update={"harvest_losses": False})})}))
    return scenario.model_copy(update={"users": users, "accounts": accounts})


def _run_day(lotline: Lotline, manager: Identity, day: date, decide: Decide | None) -> None:
    """The daily workflow as built: rebalance, approve every decision, fill at the close."""
    from lotline.application.commands import Approve, Fill, Rebalance
    from lotline.application.handlers.analysis import rebalance
    from lotline.application.handlers.execution import fill
    from lotline.application.handlers.release import approve

    rebalance(Rebalance(user=manager, on=day, workers=1), lotline, decide=decide)
    approve(Approve(user=manager, on=day, mandatory_only=False, min_benefit=ZERO), lotline)
    fill(Fill(user=manager, on=day), lotline)


def _decide(strategy: str, day: date, previous: date | None) -> Decide | None:
    """The threshold rebalancer harvests on the first trading day of each month."""
    if strategy != "threshold":
        return None
    return threshold_decide(previous is None or previous.month != day.month)


def threshold_decide(harvest_day: bool) -> Decide:
    """The threshold rebalancer as a decision: its plan concluded as the optimiser's
    answer is. It trades whenever it has orders (a band exit, a harvest, a must)."""
    from lotline.domain import threshold
    from lotline.domain.analysis import Analysis, conclude
    from lotline.domain.vocabulary import Trigger

    def decide(analysis: Analysis, key: str) -> Any:
        problem = analysis.problem
        flags = {lot.lot_id: lot for lot in problem.lots}
        valuation = analysis.valuation
        account = threshold.Account(
            holdings=[threshold.Holding(s.symbol, s.asset_class, s.wash_group, s.price, s.target_weight, s.can_buy,
                                        s.must_exit) for s in problem.securities],
            lots=[threshold.Lot(lot.lot_id, lot.symbol, float(lot.quantity), float(lot.cost_basis), lot.acquired,
                                flags[lot.lot_id].can_sell, flags[lot.lot_id].loss_sale_blocked,
                                flags[lot.lot_id].tax_rate if problem.settings.taxable else 0.0)
                  for lot in analysis.lots],
            cash=problem.cash,
            required_cash=problem.required_cash,
            bands=[threshold.ClassBand(c, float(valuation.target_weights.get(c, ZERO)), float(limit))
                   for c, limit in valuation.drift_limits.items()],
            min_trade_value=problem.settings.min_trade_value,
            fractional=problem.settings.fractional_shares,
            harvest=problem.settings.harvest_losses and problem.settings.taxable,
        )
        outcome = conclude(analysis, threshold.plan(account, harvest_day), key)
        if outcome.orders and not outcome.trade:
            # A harvest day's harvest: the rule, not a benefit threshold, decides it.
            outcome = outcome.model_copy(update={"trade": True, "reasons": (Trigger.NET_BENEFIT,)})
        return outcome

    return decide


# --- what the days recorded ---------------------------------------------------------

@dataclass
class _AccountTrack:
    targets: dict[str, float]  # symbol -> target weight (the benchmark)
    short_rate: Decimal
    long_rate: Decimal
    initial_value: Decimal | None = None
    returns: list[float] = field(default_factory=list)
    benchmark: list[float] = field(default_factory=list)
    last: dict[str, Decimal] | None = None  # closes of the previous day
    traded_value: Decimal = ZERO
    values: list[Decimal] = field(default_factory=list)
    gains: list[metrics.Gain] = field(default_factory=list)  # realised so far


class _Tracker:
    """Reads each day's decisions (their recorded inputs are the account before the
    day's trades, valued at the day's close) and fills, and keeps the series."""

    def __init__(self, given: BacktestInput) -> None:
        self.given = given
        self.closes: dict[date, dict[str, Decimal]] = {}
        for day, symbol, close in given.closes:
            self.closes.setdefault(day, {})[symbol] = close
        self.accounts: dict[str, _AccountTrack] = {}
        self.points: list[DayPoint] = []
        self.drifts: list[dict[str, float]] = []
        self.trading_days: dict[str, list[str]] = {}
        self.failed = 0
        self.class_of: dict[str, str] = {}

    def _track(self, lotline: Lotline, uow: Any, account_id: str) -> _AccountTrack:
        if account_id not in self.accounts:
            from lotline.domain.account import Account
            from lotline.domain.model import Model
            from lotline.domain.parameters import TaxStatus
            from lotline.domain.targets import security_targets
            from lotline.domain.template import TargetTemplate

            account = uow.get(Account, account_id)
            template = uow.get(TargetTemplate, account.template_id)
            targets = security_targets(template, uow.mapping(Model), account.parameters)
            taxable = account.tax_status == TaxStatus.TAXABLE
            tax = account.parameters.tax
            self.accounts[account_id] = _AccountTrack(
                {s: float(w) for s, w in targets.weights.items()},
                tax.short_term_rate if taxable else ZERO, tax.long_term_rate if taxable else ZERO)
        return self.accounts[account_id]

    def observe(self, lotline: Lotline, day: date) -> None:
        from lotline.domain.decision import Decision, OrderStatus, decision_id

        uow = lotline.fresh()
        closes = self.closes.get(day, {})
        firm_value = firm_after_tax = ZERO
        day_drifts: list[float] = []
        for account_id in sorted(lotline.views.accounts_closed()):
            track = self._track(lotline, uow, account_id)
            decision = uow.find(Decision, decision_id(account_id, day))
            recorded = decision.recorded if decision is not None else None
            if recorded is None:
                self.failed += 1
                continue
            inputs, outcome = recorded.inputs, recorded.outcome
            value = inputs.total_value
            if track.initial_value is None:
                track.initial_value = value
            # The day's return on what was held overnight (flows in or out are not returns).
            if track.last is not None:
                held = {}
                for lot in inputs.lots:
                    held[lot.symbol] = held.get(lot.symbol, ZERO) + lot.quantity
                change = sum((q * (closes.get(s, track.last.get(s, ZERO)) - track.last.get(s, ZERO))
                              for s, q in held.items() if s in track.last), ZERO)
                base = value - change
                if base > 0:
                    track.returns.append(float(change / base))
                    track.benchmark.append(metrics.benchmark_return(track.targets, {
                        s: float(closes[s] / track.last[s] - 1) for s in track.targets
                        if s in closes and track.last.get(s)}))
            track.last = dict(closes)
            # After the day's trades: class weights moved by the filled orders.
            moved: dict[str, Decimal] = {}
            filled = [o for o in outcome.orders if decision.status.get(o.order_id) == OrderStatus.FILLED]
            for order in filled:
                sign = 1 if order.side == "buy" else -1
                asset_class = self._class_of(uow, order.symbol, self.class_of)
                moved[asset_class] = moved.get(asset_class, ZERO) + sign * order.value
                moved["cash"] = moved.get("cash", ZERO) - sign * order.value
                track.traded_value += order.value
                if order.side == "sell":
                    for relief in order.lots:
                        lot = next((x for x in inputs.lots if x.lot_id == relief.lot_id), None)
                        if lot is not None:
                            basis = lot.cost_basis * relief.quantity / lot.quantity
                            track.gains.append(metrics.Gain(
                                day, holding_term(lot.holding_period_start, day),
                                relief.quantity * decision.fill_prices.get(order.order_id, order.price) - basis))
            if filled:
                self.trading_days.setdefault(day.isoformat(), []).extend(r.value for r in outcome.reasons)
            drift = {c.asset_class: float((c.weight * value + moved.get(c.asset_class, ZERO)) / value - c.target_weight)
                     for c in outcome.classes} if value else {}
            day_drifts.append(metrics.mean_abs_class_drift([drift]))
            self.drifts.append(drift)
            track.values.append(value)
            firm_value += value
            firm_after_tax += value - self._tax_if_sold(track, inputs, filled, day)
        if day_drifts:
            self.points.append(DayPoint(day, firm_value, firm_after_tax, sum(day_drifts) / len(day_drifts)))

    @staticmethod
    def _class_of(uow: Any, symbol: str, cache: dict[str, str]) -> str:
        from lotline.domain.security import Security

        if symbol not in cache:
            cache[symbol] = uow.get(Security, symbol).asset_class
        return cache[symbol]

    def _tax_if_sold(self, track: _AccountTrack, inputs: Any, filled: Sequence[Any], day: date) -> Decimal:
        """Taxes of the run so far plus the tax of selling everything at the day's close
        (an estimate for the plot: the lots before the day's trades, whose sales are in
        the realised gains already, so only the lots not sold count)."""
        if not track.short_rate and not track.long_rate:
            return ZERO
        sold = {relief.lot_id: relief.quantity for order in filled if order.side == "sell" for relief in order.lots}
        unrealised = []
        for lot in inputs.lots:
            left = lot.quantity - sold.get(lot.lot_id, ZERO)
            if left > 0:
                price = inputs.prices.get(lot.symbol, ZERO)
                unrealised.append(metrics.Gain(day, holding_term(lot.holding_period_start, day),
                                               left * price - lot.cost_basis * left / lot.quantity))
        earlier = [g for g in track.gains if g.on.year < day.year]
        taxes, carry_short, carry_long = metrics.taxes_by_year(earlier, track.short_rate, track.long_rate, [])
        this_year = [g for g in track.gains if g.on.year == day.year]
        final = metrics.liquidation_tax([], this_year + unrealised, carry_short, carry_long, track.short_rate,
                                        track.long_rate)
        return sum(taxes.values(), ZERO) + final

    def result(self, lotline: Lotline, strategy: str) -> StrategyResult:
        """The measures over the run, from the accounts' books at the end."""
        from lotline.application.history import account_history
        from lotline.domain.account import Account

        given = self.given
        start, end = given.start, given.end
        uow = lotline.fresh()
        closes = self.closes_on_or_before(end)
        initial = final = cash_total = market_total = after_tax = ZERO
        short = long = harvested = ZERO
        taxes_total: dict[int, Decimal] = {}
        violations = trades = 0
        traded = 0.0
        weighted_te = weight = 0.0
        all_values: list[Decimal] = []
        for account_id, track in sorted(self.accounts.items()):
            account = uow.get(Account, account_id)
            history = account_history(uow, account)
            book = history.book(end)
            lots = book.open_lots()
            market = sum((lot.quantity * closes[lot.symbol] for lot in lots), ZERO)
            value = book.cash + market
            cash_total += book.cash
            market_total += market
            final += value
            initial += track.initial_value or ZERO
            realised = [r for r in book.realizations() if start <= r.date <= end]
            gains = [metrics.Gain(r.date, r.term, r.gain) for r in realised]
            years = list(range(start.year, end.year + 1))
            earlier = [g for g in gains if g.on.year < end.year]
            taxes, carry_short, carry_long = metrics.taxes_by_year(earlier, track.short_rate, track.long_rate,
                                                                   years[:-1])
            last_year = [g for g in gains if g.on.year == end.year]
            # The losses carried into the last year are netted with it too.
            last_tax_with_carry = metrics.net_year(
                sum((g.amount for g in last_year if g.term == "short"), ZERO) + carry_short,
                sum((g.amount for g in last_year if g.term != "short"), ZERO) + carry_long,
                track.short_rate, track.long_rate).tax.quantize(CENT)
            taxes[end.year] = last_tax_with_carry
            unrealised = [metrics.Gain(end, holding_term(lot.holding_period_start, end),
                                       lot.quantity * closes[lot.symbol] - lot.cost_basis) for lot in lots]
            liquidation = metrics.liquidation_tax(last_year, unrealised, carry_short, carry_long, track.short_rate,
                                                  track.long_rate)
            after_tax += value - sum(taxes.values(), ZERO) - liquidation
            for year, tax in taxes.items():
                taxes_total[year] = taxes_total.get(year, ZERO) + tax
            if track.short_rate or track.long_rate:
                short += sum((g.amount for g in gains if g.term == "short"), ZERO)
                long += sum((g.amount for g in gains if g.term != "short"), ZERO)
                harvested += sum((-g.amount for g in gains if g.amount < 0), ZERO)
            violations += metrics.wash_sale_violations(*_wash_inputs(account, history.wash_group, realised))
            executed = [e for e in account.ledger_events
                        if isinstance(e, Account.TradeExecuted) and start <= e.date <= end]
            trades += len(executed)
            traded += float(sum((e.quantity * e.price for e in executed), ZERO))
            te = metrics.tracking_error_annual(track.returns, track.benchmark)
            size = float(track.initial_value or 0)
            weighted_te += te * size
            weight += size
            all_values += track.values
        mean_value = float(sum(all_values, ZERO)) / len(given.days) if given.days else 0.0
        return StrategyResult(
            strategy=strategy, start=start, end=end, days=len(given.days),
            initial_value=initial.quantize(CENT), final_value=final.quantize(CENT),
            final_cash=cash_total.quantize(CENT), final_market_value=market_total.quantize(CENT),
            after_tax_liquidation_value=after_tax.quantize(CENT), taxes_by_year=taxes_total,
            realized_short_term=short.quantize(CENT), realized_long_term=long.quantize(CENT),
            losses_harvested=harvested.quantize(CENT), wash_sale_violations=violations,
            tracking_error_annual=weighted_te / weight if weight else 0.0,
            mean_abs_class_drift=metrics.mean_abs_class_drift(self.drifts),
            turnover_annual=metrics.turnover_annual(traded, mean_value, len(given.days)),
            trades=trades, failed_decisions=self.failed, trading_days=self.trading_days, series=self.points,
        )

    def closes_on_or_before(self, day: date) -> dict[str, Decimal]:
        latest: dict[str, Decimal] = {}
        for d in sorted(self.closes):
            if d > day:
                break
            latest.update(self.closes[d])
        return latest


def _wash_inputs(account: Any, wash_group: Callable[[str], str],
                 realised: Sequence[Any]) -> tuple[list[metrics.Acquisition], list[metrics.LossSale]]:
    """Every acquisition the account's events record (buys by trade date, lots brought
    in by their acquisition date) and every sale that realised a loss before any
    wash-sale adjustment (proceeds below basis): the raw facts, not the ledger's flags."""
    from lotline.domain.account import Account

    acquisitions = []
    for event in account.ledger_events:
        if isinstance(event, (Account.TradeRecorded, Account.TradeExecuted)) and event.side == "buy" and event.lot_id:
            acquisitions.append(metrics.Acquisition(event.lot_id, wash_group(event.symbol), event.date))
        elif isinstance(event, Account.LotsTransferredIn):
            acquisitions += [metrics.Acquisition(lot.lot_id, wash_group(lot.symbol), lot.acquired)
                             for lot in event.lots]
    losses = [metrics.LossSale(r.lot_id, wash_group(r.symbol), r.date) for r in realised if r.proceeds < r.cost_basis]
    return acquisitions, losses


# --- the document -------------------------------------------------------------------

def run_backtest(given: BacktestInput, day_done: DayDone | None = None,
                 workers: int | None = None) -> list[StrategyResult]:
    """Every strategy asked for, each in its own store; several at once in worker
    processes (at most one per core), each telling its days done through a queue."""
    import os

    workers = min(len(given.strategies), workers or os.cpu_count() or 1)
    if workers <= 1:
        return [run_strategy(given, strategy, day_done) for strategy in given.strategies]
    import multiprocessing
    import queue as queues
    from concurrent.futures import ProcessPoolExecutor

    # One BLAS thread per worker, as the CLI sets for itself: an account's problems are
    # small, and threads of two workers spinning for the same cores cost more than they give.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(variable, "1")
    context = multiprocessing.get_context("spawn")
    told = context.Queue()
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_worker_start, initargs=(told,)) as pool:
        futures = [pool.submit(_run_in_worker, given, strategy) for strategy in given.strategies]
        while not all(f.done() for f in futures):
            try:
                count = told.get(timeout=0.2)
            except queues.Empty:
                continue
            if day_done is not None:
                day_done(count)
        return [f.result() for f in futures]


_told: Any = None


def _worker_start(told: Any) -> None:
    global _told
    _told = told


def _run_in_worker(given: BacktestInput, strategy: str) -> StrategyResult:
    return run_strategy(given, strategy, _told.put)


def tax_alpha(results: Sequence[StrategyResult]) -> Decimal | None:
    by_name = {r.strategy: r for r in results}
    if "holistic" not in by_name or "no-harvest" not in by_name:
        return None
    holistic, plain = by_name["holistic"], by_name["no-harvest"]
    return metrics.tax_alpha_annual(holistic.after_tax_liquidation_value, plain.after_tax_liquidation_value,
                                    holistic.initial_value, holistic.days)


def document(results: Sequence[StrategyResult]) -> dict[str, Any]:
    alpha = tax_alpha(results)
    return {
        "strategies": [{
            "strategy": r.strategy, "start": r.start.isoformat(), "end": r.end.isoformat(), "days": r.days,
            "initial_value": str(r.initial_value), "final_value": str(r.final_value),
            "final_cash": str(r.final_cash), "final_market_value": str(r.final_market_value),
            "after_tax_liquidation_value": str(r.after_tax_liquidation_value),
            "taxes_paid": str(r.taxes_paid.quantize(CENT)),
            "taxes_by_year": {str(y): str(t.quantize(CENT)) for y, t in sorted(r.taxes_by_year.items())},
            "realized_short_term": str(r.realized_short_term), "realized_long_term": str(r.realized_long_term),
            "losses_harvested": str(r.losses_harvested), "wash_sale_violations": r.wash_sale_violations,
            "tracking_error_annual": f"{r.tracking_error_annual:.4f}",
            "mean_abs_class_drift": f"{r.mean_abs_class_drift:.4f}",
            "turnover_annual": f"{r.turnover_annual:.4f}", "trades": r.trades,
            "failed_decisions": r.failed_decisions,
            "trading_days": r.trading_days,
        } for r in results],
        "tax_alpha_annual": None if alpha is None else str(alpha),
    }
