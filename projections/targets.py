"""What each account aims at: its target weight and drift limit per asset class and the
securities its blend names, as `security_targets` computes them from the account's
template, the models and the account's tilts, model choices, substitutions and
restrictions. The listings and the exceptions read these rows instead of loading every
account. The read model keeps the templates, models and each account's template and
parameters it needs; a change to a template or a model recomputes every account that
follows it. An account whose targets cannot be computed is reported as failing at that
event and left out; every other account goes on."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, Column, MetaData, String, Table, Text, Uuid, select, update
from sqlalchemy.orm import Session

from lotline.domain.account import Account
from lotline.domain.aggregate import DomainEvent
from lotline.domain.model import Model
from lotline.domain.parameters import Parameters
from lotline.domain.targets import security_targets
from lotline.domain.template import ClassTarget, TargetTemplate
from lotline.projections.tracking import Projection, Unreadable, bulk_insert

metadata = MetaData()

# The inputs, as the events left them.
target_templates = Table(
    "target_templates",
    metadata,
    Column("template_id", String(128), primary_key=True),
    Column("originator_id", Uuid, nullable=False, unique=True),
    Column("classes", Text, nullable=False),  # JSON: class -> ClassTarget
)

target_models = Table(
    "target_models",
    metadata,
    Column("model_id", String(128), primary_key=True),
    Column("originator_id", Uuid, nullable=False, unique=True),
    Column("weights", Text, nullable=False),  # JSON: symbol -> weight (text)
    Column("retired", Boolean, nullable=False),
)

target_accounts = Table(
    "target_accounts",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("originator_id", Uuid, nullable=False, unique=True),
    Column("template", String(128), nullable=False, index=True),
    Column("parameters", Text, nullable=False),  # JSON: the Parameters that shape the targets
)

# What the listings read, one row an account (an account whose template is unknown has
# none): JSON, read for 10,000 accounts at once and parsed once per distinct value.
account_targets = Table(
    "account_targets",
    metadata,
    Column("account_id", String(128), primary_key=True),
    Column("classes", Text, nullable=False),  # [[class, weight, drift limit or null (cash)], ...] by class
    Column("symbols", Text, nullable=False),  # [symbol, ...]: the securities the targets name, in order
)


@dataclass(frozen=True)
class _Template:
    classes: dict[str, ClassTarget]


@dataclass(frozen=True)
class _Model:
    weights: dict[str, Decimal]
    retired: bool


class AccountTargets(Projection):
    name = "targets"
    metadata = metadata
    handles = frozenset({
        TargetTemplate.Created, TargetTemplate.ClassesChanged, Model.Created, Model.WeightsChanged, Model.Retired,
        Account.Opened, Account.TemplateAssigned, Account.ModificationsSet, Account.ModelChoicesSet,
        Account.SubstitutionsSet, Account.RestrictionsSet,
    })

    def __init__(self) -> None:
        self._dirty: set[str] = set()

    def forget(self) -> None:
        self._dirty = set()

    def clear(self, session: Session) -> None:
        super().clear(session)
        self._dirty = set()

    def apply_unreadable(self, session: Session, event: Unreadable) -> bool:
        """An event whose stored type is none of those read here (a type that no longer
        exists) changes no target: not this read model's failure. One of them is."""
        stored = event.topic.rsplit(":", 1)[-1]
        return stored not in {kind.__qualname__ for kind in self.handles or ()}

    # --- events ------------------------------------------------------------------------

    def apply(self, session: Session, event: DomainEvent, position: int) -> None:
        match event:
            case TargetTemplate.Created():
                # Delete first: the tables may outlive their tracking row (dropped by hand).
                session.execute(target_templates.delete().where(target_templates.c.template_id == event.template_id))
                session.execute(target_templates.insert().values(
                    template_id=event.template_id, originator_id=event.originator_id, classes=_classes_json(event.classes)))
                self._template_changed(session, event.template_id)
            case TargetTemplate.ClassesChanged():
                template_id = session.execute(select(target_templates.c.template_id).where(
                    target_templates.c.originator_id == event.originator_id)).scalar_one()
                session.execute(update(target_templates).where(target_templates.c.template_id == template_id)
                                .values(classes=_classes_json(event.classes)))
                self._template_changed(session, template_id)
            case Model.Created():
                session.execute(target_models.delete().where(target_models.c.model_id == event.model_id))
                session.execute(target_models.insert().values(
                    model_id=event.model_id, originator_id=event.originator_id,
                    weights=json.dumps({s: str(w) for s, w in event.weights.items()}), retired=False))
                self._model_changed(session, event.model_id)
            case Model.WeightsChanged() | Model.Retired():
                model_id = session.execute(select(target_models.c.model_id).where(
                    target_models.c.originator_id == event.originator_id)).scalar_one()
                values: dict[str, Any] = ({"retired": True} if isinstance(event, Model.Retired) else
                                          {"weights": json.dumps({s: str(w) for s, w in event.weights.items()})})
                session.execute(update(target_models).where(target_models.c.model_id == model_id).values(**values))
                self._model_changed(session, model_id)
            case Account.Opened():
                session.execute(target_accounts.delete().where(target_accounts.c.account_id == event.account_id))
                session.execute(target_accounts.insert().values(
                    account_id=event.account_id, originator_id=event.originator_id, template=event.template,
                    parameters=Parameters().model_dump_json()))
                self._dirty.add(event.account_id)
            case Account.TemplateAssigned():
                account_id = self._account_of(session, event)
                session.execute(update(target_accounts).where(target_accounts.c.account_id == account_id)
                                .values(template=event.template))
                self._dirty.add(account_id)
            case Account.ModificationsSet() | Account.ModelChoicesSet() | Account.SubstitutionsSet() | \
                    Account.RestrictionsSet():
                account_id = self._account_of(session, event)
                stored = session.execute(select(target_accounts.c.parameters).where(
                    target_accounts.c.account_id == account_id)).scalar_one()
                parameters = Parameters.model_validate_json(stored)
                changed = _PARAMETER_OF[type(event)]
                parameters = parameters.model_copy(update={changed: getattr(event, changed)})
                session.execute(update(target_accounts).where(target_accounts.c.account_id == account_id)
                                .values(parameters=parameters.model_dump_json()))
                self._dirty.add(account_id)

    @staticmethod
    def _account_of(session: Session, event: DomainEvent) -> str:
        return session.execute(select(target_accounts.c.account_id).where(
            target_accounts.c.originator_id == event.originator_id)).scalar_one()

    def _template_changed(self, session: Session, template_id: str) -> None:
        self._dirty.update(session.execute(select(target_accounts.c.account_id)
                                           .where(target_accounts.c.template == template_id)).scalars())

    def _model_changed(self, session: Session, model_id: str) -> None:
        """Every account whose template names the model, or whose own choices do."""
        templates = [t for t, classes in session.execute(select(target_templates.c.template_id,
                                                                target_templates.c.classes))
                     if any(model_id in c.model_choices() for c in _classes(classes).values())]
        if templates:
            self._dirty.update(session.execute(select(target_accounts.c.account_id)
                                               .where(target_accounts.c.template.in_(templates))).scalars())
        marker = json.dumps(model_id)
        for account_id, stored in session.execute(select(target_accounts.c.account_id, target_accounts.c.parameters)
                                                  .where(target_accounts.c.parameters.contains(marker))):
            if model_id in Parameters.model_validate_json(stored).model_choices.values():
                self._dirty.add(account_id)

    # --- the targets -------------------------------------------------------------------

    def end_batch(self, session: Session) -> None:
        dirty = sorted(self._dirty - self.failed_accounts)
        self._dirty = set()
        if not dirty:
            return
        templates = {t: _Template(_classes(c)) for t, c in session.execute(
            select(target_templates.c.template_id, target_templates.c.classes))}
        models = {m: _Model({s: Decimal(w) for s, w in json.loads(weights).items()}, retired)
                  for m, weights, retired in session.execute(
                      select(target_models.c.model_id, target_models.c.weights, target_models.c.retired))}
        stored: dict[str, tuple[str, str]] = {}
        for chunk in _chunks(dirty, 500):
            for account_id, template, parameters in session.execute(
                    select(target_accounts.c.account_id, target_accounts.c.template, target_accounts.c.parameters)
                    .where(target_accounts.c.account_id.in_(chunk))):
                stored[account_id] = (template, parameters)
        rows: list[dict[str, Any]] = []
        parsed: dict[str, Parameters] = {}
        for account_id in dirty:
            if account_id not in stored:
                continue
            template_id, parameters_json = stored[account_id]
            template = templates.get(template_id)
            if template is None:
                continue  # an unknown template: no targets; the listing says why
            try:
                parameters = parsed.get(parameters_json) or Parameters.model_validate_json(parameters_json)
                parsed[parameters_json] = parameters
                targets = security_targets(template, models, parameters)  # type: ignore[arg-type]
            except Exception as error:
                self.report_failure(account_id, f"its targets cannot be computed: {error}")
                continue
            limits = {name: t.drift_limit for name, t in template.classes.items()}
            classes = [[c, str(w), str(limits[c]) if c in limits else None]
                       for c, w in sorted(targets.class_weights.items())]
            rows.append({"account_id": account_id, "classes": json.dumps(classes),
                         "symbols": json.dumps(list(targets.weights))})
        for chunk in _chunks(dirty, 500):
            session.execute(account_targets.delete().where(account_targets.c.account_id.in_(chunk)))
        bulk_insert(session, account_targets, rows)


_PARAMETER_OF = {
    Account.ModificationsSet: "modifications", Account.ModelChoicesSet: "model_choices",
    Account.SubstitutionsSet: "substitutions", Account.RestrictionsSet: "restrictions",
}


def _classes_json(classes: dict[str, ClassTarget]) -> str:
    return json.dumps({name: target.model_dump(mode="json") for name, target in classes.items()})


def _classes(stored: str) -> dict[str, ClassTarget]:
    return {name: ClassTarget.model_validate(value) for name, value in json.loads(stored).items()}


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
