"""Reloading scenario files (contract: "Entry ids and reloading"): the same file again
is skipped as a whole, an entry whose id is recorded is skipped (same content) or
refused (other content), and a key left out of an existing account keeps its value."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.helpers import store_contents
from tests.scenarios import CONTRACT_EXAMPLE


# The contract example's dated entries, each with an id.
IDS = {
    "- {account: ACC-1, date: 2026-01-10, side: sell": "- {id: T-1, account: ACC-1, date: 2026-01-10, side: sell",
    "- {account: ACC-1, amount: \"5000.00\"": "- {id: CR-1, account: ACC-1, amount: \"5000.00\"",
    "- {account: ACC-1, date: 2026-01-12, amount": "- {id: CM-1, account: ACC-1, date: 2026-01-12, amount",
    "- {account: ACC-1, date: 2026-01-15, lots": "- {id: TR-1, account: ACC-1, date: 2026-01-15, lots",
    "- {symbol: VTI, date: 2026-06-01": "- {id: SP-1, symbol: VTI, date: 2026-06-01",
    "- {symbol: BND, ex_date: 2026-02-02": "- {id: DV-1, symbol: BND, ex_date: 2026-02-02",
}


def with_ids(text: str = CONTRACT_EXAMPLE) -> str:
    for old, new in IDS.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


# The same six entries sent again in another file: other bytes, numbers written differently.
# They are the advisor's and the overlay manager's: the admin (root) loads them on their behalf.
RESENT = """# resent by the custodian
trades:
  - {id: T-1, account: ACC-1, date: 2026-01-10, side: sell, symbol: VTI, quantity: "5.0", price: "190", actor: olivia}
cash_requests:
  - {id: CR-1, account: ACC-1, amount: "5000", date: 2026-01-05, by: 2026-01-20, actor: alice}
cash_movements:
  - {id: CM-1, account: ACC-1, date: 2026-01-12, amount: "2500.00", reason: "monthly contribution", actor: alice}
transfers:
  - {id: TR-1, account: ACC-1, date: 2026-01-15, lots: [{symbol: BND, quantity: "20", cost_basis: "1500.00", acquired: 2024-06-03}], actor: alice}
splits:
  - {id: SP-1, symbol: VTI, date: 2026-06-01, ratio: "2", actor: olivia}
dividends:
  - {id: DV-1, symbol: BND, ex_date: 2026-02-02, pay_date: 2026-02-05, per_share: "0.21", actor: olivia}
