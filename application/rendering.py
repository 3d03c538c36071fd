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
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lotline.application.formats import money, percent, plural, price, quantity, timestamp

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


def console(width: int | None = None) -> Any:
    from rich.console import Console

    return Console(width=width) if width else Console()


@dataclass(frozen=True)
class Column:
    """A column of a table on the terminal. `rank` 0 is always shown; when the table is
    wider than the terminal, the columns of the highest rank go first (`--wide` keeps
    them all). `wrap`: free text that may wrap onto more lines; every other column
    keeps its cells on one line, never cut."""

    header: str
    right: bool = False
    rank: int = 0
    wrap: bool = False


def print_table(title: str, columns: list[Column], rows: list[list[str]], wide: bool = False,
                out: Any = None) -> list[str]:
    """Prints a title line and the table so that it fits the terminal: columns of the
    highest rank are left out until it does (named under the table, and returned);
    with `wide` every column is shown however wide the table gets."""
    out = out or console()
    keep = list(range(len(columns)))
    widths = [_needed(c, [row[i] for row in rows]) for i, c in enumerate(columns)]

    def width(kept: list[int]) -> int:
        return sum(widths[i] for i in kept) + 3 * len(kept) - 1  # one space of padding each side, one between

    if wide:
        if width(keep) > out.width:
            out = console(width(keep))
    else:
        while width(keep) > out.width:
            droppable = [i for i in keep if columns[i].rank > 0]
            if not droppable:
                break
            keep.remove(max(droppable, key=lambda i: (columns[i].rank, i)))
    if title:
        out.print(title, markup=False, highlight=False)
    if not rows:  # the title says there are none
        return []
    if len(rows) > _PLAIN_ROWS and not any(columns[i].wrap for i in keep):
        _print_plain(out, columns, rows, keep, widths)
    else:
        out.print(_table(columns, rows, keep))
    dropped = [columns[i].header for i in range(len(columns)) if i not in keep]
    if dropped:
        out.print(f"(not shown at this width: {', '.join(dropped)}; --wide shows every column)", markup=False,
                  highlight=False)
    return dropped


# Past this many rows a table of one-line cells is written as plain text: rich lays a
# 10,000-account listing out in about ten seconds, the same text written line by line
# takes a fraction of one (the layout is the same; only the header is not bold).
_PLAIN_ROWS = 500


def _print_plain(out: Any, columns: list[Column], rows: list[list[str]], keep: list[int], widths: list[int]) -> None:
    def line(cells: list[str]) -> str:
        return " " + "   ".join(cell.rjust(widths[i]) if columns[i].right else cell.ljust(widths[i])
                                for i, cell in zip(keep, cells)) + " "

    header = line([columns[i].header for i in keep])
    text = [header, "\u2500" * len(header), *(line([row[i] for i in keep]) for row in rows)]
    out.file.write("\n".join(text) + "\n")
    out.file.flush()


def _needed(column: Column, cells: list[str]) -> int:
    """The narrowest the column can be without cutting a cell or its header: a cell
    on one line; free text at least its header (up to 12 characters) or its longest word
    (up to 16: a longer one folds onto the next line)."""
    if not column.wrap:
        return max([len(column.header), *(len(c) for c in cells)])
    words = [len(w) for c in cells for w in c.split()]
    return max([min(len(column.header), 12), min(max(words, default=0), 16)])  # longer words fold


def _table(columns: list[Column], rows: list[list[str]], keep: list[int]) -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    # Light rules and no outer edge: the width goes to the figures.
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, header_style="bold")
    for i in keep:
        c = columns[i]
        table.add_column(c.header, justify="right" if c.right else "left", no_wrap=not c.wrap,
                         min_width=min(len(c.header), 12) if c.wrap else None, overflow="fold",
                         header_style="bold")
    for row in rows:
        table.add_row(*(Text(row[i]) for i in keep))
    return table


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
        console().print(f"Loaded {file}: {plural(loaded.events, 'event')}, {plural(loaded.prices, 'close')} recorded{also}.",
                        markup=False, highlight=False, soft_wrap=True)


