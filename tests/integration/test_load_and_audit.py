"""`lotline load` and `lotline audit` against real stores (SQLite file and PostgreSQL)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.helpers import read_model_contents, store_contents
from tests.scenarios import CONTRACT_EXAMPLE


def test_contract_example_loads_and_every_account_event_is_audited(cli):
    result = cli.load(CONTRACT_EXAMPLE)
    assert result.code == 0, result.err
    trail = cli("audit", "ACC-1", "--as", "carol", "--json").json()
    assert trail["account"] == "ACC-1"
    types = [e["type"] for e in trail["events"]]
    assert types[:3] == ["Opened", "CashDeposited", "LotsTransferredIn"]
    assert {"ModificationsSet", "SubstitutionsSet", "RestrictionsSet", "TaxPreferencesSet", "CashPreferencesSet",
            "CashRequested", "TradeRecorded", "LotsTransferredIn"} <= set(types)
    positions = [e["position"] for e in trail["events"]]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    # The first file of an empty store is its bootstrap: every entry applied by system, as the admin.
    trade = next(e for e in trail["events"] if e["type"] == "TradeRecorded")
    assert (trade["actor"], trade["role"], trade["effective_date"]) == ("system", "admin", "2026-01-10")
    assert trade["data"]["quantity"] == "5" and trade["data"]["price"] == "190.00"
    opened = trail["events"][0]
    assert (opened["actor"], opened["role"]) == ("system", "admin")
    # Recorded by the store's clock, not LOTLINE_NOW (which pins only the business date).
    recorded = datetime.fromisoformat(opened["timestamp"])
    assert recorded.tzinfo is not None and abs(datetime.now(timezone.utc) - recorded) < timedelta(minutes=10)
    deposit = next(e for e in trail["events"] if e["type"] == "CashDeposited" and e["effective_date"] == "2026-01-12")
    assert deposit["reason"] == "monthly contribution"


def test_audit_filters_by_effective_date_and_prints_csv(cli):
    cli.load(CONTRACT_EXAMPLE)
    trail = cli("audit", "ACC-1", "--since", "2026-01-10", "--until", "2026-01-12", "--json").json()
    assert [e["effective_date"] for e in trail["events"]] == ["2026-01-10", "2026-01-12"]
    csv_out = cli("audit", "ACC-1", "--since", "2026-01-10", "--csv").out.splitlines()
    assert csv_out[0].startswith("position,type,timestamp,effective_date,actor,role")
    assert len(csv_out) == 1 + 3


@pytest.mark.parametrize("replace,expected", [
    ('short_term_rate: "0.37"', "accounts[0].parameters.tax.short_term_rate: must be between 0 and 1, got 1.7"),
    ('{symbol: VTI, quantity: "10"', "accounts[0].lots[0].quantity: must be positive, got -10"),
    ('VTI: "0.7", SCHB: "0.3"', "models[0].weights: must sum to 1, got 0.9"),
    ("tax_status: taxable", "accounts[0].tax_status: must be 'taxable', 'tax_deferred' or 'tax_exempt', got 'taxible'"),
    ("side: sell", "trades[0].side: must be 'buy' or 'sell', got 'short'"),
    ('amount: "2500.00"', "cash_movements[0].amount: must be a number, got 'lots'"),
    ("wash_group: us-agg}", "securities[3].colour: unknown field"),
])
def test_bad_entry_is_refused_with_its_path_and_nothing_recorded(cli, replace, expected):
    substitutes = {
        'short_term_rate: "0.37"': 'short_term_rate: "1.7"',
        '{symbol: VTI, quantity: "10"': '{symbol: VTI, quantity: "-10"',
        'VTI: "0.7", SCHB: "0.3"': 'VTI: "0.6", SCHB: "0.3"',
        "tax_status: taxable": "tax_status: taxible",
        "side: sell": "side: short",
        'amount: "2500.00"': 'amount: "lots"',
        "wash_group: us-agg}": "wash_group: us-agg, colour: red}",
    }
    before = store_contents(cli.url)
    result = cli.load(CONTRACT_EXAMPLE.replace(replace, substitutes[replace]))
    assert result.code == 2
    assert result.err.strip().splitlines() == [f"lotline: bad input: {expected}"]
    assert store_contents(cli.url) == before


def test_a_refused_entry_late_in_the_file_leaves_the_store_unchanged(cli):
    assert cli.load(CONTRACT_EXAMPLE).code == 0
    # One user acts on every entry of a file: in a small firm, alice records prices too.
    assert cli.load("users:\n  - {id: alice, roles: [advisor, overlay_manager]}\n", "--as", "root").code == 0
    before = store_contents(cli.url)
    prices = CONTRACT_EXAMPLE[CONTRACT_EXAMPLE.index("prices:"):CONTRACT_EXAMPLE.index("models:")]
    accounts = CONTRACT_EXAMPLE[CONTRACT_EXAMPLE.index("accounts:"):CONTRACT_EXAMPLE.index("  - id: ACC-2")]
    again = prices + accounts.replace('modifications: {us_equity: "0.02", bonds: "-0.02"}',
                                      'modifications: {us_equity: "0.08", bonds: "-0.08"}')
    again = again.replace('2026-01-05: {VTI: "250.00"', '2026-01-06: {VTI: "251.00"')
    result = cli.load(again, "--as", "alice")
    assert result.code == 1
    assert "accounts[0].parameters.modifications.us_equity: tilt 0.08 beyond max_modification 0.05" in result.err
    assert store_contents(cli.url) == before


def test_an_existing_id_is_changed_by_change_events(cli):
    cli.load(CONTRACT_EXAMPLE)
    # The admin loads the policy committee's model and the advisor's account on their behalf.
    changed = """
models:
  - {id: us-core, weights: {VTI: "0.5", SCHB: "0.5"}, actor: ipc}
accounts:
  - id: ACC-1
    advisor: alice
    actor: alice
    template: balanced
    parameters:
      tax: {short_term_rate: "0.35", long_term_rate: "0.15"}
"""
    result = cli.load(changed, "--as", "root")
    assert result.code == 0, result.err
    trail = cli("audit", "ACC-1", "--json").json()["events"]
    assert trail[-1]["type"] == "TaxPreferencesSet"
    assert trail[-1]["data"]["tax"]["short_term_rate"] == "0.35"


def test_projections_rebuild_gives_an_identical_state(cli):
    cli.load(CONTRACT_EXAMPLE)
    cli("audit", "ACC-1")
    before = read_model_contents(cli.url)
    assert before["audit_events"]
    result = cli("projections", "rebuild", "--as", "root")
    assert result.code == 0, result.err
    assert read_model_contents(cli.url) == before


def test_unknown_account_is_bad_input(cli):
    cli.load(CONTRACT_EXAMPLE)
    result = cli("audit", "NOPE")
    assert result.code == 2
    assert result.err.strip() == "lotline: bad input: account: unknown account 'NOPE'"


def test_unreadable_file_is_bad_input(cli):
    result = cli("load", str(cli.tmp / "missing.yaml"))
    assert result.code == 2 and "file: cannot read" in result.err
    broken = cli.write("broken.json", "{not json")
    result = cli("load", str(broken))
    assert result.code == 2 and result.err.startswith("lotline: bad input: file: not valid JSON")


def test_json_scenarios_load_too(cli):
    import json

    document = {"users": [{"id": "root", "role": "admin"}, {"id": "ipc", "role": "policy_committee"}],
                "securities": [{"symbol": "VTI", "asset_class": "us_equity"}]}
    path = cli.write("firm.json", json.dumps(document))
    assert cli("load", str(path)).code == 0
