"""The risk model: estimation, factor form, determinism, fallbacks, digest."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pytest

from lotline.domain.errors import InvalidInput
from lotline.domain.risk import (
    DEFAULT_FALLBACK_VARIANCE,
    TRADING_DAYS,
    RiskModel,
    _constant_correlation_shrinkage,
    estimate_risk_model,
)


def synthetic_closes(seed: int = 7, days: int = 300, n: int = 6) -> tuple[list[str], list[date], np.ndarray]:
    rng = np.random.default_rng(seed)
    market = rng.normal(0, 0.01, days)
    loadings = rng.uniform(0.5, 1.5, n)
    returns = market[:, None] * loadings + rng.normal(0, 0.008, (days, n))
    prices = 100 * np.exp(np.cumsum(returns, axis=0))
    start = date(2025, 1, 1)
    dates = [start + timedelta(days=d) for d in range(days)]
    return [f"S{i}" for i in range(n)], dates, prices


def as_mapping(symbols, dates, prices) -> dict:
    return {
        s: [(d, float(p)) for d, p in zip(dates, prices[:, i]) if np.isfinite(p)] for i, s in enumerate(symbols)
    }


def test_covariance_is_positive_semidefinite_and_factor_shaped():
    symbols, dates, prices = synthetic_closes()
    model = estimate_risk_model(prices, symbols, dates, factors=3)
    assert model.loadings.shape == (6, 3)
    assert model.specific.shape == (6,)
    assert np.all(model.specific >= 0)
    eigenvalues = np.linalg.eigvalsh(model.covariance())
    assert eigenvalues.min() > -1e-12


def test_default_factor_count_is_at_most_ten_and_below_n():
    symbols, dates, prices = synthetic_closes(n=4)
    assert estimate_risk_model(prices, symbols, dates).factor_count == 3
    symbols, dates, prices = synthetic_closes(n=14)
    assert estimate_risk_model(prices, symbols, dates).factor_count == 10


def test_each_security_keeps_its_shrunk_variance_annualised():
    # With one security there is nothing to shrink toward: the variance is the
    # sample variance of daily log returns (1/T) times 252.
    symbols, dates, prices = synthetic_closes(n=1)
    model = estimate_risk_model(prices, symbols, dates, lookback=252)
    returns = np.diff(np.log(prices[-252:, 0]))
    expected = returns.var() * TRADING_DAYS
    assert model.covariance()[0, 0] == pytest.approx(expected, rel=1e-12)


def test_only_the_last_lookback_closes_count():
    symbols, dates, prices = synthetic_closes()
    changed = prices.copy()
    changed[:40] *= np.linspace(0.5, 2.0, 40)[:, None]  # older than the 252-close window
    a = estimate_risk_model(prices, symbols, dates)
    b = estimate_risk_model(changed, symbols, dates)
    assert a.digest() == b.digest()


def test_estimation_is_deterministic_bit_for_bit():
    symbols, dates, prices = synthetic_closes()
    a = estimate_risk_model(as_mapping(symbols, dates, prices))
    b = estimate_risk_model(as_mapping(symbols, dates, prices))
    assert a.canonical_bytes() == b.canonical_bytes()
    assert a.digest() == b.digest()
    assert a == b and hash(a) == hash(b)


def test_mapping_order_does_not_matter_and_matches_the_array_form():
    symbols, dates, prices = synthetic_closes()
    mapping = as_mapping(symbols, dates, prices)
    reversed_mapping = dict(reversed(list(mapping.items())))
    from_mapping = estimate_risk_model(mapping)
    assert estimate_risk_model(reversed_mapping).digest() == from_mapping.digest()
    from_array = estimate_risk_model(prices, symbols, dates)
    assert from_array.symbols == from_mapping.symbols
    np.testing.assert_allclose(from_array.covariance(), from_mapping.covariance(), rtol=1e-12, atol=1e-15)


def test_eigenvector_signs_are_pinned():
    symbols, dates, prices = synthetic_closes()
    model = estimate_risk_model(prices, symbols, dates, factors=3)
    lead = np.argmax(np.abs(model.loadings), axis=0)
    assert np.all(model.loadings[lead, np.arange(3)] > 0)


def test_short_history_gets_the_diagonal_fallback():
    symbols, dates, prices = synthetic_closes()
    prices = prices.copy()
    prices[:-30, 2] = np.nan  # a recent listing: 29 returns, under the minimum of 60
    model = estimate_risk_model(prices, symbols, dates)
    assert np.all(model.loadings[2] == 0.0)
    others = np.delete(np.diag(model.covariance()), 2)
    assert model.specific[2] == pytest.approx(np.median(others))
    # The others are estimated as if the short one were not there.
    without = estimate_risk_model(np.delete(prices, 2, axis=1), symbols[:2] + symbols[3:], dates)
    np.testing.assert_allclose(np.delete(np.diag(model.covariance()), 2), np.diag(without.covariance()), rtol=1e-12)


def test_no_history_at_all_uses_the_default_variance():
    symbols, dates, prices = synthetic_closes(n=3)
    prices = prices.copy()
    prices[:-10] = np.nan
    model = estimate_risk_model(prices, symbols, dates)
    np.testing.assert_array_equal(model.specific, np.full(3, DEFAULT_FALLBACK_VARIANCE))
    assert not np.any(model.loadings)


def test_missing_closes_never_break_positive_semidefiniteness():
    symbols, dates, prices = synthetic_closes(n=8)
    rng = np.random.default_rng(3)
    prices = prices.copy()
    prices[rng.random(prices.shape) < 0.1] = np.nan
    prices[:150, 5] = np.nan
    model = estimate_risk_model(prices, symbols, dates)
    assert np.linalg.eigvalsh(model.covariance()).min() > -1e-12


def brute_force_ledoit_wolf(x: np.ndarray) -> float:
    """The 2004 paper's estimator, loop by loop, for checking the vectorised one."""
    t, p = x.shape
    s = x.T @ x / t
    var = np.diag(s)
    corr = s / np.sqrt(np.outer(var, var))
    r_bar = (corr.sum() - p) / (p * (p - 1))
    f = r_bar * np.sqrt(np.outer(var, var))
    np.fill_diagonal(f, var)
    pi = np.zeros((p, p))
    for i in range(p):
        for j in range(p):
            pi[i, j] = np.mean((x[:, i] * x[:, j] - s[i, j]) ** 2)
    rho = np.trace(pi)
    for i in range(p):
        for j in range(p):
            if i == j:
                continue
            theta_ii = np.mean((x[:, i] ** 2 - s[i, i]) * (x[:, i] * x[:, j] - s[i, j]))
            theta_jj = np.mean((x[:, j] ** 2 - s[j, j]) * (x[:, i] * x[:, j] - s[i, j]))
            rho += r_bar / 2 * (np.sqrt(s[j, j] / s[i, i]) * theta_ii + np.sqrt(s[i, i] / s[j, j]) * theta_jj)
    gamma = ((f - s) ** 2).sum()
    return float(min(1.0, max(0.0, (pi.sum() - rho) / gamma / t)))