def show_prices_loaded(file: Path, loaded: PricesLoaded, as_json: bool) -> None:
    if as_json:
        emit_json({"file": str(file), "sha256": loaded.sha256, "closes": loaded.read, "recorded": loaded.recorded,
                   "corrected": loaded.corrected, "unchanged": loaded.unchanged})
    else:
        corrected = f", {loaded.corrected} corrected" if loaded.corrected else ""
        console().print(f"Read {plural(loaded.read, 'close')} from {file}: {loaded.recorded} recorded{corrected}, "
                        f"{loaded.unchanged} already recorded.", markup=False, highlight=False, soft_wrap=True)


def show_settings(shown: dict[str, dict[str, Any]], as_json: bool) -> None:
    if as_json:
        return emit_json({k: v["value"] for k, v in shown.items()})
    print_table("Firm settings", [Column("key"), Column("value"), Column("default", rank=1),
                                  Column("meaning", wrap=True, rank=2)],
                [[k, str(v["value"]), str(v["default"]), v["description"]] for k, v in shown.items()])


# --- reading an account -----------------------------------------------------------------

def show_audit(account: str, events: list[dict[str, Any]], as_json: bool, as_csv: bool, wide: bool = False) -> None:
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
        rows = []
        for e in events:
            data = ", ".join(f"{k}={v}" for k, v in e["data"].items() if v is not None and v != [] and v != {})
            actor = f"{e['actor']} for {e['on_behalf_of']}" if e["on_behalf_of"] else e["actor"]
            rows.append([str(e["position"]), e["type"], e["effective_date"], timestamp(e["timestamp"]), actor,
                         e["role"], data if len(data) <= 300 else data[:296] + " ..."])
        print_table(f"Audit trail of {account}: {plural(len(events), 'event')}",
                    [Column("#", right=True), Column("type"), Column("effective"), Column("recorded", rank=4),
                     Column("actor", rank=2), Column("role", rank=3), Column("data", wrap=True, rank=1)],
                    rows, wide)


AUDIT_COLUMNS = ["position", "kind", "id", "account", "type", "timestamp", "effective_date", "actor", "role", "reason",
                 "data", "on_behalf_of", "auth"]


def show_firm_audit(events: list[dict[str, Any]], as_json: bool, as_csv: bool, wide: bool = False) -> None:
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
        print_table(f"Audit trail of the firm: {plural(len(events), 'event')}",
                    [Column("#", right=True), Column("kind", rank=2), Column("id"), Column("type"),
                     Column("effective"), Column("recorded", rank=4), Column("actor", rank=1), Column("role", rank=3),
                     Column("reason", wrap=True, rank=5)],
                    [[str(e["position"]), e["kind"], e["id"], e["type"], e["effective_date"], timestamp(e["timestamp"]),
                      e["actor"], e["role"], e["reason"] or ""] for e in events], wide)


def show_lots(account: str, report: dict[str, Any], as_json: bool, wide: bool = False) -> None:
    if as_json:
        return emit_json(report)
    print_table(f"Open lots of {account} as of {report['as_of']}: {plural(len(report['lots']), 'lot')}, "
                f"cash {money(report['cash'])}",
                [Column("symbol"), Column("quantity", right=True), Column("cost basis", right=True),
                 Column("acquired"), Column("held from", rank=2), Column("wash-sale adj.", right=True, rank=1),
                 Column("lot", rank=3)],
                [[lot["symbol"], quantity(lot["quantity"]), money(lot["cost_basis"]), lot["acquired"],
                  lot["holding_period_start"], money(lot["wash_sale_adjustment"]), lot["lot_id"]]
                 for lot in report["lots"]], wide)


