"""The domain's invariants, each refused with a named error that names the field."""

from datetime import date, datetime, timezone
from decimal import Decimal as D

import pytest

from lotline.domain.account import Account, LotArrival
from lotline.domain.aggregate import Actor
from lotline.domain.errors import InvalidInput, NotAuthorised, PolicyLimitExceeded, UnknownEntity
from lotline.domain.model import Model
from lotline.domain.parameters import CashPreferences, Restriction, RestrictionRule, TaxPreferences, TaxStatus
from lotline.domain.roles import Permission, Role
from lotline.domain.security import Security
from lotline.domain.settings import FirmSettings
from lotline.domain.template import ClassTarget, TargetTemplate
from lotline.domain.user import User

AT = datetime(2026, 1, 5, 21, tzinfo=timezone.utc)
IPC = Actor("ipc", Role.POLICY_COMMITTEE, date(2026, 1, 5), AT)
ALICE = Actor("alice", Role.ADVISOR, date(2026, 1, 5), AT)


@pytest.fixture
def securities():
    return {
        s.symbol: s
        for s in (
            Security.admit("VTI", "us_equity", "us-total", IPC),
            Security.admit("ITOT", "us_equity", "us-total", IPC),
            Security.admit("SCHB", "us_equity", None, IPC),
            Security.admit("BND", "bonds", None, IPC),
        )
    }


@pytest.fixture
def models(securities):
    return {
        "us-core": Model.create("us-core", {"VTI": D("0.7"), "SCHB": D("0.3")}, securities, IPC),
        "us-alt": Model.create("us-alt", {"ITOT": D("1")}, securities, IPC),
        "bonds": Model.create("bonds", {"BND": D("1")}, securities, IPC),
    }


@pytest.fixture
def template(models):
    return TargetTemplate.create("balanced", {
        "us_equity": ClassTarget(weight=D("0.6"), model="us-core", alternatives=("us-alt",), max_modification=D("0.05")),
        "bonds": ClassTarget(weight=D("0.38"), model="bonds", max_modification=D("0.05")),
        "cash": ClassTarget(weight=D("0.02")),
    }, models, IPC)


@pytest.fixture
def account(template):
    return Account.open("ACC-1", "alice", TaxStatus.TAXABLE, template, date(2026, 1, 5), ALICE)


def test_model_weights_must_sum_to_one(securities):
    with pytest.raises(InvalidInput, match=r"weights: must sum to 1, got 0.9"):
        Model.create("m", {"VTI": D("0.6"), "SCHB": D("0.3")}, securities, IPC)


def test_model_weights_must_be_positive(securities):
    with pytest.raises(InvalidInput, match=r"weights.SCHB: must be positive, got -0.1"):
        Model.create("m", {"VTI": D("1.1"), "SCHB": D("-0.1")}, securities, IPC)


def test_model_holds_known_securities_of_one_class(securities):
    with pytest.raises(UnknownEntity, match="weights.XYZ: unknown symbol 'XYZ'"):
        Model.create("m", {"XYZ": D("1")}, securities, IPC)
    with pytest.raises(InvalidInput, match="one asset class"):
        Model.create("m", {"VTI": D("0.5"), "BND": D("0.5")}, securities, IPC)


def test_model_weight_change_is_one_event(models, securities):
    model = models["us-core"]
    model.collect_events()
    model.change_weights({"VTI": D("0.5"), "SCHB": D("0.5")}, securities, IPC)
    model.change_weights({"VTI": D("0.5"), "SCHB": D("0.5")}, securities, IPC)
    assert [type(e).__name__ for e in model.collect_events()] == ["WeightsChanged"]
    assert model.weights == {"SCHB": D("0.5"), "VTI": D("0.5")}


def test_template_class_weights_must_sum_to_one(models):
    with pytest.raises(InvalidInput, match="classes: must sum to 1, got 0.99"):
        TargetTemplate.create("t", {
            "us_equity": ClassTarget(weight=D("0.6"), model="us-core"),
            "bonds": ClassTarget(weight=D("0.39"), model="bonds"),
        }, models, IPC)


def test_template_model_must_hold_its_class(models):
    with pytest.raises(InvalidInput, match="classes.bonds.model: model 'us-core' holds us_equity, not bonds"):
        TargetTemplate.create("t", {"bonds": ClassTarget(weight=D("1"), model="us-core")}, models, IPC)


def test_tilts_within_max_modification(account, template):
    with pytest.raises(PolicyLimitExceeded, match=r"parameters.modifications.us_equity: tilt 0.06 beyond max_modification 0.05"):
        account.set_modifications({"us_equity": D("0.06"), "bonds": D("-0.06")}, template, ALICE)


def test_tilts_sum_to_zero(account, template):
    with pytest.raises(InvalidInput, match="parameters.modifications: tilts must sum to 0, got 0.01"):
        account.set_modifications({"us_equity": D("0.03"), "bonds": D("-0.02")}, template, ALICE)


def test_valid_tilts_recorded(account, template):
    account.set_modifications({"us_equity": D("0.05"), "bonds": D("-0.05")}, template, ALICE)
    assert account.parameters.modifications == {"bonds": D("-0.05"), "us_equity": D("0.05")}