def test_shrinkage_intensity_matches_the_paper():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(40, 5)) @ rng.normal(size=(5, 5)) * 0.01
    x -= x.mean(axis=0)
    _, intensity = _constant_correlation_shrinkage(x)
    assert intensity == pytest.approx(brute_force_ledoit_wolf(x), rel=1e-10)
    assert 0.0 <= intensity <= 1.0


def test_digest_changes_with_the_data_and_is_hex_sha256():
    symbols, dates, prices = synthetic_closes()
    a = estimate_risk_model(prices, symbols, dates)
    bumped = prices.copy()
    bumped[-1, 0] *= 1.01
    b = estimate_risk_model(bumped, symbols, dates)
    assert a.digest() != b.digest()
    assert len(a.digest()) == 64 and int(a.digest(), 16) >= 0


def test_model_is_immutable_and_validated():
    model = RiskModel(("A", "B"), np.array([[0.1], [0.2]]), np.array([0.01, 0.02]))
    with pytest.raises(ValueError):
        model.loadings[0, 0] = 1.0
    with pytest.raises(InvalidInput):
        RiskModel(("A", "A"), np.zeros((2, 1)), np.zeros(2))
    with pytest.raises(InvalidInput):
        RiskModel(("A",), np.zeros((1, 1)), np.array([-0.1]))
    with pytest.raises(InvalidInput):
        model.for_symbols(["C"])


def test_negative_zero_does_not_change_the_digest():
    a = RiskModel(("A",), np.array([[0.0]]), np.array([0.01]))
    b = RiskModel(("A",), np.array([[-0.0]]), np.array([0.01]))
    assert a.digest() == b.digest()