def show_gains(account: str, report: dict[str, Any], as_json: bool, wide: bool = False) -> None:
    if as_json:
        return emit_json(report)
    print_table(f"Realised in {report['year']} by {account}: short term {money(report['short_term'])}, "
                f"long term {money(report['long_term'])}, wash-sale disallowed {money(report['disallowed_loss'])}",
                [Column("date"), Column("symbol"), Column("quantity", right=True), Column("proceeds", right=True, rank=2),
                 Column("cost basis", right=True, rank=2), Column("gain", right=True), Column("term"),
                 Column("disallowed", right=True, rank=1), Column("lot", rank=3)],
                [[r["date"], r["symbol"], quantity(r["quantity"]), money(r["proceeds"]), money(r["cost_basis"]),
                  money(r["gain"]), r["term"], money(r["disallowed_loss"]), r["lot_id"]] for r in report["realizations"]],
                wide)


def show_holdings(account: str, report: dict[str, Any], as_json: bool, wide: bool = False) -> None:
    if as_json:
        return emit_json(report)
    out = console()
    print_table(f"{account} as of {report['as_of']}: value {money(report['total_value'])}, cash {money(report['cash'])}",
                [Column("symbol"), Column("class", rank=2), Column("quantity", right=True), Column("close", right=True, rank=1),
                 Column("close of", rank=3), Column("market value", right=True), Column("weight", right=True),
                 Column("target", right=True)],
                [[p["symbol"], p["asset_class"] or "", quantity(p["quantity"]), price(p.get("price")),
                  p.get("price_date") or "", money(p["market_value"]), percent(p["weight"]), percent(p["target_weight"])]
                 for p in report["positions"]], wide, out)
    rows = []
    for c in report["asset_classes"]:
        limit = c["drift_limit"]
        outside = limit is not None and abs(Decimal(c["drift"])) > Decimal(limit)
        rows.append([c["asset_class"], percent(c["weight"]), percent(c["target_weight"]), percent(c["drift"], signed=True),
                     f"±{percent(limit)}" if limit is not None else "", "outside its limit" if outside else ""])
    columns = [Column("class"), Column("weight", right=True), Column("target", right=True), Column("drift", right=True),
               Column("limit", right=True), Column("", rank=1)]
    if not any(row[-1] for row in rows):
        columns, rows = columns[:-1], [row[:-1] for row in rows]
    print_table("Asset classes", columns, rows, wide, out)
    for note in report["notes"]:
        out.print(f"note: {note}", markup=False, highlight=False)


# --- the day's analysis ------------------------------------------------------------------

@contextmanager
def progress_bar(wanted: bool, label: str, total: int | None = None) -> Iterator[Callable[[int], None] | None]:
    """A rich progress bar on stderr, with the count done of `total` and the time left,
    while both stdout and stderr are a terminal; nothing otherwise (and never with
    --json). A bar yields `advance(n)`; `advance.total(n)` sets the total once known."""
    if not (wanted and sys.stdout.isatty() and sys.stderr.isatty()):
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)

        def advance(n: int) -> None:
            bar.advance(task, n)

        advance.total = lambda n: bar.update(task, total=n)  # type: ignore[attr-defined]
        yield advance


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
    out.print(f"{plural(orders, 'order')} proposed; release them with `lotline approve --date {on.isoformat()}`.",
              markup=False, highlight=False)
    for r in failed:
        out.print(f"failed {r.account}: {r.failure}", markup=False, highlight=False)


BLOTTER_COLUMNS = ["date", "order_id", "decision_id", "account", "side", "symbol", "quantity", "price", "value",
                   "reason", "mandatory", "status", "fill_price", "realised_gain", "estimated_tax", "lots", "status_reason"]


