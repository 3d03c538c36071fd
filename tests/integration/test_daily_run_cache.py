"""benchmarks/daily_run.py --cache DIR: the firm is written to DIR once, whole, and
later runs read that same file (the lead's 100,000-account run writes it once)."""

from __future__ import annotations

from lotline.application.lotline import Lotline


def test_the_firm_is_written_once_and_reused_whole(tmp_path):
    from benchmarks.daily_run import cached_firm

    firm = cached_firm(tmp_path, 2, 7)
    assert firm == tmp_path / "daily-firm-2-seed7.db"
    assert [p.name for p in tmp_path.iterdir()] == [firm.name]  # no partial file, no write-ahead log left
    with Lotline(f"sqlite:///{firm}") as lotline:
        lotline.catch_up()
        assert sorted(lotline.views.accounts_closed()) == ["A000000", "A000001"]
    written = firm.stat()

    again = cached_firm(tmp_path, 2, 7)
    assert again == firm
    assert (firm.stat().st_ino, firm.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


def test_another_size_or_seed_is_another_firm(tmp_path):
    from benchmarks.daily_run import cached_firm

    assert cached_firm(tmp_path, 1, 7) != cached_firm(tmp_path, 1, 8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["daily-firm-1-seed7.db", "daily-firm-1-seed8.db"]
