"""How `lotline demo` tells its story, in 80 columns: each day (accounts analysed and
traded, why, what taxable accounts realised, how many accounts were outside a drift
limit before and after the trades), then the same days run as a plain rebalance to
target beside Lotline's, in one table."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lotline.application.demo import DemoReport, Outcome

REASONS = ("cash_request", "restriction", "drift_limit", "net_benefit")


def dollars(value: Decimal) -> str:
    """Whole dollars with thousands separators and the sign in front: -$1,235."""
    rounded = value.quantize(Decimal(1))
    return f"{'-' if rounded < 0 else ''}${abs(rounded):,}"


def percent(value: Decimal) -> str:
    return f"{value * 100:.2f}%"


def why(reasons: dict[str, int]) -> str:
    named = [f"{code.replace('_', ' ')} {reasons[code]}" for code in REASONS if reasons.get(code)]
    named += [f"{code.replace('_', ' ')} {n}" for code, n in sorted(reasons.items()) if code not in REASONS and n]
    return ", ".join(named) or "-"


def comparison_rows(holistic: Outcome, plain: Outcome) -> list[tuple[str, str, str]]:
    return [
        ("Account-days with trades", f"{holistic.traded:,}", f"{plain.traded:,}"),
        ("Trades", f"{holistic.orders:,}", f"{plain.orders:,}"),
        ("Short-term gains realised", dollars(holistic.short_term), dollars(plain.short_term)),
        ("Long-term gains realised", dollars(holistic.long_term), dollars(plain.long_term)),
        ("Losses harvested", dollars(holistic.harvested), dollars(plain.harvested)),
        ("Estimated tax", dollars(holistic.tax), dollars(plain.tax)),
        ("Accounts outside a limit at the end", f"{holistic.outside_after:,}", f"{plain.outside_after:,}"),
        ("Mean worst class drift at the end", percent(holistic.mean_worst_drift), percent(plain.mean_worst_drift)),
    ]


def demo_json(report: DemoReport) -> dict[str, Any]:
    def outcome(o: Outcome) -> dict[str, Any]:
        return {"account_days_traded": o.traded, "trades": o.orders, "short_term": str(o.short_term),
                "long_term": str(o.long_term), "losses_harvested": str(o.harvested), "estimated_tax": str(o.tax),
                "accounts_outside_limits": o.outside_after,
                "mean_worst_drift": str(o.mean_worst_drift.quantize(Decimal("0.0001")))}

    document: dict[str, Any] = {
        "accounts": report.accounts,
        "days": [{"date": d.day.isoformat(), "analysed": d.analysed, "trading": d.trading,
                  "reasons": dict(d.reasons), "failed": d.failed, "orders": d.orders, "filled": d.filled,
                  "cash_requests_fulfilled": d.cash_requests, "short_term": str(d.short_term),
                  "long_term": str(d.long_term), "estimated_tax": str(d.tax), "losses_harvested": str(d.harvested),
                  "outside_limits_before": d.outside_before, "outside_limits_after": d.outside_after}
                 for d in report.days],
        "realised": {"short_term": str(report.short_term), "long_term": str(report.long_term),
                     "estimated_tax": str(report.tax), "losses_harvested": str(report.harvested)},
        "drift": {"mean_worst_before": str(report.drift_before.quantize(Decimal("0.0001"))),
                  "mean_worst_after": str(report.drift_after.quantize(Decimal("0.0001")))},
        "total_value": str(report.value),
    }
    if report.holistic is not None and report.plain is not None:
        document["comparison"] = {"lotline": outcome(report.holistic), "plain_rebalance": outcome(report.plain)}
    return document


def show_demo(report: DemoReport, out: Any) -> None:
    from rich import box
    from rich.table import Table

    days = report.days
    out.print(f"Demo firm: {report.accounts:,} accounts, {len(days)} trading days", highlight=False)
    activity = Table(title="Each day: accounts analysed, traded, and why", box=box.SIMPLE_HEAD, title_justify="left")
    activity.add_column("Day", no_wrap=True)
    activity.add_column("Analysed", justify="right", no_wrap=True)
    activity.add_column("Traded", justify="right", no_wrap=True)
    activity.add_column("Why (decisions naming each reason)", max_width=44)
    for d in days:
        activity.add_row(d.day.isoformat(), f"{d.analysed:,}", f"{d.trading:,}", why(d.reasons))
    activity.add_row("Total", f"{sum(d.analysed for d in days):,}", f"{sum(d.trading for d in days):,}",
                     why(sum((d.reasons for d in days), type(days[0].reasons)())), style="bold")
    out.print(activity)
    taxes = Table(title="Each day: gains realised by taxable accounts, accounts outside a drift limit",
                  box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("Day", "Short-term", "Long-term", "Harvested", "Est. tax", "Outside before", "after"):
        taxes.add_column(column, justify="left" if column == "Day" else "right", no_wrap=column != "Outside before")
    for d in days:
        taxes.add_row(d.day.isoformat(), dollars(d.short_term), dollars(d.long_term), dollars(d.harvested),
                      dollars(d.tax), f"{d.outside_before:,}", f"{d.outside_after:,}")
    taxes.add_row("Total", dollars(report.short_term), dollars(report.long_term), dollars(report.harvested),
                  dollars(report.tax), "", "", style="bold")
    out.print(taxes)
    if report.holistic is not None and report.plain is not None:
        compare = Table(title="Same days, plain rebalance to target (sells first-in first-out)",
                        box=box.SIMPLE_HEAD, title_justify="left")
        compare.add_column("Over the days", no_wrap=True)
        compare.add_column("Lotline", justify="right")
        compare.add_column("Plain rebalance", justify="right")
        for row in comparison_rows(report.holistic, report.plain):
            compare.add_row(*row)
        out.print(compare)
    out.print(f"Worst asset-class drift per account, mean: {percent(report.drift_before)} before the first day, "
              f"{percent(report.drift_after)} after the last (largest: {percent(report.worst_before)} before, "
              f"{percent(report.worst_after)} after).", highlight=False)
    out.print(f"Firm assets {dollars(report.value)}. Next: lotline explain DEMO-0001/{days[0].day.isoformat()} "
              "--as carol", highlight=False)
