"""An account valued at closes: each security's market value and weight, the total, each
asset class's weight and its drift from the target.

Exact unless asked otherwise: a decision records what its analysis read and replay
recomputes it, so every sum is taken in one fixed order (symbols in order, holdings as
given) and a class's weight is the sum of its securities' weights."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from lotline.domain.errors import InvalidInput
from lotline.domain.values import CASH, ZERO


@dataclass(frozen=True)
class Valuation:
    cash: Decimal
    closes: dict[str, Decimal]  # symbol -> the close it is valued at
    market_values: dict[str, Decimal]  # symbol -> quantity held times its close, by symbol
    total: Decimal  # cash plus every market value
    weights: dict[str, Decimal]  # symbol -> share of the total
    asset_class: dict[str, str]  # symbol -> its asset class
    class_weights: dict[str, Decimal]  # asset class ("cash" included) -> share of the total
    target_weights: dict[str, Decimal]  # asset class -> target weight
    drift_limits: dict[str, Decimal]  # asset class -> how far it may drift from its target

    @classmethod
    def of(
        cls,
        cash: Decimal,
        holdings: Iterable[tuple[str, Decimal]],
        closes: Mapping[str, Decimal],
        asset_class: Mapping[str, str],
        target_weights: Mapping[str, Decimal],
        drift_limits: Mapping[str, Decimal],
        *,
        also: Iterable[str] = (),
        rounded_to: Decimal | None = None,
    ) -> Valuation:
        """`holdings`: (symbol, quantity) pairs, a position or a lot each (a symbol may
        come more than once: its market value is the sum, pair by pair); `also`: symbols
        valued though not held (a target's), at zero. Every symbol valued needs a close
        and an asset class. `rounded_to`: the quantum each market value is rounded to
        (None: exact)."""
        holdings = list(holdings)
        symbols = sorted({symbol for symbol, _ in holdings} | set(also))
        missing = [s for s in symbols if s not in closes]
        if missing:
            raise InvalidInput(f"no close for {', '.join(missing)}", "prices")
        values = {s: ZERO for s in symbols}
        for symbol, quantity in holdings:
            values[symbol] += quantity * closes[symbol]
        if rounded_to is not None:
            values = {s: v.quantize(rounded_to) for s, v in values.items()}
        total = cash + sum(values.values(), ZERO)
        weights = {s: value / total if total else ZERO for s, value in values.items()}
        classes = {s: asset_class[s] for s in symbols}
        class_weights = {c: ZERO for c in target_weights}
        class_weights[CASH] = cash / total if total else ZERO
        for s, weight in weights.items():
            class_weights[classes[s]] = class_weights.get(classes[s], ZERO) + weight
        return cls(
            cash=cash,
            closes={s: closes[s] for s in symbols},
            market_values=values,
            total=total,
            weights=weights,
            asset_class=classes,
            class_weights=class_weights,
            target_weights=dict(target_weights),
            drift_limits=dict(drift_limits),
        )

    def drift(self, asset_class: str) -> Decimal:
        """How far the class's weight is from its target (positive: over it)."""
        return self.class_weights.get(asset_class, ZERO) - self.target_weights.get(asset_class, ZERO)

    def drifts(self) -> dict[str, Decimal]:
        """The drift of every class held or targeted, by class."""
        return {c: self.drift(c) for c in sorted(set(self.class_weights) | set(self.target_weights))}

    def below_target(self, asset_class: str) -> bool:
        return self.class_weights.get(asset_class, ZERO) < self.target_weights.get(asset_class, ZERO)

    def breached(self) -> tuple[str, ...]:
        """The classes further from their target than their drift limit, in the limits' order."""
        return tuple(c for c, limit in self.drift_limits.items() if abs(self.drift(c)) > limit)