"""


def reads(cli) -> dict:
    """What the account looks like to its readers: lots, holdings, gains and trail."""
    out = {}
    for command in (("lots", "ACC-1"), ("holdings", "ACC-1"), ("gains", "ACC-1", "--year", "2026"), ("audit", "ACC-1")):
        result = cli(*command, "--json", "--as", "carol")
        assert result.code == 0, result.err
        out[command[0]] = result.json()
    return out


def load_file(cli, name: str, text: str, *extra: str):
    return cli("load", str(cli.write(name, text)), *extra)


def trail_types(cli, account: str = "ACC-1") -> list[str]:
    return [e["type"] for e in cli("audit", account, "--json", "--as", "carol").json()["events"]]


def test_loading_the_contract_example_twice_records_nothing_the_second_time_and_says_when_and_by_whom(cli):
    first = load_file(cli, "firm.yaml", CONTRACT_EXAMPLE, "--json")
    assert first.code == 0, first.err
    assert first.json()["skipped"] is False and first.json()["events"] > 0
    before = store_contents(cli.url)

    again = load_file(cli, "firm.yaml", CONTRACT_EXAMPLE)
    assert again.code == 0, again.err
    line = again.out.strip()
    assert line.startswith(f"Skipped {cli.tmp / 'firm.yaml'}: the same file (sha256 {first.json()['sha256']})")
    stamp = line.split("was loaded on ", 1)[1].split(" by ", 1)[0]
    # When it was recorded, by the store's clock (LOTLINE_NOW pins only the business date).
    assert abs(datetime.now(timezone.utc) - datetime.fromisoformat(stamp)) < timedelta(minutes=10)
    assert " by system" in line  # the bootstrap of the empty store
    assert store_contents(cli.url) == before

    # The digest is of the bytes, not the name: a copy under another name is skipped too.
    copy = load_file(cli, "copy.yaml", CONTRACT_EXAMPLE, "--json")
    assert copy.code == 0, copy.err
    document = copy.json()
    assert document["skipped"] is True
    assert document["loaded_at"] == stamp and document["loaded_as"] == "firm.yaml"
    assert document["loaded_by"] == "system"
    assert (document["events"], document["prices"]) == (0, 0)
    assert store_contents(cli.url) == before


def test_the_skipped_file_is_credited_to_the_user_who_loaded_it(cli):
    assert cli.load(CONTRACT_EXAMPLE).code == 0
    text = "cash_movements:\n  - {id: CM-9, account: ACC-1, date: 2026-01-20, amount: '100'}\n"
    assert load_file(cli, "deposit.yaml", text, "--as", "alice").code == 0
    again = load_file(cli, "deposit.yaml", text, "--as", "alice", "--json")
    assert again.code == 0, again.err
    assert (again.json()["skipped"], again.json()["loaded_by"]) == (True, "alice")


def test_a_second_file_with_the_same_entry_ids_is_skipped_entry_by_entry(cli):
    assert load_file(cli, "firm.yaml", with_ids()).code == 0
    before = reads(cli)
    assert [lot["quantity"] for lot in before["lots"]["lots"] if lot["symbol"] == "VTI"]

    resent = load_file(cli, "resent.yaml", RESENT, "--json", "--as", "root")
    assert resent.code == 0, resent.err
    summary = resent.json()
    assert summary["skipped"] is False  # other bytes: applied, but every entry is already recorded
    assert (summary["events"], summary["prices"], summary["entries_skipped"]) == (0, 0, 6)
    assert reads(cli) == before

    text = load_file(cli, "resent-again.yaml", RESENT + "# and again\n", "--as", "root")
    assert text.code == 0, text.err
    assert "0 events" in text.out and "6 entries already recorded, skipped" in text.out
    assert reads(cli) == before


def test_the_same_id_with_other_content_is_refused_naming_the_entry_and_records_nothing(cli):
    assert load_file(cli, "firm.yaml", with_ids()).code == 0
    before = store_contents(cli.url)

    other_quantity = RESENT.replace('quantity: "5.0"', 'quantity: "6"')
    result = load_file(cli, "other.yaml", other_quantity, "--as", "root")
    assert result.code == 1, result.err
    assert result.err.strip().splitlines() == [
        "lotline: refused: trades[0].id: entry id 'T-1' is already recorded on account 'ACC-1' with other content"
    ]
    assert store_contents(cli.url) == before

    other_dividend = RESENT.replace('per_share: "0.21"', 'per_share: "0.22"')
    result = load_file(cli, "dividend.yaml", other_dividend, "--as", "root")
    assert result.code == 1
    assert "dividends[0].id: entry id 'DV-1' is already recorded on security 'BND' with other content" in result.err
    assert store_contents(cli.url) == before


def test_two_entries_with_one_id_in_one_file(cli):
    assert cli.load(CONTRACT_EXAMPLE).code == 0
    trade = "  - {id: B-1, account: ACC-1, date: 2026-01-20, side: buy, symbol: VTI, quantity: '1', price: '%s'}\n"

    same = load_file(cli, "same.yaml", "trades:\n" + trade % "200" + trade % "200.00", "--json", "--as", "olivia")
    assert same.code == 0, same.err
    assert (same.json()["events"], same.json()["entries_skipped"]) == (1, 1)
    assert trail_types(cli).count("TradeRecorded") == 2  # the example's sale and this one buy

    before = store_contents(cli.url)
    other = "trades:\n" + (trade % "201").replace("B-1", "B-2") + (trade % "202").replace("B-1", "B-2")
    result = load_file(cli, "other.yaml", other, "--as", "olivia")
    assert result.code == 1
    assert "trades[1].id: entry id 'B-2' is already recorded on account 'ACC-1' with other content" in result.err
    assert store_contents(cli.url) == before


def test_tax_status_left_out_keeps_tax_deferred(cli):
    from lotline.application.lotline import Lotline
    from lotline.application.queries import account_row

    deferred = CONTRACT_EXAMPLE.replace("advisor: bob\n", "advisor: bob\n    tax_status: tax_deferred\n")
    assert cli.load(deferred).code == 0
    update = """
