"""The risk model: an annualised covariance of security returns, kept in factor form.

Sigma = L L' + diag(d): L holds k factor loadings per security, d the specific
(idiosyncratic) variances. The optimiser never forms the dense n x n matrix; it works
with L and d, which is what keeps thousands of lots cheap.

Estimation (``estimate_risk_model``), each step chosen for a reason:

- Daily log returns of the last ``lookback`` closes on the union calendar of the
  inputs (the caller passes split-adjusted closes), annualised x252.
- A return exists only between two consecutive calendar days that both have a close:
  a missing close costs the returns on either side rather than inventing a price.
- Securities with at least ``min_returns`` returns are estimated together. Missing
  returns of a shorter history count as zero deviations from its own mean, and each
  column is then rescaled so its variance is its own sample variance: the matrix stays
  positive semidefinite (a congruence of a Gram matrix) and partial overlaps only pull
  correlations toward zero, which is the cautious direction.
- Ledoit-Wolf shrinkage toward the constant-correlation target (Ledoit and Wolf,
  "Honey, I shrunk the sample covariance matrix", 2004): every pair gets the average
  sample correlation, every security keeps its own variance. Equity-like returns share
  one dominant market factor, which that target captures; the intensity is the
  paper's estimate of the optimal one.
- Factor form: the top-k eigenpairs of the shrunk matrix become L (sign fixed so each
  loading column's largest entry is positive, for bit-stable output), and d takes the
  rest of each variance, so every security keeps its estimated variance exactly and
  Sigma is positive semidefinite by construction.
- A security with fewer than ``min_returns`` returns gets zero loadings and a
  conservative specific variance: the median variance of the estimated securities
  (or ``DEFAULT_FALLBACK_VARIANCE`` when none has enough history).
- Each security's history (closes from its first in the look-back to the end) is kept
  beside the model, outside its digest, so a decision can say which securities it
  weighed on less than the look-back (``short_history``). Securities of one wash group
  are one risk whatever their histories (see ``optimiser.portfolio``): the history
  decides only which of them stands for the group.
"""

from __future__ import annotations

import hashlib
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np

from lotline.domain.errors import InvalidInput

TRADING_DAYS = 252
DEFAULT_LOOKBACK = 252
DEFAULT_MIN_RETURNS = 60
DEFAULT_MAX_FACTORS = 10
# 20% volatility: equity-like, so a security without history is never treated as safe.
DEFAULT_FALLBACK_VARIANCE = 0.04

_DIGEST_TAG = b"lotline.risk-model.v1\x00"


