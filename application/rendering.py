"""How the command line shows each result: one JSON document (`--json`, the contract's
shapes), else rich tables and plain lines. Rich is imported only when something is
shown with it."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lotline.application.batch_analysis import AccountResult
    from lotline.application.demo import DemoReport
    from lotline.application.handlers.execution import Filled
    from lotline.application.handlers.read_models import Rebuilt
    from lotline.application.handlers.release import Released
    from lotline.application.handlers.setup import PricesLoaded, ScenarioLoaded
    from lotline.application.handlers.users import IssuedKey, RevokedKey
    from lotline.application.replay import ReplayOutcome
    from lotline.infrastructure.integrity import Verification


def emit_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")


def console() -> Any:
    from rich.console import Console

    return Console()


# --- setting up -----------------------------------------------------------------------

def show_loaded(file: Path, loaded: ScenarioLoaded, as_json: bool) -> None:
    if as_json:
        if loaded.skipped:
            emit_json({"file": str(file), "skipped": True, "sha256": loaded.sha256, "loaded_as": loaded.loaded_as,
                       "loaded_at": loaded.loaded_at, "loaded_by": loaded.loaded_by, "events": 0, "prices": 0,
                       "entries_skipped": 0})
        else:
            emit_json({"file": str(file), "skipped": False, "sha256": loaded.sha256, "events": loaded.events,
                       "prices": loaded.prices, "entries_skipped": loaded.entries_skipped})
    elif loaded.skipped:
        console().print(f"Skipped {file}: the same file (sha256 {loaded.sha256}) was loaded on "
                        f"{loaded.loaded_at} by {loaded.loaded_by}.", markup=False, highlight=False,
                        soft_wrap=True)
    else:
        skipped = loaded.entries_skipped
        also = f"; {skipped} {'entry' if skipped == 1 else 'entries'} already recorded, skipped" if skipped else ""
        console().print(f"Loaded {file}: {loaded.events} events, {loaded.prices} closes recorded{also}.")


def show_prices_loaded(file: Path, loaded: PricesLoaded, as_json: bool) -> None:
    if as_json:
        emit_json({"file": str(file), "sha256": loaded.sha256, "closes": loaded.read, "recorded": loaded.recorded,
                   "corrected": loaded.corrected, "unchanged": loaded.unchanged})
    else:
        corrected = f", {loaded.corrected} corrected" if loaded.corrected else ""
        console().print(f"Read {loaded.read} closes from {file}: {loaded.recorded} recorded{corrected}, "
                        f"{loaded.unchanged} already recorded.", markup=False, highlight=False, soft_wrap=True)


def show_settings(shown: dict[str, dict[str, Any]], as_json: bool) -> None:
    if as_json:
        return emit_json({k: v["value"] for k, v in shown.items()})
    from rich.table import Table

    table = Table(title="Firm settings")
    for column in ("key", "value", "default", "meaning"):
        table.add_column(column)
    for k, v in shown.items():
        table.add_row(k, v["value"], v["default"], v["description"])
    console().print(table)


# --- reading an account -----------------------------------------------------------------

def show_audit(account: str, events: list[dict[str, Any]], as_json: bool, as_csv: bool) -> None:
    if as_json:
        emit_json({"account": account, "events": events})
    elif as_csv:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["position", "type", "timestamp", "effective_date", "actor", "role", "reason", "data",
                         "on_behalf_of", "auth"])
        for e in events:
            writer.writerow([e["position"], e["type"], e["timestamp"], e["effective_date"], e["actor"], e["role"],
                             e["reason"] or "", json.dumps(e["data"], sort_keys=True), e["on_behalf_of"] or "", e["auth"]])
        sys.stdout.write(out.getvalue())
    else:
        from rich.table import Table

        table = Table(title=f"Audit trail of {account}")
        for column in ("#", "type", "effective", "recorded", "actor", "role", "data"):
            table.add_column(column)
        for e in events:
            data = ", ".join(f"{k}={v}" for k, v in e["data"].items())
            actor = f"{e['actor']} for {e['on_behalf_of']}" if e["on_behalf_of"] else e["actor"]
            table.add_row(str(e["position"]), e["type"], e["effective_date"], e["timestamp"][:19], actor, e["role"], data)
        console().print(table)


AUDIT_COLUMNS = ["position", "kind", "id", "account", "type", "timestamp", "effective_date", "actor", "role", "reason",
                 "data", "on_behalf_of", "auth"]


def show_firm_audit(events: list[dict[str, Any]], as_json: bool, as_csv: bool) -> None:
    if as_json:
        emit_json({"events": events})
    elif as_csv:
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(AUDIT_COLUMNS)
        for e in events:
            writer.writerow([e["position"], e["kind"], e["id"], e.get("account") or "", e["type"], e["timestamp"],
                             e["effective_date"], e["actor"], e["role"], e["reason"] or "",
                             json.dumps(e["data"], sort_keys=True), e["on_behalf_of"] or "", e["auth"]])
        sys.stdout.write(out.getvalue())
    else:
        from rich.table import Table

        table = Table(title="Audit trail of the firm")
        for column in ("#", "kind", "id", "type", "effective", "recorded", "actor", "role", "reason"):
            table.add_column(column)
        for e in events:
            table.add_row(str(e["position"]), e["kind"], e["id"], e["type"], e["effective_date"], e["timestamp"][:19],
                          e["actor"], e["role"], e["reason"] or "")
        console().print(table)


def show_lots(account: str, report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        return emit_json(report)
    from rich.table import Table

    table = Table(title=f"Open lots of {account} as of {report['as_of']} (cash {report['cash']})")
    for column in ("lot", "symbol", "quantity", "cost basis", "acquired", "holding period from", "wash-sale adj."):
        table.add_column(column, justify="right" if column in ("quantity", "cost basis", "wash-sale adj.") else "left")
    for lot in report["lots"]:
        table.add_row(lot["lot_id"], lot["symbol"], lot["quantity"], lot["cost_basis"], lot["acquired"],
                      lot["holding_period_start"], lot["wash_sale_adjustment"])
    console().print(table)


def show_gains(account: str, report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        return emit_json(report)
    from rich.table import Table

    table = Table(title=f"Realised in {report['year']} by {account}: short term {report['short_term']}, "
                        f"long term {report['long_term']}, disallowed {report['disallowed_loss']}")
    for column in ("date", "symbol", "quantity", "proceeds", "cost basis", "gain", "term", "disallowed", "lot"):
        table.add_column(column)
    for r in report["realizations"]:
        table.add_row(r["date"], r["symbol"], r["quantity"], r["proceeds"], r["cost_basis"], r["gain"], r["term"],
                      r["disallowed_loss"], r["lot_id"])
    console().print(table)


def show_holdings(account: str, report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        return emit_json(report)
    from rich.table import Table

    out = console()
    table = Table(title=f"{account} as of {report['as_of']}: value {report['total_value']}, cash {report['cash']}")
    for column in ("symbol", "class", "quantity", "close", "close of", "market value", "weight", "target"):
        table.add_column(column, justify="left" if column in ("symbol", "class", "close of") else "right")
    for p in report["positions"]:
        table.add_row(p["symbol"], p["asset_class"] or "", p["quantity"], p.get("price") or "", p.get("price_date") or "",
                      p["market_value"], p["weight"], p["target_weight"])
    out.print(table)
    classes = Table(title="Asset classes")
    for column in ("class", "weight", "target", "drift", "limit"):
        classes.add_column(column, justify="left" if column == "class" else "right")
    for c in report["asset_classes"]:
        classes.add_row(c["asset_class"], c["weight"], c["target_weight"], c["drift"], c["drift_limit"] or "")
    out.print(classes)
    for note in report["notes"]:
        out.print(f"note: {note}")


# --- the day's analysis ------------------------------------------------------------------

@contextmanager
def progress_bar(wanted: bool, label: str) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on a terminal; nothing otherwise (and never with --json)."""
    if not (wanted and sys.stdout.isatty()):
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda n: bar.advance(task, n)