def show_orders(on: date, report: dict[str, Any], as_json: bool, as_csv: bool = False, wide: bool = False) -> None:
    """The blotter: every order with its account, value, reason, estimated gain and tax,
    status and fill price; totals per account and per day. `--csv` is the file the
    trading desk sends on: a header row, then one row per order, amounts as recorded."""
    if as_json:
        return emit_json(report)
    orders = report["orders"]
    if as_csv:
        return _orders_csv(orders)
    out = console()
    rows = [[o["account"], o["side"], o["symbol"], quantity(o["quantity"]), money(o["value"]), o["reason"],
             money(o.get("realised_gain"), signed=True) if o["side"] == "sell" else "",
             money(o.get("estimated_tax"), signed=True) if o["side"] == "sell" else "",
             o["status"], price(o.get("fill_price")), o["order_id"]] for o in orders]
    days = sorted({o["date"] for o in orders}) or [on.isoformat()]
    print_table(f"Orders of {', '.join(days)}: {plural(len(orders), 'order')}",
                [Column("account"), Column("side"), Column("symbol"), Column("quantity", right=True),
                 Column("value", right=True), Column("reason", rank=1), Column("est. gain", right=True, rank=3),
                 Column("est. tax", right=True, rank=2), Column("status"), Column("fill", right=True, rank=4),
                 Column("order", rank=5)], rows, wide, out)
    for o in orders:
        why = o.get("unfilled_reason") or o.get("stale_reason")
        if why:
            out.print(f"{o['order_id']} {o['status']}: {why}", markup=False, highlight=False)
    if not orders:
        return
    by_account: dict[str, list[dict[str, Any]]] = {}
    for o in orders:
        by_account.setdefault(o["account"], []).append(o)
    if len(by_account) > 1:
        print_table("Totals by account", _TOTAL_COLUMNS("account"),
                    [_totals(name, rows) for name, rows in sorted(by_account.items())], wide, out)
    by_day: dict[str, list[dict[str, Any]]] = {}
    for o in orders:
        by_day.setdefault(o["date"], []).append(o)
    print_table("Totals by day", _TOTAL_COLUMNS("day"), [_totals(day, rows) for day, rows in sorted(by_day.items())],
                wide, out)


def _TOTAL_COLUMNS(first: str) -> list[Column]:  # noqa: N802
    return [Column(first), Column("orders", right=True), Column("bought", right=True), Column("sold", right=True),
            Column("est. gain", right=True, rank=2), Column("est. tax", right=True, rank=1)]


def _totals(name: str, orders: list[dict[str, Any]]) -> list[str]:
    def total(key: str, side: str | None = None) -> Decimal:
        return sum((Decimal(o.get(key) or 0) for o in orders if side is None or o["side"] == side), Decimal(0))

    return [name, f"{len(orders):,}", money(total("value", "buy")), money(total("value", "sell")),
            money(total("realised_gain", "sell"), signed=True), money(total("estimated_tax", "sell"), signed=True)]


def _orders_csv(orders: list[dict[str, Any]]) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(BLOTTER_COLUMNS)
    for o in orders:
        lots = ";".join(f"{lot['lot_id']}:{lot['quantity']}" for lot in o.get("lots", []))
        why = o.get("unfilled_reason") or o.get("stale_reason") or ""
        writer.writerow([o["date"], o["order_id"], o["decision_id"], o["account"], o["side"], o["symbol"], o["quantity"],
                         o["price"], o["value"], o["reason"], "true" if o["mandatory"] else "false", o["status"],
                         o.get("fill_price") or "", o.get("realised_gain", ""), o.get("estimated_tax", ""), lots, why])
    sys.stdout.write(out.getvalue())


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
    console().print(f"Approved {plural(released.orders, 'order')} of {plural(released.accounts, 'account')}; "
                    f"{plural(len(released.held_back), 'account')} held back by the filters.")
    for stale in released.stale:
        console().print(f"stale: {stale['decision_id']}: {stale['reason']}; redo it with `lotline rebalance --redo "
                        f"--account {stale['account']} --date {on.isoformat()} --reason ...`")


def show_rejected(on: date, rejected: Released, as_json: bool) -> None:
    if as_json:
        return emit_json({"date": on.isoformat(), "accounts": rejected.accounts, "orders": rejected.orders})
    console().print(f"Rejected {plural(rejected.orders, 'order')} of {plural(rejected.accounts, 'account')}.")


