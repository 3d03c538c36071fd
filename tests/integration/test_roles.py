"""The contract's role table, cell by cell: a refused command exits 1 and records nothing."""

from __future__ import annotations

import pytest

from tests.helpers import store_contents
from tests.scenarios import CONTRACT_EXAMPLE

ENTRIES = {
    "users": "users:\n  - {id: dave, role: compliance}\n",
    "securities": "securities:\n  - {symbol: AGG, asset_class: bonds}\n",
    "models": 'models:\n  - {id: bonds-alt, weights: {BND: "1"}}\n',
    "templates": 'templates:\n  - id: all-bonds\n    classes:\n      bonds: {weight: "1", model: bonds-core}\n',
    "prices": 'prices:\n  2026-01-06: {VTI: "251.00"}\n',
    "settings": 'settings: {trade_threshold_bp: "8"}\n',
    "open_account": 'accounts:\n  - {id: ACC-9, advisor: alice, template: balanced, cash: "10"}\n',
    "parameters": 'accounts:\n  - id: ACC-1\n    advisor: alice\n    template: balanced\n    parameters: {cash: {reserve: "0.02"}}\n',
    "cash_request": 'cash_requests:\n  - {account: ACC-1, amount: "100"}\n',
    "cash_movement": 'cash_movements:\n  - {account: ACC-1, date: 2026-01-20, amount: "100"}\n',
    "transfer": 'transfers:\n  - {account: ACC-1, date: 2026-01-20, lots: [{symbol: BND, quantity: "1", cost_basis: "70", acquired: 2025-01-02}]}\n',
    "trade": 'trades:\n  - {account: ACC-1, date: 2026-01-20, side: buy, symbol: BND, quantity: "1", price: "72"}\n',
    "split": 'splits:\n  - {symbol: BND, date: 2026-02-01, ratio: "2"}\n',
    "dividend": 'dividends:\n  - {symbol: VTI, ex_date: 2026-03-02, pay_date: 2026-03-05, per_share: "1.1"}\n',
}

# Who may make each entry (ACC-1 belongs to alice; bob is another advisor).
ALLOWED = {
    "users": {"root"},
    "securities": {"ipc"},
    "models": {"ipc"},
    "templates": {"ipc"},
    "prices": {"olivia"},
    "settings": {"olivia"},
    "open_account": {"alice"},
    "parameters": {"alice"},
    "cash_request": {"alice"},
    "cash_movement": {"alice"},
    "transfer": {"alice"},
    "trade": {"olivia"},
    "split": {"olivia"},
    "dividend": {"olivia"},
}
USERS = ["root", "ipc", "alice", "bob", "olivia", "carol", "system", "mallory"]


@pytest.mark.parametrize("entry", sorted(ENTRIES))
def test_each_entry_is_allowed_only_to_its_role(sqlite_cli, entry):
    cli = sqlite_cli
    assert cli.load(CONTRACT_EXAMPLE).code == 0
    refused = [u for u in USERS if u not in ALLOWED[entry]]
    for user in refused:
        before = store_contents(cli.url)
        result = cli.load(ENTRIES[entry], "--as", user)
        assert result.code == 1, f"{user} {entry}: {result.code} {result.err}"
        assert result.err.startswith("lotline: refused:"), result.err
        assert len(result.err.strip().splitlines()) == 1
        assert store_contents(cli.url) == before
    (allowed,) = ALLOWED[entry]
    before = store_contents(cli.url)
    result = cli.load(ENTRIES[entry], "--as", allowed)
    assert result.code == 0, f"{allowed} {entry}: {result.err}"
    assert store_contents(cli.url) != before


def test_entry_actor_is_honoured_and_checked(sqlite_cli):
    """An admin loads an entry on behalf of the user its `actor:` names, who must hold the role."""
    cli = sqlite_cli
    cli.load(CONTRACT_EXAMPLE)
    refused = cli.load('securities:\n  - {symbol: AGG, asset_class: bonds, actor: alice}\n', "--as", "root")
    assert refused.code == 1 and "securities[0]: user 'alice' (roles: advisor) may not manage securities" in refused.err
    assert cli.load('securities:\n  - {symbol: AGG, asset_class: bonds, actor: ipc}\n', "--as", "root").code == 0