def _frozen_array(values, shape_name: str, ndim: int) -> np.ndarray:
    array = np.array(values, dtype=np.float64, order="C", copy=True)
    if array.ndim != ndim:
        raise InvalidInput(f"must have {ndim} dimension(s), got {array.ndim}", shape_name)
    if not np.all(np.isfinite(array)):
        raise InvalidInput("must be finite", shape_name)
    # Adding 0.0 turns -0.0 into 0.0, so equal models have equal bytes (and digests).
    array = array + 0.0
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class RiskModel:
    """Annualised covariance Sigma = loadings @ loadings.T + diag(specific)."""

    symbols: tuple[str, ...]
    loadings: np.ndarray  # n x k
    specific: np.ndarray  # n, specific variances
    # Closes per symbol from its first one in the look-back to the end (empty: unknown,
    # taken as a full history), and the look-back. Not part of the digest: both follow
    # from the closes the digest's market snapshot holds.
    history: tuple[int, ...] = ()
    lookback: int = 0

    def __post_init__(self) -> None:
        symbols = tuple(str(s) for s in self.symbols)
        if len(set(symbols)) != len(symbols):
            raise InvalidInput("symbols must be unique", "symbols")
        loadings = _frozen_array(self.loadings, "loadings", 2) if len(symbols) else np.zeros((0, 0))
        specific = _frozen_array(self.specific, "specific", 1) if len(symbols) else np.zeros(0)
        if loadings.shape[0] != len(symbols) or specific.shape[0] != len(symbols):
            raise InvalidInput("loadings and specific need one row per symbol", "loadings")
        if np.any(specific < 0):
            raise InvalidInput("specific variances must not be negative", "specific")
        object.__setattr__(self, "symbols", symbols)
        object.__setattr__(self, "loadings", loadings)
        object.__setattr__(self, "specific", specific)

    def history_of(self, symbol: str) -> int:
        """Closes the estimate had for a symbol (the look-back when unknown)."""
        if not self.history:
            return self.lookback
        return self.history[self._position[symbol]]

    def short_history(self, symbols: Sequence[str]) -> tuple[str, ...]:
        """The symbols, of those given, estimated on fewer closes than the look-back."""
        if not self.history:
            return ()
        return tuple(s for s in symbols if s in self._position and self.history[self._position[s]] < self.lookback)

    @property
    def factor_count(self) -> int:
        return int(self.loadings.shape[1])

    @cached_property
    def _position(self) -> dict[str, int]:
        return {symbol: i for i, symbol in enumerate(self.symbols)}

    def covariance(self) -> np.ndarray:
        """The dense matrix: for tests and benchmarks, never for the optimiser."""
        return self.loadings @ self.loadings.T + np.diag(self.specific)

    def for_symbols(self, symbols: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Loadings and specific variances in the order the caller asks for."""
        try:
            rows = [self._position[s] for s in symbols]
        except KeyError as missing:
            raise InvalidInput(f"the risk model has no {missing.args[0]!r}", "risk.symbols") from None
        index = np.asarray(rows, dtype=np.intp)
        return self.loadings[index], self.specific[index]

    def canonical_bytes(self) -> bytes:
        n, k = self.loadings.shape
        parts = [_DIGEST_TAG, struct.pack("<QQ", n, k)]
        for symbol in self.symbols:
            encoded = symbol.encode("utf-8")
            parts.append(struct.pack("<I", len(encoded)))
            parts.append(encoded)
        parts.append(np.ascontiguousarray(self.loadings, dtype="<f8").tobytes())
        parts.append(np.ascontiguousarray(self.specific, dtype="<f8").tobytes())
        return b"".join(parts)

    @cached_property
    def _digest(self) -> str:
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    def digest(self) -> str:
        """sha256 of the canonical bytes: a decision records it, replay compares it."""
        return self._digest

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RiskModel):
            return NotImplemented
        return self.canonical_bytes() == other.canonical_bytes()

    def __hash__(self) -> int:
        return hash(self._digest)


def _aligned_closes(
    closes, symbols: Sequence[str] | None, dates: Sequence[date] | None
) -> tuple[tuple[str, ...], np.ndarray]:
    """A dates x symbols array of closes (NaN where missing), oldest first."""
    if isinstance(closes, Mapping):
        # Sorted, so the estimate does not depend on the order a dict was filled in.
        names = tuple(sorted(closes)) if symbols is None else tuple(symbols)
        series: dict[str, dict[date, float]] = {}
        calendar: set[date] = set()
        for name in names:
            if name not in closes:
                raise InvalidInput(f"no closes for {name!r}", "closes")
            points = {}
            for day, close in closes[name]:
                points[day] = float(close)
            series[name] = points
            calendar.update(points)
        days = sorted(calendar)
        table = np.full((len(days), len(names)), np.nan)
        row_of = {day: r for r, day in enumerate(days)}
        for c, name in enumerate(names):
            for day, close in series[name].items():
                table[row_of[day], c] = close
        return names, table
    table = np.array(closes, dtype=np.float64)
    if table.ndim != 2:
        raise InvalidInput("must be a dates x symbols array", "closes")
    if symbols is None or len(symbols) != table.shape[1]:
        raise InvalidInput("an array of closes needs one symbol per column", "symbols")
    if dates is not None:
        if len(dates) != table.shape[0]:
            raise InvalidInput("an array of closes needs one date per row", "dates")
        order = sorted(range(len(dates)), key=lambda r: dates[r])
        table = table[order]
    return tuple(symbols), table


def _constant_correlation_shrinkage(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf (2004) toward constant correlation on demeaned returns x (T x p).

    Returns the sample covariance (1/T) and the shrinkage intensity in [0, 1]."""
    t, p = x.shape
    sample = x.T @ x / t
    if p < 2:
        return sample, 0.0
    variances = np.diag(sample).copy()
    vol = np.sqrt(variances)
    live = vol > 0
    inv_vol = np.where(live, 1.0 / np.where(live, vol, 1.0), 0.0)
    correlation = sample * np.outer(inv_vol, inv_vol)
    pair_live = np.outer(live, live)
    np.fill_diagonal(pair_live, False)
    pairs = int(pair_live.sum())
    if pairs == 0:
        return sample, 0.0
    mean_correlation = float(correlation[pair_live].sum() / pairs)
    target = mean_correlation * np.outer(vol, vol)
    np.fill_diagonal(target, variances)

    squares = x * x
    pi_matrix = squares.T @ squares / t - sample * sample
    pi_hat = float(pi_matrix.sum())
    theta = (x * x * x).T @ x / t - variances[:, None] * sample  # theta[i, j] = theta_ii,ij
    ratio = np.outer(inv_vol, vol)  # ratio[i, j] = sqrt(s_jj / s_ii)
    off = theta * ratio
    np.fill_diagonal(off, 0.0)
    rho_hat = float(np.trace(pi_matrix) + mean_correlation / 2.0 * (off.sum() + off.T.sum()))
    gamma_hat = float(((target - sample) ** 2).sum())
    if gamma_hat <= 0.0:
        return sample, 0.0
    kappa = (pi_hat - rho_hat) / gamma_hat
    intensity = min(1.0, max(0.0, kappa / t))
    return (1.0 - intensity) * sample + intensity * target, intensity


def _factor_form(covariance: np.ndarray, factors: int) -> tuple[np.ndarray, np.ndarray]:
    import scipy.linalg

    p = covariance.shape[0]
    k = max(0, min(factors, p))
    if k == 0:
        return np.zeros((p, 0)), np.clip(np.diag(covariance).copy(), 0.0, None)
    values, vectors = scipy.linalg.eigh(covariance, subset_by_index=[p - k, p - 1])
    values = values[::-1]
    vectors = vectors[:, ::-1]
    # The sign of an eigenvector is arbitrary; pin it so the bytes are stable.
    lead = np.argmax(np.abs(vectors), axis=0)
    signs = np.where(vectors[lead, np.arange(k)] < 0, -1.0, 1.0)
    vectors = vectors * signs
    loadings = vectors * np.sqrt(np.clip(values, 0.0, None))
    specific = np.clip(np.diag(covariance) - (loadings * loadings).sum(axis=1), 0.0, None)
    return loadings, specific


def estimate_risk_model(
    closes: Mapping[str, Sequence[tuple[date, float]]] | np.ndarray,
    symbols: Sequence[str] | None = None,
    dates: Sequence[date] | None = None,
    *,
    lookback: int = DEFAULT_LOOKBACK,
    min_returns: int = DEFAULT_MIN_RETURNS,
    factors: int | None = None,
    fallback_variance: float | None = None,
) -> RiskModel:
    """Estimate the factor risk model from closes (see the module notes for the method).

    ``closes`` is either a mapping symbol -> [(date, close), ...] (symbols sorted unless
    ``symbols`` gives the order) or a dates x symbols array (NaN where missing) with
    ``symbols`` and optionally ``dates`` (rows are sorted by them)."""
    if lookback < 2:
        raise InvalidInput("must be at least 2", "lookback")
    if min_returns < 2:
        raise InvalidInput("must be at least 2", "min_returns")
    names, table = _aligned_closes(closes, symbols, dates)
    n = len(names)
    k_wanted = min(DEFAULT_MAX_FACTORS, max(n - 1, 0)) if factors is None else int(factors)
    if k_wanted < 0:
        raise InvalidInput("must not be negative", "factors")
    if n == 0:
        return RiskModel((), np.zeros((0, 0)), np.zeros(0), (), lookback)

    window = table[-lookback:]
    present = np.isfinite(window) & (window > 0)
    first = np.where(present.any(axis=0), np.argmax(present, axis=0), window.shape[0])
    history = tuple(int(window.shape[0] - f) for f in first.tolist())
    window = np.where(np.isfinite(window) & (window > 0), window, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        returns = np.log(window[1:] / window[:-1])
    valid = np.isfinite(returns)
    counts = valid.sum(axis=0)
    estimated = np.flatnonzero(counts >= min_returns)

    k = min(k_wanted, len(estimated))
    loadings = np.zeros((n, k))
    specific = np.zeros(n)
    if len(estimated):
        r = returns[:, estimated]
        ok = valid[:, estimated]
        own_counts = counts[estimated].astype(np.float64)
        means = np.where(ok, r, 0.0).sum(axis=0) / own_counts
        deviations = np.where(ok, r - means, 0.0)
        shrunk, _ = _constant_correlation_shrinkage(deviations)
        # Rescale each column from the zero-filled sample to its own sample variance.
        t = deviations.shape[0]
        scale = np.sqrt(t / own_counts)
        shrunk = shrunk * np.outer(scale, scale) * TRADING_DAYS
        shrunk = (shrunk + shrunk.T) / 2.0
        block_loadings, block_specific = _factor_form(shrunk, k)
        loadings[estimated] = block_loadings
        specific[estimated] = block_specific
        variances = np.diag(shrunk)
        default = float(np.median(variances)) if fallback_variance is None else float(fallback_variance)
    else:
        default = DEFAULT_FALLBACK_VARIANCE if fallback_variance is None else float(fallback_variance)
    if not math.isfinite(default) or default < 0:
        raise InvalidInput("must be a non-negative number", "fallback_variance")
    short = np.ones(n, dtype=bool)
    short[estimated] = False
    specific[short] = default
    return RiskModel(names, loadings, specific, history, lookback)
