"""Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD^2 with the polynomial kernel

    k(x, y) = (x . y / d + 1)^3

averaged over random subsets (100 subsets of min(1000, n) samples, as in the paper). Unlike FID
it is unbiased, so it is meaningful with few samples; its mean and standard deviation over the
subsets are reported.
"""

from __future__ import annotations

import numpy as np


def kid(
    real: np.ndarray, fake: np.ndarray, num_subsets: int = 100, max_subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """(mean, std) of the unbiased MMD^2 estimate over `num_subsets` subsets. Features (N, D)."""
    real = np.asarray(real, np.float64)
    fake = np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with the same D, got {real.shape} and {fake.shape}")
    m = min(len(real), len(fake), max_subset_size)
    if m < 2:
        raise ValueError(f"KID needs at least 2 samples in each set, got {len(real)} and {len(fake)}")
    d = real.shape[1]
    rng = np.random.default_rng(seed)
    values = np.empty(num_subsets)
    for i in range(num_subsets):
        x = fake[rng.choice(len(fake), m, replace=False)]
        y = real[rng.choice(len(real), m, replace=False)]
        values[i] = mmd2_unbiased(x, y, d)
    return float(values.mean()), float(values.std())


def mmd2_unbiased(x: np.ndarray, y: np.ndarray, d: int | None = None) -> float:
    """Unbiased MMD^2 between equal-sized samples x, y (m, D) with the cubic polynomial kernel."""
    m = len(x)
    d = d or x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    return float(within - 2.0 * kxy.sum() / (m * m))
