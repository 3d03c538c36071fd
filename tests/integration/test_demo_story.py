"""`lotline demo` tells the story of its days and compares them with a plain rebalance
to target, with numbers that add up, in 80 columns."""

from __future__ import annotations

import json
import re
from datetime import date
from decimal import Decimal

from lotline.application.cli import main
from lotline.application.demo import demo_scenario


def run_demo(capsys, store: str, *extra: str) -> str:
    assert main(["demo", "--accounts", "8", "--days", "2", "--seed", "5", "--store", store, *extra]) == 0
    return capsys.readouterr().out


def test_the_demo_shows_each_day_and_the_plain_rebalance_and_its_numbers_add_up(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    out = run_demo(capsys, f"sqlite:///{tmp_path / 'demo.db'}", "--json")
    report = json.loads(out)
    days = report["days"]
    assert [d["date"] for d in days] == ["2026-03-02", "2026-03-03"]
    # The totals are the sums of the days.
    for key, total in (("short_term", "short_term"), ("long_term", "long_term"),
                       ("losses_harvested", "losses_harvested"), ("estimated_tax", "estimated_tax")):
        assert sum(Decimal(d[key]) for d in days) == Decimal(report["realised"][total])
    lotline, plain = report["comparison"]["lotline"], report["comparison"]["plain_rebalance"]
    assert Decimal(lotline["short_term"]) == Decimal(report["realised"]["short_term"])
    assert lotline["account_days_traded"] == sum(d["trading"] for d in days)
    assert lotline["accounts_outside_limits"] == days[-1]["outside_limits_after"]
    # Every account starts outside a limit; the workflow brings (nearly) all back within.
    assert days[0]["outside_limits_before"] == 8 and days[0]["outside_limits_after"] < 8
    # A plain rebalance to target trades every account every day and leaves none outside a
    # limit, but for accounts holding a security they must not sell (it sells none of it)...
    scenario, _, _ = demo_scenario(8, 5, date(2026, 3, 2))
    keeping = [a for a in scenario.accounts
               if any(r.rule == "do_not_sell" for r in (a.parameters.restrictions if a.parameters else None) or ())]
    assert plain["account_days_traded"] == 8 * 2 and plain["accounts_outside_limits"] <= len(keeping)
    # ...and realises more gains than the tax-aware workflow.
    assert Decimal(plain["estimated_tax"]) > Decimal(lotline["estimated_tax"])
    for d in days:
        assert sum(d["reasons"].values()) >= d["trading"]  # every trading decision names a reason

    table = run_demo(capsys, f"sqlite:///{tmp_path / 'again.db'}")
    lines = table.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "Each day: accounts analysed, traded, and why" in table
    assert "Same days, plain rebalance to target" in table
    day_row = next(line for line in lines if line.strip().startswith("2026-03-02") and "$" in line)
    assert _dollars(days[0]["short_term"]) in day_row and _dollars(days[0]["estimated_tax"]) in day_row
    tax_row = next(line for line in lines if line.strip().startswith("Estimated tax"))
    assert re.findall(r"-?\$[\d,]+", tax_row) == [_dollars(lotline["estimated_tax"]), _dollars(plain["estimated_tax"])]


def _dollars(text: str) -> str:
    value = Decimal(text).quantize(Decimal(1))
    return f"{'-' if value < 0 else ''}${abs(value):,}"