def show_cancelled(on: date, cancelled: Released, as_json: bool) -> None:
    if as_json:
        return emit_json({"date": on.isoformat(), "accounts": cancelled.accounts, "orders": cancelled.orders})
    console().print(f"Cancelled {plural(cancelled.orders, 'order')} of {plural(cancelled.accounts, 'account')}.")


def show_filled(on: date, filled: Filled, as_json: bool) -> None:
    if as_json:
        return emit_json({"date": on.isoformat(), "accounts": filled.accounts, "trades": filled.trades,
                          "cash_requests_fulfilled": filled.cash_requests, "notes": filled.notes,
                          "unfilled": filled.unfilled, "stale": filled.stale})
    console().print(f"Filled {plural(filled.trades, 'order')} in {plural(filled.accounts, 'account')} at the "
                    f"{on.isoformat()} close; {plural(filled.cash_requests, 'cash request')} fulfilled.")
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
    console().print(f"Rebuilt every read model from {plural(read, 'event')}.")
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
    from lotline.application.demo_rendering import demo_json
    from lotline.application.demo_rendering import show_demo as show

    if as_json:
        return emit_json(demo_json(report))
    show(report, console())


# --- what exists, and what needs looking at ------------------------------------------------

def show_accounts(report: dict[str, Any], as_json: bool, wide: bool = False) -> None:
    if as_json:
        return emit_json(report)
    rows = []
    for a in report["accounts"]:
        worst = a["worst_drift"]
        drift = ""
        if worst is not None:
            drift = f"{percent(worst['drift'], signed=True)} {worst['asset_class']}{' (outside)' if worst['outside'] else ''}"
        last = a["last_decision"]
        decided = f"{last['date']} {'trade' if last['trade'] else 'no trade'}" if last else "none"
        rows.append([a["account"], a["advisor"], a["template"], a["tax_status"],
                     money(a["total_value"]) if a["total_value"] is not None else "unreadable",
                     money(a["cash"]) if a["cash"] is not None else "", drift, decided,
                     "closed" if a["closed"] else "open"])
    print_table(f"Accounts as of {report['as_of']}: {plural(len(rows), 'account')}",
                [Column("account"), Column("advisor", rank=3), Column("template", rank=4), Column("tax status", rank=5),
                 Column("value", right=True), Column("cash", right=True, rank=2), Column("worst drift"),
                 Column("last decision", rank=1), Column("state", rank=6)], rows, wide)


def show_users(report: dict[str, Any], as_json: bool, wide: bool = False) -> None:
    if as_json:
        return emit_json(report)
    users = report["users"]
    print_table(f"Users: {plural(len(users), 'user')}", [Column("user"), Column("roles", wrap=True), Column("state")],
                [[u["user"], ", ".join(u["roles"]), "removed" if u["removed"] else "active"] for u in users], wide)


def show_securities(report: dict[str, Any], as_json: bool, wide: bool = False) -> None:
    if as_json:
        return emit_json(report)
    rows = report["securities"]
    print_table(f"Securities: {plural(len(rows), 'security', 'securities')}",
                [Column("symbol"), Column("asset class"), Column("wash group", rank=2), Column("last close", right=True),
                 Column("of", rank=1), Column("state", rank=3)],
                [[s["symbol"], s["asset_class"], s["wash_group"], price(s["last_close"]), s["last_close_date"] or "none",
                  "delisted" if s["delisted"] else "listed"] for s in rows], wide)


def show_models(report: dict[str, Any], as_json: bool, wide: bool = False) -> None:
    if as_json:
        return emit_json(report)
    rows = report["models"]
    print_table(f"Models: {plural(len(rows), 'model')}",
                [Column("model"), Column("asset class"), Column("weights", wrap=True), Column("state", rank=1)],
                [[m["model"], m["asset_class"], ", ".join(f"{s} {percent(w)}" for s, w in m["weights"].items()),
                  "retired" if m["retired"] else "in use"] for m in rows], wide)


