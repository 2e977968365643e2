"""Fréchet distance (FID on features) against an independent computation and closed forms."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg

from dcgan.metrics.fid import (
    FewSamplesWarning,
    feature_stats,
    fid_from_features,
    frechet_distance,
)


def reference_frechet(a: np.ndarray, b: np.ndarray) -> float:
    """Independent float64 computation: Tr((S1 S2)^(1/2)) through the symmetric matrix
    S1^(1/2) S2 S1^(1/2), whose square root has the same trace, via eigendecompositions."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    mu1, mu2 = a.sum(0) / len(a), b.sum(0) / len(b)
    s1 = (a - mu1).T @ (a - mu1) / (len(a) - 1)
    s2 = (b - mu2).T @ (b - mu2) / (len(b) - 1)
    w, v = scipy.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.clip(scipy.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sum(np.sqrt(inner)))


@pytest.mark.parametrize("n,d,shift", [(600, 32, 0.3), (3000, 256, 0.05), (400, 128, 1.0)])
def test_frechet_matches_independent_float64_reference(n: int, d: int, shift: float) -> None:
    rng = np.random.default_rng(d)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    a = rng.standard_normal((n, d)) @ mix
    b = (rng.standard_normal((n + 7, d)) + shift) @ (mix + 0.1 * np.eye(d))
    ours = fid_from_features(a, b, warn=False)
    ref = reference_frechet(a, b)
    assert ours == pytest.approx(ref, rel=1e-6)


def test_frechet_of_identical_sets_is_zero() -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((500, 64)) * rng.uniform(0.5, 3, 64)
    assert fid_from_features(a, a.copy(), warn=False) == pytest.approx(0.0, abs=1e-8)
    # Order and duplication of the feature rows do not matter (nor does batching, upstream).
    assert fid_from_features(a, a[::-1], warn=False) == pytest.approx(0.0, abs=1e-8)


def test_frechet_closed_forms() -> None:
    mu1, mu2 = np.zeros(5), np.array([1.0, 2.0, 0.0, 0.0, -1.0])
    assert frechet_distance(mu1, np.eye(5), mu2, np.eye(5)) == pytest.approx(6.0, rel=1e-12)
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(np.zeros(3), np.diag(a), np.zeros(3), np.diag(b)) == pytest.approx(expected, rel=1e-9)


def test_few_samples_warn_and_stay_finite() -> None:
    """Fewer samples than dimensions: singular covariances. Still a finite, real, non-negative number."""
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((40, 100)), rng.standard_normal((40, 100)) + 0.5
    with pytest.warns(FewSamplesWarning, match="2048"):
        value = fid_from_features(a, b)
    assert np.isfinite(value) and value > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fid_from_features(a, a.copy(), warn=False)  # nothing else warns (scipy's singular-matrix chatter is silenced)


def test_feature_stats_float64() -> None:
    f = np.random.default_rng(3).standard_normal((50, 4)).astype(np.float32)
    mu, sigma = feature_stats(f)
    assert mu.dtype == np.float64 and sigma.shape == (4, 4)
    np.testing.assert_allclose(sigma, np.cov(f.astype(np.float64), rowvar=False))
