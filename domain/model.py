"""Models: weighted security lists, one asset class each, owned by the policy committee.
Changing a model's weights once moves every account that follows it."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from lotline.domain.aggregate import Actor, Aggregate, DomainEvent, aggregate_id
from lotline.domain.errors import InvalidInput, RuleRefused, UnknownEntity
from lotline.domain.security import Security
from lotline.domain.values import positive, sums_to_one


class Model(Aggregate):
    model_id: str
    asset_class: str
    weights: dict[str, Decimal]
    retired: bool

    class Created(DomainEvent):
        model_id: str
        asset_class: str
        weights: dict[str, Decimal]

        def apply(self, model: Model) -> None:
            model.model_id = self.model_id
            model.asset_class = self.asset_class
            model.weights = dict(self.weights)
            model.retired = False

    class WeightsChanged(DomainEvent):
        weights: dict[str, Decimal]

        def apply(self, model: Model) -> None:
            model.weights = dict(self.weights)

    class Retired(DomainEvent):
        def apply(self, model: Model) -> None:
            model.retired = True

    @staticmethod
    def id_for(model_id: str):
        return aggregate_id("model", model_id)

    @classmethod
    def create(cls, model_id: str, weights: Mapping[str, Decimal], securities: Mapping[str, Security], actor: Actor) -> Model:
        if not model_id:
            raise InvalidInput("must not be empty", "id")
        asset_class = _check_weights(weights, securities)
        return cls._start(
            cls.id_for(model_id), cls.Created, actor,
            model_id=model_id, asset_class=asset_class, weights=_sorted(weights),
        )

    def change_weights(self, weights: Mapping[str, Decimal], securities: Mapping[str, Security], actor: Actor) -> None:
        asset_class = _check_weights(weights, securities)
        if asset_class != self.asset_class:
            raise RuleRefused(
                f"model {self.model_id!r} holds {self.asset_class}, got securities of {asset_class}", "weights"
            )
        if _sorted(weights) != self.weights:
            self._trigger(self.WeightsChanged, actor, weights=_sorted(weights))

    def retire(self, actor: Actor) -> None:
        if not self.retired:
            self._trigger(self.Retired, actor)


def _sorted(weights: Mapping[str, Decimal]) -> dict[str, Decimal]:
    return {symbol: weights[symbol] for symbol in sorted(weights)}


def _check_weights(weights: Mapping[str, Decimal], securities: Mapping[str, Security]) -> str:
    if not weights:
        raise InvalidInput("a model holds at least one security", "weights")
    classes = set()
    for symbol, weight in weights.items():
        positive(weight, f"weights.{symbol}")
        security = securities.get(symbol)
        if security is None:
            raise UnknownEntity(f"unknown symbol {symbol!r}", f"weights.{symbol}")
        classes.add(security.asset_class)
    sums_to_one(dict(weights), "weights")
    if len(classes) > 1:
        raise InvalidInput(f"a model holds one asset class, got {', '.join(sorted(classes))}", "weights")
    return classes.pop()