accounts:
  - id: ACC-2
    advisor: bob
    template: balanced
    parameters:
      cash: {reserve: "0.05"}
"""
    result = load_file(cli, "update.yaml", update, "--as", "bob")
    assert result.code == 0, result.err
    assert trail_types(cli, "ACC-2").count("TaxStatusChanged") == 0
    assert trail_types(cli, "ACC-2")[-1] == "CashPreferencesSet"
    with Lotline(cli.url) as lotline:
        assert account_row(lotline, "ACC-2").tax_status == "tax_deferred"
        assert account_row(lotline, "ACC-1").tax_status == "taxable"

    # Given, it still changes.
    assert load_file(cli, "exempt.yaml", update.replace("advisor: bob\n", "advisor: bob\n    tax_status: tax_exempt\n"),
                     "--as", "bob").code == 0
    with Lotline(cli.url) as lotline:
        assert account_row(lotline, "ACC-2").tax_status == "tax_exempt"


def test_a_parameter_key_left_out_keeps_its_recorded_value(cli):
    assert cli.load(CONTRACT_EXAMPLE).code == 0
    update = """
accounts:
  - id: ACC-1
    advisor: alice
    template: balanced
    parameters:
      tax: {short_term_rate: "0.35"}
      trading: {fractional_shares: true}
"""
    result = load_file(cli, "update.yaml", update, "--as", "alice")
    assert result.code == 0, result.err
    trail = cli("audit", "ACC-1", "--json", "--as", "carol").json()["events"]
    tax = [e for e in trail if e["type"] == "TaxPreferencesSet"][-1]["data"]["tax"]
    assert tax == {"short_term_rate": "0.35", "long_term_rate": "0.20", "harvest_losses": True,
                   "annual_gain_budget": "5000"}
    trading = [e for e in trail if e["type"] == "TradingPreferencesSet"][-1]["data"]["trading"]
    assert trading == {"min_trade_value": "100", "fractional_shares": True}
    types = [e["type"] for e in trail]
    # Neither the cash preferences nor the other parameters were touched again.
    for kind in ("CashPreferencesSet", "ModificationsSet", "ModelChoicesSet", "SubstitutionsSet", "RestrictionsSet"):
        assert types.count(kind) == 1, kind

    # A key given as null is given: the gain budget is lifted.
    lifted = update.replace('tax: {short_term_rate: "0.35"}', "tax: {annual_gain_budget: null}")
    assert load_file(cli, "lifted.yaml", lifted, "--as", "alice").code == 0
    trail = cli("audit", "ACC-1", "--json", "--as", "carol").json()["events"]
    tax = [e for e in trail if e["type"] == "TaxPreferencesSet"][-1]["data"]["tax"]
    assert tax == {"short_term_rate": "0.35", "long_term_rate": "0.20", "harvest_losses": True,
                   "annual_gain_budget": None}


def test_without_ids_a_file_loaded_again_under_another_name_with_other_bytes_records_its_trades_again(cli):
    """Documented behaviour: only entry ids and identical bytes make a reload idempotent."""
    assert cli.load(CONTRACT_EXAMPLE).code == 0
    text = """trades:
  - {account: ACC-1, date: 2026-01-20, side: buy, symbol: VTI, quantity: "1", price: "200.00", actor: olivia}
cash_movements:
  - {account: ACC-1, date: 2026-01-21, amount: "100.00", actor: alice}
"""
    assert load_file(cli, "monday.yaml", text, "--as", "root").code == 0
    again = load_file(cli, "monday-resent.yaml", text + "# sent again\n", "--json", "--as", "root")
    assert again.code == 0, again.err
    assert again.json()["skipped"] is False and again.json()["events"] == 2
    trail = cli("audit", "ACC-1", "--json", "--as", "carol").json()["events"]
    assert len([e for e in trail if e["type"] == "TradeRecorded" and e["effective_date"] == "2026-01-20"]) == 2
    assert len([e for e in trail if e["type"] == "CashDeposited" and e["effective_date"] == "2026-01-21"]) == 2
