"""The lots and gains projection equals the book rebuilt from the history, whatever
order things were recorded in, in a fresh process, and after a rebuild."""

from __future__ import annotations

from datetime import date

from lotline.application.commands import LoadScenario, RebuildProjections
from lotline.application.handlers.read_models import rebuild_projections
from lotline.application.handlers.setup import load_scenario
from lotline.application.lotline import Lotline
from lotline.application.queries import gains_report, lots_report
from tests.helpers import read_model_contents
from tests.integration.test_tax_lots_cli import FIRM, buy, sell, trades

FAR = date(2030, 1, 1)


def _load(lotline, tmp_path, text, name, user="olivia"):
    """Loads a file as `user`: the trades and splits are the overlay manager's; the firm
    itself is the bootstrap of the empty store, by system."""
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    load_scenario(LoadScenario(path=path, user=user), lotline)


def _replayed_lots(lotline, account):
    from lotline.application.history import account_history
    from lotline.domain.account import Account

    uow = lotline.fresh()
    book = account_history(uow, uow.get(Account, account, "account")).book(None)
    return sorted((lot.lot_id, lot.symbol, str(lot.quantity), str(lot.cost_basis.quantize(__import__("decimal").Decimal("0.01"))),
                   lot.holding_period_start.isoformat()) for lot in book.open_lots())


def _projected_lots(lotline, account):
    report = lots_report(lotline, account, "system", FAR)
    return sorted((lot["lot_id"], lot["symbol"], lot["quantity"], lot["cost_basis"], lot["holding_period_start"])
                  for lot in report["lots"])


def test_backdated_trades_and_late_splits_give_the_same_lots_as_a_replay(store_url, tmp_path):
    with Lotline(store_url) as lotline:
        _load(lotline, tmp_path, FIRM, "firm", "system")
        _load(lotline, tmp_path, trades(buy("2026-03-01", "10", "100"), sell("2026-04-01", "4", "20")), "a")
        lotline.catch_up()
        # Recorded later, dated earlier: a purchase that washes the April loss, and a split in between.
        _load(lotline, tmp_path, trades(buy("2026-03-20", "5", "90", "ITOT"), sell("2026-02-01", "1", "1", "BND")).replace(
            "trades:\n", "trades:\n  - {account: A, date: 2026-01-15, side: buy, symbol: BND, quantity: '3', price: '70'}\n"),
            "b")
        _load(lotline, tmp_path, "splits:\n  - {symbol: VTI, date: 2026-03-15, ratio: '3'}\n", "c")
        assert _projected_lots(lotline, "A") == _replayed_lots(lotline, "A")
        quantities = {lot[1]: lot[2] for lot in _projected_lots(lotline, "A")}
        assert quantities["VTI"] == "26"  # 10 shares tripled by the split, then 4 sold
        gains = gains_report(lotline, "A", "system", 2026)
        # The April sale lost money (basis $33.33 a share after the split); ITOT bought 12 days before washes it.
        assert [r["disallowed_loss"] for r in gains["realizations"] if r["symbol"] == "VTI"] == ["53.33"]
        state = read_model_contents(store_url)
    with Lotline(store_url) as fresh:  # a new process: books are not in memory
        _load(fresh, tmp_path, trades(sell("2026-05-01", "3", "120")), "d")
        assert _projected_lots(fresh, "A") == _replayed_lots(fresh, "A")
        after_more = read_model_contents(store_url)
        rebuild_projections(RebuildProjections(user="root"), fresh)
        assert read_model_contents(store_url) == after_more
    assert state != after_more


def test_books_evicted_from_memory_are_rebuilt_from_history(sqlite_url, tmp_path):
    from lotline.projections.lots import LotsAndGains
    from lotline.projections.tracking import ReadModels

    with Lotline(sqlite_url) as lotline:
        _load(lotline, tmp_path, FIRM.replace("accounts:\n  - {id: A,", "accounts:\n  - {id: B, advisor: alice, template: t, opened: 2026-01-02, cash: '100000'}\n"
                                              "  - {id: C, advisor: alice, template: t, opened: 2026-01-02, cash: '100000'}\n  - {id: A,"), "firm",
              "system")
        for n, day in enumerate(("2026-03-02", "2026-03-09", "2026-03-16", "2026-03-23")):
            rows = [buy(day, "10", str(100 - n * 5)).replace("account: A", f"account: {a}") for a in "ABC"]
            rows += [sell(day, "4", str(95 - n * 5)).replace("account: A", f"account: {a}") for a in "ABC"]
            _load(lotline, tmp_path, trades(*rows), f"day{n}")
            # A read model that may keep only one book in memory at a time.
            tight = ReadModels(lotline.store.recorder, lotline.store.mapper, [LotsAndGains(lotline.store.repository.get, max_books=1)])
            tight.catch_up()
        for account in "ABC":
            assert _projected_lots(lotline, account) == _replayed_lots(lotline, account)
        assert any(r["disallowed_loss"] != "0.00" for r in gains_report(lotline, "B", "system", 2026)["realizations"])


def test_a_process_whose_books_went_stale_rebuilds_them(store_url, tmp_path):
    """Two processes take turns catching up the same read model: neither may apply an
    event to a book in memory that misses what the other one applied."""
    with Lotline(store_url) as first, Lotline(store_url) as second:
        _load(first, tmp_path, FIRM, "firm", "system")
        _load(first, tmp_path, trades(buy("2026-03-02", "10", "100")), "a")
        first.catch_up()  # first now holds A's book in memory
        _load(second, tmp_path, trades(buy("2026-03-03", "10", "90"), sell("2026-03-04", "15", "95")), "b")
        second.catch_up()  # second applies these; first's book is now stale
        _load(first, tmp_path, trades(sell("2026-03-05", "5", "99")), "c")
        first.catch_up()
        assert _projected_lots(first, "A") == _replayed_lots(first, "A") == []