def test_model_choice_among_template_choices(account, template):
    account.set_model_choices({"us_equity": "us-alt"}, template, ALICE)
    assert account.parameters.model_choices == {"us_equity": "us-alt"}
    with pytest.raises(PolicyLimitExceeded, match="model 'bonds' is not among the template's choices"):
        account.set_model_choices({"us_equity": "bonds"}, template, ALICE)


def test_substitution_same_asset_class_only(account, securities):
    account.set_substitutions({"VTI": "ITOT"}, securities, ALICE)
    with pytest.raises(PolicyLimitExceeded, match="substitution across asset classes"):
        account.set_substitutions({"VTI": "BND"}, securities, ALICE)
    with pytest.raises(UnknownEntity, match="parameters.substitutions.VTI: unknown symbol 'QQQ'"):
        account.set_substitutions({"VTI": "QQQ"}, securities, ALICE)


def test_restrictions_name_listed_securities(account, securities):
    account.set_restrictions([Restriction(symbol="SCHB", rule=RestrictionRule.DO_NOT_HOLD)], securities, ALICE)
    assert account.parameters.restricted(RestrictionRule.DO_NOT_HOLD) == {"SCHB"}
    with pytest.raises(UnknownEntity, match=r"parameters.restrictions\[0\].symbol"):
        account.set_restrictions([Restriction(symbol="NOPE", rule=RestrictionRule.DO_NOT_BUY)], securities, ALICE)


@pytest.mark.parametrize("field,value", [("short_term_rate", "1.7"), ("long_term_rate", "-0.1")])
def test_tax_rates_between_zero_and_one(account, field, value):
    with pytest.raises(InvalidInput, match=f"parameters.tax.{field}: must be between 0 and 1, got {value}"):
        account.set_tax_preferences(TaxPreferences(**{field: D(value)}), ALICE)


def test_cash_reserve_is_a_fraction(account):
    with pytest.raises(InvalidInput, match="parameters.cash.reserve: must be between 0 and 1"):
        account.set_cash_preferences(CashPreferences(reserve=D("2")), ALICE)


def test_no_negative_cash_quantity_or_price(account, securities):
    with pytest.raises(InvalidInput, match="amount: must be positive, got -5"):
        account.deposit(D("-5"), date(2026, 1, 6), ALICE)
    with pytest.raises(InvalidInput, match=r"lots\[0\].quantity: must be positive"):
        account.transfer_in([LotArrival(symbol="VTI", quantity=D("-1"), cost_basis=D("10"), acquired=date(2025, 1, 1))],
                            date(2026, 1, 6), securities, ALICE)
    with pytest.raises(InvalidInput, match="price: must be positive, got 0"):
        account.record_trade("buy", "VTI", D("1"), D("0"), date(2026, 1, 6), None, securities, ALICE)


def test_cash_request_due_window(account):
    with pytest.raises(InvalidInput, match="by: must not be before date 2026-01-10"):
        account.request_cash(D("100"), date(2026, 1, 10), date(2026, 1, 9), ALICE)


def test_lot_ids_are_stable_and_sequential(account, securities):
    account.transfer_in([LotArrival(symbol="VTI", quantity=D("1"), cost_basis=D("10"), acquired=date(2025, 1, 1)),
                         LotArrival(symbol="BND", quantity=D("2"), cost_basis=D("20"), acquired=date(2025, 1, 1))],
                        date(2026, 1, 6), securities, ALICE)
    account.record_trade("buy", "ITOT", D("3"), D("100"), date(2026, 1, 7), None, securities, ALICE)
    lots = [lot.lot_id for event in account.ledger_events for lot in getattr(event, "lots", None) or ()]
    assert lots == ["ACC-1/L1", "ACC-1/L2"]
    assert account.ledger_events[-1].lot_id == "ACC-1/L3"


def test_roles_grant_permissions():
    olivia = User.add("olivia", (Role.OVERLAY_MANAGER,), ALICE)
    assert olivia.role_for(Permission.REBALANCE) is Role.OVERLAY_MANAGER
    with pytest.raises(NotAuthorised, match="user 'olivia' .* may not manage users"):
        olivia.role_for(Permission.MANAGE_USERS)
    both = User.add("sam", (Role.ADVISOR, Role.OVERLAY_MANAGER), ALICE)
    assert both.role_for(Permission.MANAGE_ACCOUNT) is Role.ADVISOR
    assert both.role_for(Permission.RELEASE_ORDERS) is Role.OVERLAY_MANAGER


def test_unknown_setting_and_bad_value_refused():
    settings = FirmSettings.create(ALICE)
    with pytest.raises(InvalidInput, match="unknown setting 'speed'"):
        settings.change("speed", "3", ALICE)
    with pytest.raises(InvalidInput, match="settings.risk_aversion: must be positive"):
        settings.change("risk_aversion", "0", ALICE)
    settings.change("trade_threshold_bp", "7.5", ALICE)
    assert settings.value("trade_threshold_bp") == D("7.5")


def test_replaying_events_rebuilds_the_same_aggregate(account, template, securities):
    account.set_modifications({"us_equity": D("0.02"), "bonds": D("-0.02")}, template, ALICE)
    account.set_substitutions({"VTI": "ITOT"}, securities, ALICE)
    events = account.collect_events()
    rebuilt = None
    for event in events:
        rebuilt = event.mutate(rebuilt)
    assert rebuilt.parameters == account.parameters
    assert rebuilt.version == account.version == 3
