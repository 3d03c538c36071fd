"""Target templates: asset-class weights, the model recommended for each class and
its alternatives, how far an advisor may tilt each class, and each class's drift limit."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

from lotline.domain.aggregate import Actor, Aggregate, DomainEvent, aggregate_id
from lotline.domain.errors import InvalidInput, UnknownEntity
from lotline.domain.model import Model
from lotline.domain.values import CASH, non_negative, rate, sums_to_one

DEFAULT_MAX_MODIFICATION = Decimal("0")
DEFAULT_DRIFT_LIMIT = Decimal("0.05")


class ClassTarget(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    weight: Decimal
    model: str | None = None
    alternatives: tuple[str, ...] = ()
    max_modification: Decimal = DEFAULT_MAX_MODIFICATION
    drift_limit: Decimal = DEFAULT_DRIFT_LIMIT

    def model_choices(self) -> tuple[str, ...]:
        return ((self.model,) if self.model else ()) + self.alternatives


class TargetTemplate(Aggregate):
    template_id: str
    classes: dict[str, ClassTarget]

    class Created(DomainEvent):
        template_id: str
        classes: dict[str, ClassTarget]

        def apply(self, template: TargetTemplate) -> None:
            template.template_id = self.template_id
            template.classes = dict(self.classes)

    class ClassesChanged(DomainEvent):
        classes: dict[str, ClassTarget]

        def apply(self, template: TargetTemplate) -> None:
            template.classes = dict(self.classes)

    @staticmethod
    def id_for(template_id: str):
        return aggregate_id("template", template_id)

    @classmethod
    def create(cls, template_id: str, classes: Mapping[str, ClassTarget], models: Mapping[str, Model], actor: Actor) -> TargetTemplate:
        if not template_id:
            raise InvalidInput("must not be empty", "id")
        _check_classes(classes, models)
        return cls._start(cls.id_for(template_id), cls.Created, actor, template_id=template_id, classes=_sorted(classes))

    def change_classes(self, classes: Mapping[str, ClassTarget], models: Mapping[str, Model], actor: Actor) -> None:
        _check_classes(classes, models)
        if _sorted(classes) != self.classes:
            self._trigger(self.ClassesChanged, actor, classes=_sorted(classes))


def _sorted(classes: Mapping[str, ClassTarget]) -> dict[str, ClassTarget]:
    return {name: classes[name] for name in sorted(classes)}


def _check_classes(classes: Mapping[str, ClassTarget], models: Mapping[str, Model]) -> None:
    if not classes:
        raise InvalidInput("a template has at least one asset class", "classes")
    for name, target in classes.items():
        field = f"classes.{name}"
        rate(target.weight, f"{field}.weight")
        rate(non_negative(target.max_modification, f"{field}.max_modification"), f"{field}.max_modification")
        rate(non_negative(target.drift_limit, f"{field}.drift_limit"), f"{field}.drift_limit")
        if name == CASH:
            if target.model or target.alternatives:
                raise InvalidInput("cash holds no model", f"{field}.model")
            continue
        if not target.model:
            raise InvalidInput("a non-cash class needs a model", f"{field}.model")
        for position, model_id in enumerate(target.model_choices()):
            where = f"{field}.model" if position == 0 else f"{field}.alternatives[{position - 1}]"
            model = models.get(model_id)
            if model is None:
                raise UnknownEntity(f"unknown model {model_id!r}", where)
            if model.asset_class != name:
                raise InvalidInput(f"model {model_id!r} holds {model.asset_class}, not {name}", where)
    sums_to_one({name: t.weight for name, t in classes.items()}, "classes")