def show_templates(report: dict[str, Any], as_json: bool, wide: bool = False) -> None:
    if as_json:
        return emit_json(report)
    out = console()
    for t in report["templates"]:
        print_table(f"Template {t['template']}: {plural(t['accounts'], 'open account')}",
                    [Column("class"), Column("weight", right=True), Column("model"), Column("alternatives", wrap=True, rank=3),
                     Column("max tilt", right=True, rank=2), Column("drift limit", right=True, rank=1)],
                    [[c["asset_class"], percent(c["weight"]), c["model"] or "", ", ".join(c["alternatives"]),
                      f"±{percent(c['max_modification'])}", f"±{percent(c['drift_limit'])}"] for c in t["classes"]],
                    wide, out)
    if not report["templates"]:
        out.print("No templates.")


def show_cash_requests(report: dict[str, Any], as_json: bool, wide: bool = False) -> None:
    if as_json:
        return emit_json(report)
    rows = report["cash_requests"]
    print_table(f"Cash requests: {plural(len(rows), 'request')}",
                [Column("account"), Column("amount", right=True), Column("due from"), Column("by"), Column("state"),
                 Column("request", rank=1)],
                [[r["account"], money(r["amount"]), r["due_from"], r["by"] or "", "met" if r["fulfilled"] else "open",
                  r["request_id"]] for r in rows], wide)


def show_prices(report: dict[str, Any], as_json: bool, wide: bool = False) -> None:
    if as_json:
        return emit_json(report)
    if "symbols" in report:
        rows = report["symbols"]
        print_table(f"Closes on file: {plural(len(rows), 'symbol')}",
                    [Column("symbol"), Column("first"), Column("last"), Column("closes", right=True),
                     Column("last close", right=True)],
                    [[s["symbol"], s["first"], s["last"], f"{s['closes']:,}", price(s["last_close"])] for s in rows], wide)
    else:
        rows = report["closes"]
        print_table(f"Closes of {report['symbol']}: {plural(len(rows), 'close')}",
                    [Column("date"), Column("close", right=True)], [[c["date"], price(c["close"])] for c in rows], wide)


def show_exceptions(report: dict[str, Any], as_json: bool, wide: bool = False) -> None:
    if as_json:
        return emit_json(report)
    out = console()
    day = report["date"]
    drift, requests, decisions, stale = (report["drift"], report["cash_requests"], report["decisions"],
                                         report["stale_prices"])
    total = len(drift) + len(requests) + len(decisions) + len(stale) + len(report["not_valued"])
    out.print(f"Exceptions on {day}: {'none' if not total else plural(total, 'item')}.", markup=False, highlight=False)
    if drift:
        print_table(f"Outside a drift limit: {plural(len({d['account'] for d in drift}), 'account')}",
                    [Column("account"), Column("class"), Column("drift", right=True), Column("limit", right=True),
                     Column("beyond", right=True)],
                    [[d["account"], d["asset_class"], percent(d["drift"], signed=True), f"±{percent(d['drift_limit'])}",
                      percent(d["excess"])] for d in drift], wide, out)
    if requests:
        print_table(f"Cash requests due and not met: {plural(len(requests), 'request')}",
                    [Column("account"), Column("amount", right=True), Column("due from"), Column("by"),
                     Column("", rank=1)],
                    [[r["account"], money(r["amount"]), r["due_from"], r["by"] or "", "overdue" if r["overdue"] else ""]
                     for r in requests], wide, out)
    if decisions:
        print_table(f"Decisions needing attention: {plural(len(decisions), 'decision')}",
                    [Column("decision"), Column("state"), Column("why", wrap=True)],
                    [[d["decision_id"], d["state"], d["reason"]] for d in decisions], wide, out)
    if stale:
        print_table(f"Without a fresh close: {plural(len(stale), 'account')}",
                    [Column("account"), Column("symbols (last close)", wrap=True)],
                    [[s["account"], ", ".join(f"{x['symbol']} ({x['last_close'] or 'none'})" for x in s["symbols"])]
                     for s in stale], wide, out)
    for u in report["not_valued"]:
        out.print(f"not valued: {u['account']}: {u['problem']}", markup=False, highlight=False)
