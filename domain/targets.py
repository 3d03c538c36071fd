"""The blend an account follows, security by security: template class weights plus the
advisor's tilts, times the chosen model of each class, with substitutions applied and
restricted securities' weights redistributed within their model. Cash is a class."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from lotline.domain.model import Model
from lotline.domain.parameters import Parameters, RestrictionRule
from lotline.domain.template import TargetTemplate
from lotline.domain.values import CASH, ZERO


@dataclass(frozen=True)
class SecurityTargets:
    weights: dict[str, Decimal]  # symbol -> weight of account value (cash excluded)
    class_weights: dict[str, Decimal]  # asset class (and "cash") -> weight
    class_of: dict[str, str]  # symbol -> asset class
    models_used: dict[str, str]  # asset class -> model id
    notes: tuple[str, ...] = field(default=())

    @property
    def cash_weight(self) -> Decimal:
        return self.class_weights.get(CASH, ZERO)


def security_targets(
    template: TargetTemplate, models: Mapping[str, Model], parameters: Parameters
) -> SecurityTargets:
    unbuyable = parameters.restricted(RestrictionRule.DO_NOT_BUY) | parameters.restricted(RestrictionRule.DO_NOT_HOLD)
    class_weights = {
        name: target.weight + parameters.modifications.get(name, ZERO) for name, target in template.classes.items()
    }
    class_weights.setdefault(CASH, ZERO)
    weights: dict[str, Decimal] = {}
    class_of: dict[str, str] = {}
    used: dict[str, str] = {}
    notes: list[str] = []
    for name in sorted(template.classes):
        if name == CASH:
            continue
        target = template.classes[name]
        weight = class_weights[name]
        chosen = parameters.model_choices.get(name, target.model)
        candidates = [chosen] + [m for m in target.model_choices() if m != chosen]
        blend = None
        for model_id in candidates:
            model = models.get(model_id)
            if model is None or model.retired:
                continue
            blend = _model_blend(model, parameters.substitutions, unbuyable)
            if blend:
                if model_id != chosen:
                    notes.append(f"every security of model {chosen!r} is restricted; {name} follows {model_id!r}")
                used[name] = model_id
                break
        if not blend:
            notes.append(f"no model of {name} has an unrestricted security; its weight {weight} goes to cash")
            class_weights[CASH] += weight
            class_weights[name] = ZERO
            continue
        for symbol, share in blend.items():
            weights[symbol] = weights.get(symbol, ZERO) + weight * share
            class_of[symbol] = name
    return SecurityTargets(
        weights={s: weights[s] for s in sorted(weights)},
        class_weights={c: class_weights[c] for c in sorted(class_weights)},
        class_of=class_of,
        models_used=used,
        notes=tuple(notes),
    )


def _model_blend(model: Model, substitutions: Mapping[str, str], unbuyable: frozenset[str]) -> dict[str, Decimal]:
    """The model's weights after substitutions, restricted securities dropped and the rest scaled up."""
    substituted: dict[str, Decimal] = {}
    for symbol, weight in model.weights.items():
        held = substitutions.get(symbol, symbol)
        substituted[held] = substituted.get(held, ZERO) + weight
    kept = {s: w for s, w in substituted.items() if s not in unbuyable}
    total = sum(kept.values(), ZERO)
    if not kept or total <= 0:
        return {}
    return {s: w / total for s, w in sorted(kept.items())}