def test_without_an_acting_user_system_loads_nothing_into_a_store_with_users(sqlite_cli):
    """No entry falls to its account's advisor or to the first holder of its role: the
    user who runs `load` (here `system`) acts on every entry, and is refused."""
    cli = sqlite_cli
    cli.load(CONTRACT_EXAMPLE)
    before = store_contents(cli.url)
    result = cli.load('cash_movements:\n  - {account: ACC-2, date: 2026-01-20, amount: "100"}\n'
                      'trades:\n  - {account: ACC-2, date: 2026-01-21, side: buy, symbol: BND, quantity: "1", price: "72"}\n')
    assert result.code == 1
    assert result.err.strip().splitlines() == [
        "lotline: refused: cash_movements[0]: user 'system' may not manage an account; act as a named user (--as)"]
    assert store_contents(cli.url) == before


def test_bootstrap_users_are_added_by_system_as_admin_only_on_an_empty_store(sqlite_cli):
    cli = sqlite_cli
    assert cli.load("users:\n  - {id: root, role: admin}\n").code == 0
    audit = cli("audit", "NONE")
    assert audit.code == 2
    again = cli.load("users:\n  - {id: eve, role: admin}\n", "--as", "system")
    assert again.code == 1 and "user 'system' may not manage users" in again.err


def test_a_user_with_several_roles_acts_under_the_one_that_allows(sqlite_cli):
    cli = sqlite_cli
    cli.load(CONTRACT_EXAMPLE)
    cli.load("users:\n  - {id: sam, roles: [advisor, overlay_manager]}\n", "--as", "root")
    cli.load('accounts:\n  - {id: SAM-1, advisor: sam, template: balanced}\n'
             'trades:\n  - {account: SAM-1, date: 2026-01-20, side: buy, symbol: BND, quantity: "1", price: "72"}\n',
             "--as", "sam")
    events = cli("audit", "SAM-1", "--json").json()["events"]
    assert [(e["type"], e["role"]) for e in events] == [("Opened", "advisor"), ("TradeRecorded", "overlay_manager")]


@pytest.mark.parametrize("user,code", [
    ("alice", 0), ("bob", 1), ("carol", 0), ("olivia", 0), ("ipc", 0), ("root", 0), ("system", 0), ("mallory", 1),
])
def test_reading_an_account(sqlite_cli, user, code):
    cli = sqlite_cli
    cli.load(CONTRACT_EXAMPLE)
    result = cli("audit", "ACC-1", "--as", user, "--json")
    assert result.code == code, result.err
    if code:
        assert result.out == ""


@pytest.mark.parametrize("user,code", [("root", 0), ("carol", 1), ("olivia", 1), ("system", 1), ("mallory", 1)])
def test_projections_rebuild_is_for_admins(sqlite_cli, user, code):
    cli = sqlite_cli
    cli.load(CONTRACT_EXAMPLE)
    assert cli("projections", "rebuild", "--as", user).code == code


@pytest.mark.parametrize("command,allowed", [
    (["rebalance", "--date", "2026-01-05"], {"olivia", "system"}),
    (["approve", "--date", "2026-01-05"], {"olivia"}),
    (["reject", "--date", "2026-01-05", "--reason", "not today"], {"olivia"}),
    (["fill", "--date", "2026-01-05"], {"olivia"}),
    (["settings", "trade_threshold_bp", "6", "--reason", "fewer trades"], {"olivia"}),
])
def test_workflow_commands_belong_to_their_roles(sqlite_cli, command, allowed):
    cli = sqlite_cli
    cli.load(CONTRACT_EXAMPLE)
    for user in USERS:
        if user in allowed:
            continue
        before = store_contents(cli.url)
        result = cli(*command, "--as", user)
        assert result.code == 1, f"{user} {command}: {result.code} {result.err}"
        assert store_contents(cli.url) == before
    for user in sorted(allowed):
        result = cli(*command, "--as", user)
        assert result.code == 0, f"{user} {command}: {result.err}"
