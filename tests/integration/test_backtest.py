"""`lotline backtest`: a seeded synthetic market with falling regimes (so there are
losses) run through the daily workflow by every strategy, in a store of its own."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import io
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from lotline.application.cli import main
from lotline.application.synthetic_market import write_files
from lotline.infrastructure.calendar import is_trading_day

# One worker for the module where pytest-xdist can group (not with pytest 9.2, pytest-xdist issue
# 1386): the backtest of every strategy (a module fixture, the longest part) is then run once.
pytestmark = pytest.mark.xdist_group("backtest")

DAYS = 60
KEYS = {"strategy", "start", "end", "days", "initial_value", "final_value", "after_tax_liquidation_value",
        "taxes_paid", "realized_short_term", "realized_long_term", "losses_harvested", "wash_sale_violations",
        "tracking_error_annual", "mean_abs_class_drift", "turnover_annual", "trades"}
MONEY = ("initial_value", "final_value", "after_tax_liquidation_value", "taxes_paid", "realized_short_term",
         "realized_long_term", "losses_harvested")


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["backtest", *args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def market(tmp_path_factory) -> tuple[Path, Path]:
    return write_files(tmp_path_factory.mktemp("market"), securities=6, accounts=1, history=80, days=DAYS, seed=37)


@pytest.fixture(scope="module")
def every_strategy(market, tmp_path_factory):
    scenario, prices = market
    picture = tmp_path_factory.mktemp("plot") / "backtest.png"
    code, out, err = run("--prices", str(prices), "--scenario", str(scenario), "--strategy", "all", "--json",
                         "--plot", str(picture))
    assert code == 0, err
    return json.loads(out), picture, err


def test_the_json_document_has_the_contracts_shape_and_nothing_else_is_printed(every_strategy):
    document, _, err = every_strategy
    assert set(document) >= {"strategies", "tax_alpha_annual"}
    assert [s["strategy"] for s in document["strategies"]] == ["holistic", "no-harvest", "threshold"]
    for strategy in document["strategies"]:
        assert KEYS <= set(strategy)
        for key in MONEY:
            assert isinstance(strategy[key], str) and Decimal(strategy[key]).is_finite()
        for key in ("tracking_error_annual", "mean_abs_class_drift", "turnover_annual"):
            assert Decimal(strategy[key]) >= 0
        assert isinstance(strategy["wash_sale_violations"], int) and isinstance(strategy["trades"], int)
        assert strategy["days"] == DAYS
        assert date.fromisoformat(strategy["start"]) < date.fromisoformat(strategy["end"])
    assert Decimal(document["tax_alpha_annual"]).is_finite()
    assert err == ""


def test_each_strategy_keeps_its_invariants(every_strategy):
    document, _, _ = every_strategy
    for strategy in document["strategies"]:
        assert Decimal(strategy["final_cash"]) + Decimal(strategy["final_market_value"]) == \
            Decimal(strategy["final_value"])
        assert Decimal(strategy["after_tax_liquidation_value"]) <= Decimal(strategy["final_value"])
        assert Decimal(strategy["taxes_paid"]) >= 0
        assert strategy["trades"] > 0
    holistic = document["strategies"][0]
    assert holistic["wash_sale_violations"] == 0
    assert Decimal(holistic["losses_harvested"]) > 0  # the falling regimes left losses to harvest


def test_no_harvest_harvests_nothing_by_choice(every_strategy):
    by_name = {s["strategy"]: s for s in every_strategy[0]["strategies"]}
    assert Decimal(by_name["no-harvest"]["losses_harvested"]) < Decimal(by_name["holistic"]["losses_harvested"])


def test_threshold_trades_only_on_band_exits_and_harvest_days(every_strategy):
    threshold = every_strategy[0]["strategies"][2]
    days = sorted(date.fromisoformat(d) for d in threshold["trading_days"])
    assert days, "the threshold strategy never traded"
    sessions = [d for d in _sessions(threshold["start"], threshold["end"])]
    first_of_month = {d for i, d in enumerate(sessions) if i == 0 or sessions[i - 1].month != d.month}
    band_exit_days = 0
    for day in days:
        reasons = set(threshold["trading_days"][day.isoformat()])
        if "drift_limit" in reasons:
            band_exit_days += 1
        else:
            assert day in first_of_month, f"threshold traded on {day} with {reasons}: no band exit, no harvest day"
    assert band_exit_days > 0


def _sessions(start: str, end: str) -> list[date]:
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    return [date.fromordinal(n) for n in range(first.toordinal(), last.toordinal() + 1)
            if is_trading_day(date.fromordinal(n))]


def test_the_plot_is_a_png(every_strategy):
    _, picture, _ = every_strategy
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_users_store_is_never_touched(market, tmp_path):
    scenario, prices = market
    store = tmp_path / "mine.db"
    assert main(["load", str(scenario), "--store", f"sqlite:///{store}"]) == 0
    gc.collect()  # the load's connections let go of the file (its write-ahead log checkpointed)
    before = hashlib.sha256(store.read_bytes()).hexdigest()
    files = sorted(p.name for p in tmp_path.iterdir())
    code, out, err = run("--prices", str(prices), "--scenario", str(scenario), "--strategy", "holistic",
                         "--end", _sessions("2025-01-02", "2025-01-31")[4].isoformat(), "--json",
                         "--store", f"sqlite:///{store}")
    assert code == 0, err
    assert json.loads(out)["strategies"][0]["days"] == 5
    gc.collect()
    assert hashlib.sha256(store.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == files
    # A store that does not exist is not created either.
    code, _, err = run("--prices", str(prices), "--scenario", str(scenario), "--strategy", "threshold",
                       "--end", "2025-01-03", "--json", "--store", f"sqlite:///{tmp_path / 'none.db'}")
    assert code == 0, err
    assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize("args, field", [
    (("--prices", "missing.csv"), "prices"),
    (("--strategy", "momentum"), "strategy"),
    (("--start", "2025-02-30"), "start"),
    (("--start", "2031-01-02"), "start"),
    (("--end", "2025-01-01"), "end"),
    (("--start", "2024-06-03"), "start"),  # before the scenario's as_of: the firm does not exist yet
    (("--plot", "picture.jpg"), "plot"),
])
def test_bad_input_names_its_field_and_exits_2(market, args, field):
    scenario, prices = market
    given = {"--prices": str(prices), "--scenario": str(scenario), "--strategy": "holistic"}
    given.update(dict(zip(args[::2], args[1::2])))
    code, out, err = run(*[x for pair in given.items() for x in pair])
    assert code == 2
    assert out == ""
    assert err.startswith(f"lotline: bad input: {field}") and len(err.strip().splitlines()) == 1
