"""The lots and gains projection equals the book rebuilt from the history, whatever
order things were recorded in, in a fresh process, and after a rebuild."""

from __future__ import annotations

from datetime import date

from application.queries import gains_report, lots_report
from application.service import Lotline, load_scenario
from tests.helpers import read_model_contents
from tests.integration.test_tax_lots_cli import FIRM, buy, sell, trades

FAR = date(2030, 1, 1)


def _load(lotline, tmp_path, text, name):
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    load_scenario(lotline, path, None)


def _replayed_lots(lotline, account):
    from application.books import account_history
    from application.unit_of_work import UnitOfWork

    uow = UnitOfWork(lotline.store)
    book = account_history(uow, lotline.account_for(uow, account)).book(None)
    return sorted((lot.lot_id, lot.symbol, str(lot.quantity), str(lot.cost_basis.quantize(__import__("decimal").Decimal("0.01"))),
                   lot.holding_period_start.isoformat()) for lot in book.open_lots())


def _projected_lots(lotline, account):
    report = lots_report(lotline, account, "system", FAR)
    return sorted((lot["lot_id"], lot["symbol"], lot["quantity"], lot["cost_basis"], lot["holding_period_start"])
                  for lot in report["lots"])


def test_backdated_trades_and_late_splits_give_the_same_lots_as_a_replay(store_url, tmp_path):
    with Lotline(store_url) as lotline:
        _load(lotline, tmp_path, FIRM, "firm")
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
        fresh.rebuild_projections("root")
        assert read_model_contents(store_url) == after_more
    assert state != after_more
