"""Security-level targets: the blend an account follows."""

from datetime import date, datetime, timezone
from decimal import Decimal as D

import pytest

from lotline.domain.aggregate import Actor
from lotline.domain.model import Model
from lotline.domain.parameters import Parameters, Restriction, RestrictionRule
from lotline.domain.roles import Role
from lotline.domain.security import Security
from lotline.domain.targets import security_targets
from lotline.domain.template import ClassTarget, TargetTemplate

IPC = Actor("ipc", Role.POLICY_COMMITTEE, date(2026, 1, 5), datetime(2026, 1, 5, tzinfo=timezone.utc))


@pytest.fixture
def policy():
    securities = {s.symbol: s for s in (
        Security.admit("VTI", "us_equity", "total", IPC), Security.admit("ITOT", "us_equity", "total", IPC),
        Security.admit("VOO", "us_equity", None, IPC), Security.admit("ESGU", "us_equity", None, IPC),
        Security.admit("BND", "bonds", None, IPC), Security.admit("AGG", "bonds", None, IPC),
    )}
    models = {
        "us": Model.create("us", {"VTI": D("0.6"), "VOO": D("0.4")}, securities, IPC),
        "esg": Model.create("esg", {"ESGU": D("1")}, securities, IPC),
        "bonds": Model.create("bonds", {"BND": D("0.75"), "AGG": D("0.25")}, securities, IPC),
    }
    template = TargetTemplate.create("t", {
        "us_equity": ClassTarget(weight=D("0.6"), model="us", alternatives=("esg",), max_modification=D("0.05")),
        "bonds": ClassTarget(weight=D("0.38"), model="bonds", max_modification=D("0.05")),
        "cash": ClassTarget(weight=D("0.02")),
    }, models, IPC)
    return template, models


def test_class_weight_times_model_weight(policy):
    template, models = policy
    targets = security_targets(template, models, Parameters())
    assert targets.weights == {"AGG": D("0.095"), "BND": D("0.285"), "VOO": D("0.24"), "VTI": D("0.36")}
    assert targets.cash_weight == D("0.02")
    assert sum(targets.weights.values()) + targets.cash_weight == 1


def test_tilts_and_model_choice(policy):
    template, models = policy
    params = Parameters(modifications={"us_equity": D("0.05"), "bonds": D("-0.05")}, model_choices={"us_equity": "esg"})
    targets = security_targets(template, models, params)
    assert targets.weights["ESGU"] == D("0.65") and "VTI" not in targets.weights
    assert targets.class_weights["bonds"] == D("0.33")


def test_substitution_moves_the_weight(policy):
    template, models = policy
    targets = security_targets(template, models, Parameters(substitutions={"VTI": "ITOT"}))
    assert "VTI" not in targets.weights and targets.weights["ITOT"] == D("0.36")


def test_restricted_weight_is_redistributed_within_its_model(policy):
    template, models = policy
    params = Parameters(restrictions=(Restriction(symbol="AGG", rule=RestrictionRule.DO_NOT_BUY),))
    targets = security_targets(template, models, params)
    assert "AGG" not in targets.weights and targets.weights["BND"] == D("0.38")


def test_fully_restricted_model_falls_to_the_alternative_then_to_cash(policy):
    template, models = policy
    us_out = (Restriction(symbol="VTI", rule=RestrictionRule.DO_NOT_HOLD), Restriction(symbol="VOO", rule=RestrictionRule.DO_NOT_BUY))
    targets = security_targets(template, models, Parameters(restrictions=us_out))
    assert targets.weights["ESGU"] == D("0.6")
    assert targets.models_used["us_equity"] == "esg" and "restricted" in targets.notes[0]
    everything = us_out + (Restriction(symbol="ESGU", rule=RestrictionRule.DO_NOT_BUY),)
    targets = security_targets(template, models, Parameters(restrictions=everything))
    assert targets.cash_weight == D("0.62") and "goes to cash" in targets.notes[-1]
