"""A backtest reads its store's closes from memory (`ClosesInMemory`): every read must
answer exactly as the closes table does, corrections included, and a day's look-back
read by key (`last=`) must be the tail of the whole history."""

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from lotline.application.lotline import Lotline
from lotline.application.price_records import record_closes
from lotline.domain.aggregate import Actor
from lotline.domain.price_series import PriceSource
from lotline.domain.roles import Role
from lotline.projections.prices import ClosesInMemory

DAYS = [date(2026, 1, 5) + timedelta(days=n) for n in range(40)]


def test_closes_in_memory_answer_as_the_closes_table_does(tmp_path):
    lotline = Lotline(f"sqlite:///{tmp_path / 'closes.db'}", environ={})
    try:
        actor = Actor("olivia", Role.OVERLAY_MANAGER, DAYS[0], datetime(2026, 3, 1, tzinfo=timezone.utc))
        closes = [(d, "VTI", Decimal(200 + n)) for n, d in enumerate(DAYS)]
        closes += [(d, "BND", Decimal(70 + n) / 10) for n, d in enumerate(DAYS) if n % 3]  # gaps
        uow = lotline.fresh()
        record_closes(uow, closes, PriceSource("a.csv", "0" * 64), actor)
        lotline.commit(uow)
        table = lotline.prices
        memory = ClosesInMemory(table, ["VTI", "BND", "NONE"])
        lotline.prices = memory
        # A correction goes to the table and is read back.
        uow = lotline.fresh()
        corrector = Actor("olivia", Role.OVERLAY_MANAGER, DAYS[0], datetime(2026, 3, 1, tzinfo=timezone.utc),
                          reason="a typo")
        record_closes(uow, [(DAYS[10], "VTI", Decimal("999"))], PriceSource("b.csv", "1" * 64), corrector,
                      correct=True)
        lotline.commit(uow)
        for on in [DAYS[0] - timedelta(days=1), *DAYS[::7], DAYS[-1] + timedelta(days=3)]:
            assert memory.on_or_before(on) == table.on_or_before(on)
            assert memory.on_or_before(on, ["BND", "NONE"]) == table.on_or_before(on, ["BND", "NONE"])
            for last in (None, 1, 5, 100):
                assert memory.history(["VTI", "BND"], on, last) == table.history(["VTI", "BND"], on, last)
            whole = table.history(["VTI", "BND"], on)
            assert table.history(["VTI", "BND"], on, 5) == {s: rows[-5:] for s, rows in whole.items()}
        assert memory.history(["VTI"], DAYS[20])["VTI"][10] == (DAYS[10], Decimal("999"))
    finally:
        lotline.close()
