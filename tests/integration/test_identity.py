"""Who acts: a scenario file's entries are the loading user's (an admin may load them on
behalf of a user who holds the role), `system` loads only the bootstrap of an empty
store, and keys decide who acts where the firm requires them. A refused command exits
1 with one line and records nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.helpers import store_contents
from tests.scenarios import CONTRACT_EXAMPLE

CASH = 'cash_movements:\n  - {{account: ACC-1, date: 2026-01-20, amount: "100"{extra}}}\n'
TRADE = 'trades:\n  - {{account: ACC-1, date: 2026-01-21, side: buy, symbol: BND, quantity: "1", price: "72"{extra}}}\n'
SECURITY = "securities:\n  - {{symbol: AGG, asset_class: bonds{extra}}}\n"


def entry(template: str, actor: str | None = None) -> str:
    return template.format(extra=f", actor: {actor}" if actor else "")


def events(cli, account: str = "ACC-1") -> list[dict]:
    result = cli("audit", account, "--as", "carol", "--json")
    assert result.code == 0, result.err
    return result.json()["events"]


def who(event: dict) -> tuple:
    return event["type"], event["actor"], event["role"], event["on_behalf_of"], event["auth"]


def refused(cli, result, *needles: str, before: dict) -> None:
    assert result.code == 1, (result.code, result.err)
    assert result.out == ""
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lotline: refused: "), result.err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert store_contents(cli.url) == before


@pytest.fixture
def firm(cli):
    result = cli.load(CONTRACT_EXAMPLE)
    assert result.code == 0, result.err
    return cli


# --- who acts on a scenario file ---------------------------------------------------------

def test_the_bootstrap_of_an_empty_store_is_recorded_as_system_in_the_role_admin(cli):
    first = CONTRACT_EXAMPLE.replace('reason: "monthly contribution"', 'reason: "monthly contribution", actor: alice')
    assert cli.load(first).code == 0
    trail = events(cli)
    deposit = next(e for e in trail if e["type"] == "CashDeposited" and e["effective_date"] == "2026-01-12")
    assert who(deposit) == ("CashDeposited", "system", "admin", "alice", "asserted")
    assert all(who(e)[1:] == ("system", "admin", None, "asserted") for e in trail if e is not deposit)


def test_on_an_empty_store_only_system_bootstraps(cli):
    before = store_contents(cli.url)
    refused(cli, cli.load(CONTRACT_EXAMPLE, "--as", "root"), "unknown user 'root'", "no users yet", before=before)


@pytest.mark.parametrize("text", [CONTRACT_EXAMPLE + "# once more\n", entry(CASH), entry(SECURITY),
                                  "users:\n  - {id: eve, role: admin}\n"])
def test_system_loads_nothing_into_a_store_with_users(firm, text):
    cli = firm
    before = store_contents(cli.url)
    first = "users[0]" if text.lstrip().startswith(("as_of", "users")) else text.split(":")[0] + "[0]"
    refused(cli, cli.load(text), first, "user 'system' may not", before=before)
    refused(cli, cli.load(text, "--as", "system"), first, "user 'system' may not", before=before)


def test_a_file_needing_the_policy_committee_loaded_by_an_advisor_is_refused_whole(firm):
    cli = firm
    before = store_contents(cli.url)
    refused(cli, cli.load(entry(SECURITY), "--as", "alice"),
            "securities[0]: user 'alice' (roles: advisor) may not manage securities", before=before)
    # Her own entry in the same file does not go in either: the first entry that fails is named.
    refused(cli, cli.load(entry(SECURITY) + entry(CASH), "--as", "alice"), "securities[0]", before=before)


def test_the_loading_user_must_hold_the_role_of_every_entry(firm):
    cli = firm
    before = store_contents(cli.url)
    refused(cli, cli.load(entry(CASH), "--as", "bob"), "cash_movements[0]",
            "user 'bob' is not the advisor of account 'ACC-1'", before=before)
    refused(cli, cli.load(entry(CASH), "--as", "root"), "cash_movements[0]", before=before)
    assert cli.load(entry(CASH), "--as", "alice").code == 0
    assert who(events(cli)[-1]) == ("CashDeposited", "alice", "advisor", None, "asserted")


def test_an_entry_naming_someone_else_is_refused_unless_an_admin_loads_it(firm):
    cli = firm
    before = store_contents(cli.url)
    refused(cli, cli.load(entry(CASH, "alice"), "--as", "bob"),
            "cash_movements[0].actor: user 'bob' may not load an entry as 'alice'", before=before)
    refused(cli, cli.load(entry(TRADE, "olivia"), "--as", "alice"), "trades[0].actor", before=before)
    refused(cli, cli.load(entry(CASH, "alice")), "cash_movements[0].actor", before=before)  # system
    # Naming oneself is no more than not naming anyone.
    assert cli.load(entry(CASH, "alice"), "--as", "alice").code == 0
    assert who(events(cli)[-1]) == ("CashDeposited", "alice", "advisor", None, "asserted")


def test_an_admin_loads_entries_on_behalf_of_users_who_hold_their_roles(firm):
    cli = firm
    result = cli.load(entry(SECURITY, "ipc") + entry(CASH, "alice") + entry(TRADE, "olivia"), "--as", "root")
    assert result.code == 0, result.err
    assert [who(e) for e in events(cli)[-2:]] == [
        ("CashDeposited", "root", "admin", "alice", "asserted"),
        ("TradeRecorded", "root", "admin", "olivia", "asserted"),
    ]


@pytest.mark.parametrize("text,needle", [
    (entry(CASH, "bob"), "user 'bob' is not the advisor of account 'ACC-1'"),  # an advisor, not this account's
    (entry(TRADE, "alice"), "user 'alice' (roles: advisor) may not record prices"),
    (entry(SECURITY, "olivia"), "user 'olivia' (roles: overlay_manager) may not manage securities"),
    (entry(CASH, "mallory"), "unknown user 'mallory'"),
])
def test_an_admin_may_not_load_on_behalf_of_a_user_without_the_role(firm, text, needle):
    cli = firm
    before = store_contents(cli.url)
    refused(cli, cli.load(text, "--as", "root"), needle, before=before)


def test_an_account_is_opened_only_by_its_advisor_or_on_their_behalf(firm):
    cli = firm
    opening = 'accounts:\n  - {{id: ACC-9, advisor: alice, template: balanced, cash: "10"{extra}}}\n'
    before = store_contents(cli.url)
    refused(cli, cli.load(entry(opening), "--as", "bob"), "accounts[0]",
            "user 'bob' may not open an account for advisor 'alice'", before=before)
    refused(cli, cli.load(entry(opening, "bob"), "--as", "root"), "accounts[0]",
            "user 'bob' may not open an account for advisor 'alice'", before=before)
    assert cli.load(entry(opening, "alice"), "--as", "root").code == 0
    assert who(events(cli, "ACC-9")[0]) == ("Opened", "root", "admin", "alice", "asserted")


# --- keys ------------------------------------------------------------------------------------

def issue(cli, user: str, *extra: str) -> dict:
    result = cli("users", "key", user, "--json", *extra)
    assert result.code == 0, result.err
    return result.json()


def require_keys(cli, monkeypatch) -> dict[str, str]:
    """Keys for root and olivia, and the firm switched to key authentication."""
    keys = {user: issue(cli, user, "--as", "root")["key"] for user in ("root", "olivia", "alice")}
    result = cli("settings", "authentication", "key", "--as", "root", "--reason", "keys for everyone")
    assert result.code == 0, result.err
    monkeypatch.delenv("LOTLINE_KEY", raising=False)
    return keys


def test_a_key_is_printed_once_as_one_document(firm):
    cli = firm
    issued = issue(cli, "olivia", "--as", "root")
    assert set(issued) >= {"user", "key_id", "key", "replaced"}
    assert issued["user"] == "olivia" and issued["replaced"] is None
    assert issued["key"].startswith("ll_") and issued["key_id"] in issued["key"]
    revoked = cli("users", "revoke-key", "olivia", "--as", "root", "--json")
    assert revoked.code == 0 and revoked.json() == {"user": "olivia", "key_id": issued["key_id"], "revoked": True}


@pytest.mark.parametrize("user", ["olivia", "carol", "alice", "system", "mallory"])
def test_only_an_admin_issues_and_revokes_keys(firm, user):
    cli = firm
    issue(cli, "alice", "--as", "root")
    before = store_contents(cli.url)
    refused(cli, cli("users", "key", "olivia", "--as", user), before=before)
    refused(cli, cli("users", "revoke-key", "alice", "--as", user), before=before)


def test_the_store_keeps_a_salted_hash_never_the_key(firm):
    cli = firm
    issued = issue(cli, "olivia", "--as", "root")
    key, secret = issued["key"], issued["key"].split("_", 2)[2]
    engine = create_engine(cli.url)
    try:
        with engine.connect() as c:
            dump = []
            for table in inspect(engine).get_table_names():
                for row in c.execute(text(f"SELECT * FROM {table}")):
                    for value in row:
                        dump.append(bytes(value).decode("latin-1") if isinstance(value, (bytes, memoryview)) else str(value))
            stored = c.execute(text("SELECT user_id, algorithm, salt, hash FROM user_keys WHERE key_id = :k"),
                               {"k": issued["key_id"]}).one()
    finally:
        engine.dispose()
    everything = "\n".join(dump)
    assert key not in everything and secret not in everything
    assert stored.user_id == "olivia" and stored.algorithm == "scrypt" and len(stored.hash) == 64 and stored.salt
    if cli.url.startswith("sqlite"):
        path = cli.url.removeprefix("sqlite:///")
        for name in (path, path + "-wal"):
            try:
                raw = open(name, "rb").read()
            except FileNotFoundError:
                continue
            assert key.encode() not in raw and secret.encode() not in raw


def test_a_key_decides_who_acts_and_events_record_how(firm, monkeypatch):
    cli = firm
    keys = require_keys(cli, monkeypatch)
    monkeypatch.setenv("LOTLINE_KEY", keys["olivia"])
    assert cli.load(entry(TRADE)).code == 0
    assert cli.load(entry(TRADE).replace("2026-01-21", "2026-01-22"), "--as", "olivia").code == 0
    monkeypatch.setenv("LOTLINE_KEY", keys["root"])
    result = cli("audit", "ACC-1", "--json")
    assert result.code == 0, result.err
    trail = result.json()["events"]
    assert [who(e) for e in trail[-2:]] == [("TradeRecorded", "olivia", "overlay_manager", None, "key")] * 2
    assert {e["auth"] for e in trail[:-2]} == {"asserted"}


def test_under_key_authentication_no_key_a_wrong_key_or_another_user_is_refused(firm, monkeypatch):
    cli = firm
    keys = require_keys(cli, monkeypatch)
    before = store_contents(cli.url)
    refused(cli, cli.load(entry(TRADE), "--as", "olivia"), "present your key", before=before)
    refused(cli, cli("audit", "ACC-1", "--as", "carol"), "present your key", before=before)
    refused(cli, cli("rebalance", "--date", "2026-01-05"), "present your key", before=before)
    key_id = keys["olivia"].split("_")[1]
    for wrong in (keys["olivia"][:-1] + ("A" if keys["olivia"][-1] != "A" else "B"),  # the secret changed
                  f"ll_{'0' * 12}_{'x' * 43}", "not a key at all", keys["olivia"] + "x"):
        monkeypatch.setenv("LOTLINE_KEY", wrong)
        result = cli.load(entry(TRADE))
        refused(cli, result, "not valid", before=before)
        assert wrong not in result.err and key_id not in result.err
    monkeypatch.setenv("LOTLINE_KEY", keys["olivia"])
    result = cli.load(entry(TRADE), "--as", "root")
    refused(cli, result, "may name only the key's holder", before=before)
    assert keys["olivia"] not in result.err
    monkeypatch.setenv("LOTLINE_USER", "alice")
    refused(cli, cli.load(entry(TRADE)), "may name only the key's holder", before=before)


def test_a_revoked_key_and_a_replaced_key_no_longer_act(firm, monkeypatch):
    cli = firm
    keys = require_keys(cli, monkeypatch)
    monkeypatch.setenv("LOTLINE_KEY", keys["root"])
    replaced = issue(cli, "olivia")
    assert replaced["replaced"] == keys["olivia"].split("_")[1]
    monkeypatch.setenv("LOTLINE_KEY", keys["olivia"])
    before = store_contents(cli.url)
    refused(cli, cli.load(entry(TRADE)), "not valid", before=before)
    monkeypatch.setenv("LOTLINE_KEY", replaced["key"])
    assert cli.load(entry(TRADE)).code == 0
    monkeypatch.setenv("LOTLINE_KEY", keys["root"])
    assert cli("users", "revoke-key", "olivia", "--reason", "left the firm").code == 0
    before = store_contents(cli.url)
    refused(cli, cli("users", "revoke-key", "olivia"), "user 'olivia' holds no key", before=before)
    monkeypatch.setenv("LOTLINE_KEY", replaced["key"])
    refused(cli, cli.load(entry(TRADE).replace("2026-01-21", "2026-01-22")), "not valid", before=before)


def test_a_key_file_presents_a_key(firm, monkeypatch):
    cli = firm
    keys = require_keys(cli, monkeypatch)
    path = cli.write("olivia.key", keys["olivia"] + "\n")
    assert cli.load(entry(TRADE), "--key-file", str(path)).code == 0
    assert cli("settings", "--key-file", str(path), "--as", "olivia").code == 0
    before = store_contents(cli.url)
    missing = cli("settings", "--key-file", str(cli.tmp / "missing.key"))
    assert missing.code == 2 and "key_file: cannot read" in missing.err
    refused(cli, cli("settings", "--key-file", str(cli.write("empty.key", "\n"))), "no key in", before=before)
    # The file wins over LOTLINE_KEY, as --store over LOTLINE_STORE.
    monkeypatch.setenv("LOTLINE_KEY", keys["alice"])
    refused(cli, cli("settings", "trade_threshold_bp", "6", "--as", "olivia", "--reason", "r"), "may name only",
            before=before)
    assert cli("settings", "trade_threshold_bp", "6", "--key-file", str(path), "--reason", "r").code == 0


def test_authentication_is_the_admins_and_only_an_admin_with_a_key_switches_it_back(firm, monkeypatch):
    cli = firm
    before = store_contents(cli.url)
    refused(cli, cli("settings", "authentication", "key", "--as", "olivia", "--reason", "r"),
            "may not issue and revoke keys", before=before)
    # An admin who holds no key would lock every admin out.
    refused(cli, cli("settings", "authentication", "key", "--as", "root", "--reason", "r"), "holds no key",
            before=before)
    assert cli("settings", "authentication", "--json").json() == {"authentication": "asserted"}
    keys = require_keys(cli, monkeypatch)
    assert cli("settings", "authentication", "--json", "--as", "root").code == 1  # no key presented
    before = store_contents(cli.url)
    monkeypatch.setenv("LOTLINE_KEY", keys["olivia"])
    refused(cli, cli("settings", "authentication", "asserted", "--reason", "r"), "may not issue and revoke keys",
            before=before)
    monkeypatch.setenv("LOTLINE_KEY", keys["root"])
    assert cli("settings", "authentication", "--json").json() == {"authentication": "key"}
    assert cli("settings", "authentication", "asserted", "--reason", "back to one laptop").code == 0
    monkeypatch.delenv("LOTLINE_KEY")
    assert cli.load(entry(TRADE), "--as", "olivia").code == 0
    assert who(events(cli)[-1]) == ("TradeRecorded", "olivia", "overlay_manager", None, "asserted")
