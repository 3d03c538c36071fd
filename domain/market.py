"""The market as one analysis day saw it: split-adjusted closes over the risk model's
look-back and the latest close of every security, with its date. Stored once per day and
referenced by its digest from every decision of that day, so replay needs nothing that
could change.

The date of a latest close is the date of the last row of the symbol's history (the
same close, split-adjusted): it is not stored apart, so the stored form, and with it
the digest of every snapshot already recorded, is what it was before dates were read."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from decimal import Decimal

from lotline.domain.values import ADJUSTED_CLOSE


_iso_dates: dict[date, str] = {}  # a date's ISO text, written once per date


@dataclass(frozen=True)
class MarketSnapshot:
    date: date
    history: Mapping[str, tuple[tuple[date, Decimal], ...]]  # split-adjusted, oldest first
    latest: Mapping[str, Decimal]  # the latest close on or before `date`

    @classmethod
    def build(
        cls,
        on: date,
        closes: Mapping[str, Sequence[tuple[date, Decimal]]],
        splits: Mapping[str, Sequence[tuple[date, Decimal]]],
        lookback: int,
    ) -> MarketSnapshot:
        """Closes up to `on`, the last `lookback` of each, each divided by every split
        that took effect after it (on or before `on`), so returns span splits smoothly."""
        history: dict[str, tuple[tuple[date, Decimal], ...]] = {}
        latest: dict[str, Decimal] = {}
        for symbol in sorted(closes):
            given = closes[symbol]
            # Closes usually end on or before `on` already: then no row needs looking at.
            rows = list(given[-lookback:]) if not given or given[-1][0] <= on else \
                [(d, c) for d, c in given if d <= on][-lookback:]
            if not rows:
                continue
            latest[symbol] = rows[-1][1]
            effective = [(d, r) for d, r in splits.get(symbol, ()) if d <= on]
            if not effective:
                history[symbol] = tuple(rows)
                continue
            adjusted = []
            for day, close in rows:
                factor = Decimal(1)
                for split_day, ratio in effective:
                    if day < split_day:
                        factor *= ratio
                adjusted.append((day, close if factor == 1 else (close / factor).quantize(ADJUSTED_CLOSE)))
            history[symbol] = tuple(adjusted)
        return cls(on, history, latest)

    def latest_date(self, symbol: str) -> date | None:
        """The date of `symbol`'s latest close on or before the snapshot's date."""
        rows = self.history.get(symbol)
        return rows[-1][0] if rows else None

    def latest_dates(self) -> dict[str, date]:
        return {s: rows[-1][0] for s, rows in self.history.items() if rows}

    def canonical_json(self) -> str:
        return self._canonical

    @cached_property
    def _canonical(self) -> str:
        # Computed once: a day's snapshot is digested and stored several times. The
        # closes are written row by row as json.dumps writes them (dates and decimals
        # need no escaping), which is several times faster on a long look-back.
        head = json.dumps({"date": self.date.isoformat(),
                           "latest": {s: str(self.latest[s]) for s in sorted(self.latest)}}, separators=(",", ":"))
        iso = _iso_dates
        parts = []
        for s in sorted(self.history):
            rows = []
            for d, c in self.history[s]:
                text = iso.get(d)
                if text is None:
                    text = iso[d] = d.isoformat()
                rows.append(f'["{text}","{c}"]')
            parts.append(f'{json.dumps(s)}:[{",".join(rows)}]')
        return f'{head[:-1]},"history":{{{",".join(parts)}}}}}'

    def _canonical_by_json(self) -> str:
        """The same text by json.dumps (what `_canonical` must equal; tests compare)."""
        return json.dumps(
            {
                "date": self.date.isoformat(),
                "latest": {s: str(self.latest[s]) for s in sorted(self.latest)},
                "history": {s: [[d.isoformat(), str(c)] for d, c in self.history[s]] for s in sorted(self.history)},
            },
            separators=(",", ":"),
        )

    def digest(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()

    @classmethod
    def from_json(cls, text: str) -> MarketSnapshot:
        data = json.loads(text)
        return cls(
            date.fromisoformat(data["date"]),
            {s: tuple((date.fromisoformat(d), Decimal(c)) for d, c in rows) for s, rows in data["history"].items()},
            {s: Decimal(c) for s, c in data["latest"].items()},
        )

    def risk_model(self, lookback: int, min_returns: int):
        from lotline.domain.risk import estimate_risk_model

        closes = {s: [(d, float(c)) for d, c in rows] for s, rows in self.history.items()}
        return estimate_risk_model(closes, lookback=lookback, min_returns=min_returns)
