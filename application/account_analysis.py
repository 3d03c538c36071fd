"""One account's analysis on one day: the firm-wide inputs of the day read once
(`DayContext`: settings, the stored market snapshot, the risk model, templates, models
and securities), then the account's book, the optimisation and the decision's inputs
and outcome. The daily run (batch_analysis.py), a redo and `replay` all call
`run_analysis`."""

from __future__ import annotations

import platform
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import lru_cache
from importlib import metadata as importlib_metadata
from typing import TYPE_CHECKING, Any

from collections.abc import Callable

from lotline.application.history import AccountHistory, account_history
from lotline.domain.account import Account
from lotline.domain.decision import DecisionInputs, DecisionOutcome, decision_id
from lotline.domain.market import MarketSnapshot
from lotline.domain.model import Model
from lotline.domain.security import Security
from lotline.domain.settings import FirmSettings, effective_settings
from lotline.domain.targets import security_targets
from lotline.domain.template import TargetTemplate

if TYPE_CHECKING:
    from lotline.application.unit_of_work import UnitOfWork
    from lotline.application.lotline import Lotline
    from lotline.domain.analysis import Analysis
    from lotline.domain.optimiser.inputs import OptimiserSettings
    from lotline.domain.risk import RiskModel


@dataclass
class DayContext:
    """Firm-wide inputs of one analysis day, read once and shared by every account."""

    on: date
    settings_version: int
    settings: dict[str, Decimal]
    snapshot: MarketSnapshot
    digest: str
    risk: RiskModel
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
    from lotline.domain.analysis import ANALYSIS_RULES

    out = {"python": platform.python_version(), "analysis_rules": str(ANALYSIS_RULES)}
    for name in ("lotline", "numpy", "scipy", "cvxopt", "numba", "eventsourcing", "pydantic"):
        try:
            out[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            out[name] = "unknown"
    return out


def day_context(lotline: Lotline, on: date) -> DayContext:
    """Settings, the day's market snapshot (stored, content-addressed) and risk model."""
    uow = lotline.fresh()
    settings_aggregate = uow.find(FirmSettings, "firm")
    settings = effective_settings(settings_aggregate)
    lookback = int(settings["risk_lookback_days"])
    with lotline.reading():
        symbols = lotline.views.symbols()
        closes = lotline.prices.history(symbols, on, last=lookback + 1)  # what the snapshot keeps
    splits = {}
    securities = {}
    for symbol in symbols:
        security = uow.find(Security, symbol)
        if security is not None:
            securities[symbol] = security  # read once for the day: every account's history uses them
            if security.splits:
                splits[symbol] = list(security.splits)
    snapshot = MarketSnapshot.build(on, closes, splits, lookback + 1)
    risk = snapshot.risk_model(lookback, int(settings["risk_min_returns"]))
    return DayContext(on, settings_aggregate.version if settings_aggregate else 0, settings, snapshot,
                      snapshot.digest(), risk, securities=securities)


Decide = Callable[["Analysis", str], DecisionOutcome]
"""From an account's analysis and the decision's id to its outcome. The night run's is
`optimised` (the holistic optimiser); a backtest passes another rebalancer's, so the
inputs recorded and everything after the decision stay the night run's own."""


def optimised(analysis: Analysis, key: str) -> DecisionOutcome:
    from lotline.domain.analysis import conclude
    from lotline.domain.optimiser import optimise

    return conclude(analysis, optimise(analysis.problem), key)


def analyse_account(uow: UnitOfWork, account: Account, context: DayContext,
                    key: str | None = None, decide: Decide | None = None) -> tuple[DecisionInputs, DecisionOutcome]:
    """Inputs and outcome of one account's analysis (pure but for reading aggregates)."""
    from lotline.domain.analysis import eligible_purchases

    template = context.template(uow, account.template_id)
    models = context.model_map(uow)
    targets = security_targets(template, models, account.parameters)
    eligible = eligible_purchases(template, models, account.parameters)
    history = account_history(uow, account, set(targets.weights) | eligible, context.securities)
    return run_analysis(account, history, template, models, context, key, decide)


def run_analysis(
    account: Account, history: AccountHistory, template: TargetTemplate, models: Mapping[str, Model], context: DayContext,
    key: str | None = None, decide: Decide | None = None,
) -> tuple[DecisionInputs, DecisionOutcome]:
    from lotline.domain.analysis import analyse

    on = context.on
    book = history.book(on)
    snapshot = context.snapshot
    prices = {s: snapshot.latest[s] for s in history.securities if s in snapshot.latest}
    price_dates = {s: snapshot.latest_date(s) for s in prices}
    analysis = analyse(account, book, template, models, history.securities, context.settings, prices, context.risk, on,
                       price_dates=price_dates)
    outcome = (decide or optimised)(analysis, key or decision_id(account.account_id, on))
    # Every model the analysis may have read: the classes' choices and the template's
    # recommendations and alternatives (whose securities are eligible purchases).
    used_models = {m for m in set(analysis.targets.models_used.values()) | {
        account.parameters.model_choices.get(c, t.model) for c, t in template.classes.items() if t.model} | {
        m for t in template.classes.values() for m in t.model_choices()}}
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


def vars_of(settings: OptimiserSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in settings.__slots__}