def show_rebalance(on: date, results: list[AccountResult], as_json: bool) -> None:
    if as_json:
        return emit_json({
            "date": on.isoformat(),
            "decisions": [
                {"decision_id": r.decision_id, "account": r.account, "trade": r.trade, "reasons": list(r.reasons),
                 "benefit": str(r.benefit), "orders": r.orders, **({"existing": True} if r.existing else {})}
                for r in results if r.decision_id
            ],
            "failures": [{"account": r.account, "reason": r.failure} for r in results if r.failure],
        })
    from collections import Counter

    from rich.table import Table

    out = console()
    decided = [r for r in results if r.decision_id]
    trading = [r for r in decided if r.trade]
    failed = [r for r in results if r.failure]
    by_reason = Counter(reason for r in trading for reason in r.reasons)
    table = Table(title=f"Rebalance {on.isoformat()}")
    table.add_column("")
    table.add_column("accounts", justify="right")
    table.add_row("analysed", str(len(results)))
    table.add_row("  already decided earlier", str(sum(1 for r in decided if r.existing)))
    table.add_row("to trade", str(len(trading)))
    for reason in ("cash_request", "restriction", "drift_limit", "net_benefit"):
        table.add_row(f"  {reason}", str(by_reason.get(reason, 0)))
    table.add_row("no trade", str(len(decided) - len(trading)))
    table.add_row("failed", str(len(failed)))
    out.print(table)
    orders = sum(r.orders for r in trading)
    out.print(f"{orders} orders proposed; release them with `lotline approve --date {on.isoformat()}`.")
    for r in failed:
        out.print(f"[red]failed[/] {r.account}: {r.failure}")


