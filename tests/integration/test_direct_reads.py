"""Read commands of a store whose read models are current answer from the read models
alone (application/direct_reads.py), without the event store library or the ORM, and
say exactly what the usual path says; a store whose read models are behind, a key, a
firm under key authentication or a reader who may not read still get the usual answer."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lotline.projections.direct import direct_reads

FIRM = Path(__file__).resolve().parents[2] / "examples" / "firm.yaml"
DAY = "2026-03-02"

READS = [
    ("holdings", "SMITH-TAX", "--as-of", DAY),
    ("holdings", "GARCIA-ESG", "--as-of", DAY),
    ("holdings", "PATEL-NEW", "--as-of", DAY),
    ("lots", "SMITH-TAX", "--as-of", DAY),
    ("lots", "LEE-TRUST", "--as-of", DAY),
    ("lots", "JONES-IRA", "--as-of", "2025-06-30"),  # before its latest date: rebuilt from the history
    ("orders", "--account", "SMITH-TAX", "--date", DAY),
    ("orders", "--account", "GARCIA-ESG", "--date", DAY, "--status", "proposed"),
    ("orders", "--account", "SMITH-TAX", "--date", DAY, "--status", "nonsense"),
    ("orders", "--account", "SMITH-TAX", "--date", "2026-03-01"),
    ("holdings", "NO-SUCH", "--as-of", DAY),
    ("holdings", "NO-SUCH", "--as-of", "2026-13-01"),
]


@pytest.fixture
def firm(cli):
    assert cli.load(FIRM.read_text()).code == 0
    result = cli("rebalance", "--date", DAY, "--as", "olivia", "--json")
    assert result.code == 0, result.err
    cli.decisions = [d["decision_id"] for d in result.json()["decisions"]]
    return cli


def answers(cli, monkeypatch, args: tuple[str, ...]) -> tuple:
    out = []
    for direct in ("1", "0"):
        monkeypatch.setenv("LOTLINE_DIRECT_READS", direct)
        result = cli(*args)
        out.append((result.code, result.out, result.err))
    monkeypatch.delenv("LOTLINE_DIRECT_READS")
    return tuple(out)


@pytest.mark.parametrize("user", ["olivia", "alice", "nobody"])
def test_every_read_says_what_the_usual_path_says(firm, monkeypatch, user):
    cli = firm
    explains = [(command, decision) for decision in cli.decisions for command in ("explain", "replay")]
    for args in [*READS, *explains, ("replay", "NO-SUCH/2026-03-02")]:
        for shape in ((("--json",), ()) if user == "olivia" else (("--json",),)):
            direct, usual = answers(cli, monkeypatch, (*args, *shape, "--as", user))
            assert direct == usual, (args, shape, user)


def test_a_read_of_a_store_whose_read_models_are_behind_is_caught_up(cli):
    assert cli.load(FIRM.read_text()).code == 0
    before = cli("lots", "SMITH-TAX", "--as-of", DAY, "--as", "olivia", "--json").json()
    # Recorded after the read models last caught up: the read models are behind it.
    more = cli.load('cash_movements:\n  - {account: SMITH-TAX, date: 2026-03-02, amount: "1000.00"}\n', "--as", "alice")
    assert more.code == 0, more.err
    with direct_reads(cli.url) as reads:
        assert not reads.current()
    after = cli("lots", "SMITH-TAX", "--as-of", DAY, "--as", "olivia", "--json").json()
    assert float(after["cash"]) == float(before["cash"]) + 1000
    holdings = cli("holdings", "SMITH-TAX", "--as-of", DAY, "--as", "olivia", "--json").json()
    assert holdings["cash"] == after["cash"]


def test_under_key_authentication_a_read_without_a_key_is_refused(cli, monkeypatch):
    assert cli.load(FIRM.read_text()).code == 0
    for user in ("root", "olivia"):
        assert cli("users", "key", user, "--as", "root", "--json").code == 0
    assert cli("settings", "authentication", "key", "--as", "root", "--reason", "keys").code == 0
    monkeypatch.delenv("LOTLINE_KEY", raising=False)
    for args in (("holdings", "SMITH-TAX"), ("lots", "SMITH-TAX"), ("orders", "--account", "SMITH-TAX", "--date", DAY),
                 ("explain", f"SMITH-TAX/{DAY}")):
        result = cli(*args, "--as", "olivia")
        assert result.code == 1 and "authentication is key" in result.err, (args, result.err)


def test_an_advisor_reads_only_their_own_accounts(firm):
    cli = firm
    assert cli("holdings", "SMITH-TAX", "--as-of", DAY, "--as", "alice").code == 0
    for args in (("holdings", "GARCIA-ESG", "--as-of", DAY), ("lots", "GARCIA-ESG"),
                 ("orders", "--account", "GARCIA-ESG", "--date", DAY), ("explain", f"GARCIA-ESG/{DAY}")):
        result = cli(*args, "--as", "alice")
        assert result.code == 1 and "not its advisor" in result.err, (args, result.err)


def test_a_read_of_a_current_store_loads_neither_the_event_store_nor_sqlalchemy_nor_numba(tmp_path):
    store = f"sqlite:///{tmp_path / 'firm.db'}"
    lotline = [sys.executable, "-m", "lotline.application"]
    subprocess.run([*lotline, "load", str(FIRM), "--store", store], capture_output=True, check=True)
    subprocess.run([*lotline, "rebalance", "--date", DAY, "--as", "olivia", "--store", store], capture_output=True,
                   check=True)
    # A read catches the read models up (the rebalance's events): the next reads find them current.
    subprocess.run([*lotline, "lots", "SMITH-TAX", "--store", store], capture_output=True, check=True)
    # numba: replay re-runs the analysis on the solver compiled ahead of time (setup.py).
    heavy = ("eventsourcing", "sqlalchemy", "numba")
    for args in (["holdings", "SMITH-TAX", "--as-of", DAY], ["lots", "SMITH-TAX", "--as-of", DAY],
                 ["orders", "--account", "SMITH-TAX", "--date", DAY], ["explain", f"SMITH-TAX/{DAY}"],
                 ["replay", f"SMITH-TAX/{DAY}"]):
        probe = ("import json, sys\n"
                 "from lotline.application.cli import main\n"
                 f"code = main({[*args, '--as', 'olivia', '--store', store]!r})\n"
                 f"print(json.dumps([code, sorted(m for m in {heavy!r} if m in sys.modules)]), file=sys.stderr)\n")
        out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
        assert json.loads(out.stderr.strip().splitlines()[-1]) == [0, []], args


def test_the_direct_reads_name_the_stores_tables_and_read_models(sqlite_url):
    from lotline.application.lotline import Lotline
    from lotline.projections.direct import EVENTS_TABLE, READ_MODELS
    from lotline.application.direct_reads import AUTHENTICATION_TOPIC, SETTINGS_TOPICS, firm_settings_id
    from lotline.domain.settings import FirmSettings
    from lotline.infrastructure.eventstore import event_topic

    with Lotline(sqlite_url) as lotline:
        assert lotline.store.recorder.events_record_cls.__table__.name == EVENTS_TABLE
        assert sorted(READ_MODELS) == sorted(p.name for p in Lotline.projections(lotline.store))
    assert firm_settings_id() == FirmSettings.ID
    assert event_topic(FirmSettings.AuthenticationChanged) == AUTHENTICATION_TOPIC
    assert {event_topic(FirmSettings.Created), event_topic(FirmSettings.SettingChanged)} == set(SETTINGS_TOPICS)
