"""The per-account, per-day tax-aware optimiser.

Public API (imported lazily, so ``domain.optimiser.inputs`` stays free of numpy for
the layers that only build problems):

    from lotline.domain.optimiser import Problem, SecurityInput, LotInput, ClassLimit,
        OptimiserSettings, optimise, evaluate_objective, OptimisationResult, ...
"""

from __future__ import annotations

from importlib import import_module

_EXPORTS = {
    "CASH_CLASS": "inputs",
    "ClassLimit": "inputs",
    "LotInput": "inputs",
    "OptimiserSettings": "inputs",
    "Problem": "inputs",
    "SecurityInput": "inputs",
    "BuyOrder": "results",
    "ContinuousSolution": "results",
    "ObjectiveTerms": "results",
    "OptimisationResult": "results",
    "SellOrder": "results",
    "evaluate_objective": "optimiser",
    "optimise": "optimiser",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