def show_orders(on: date, report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        return emit_json(report)
    from rich.table import Table

    table = Table(title=f"Orders of {on.isoformat()}")
    for column in ("order", "account", "side", "symbol", "quantity", "value", "reason", "status", "fill price"):
        table.add_column(column)
    for o in report["orders"]:
        table.add_row(o["order_id"], o["account"], o["side"], o["symbol"], o["quantity"], o["value"], o["reason"],
                      o["status"], o.get("fill_price") or "")
    console().print(table)
    for o in report["orders"]:
        if o.get("unfilled_reason") or o.get("stale_reason"):
            console().print(f"{o['order_id']} {o['status']}: {o.get('unfilled_reason') or o.get('stale_reason')}")


def show_explanation(report: dict[str, Any], as_json: bool) -> None:
    """The decision's sentences (``application.explanation``), then each order's."""
    if as_json:
        return emit_json(report)
    out = console()
    out.print(f"[bold]{report['decision_id']}[/] (recorded {report['recorded_at']} by {report['actor']} as "
              f"{report['role']})", highlight=False)
    _say(out, report["sentences"])
    listed = report.get("orders_proposed", report.get("orders_considered", []))
    if listed:
        out.print("Orders proposed:" if report["trade"] else "Orders it would have proposed:")
    for order in listed:
        out.print(f"  {order['explanation'][0]} [{order['reason']}]", highlight=False, markup=False)
        _say(out, order["explanation"][1:], indent="    ")
    for heading, lines in (("Notes:", report["notes"]), ("Warnings:", report.get("warnings", []))):
        if lines:
            out.print(heading)
            _say(out, lines)


def _say(out: Any, sentences: list[str], indent: str = "  ") -> None:
    for sentence in sentences:
        out.print(f"{indent}{sentence}", highlight=False, markup=False, soft_wrap=True)


def show_replay(decision: str, outcome: ReplayOutcome, as_json: bool) -> None:
    if as_json:
        emit_json({"decision_id": decision, "identical": outcome.identical, "differences": outcome.differences})
    elif outcome.identical:
        console().print(f"{decision}: replayed identically ({len(outcome.recorded.orders)} orders).")
    else:
        print(f"{decision}: replay differs:", file=sys.stderr)
        for line in outcome.differences:
            print(f"  {line}", file=sys.stderr)


# --- releasing and filling ---------------------------------------------------------------

def show_approved(on: date, released: Released, as_json: bool) -> None:
    if as_json:
        return emit_json({"date": on.isoformat(), "accounts": released.accounts, "orders": released.orders,
                          "held_back": released.held_back, "stale": released.stale})
    console().print(f"Approved {released.orders} orders of {released.accounts} accounts; "
                    f"{len(released.held_back)} held back by the filters.")
    for stale in released.stale:
        console().print(f"stale: {stale['decision_id']}: {stale['reason']}; redo it with `lotline rebalance --redo "
                        f"--account {stale['account']} --date {on.isoformat()} --reason ...`")


def show_rejected(on: date, rejected: Released, as_json: bool) -> None:
    if as_json:
        return emit_json({"date": on.isoformat(), "accounts": rejected.accounts, "orders": rejected.orders})
    console().print(f"Rejected {rejected.orders} orders of {rejected.accounts} accounts.")


def show_cancelled(on: date, cancelled: Released, as_json: bool) -> None:
    if as_json:
        return emit_json({"date": on.isoformat(), "accounts": cancelled.accounts, "orders": cancelled.orders})
    console().print(f"Cancelled {cancelled.orders} orders of {cancelled.accounts} accounts.")


def show_filled(on: date, filled: Filled, as_json: bool) -> None:
    if as_json:
        return emit_json({"date": on.isoformat(), "accounts": filled.accounts, "trades": filled.trades,
                          "cash_requests_fulfilled": filled.cash_requests, "notes": filled.notes,
                          "unfilled": filled.unfilled, "stale": filled.stale})
    console().print(f"Filled {filled.trades} orders in {filled.accounts} accounts at the {on.isoformat()} close; "
                    f"{filled.cash_requests} cash requests fulfilled.")
    for item in filled.unfilled:
        console().print(f"unfilled: {item['decision_id']}: {item['reason']}")
    for item in filled.stale:
        console().print(f"stale: {item['decision_id']}: {item['reason']}")
    for note in filled.notes:
        console().print(f"note: {note}")


# --- users' keys ---------------------------------------------------------------------------

def show_key_issued(issued: IssuedKey, as_json: bool) -> None:
    """The key, printed this once: the store keeps only a salted hash of it."""
    if as_json:
        emit_json({"user": issued.user, "key_id": issued.key_id, "key": issued.key, "replaced": issued.replaced})
        return
    replaced = f"; key {issued.replaced} is revoked" if issued.replaced else ""
    print(f"Key {issued.key_id} issued to {issued.user}{replaced}. It is shown this once; keep it secret "
          "(give it to Lotline in LOTLINE_KEY or in a file named by --key-file):")
    print(issued.key)


def show_key_revoked(revoked: RevokedKey, as_json: bool) -> None:
    if as_json:
        emit_json({"user": revoked.user, "key_id": revoked.key_id, "revoked": True})
        return
    print(f"Key {revoked.key_id} of {revoked.user} revoked.")


# --- read models ---------------------------------------------------------------------------

def show_rebuilt(rebuilt: Rebuilt, as_json: bool) -> None:
    read, failures = rebuilt.events, rebuilt.failures
    if as_json:
        emit_json({"rebuilt": True, "events": read, "failures": failures})
        return
    console().print(f"Rebuilt every read model from {read} events.")
    if failures:
        # Plain print: an error names fields in brackets, which rich would read as markup.
        positions = sorted({f["position"] for f in failures})
        accounts = sorted({f["account"] for f in failures if f["account"] is not None})
        print(f"{len(positions)} {'event' if len(positions) == 1 else 'events'} could not be applied; "
              f"accounts whose reads refuse until it is repaired: {', '.join(accounts) or 'none'}.")
        for f in failures:
            owner = f"account {f['account']}" if f["account"] is not None else "no account"
            print(f"  event {f['position']} ({f['type']}, {owner}), {f['read_model']} read model: {f['error']}")


# --- integrity ------------------------------------------------------------------------------

def show_verification(result: Verification, as_json: bool) -> None:
    """`N events verified, head POSITION:DIGEST`; a broken chain is one line on stderr
    naming the first bad position (exit 1, by the caller)."""
    head = f"{result.head.position}:{result.head.digest}" if result.head is not None else None
    if as_json:
        emit_json({"intact": result.intact, "events": result.events, "chained": result.chained,
                   "first_chained_position": result.first_chained, "head": head,
                   "position": result.position, "problem": result.problem})
        return
    if not result.intact:
        where = f"position {result.position}: " if result.position is not None else ""
        print(f"lotline: verify failed: {where}{result.problem}", file=sys.stderr)
        return
    unchained = result.events - result.chained
    if unchained:
        print(f"The chain starts at position {result.first_chained}: the {unchained} events before it were recorded "
              "before the integrity chain existed (an admin's `lotline verify --seal` chains them).")
    print(f"{result.events} events verified, head {head or '0:' + '0' * 64}")


# --- the demo ------------------------------------------------------------------------------

def demo_progress(as_json: bool) -> Callable[[str, int], None]:
    """Prints what the demo is doing (nothing with --json)."""
    out = console()

    def say(text: str, _: int) -> None:
        if not as_json:
            out.print(text)

    return say


def show_demo_start(accounts: int, url: str, as_json: bool) -> None:
    if not as_json:
        console().print(f"Building a demo firm of {accounts} accounts in {url} ...")


def show_demo(report: DemoReport, as_json: bool) -> None:
    if as_json:
        return emit_json({
            "accounts": report.accounts,
            "days": [{"date": d.day.isoformat(), "analysed": d.analysed, "trading": d.trading,
                      "reasons": dict(d.reasons), "failed": d.failed, "orders": d.orders, "filled": d.filled,
                      "cash_requests_fulfilled": d.cash_requests} for d in report.days],
            "realised": {"short_term": str(report.short_term), "long_term": str(report.long_term),
                         "estimated_tax": str(report.tax), "losses_harvested": str(report.harvested)},
            "drift": {"mean_worst_before": str(report.drift_before.quantize(Decimal("0.0001"))),
                      "mean_worst_after": str(report.drift_after.quantize(Decimal("0.0001")))},
            "total_value": str(report.value),
        })
    from rich.table import Table

    out = console()
    table = Table(title=f"Demo firm: {report.accounts} accounts, {len(report.days)} trading days")
    for column in ("day", "analysed", "traded", "cash request", "restriction", "drift limit", "net benefit",
                   "no trade", "failed", "orders filled", "cash requests met"):
        table.add_column(column, justify="right" if column != "day" else "left")
    for d in report.days:
        table.add_row(d.day.isoformat(), str(d.analysed), str(d.trading), str(d.reasons.get("cash_request", 0)),
                      str(d.reasons.get("restriction", 0)), str(d.reasons.get("drift_limit", 0)),
                      str(d.reasons.get("net_benefit", 0)), str(d.analysed - d.trading - d.failed), str(d.failed),
                      str(d.filled), str(d.cash_requests))
    out.print(table)
    pct = lambda x: f"{x * 100:.2f}%"  # noqa: E731
    out.print(f"Taxable accounts realised {report.short_term} short term and {report.long_term} long term "
              f"(estimated tax {report.tax}); losses harvested {report.harvested}.")
    out.print(f"Worst asset-class drift per account, mean: {pct(report.drift_before)} before, "
              f"{pct(report.drift_after)} after (largest: {pct(report.worst_before)} before, {pct(report.worst_after)} after).")
    out.print(f"Firm assets {report.value}. Next: lotline explain DEMO-0001/{report.days[0].day.isoformat()} --as carol")
