"""A market snapshot's canonical text, written row by row for speed, is exactly what
json.dumps writes: the digests of snapshots already stored must not change."""

import random
from datetime import date, timedelta
from decimal import Decimal

from lotline.domain.market import MarketSnapshot


def test_the_canonical_text_is_the_json_of_the_snapshot_byte_for_byte():
    rng = random.Random(7)
    closes = [Decimal("12.30"), Decimal("12.3"), Decimal("1E+2"), Decimal("0.000001"), Decimal("250")]
    for _ in range(200):
        history = {}
        for n in range(rng.randint(0, 4)):
            symbol = rng.choice(["VTI", "BRK.B", "Ä-fund", 'odd"name', "BND"]) + str(n)
            day, rows = date(2020, 1, 1), []
            for _ in range(rng.randint(0, 20)):
                day += timedelta(days=rng.randint(1, 4))
                rows.append((day, rng.choice(closes + [Decimal(str(round(rng.random() * 500, 4)))])))
            history[symbol] = tuple(rows)
        snapshot = MarketSnapshot(date(2021, 6, 1), history, {s: rows[-1][1] for s, rows in history.items() if rows})
        assert snapshot.canonical_json() == snapshot._canonical_by_json()


def test_a_snapshot_built_without_splits_keeps_each_symbols_last_closes():
    rows = [(date(2026, 1, d), Decimal(100 + d)) for d in range(1, 11)]
    snapshot = MarketSnapshot.build(date(2026, 1, 8), {"VTI": rows}, {}, 3)
    assert snapshot.history["VTI"] == tuple(rows[5:8])
    assert snapshot.latest["VTI"] == Decimal(108)
