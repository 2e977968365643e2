"""KID: the unbiased MMD^2 with the cubic kernel, against its definition."""

from __future__ import annotations

import numpy as np
import pytest

from dcgan.metrics.kid import kid, mmd2_unbiased


def naive_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    d = x.shape[1]

    def k(a, b):
        return (a @ b / d + 1) ** 3

    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_mmd_matches_definition() -> None:
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((12, 5)), rng.standard_normal((12, 5)) + 0.3
    assert mmd2_unbiased(x, y) == pytest.approx(naive_mmd2(x, y), rel=1e-10)


def test_kid_same_distribution_is_zero_and_shift_is_positive() -> None:
    rng = np.random.default_rng(5)
    real = rng.standard_normal((1500, 16))
    same = rng.standard_normal((1500, 16))
    mean, std = kid(real, same, num_subsets=20, max_subset_size=500)
    assert abs(mean) < 3 * std / np.sqrt(20) + 1e-3
    shifted, _ = kid(real, same + 1.0, num_subsets=20, max_subset_size=500)
    more, _ = kid(real, same + 2.0, num_subsets=20, max_subset_size=500)
    assert 0.05 < shifted < more
    # Subsets are min(1000, n): with tiny sets the whole sets are used, deterministically for a seed.
    assert kid(real[:10], same[:10], seed=3) == kid(real[:10], same[:10], seed=3)
