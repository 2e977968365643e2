"""Improved precision and recall (Kynkäänniemi et al. 2019), k = 3.

Each set's manifold is the union of balls around its samples, each ball's radius the distance to
the sample's k-th nearest neighbour within the set. Precision: the fraction of fake samples inside
the real manifold (are the samples realistic?). Recall: the fraction of real samples inside the fake
manifold (is the variety covered?).
"""

from __future__ import annotations

import numpy as np


def _sq_norms(a: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", a, a)


def _pairwise_sq(a: np.ndarray, b: np.ndarray, a_sq: np.ndarray, b_sq: np.ndarray) -> np.ndarray:
    d = a_sq[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def knn_radii(features: np.ndarray, k: int = 3, batch_size: int = 1024) -> np.ndarray:
    """Squared distance from each sample to its k-th nearest other sample, (N,)."""
    f = np.asarray(features, np.float64)
    n = len(f)
    if n <= k:
        raise ValueError(f"precision/recall with k={k} needs more than {k} samples per set, got {n}")
    sq = _sq_norms(f)
    radii = np.empty(n)
    for start in range(0, n, batch_size):
        d = _pairwise_sq(f[start : start + batch_size], f, sq[start : start + batch_size], sq)
        # Index k of the sorted row: position 0 is the sample itself (distance 0).
        radii[start : start + len(d)] = np.partition(d, k, axis=1)[:, k]
    return radii


def _coverage(manifold: np.ndarray, radii: np.ndarray, probes: np.ndarray, batch_size: int) -> float:
    """Fraction of `probes` that fall inside at least one ball of the manifold."""
    m_sq, p_sq = _sq_norms(manifold), _sq_norms(probes)
    inside = 0
    for start in range(0, len(probes), batch_size):
        d = _pairwise_sq(probes[start : start + batch_size], manifold, p_sq[start : start + batch_size], m_sq)
        inside += int((d <= radii[None, :]).any(axis=1).sum())
    return inside / len(probes)


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3, batch_size: int = 1024) -> tuple[float, float]:
    """(precision, recall) of fake against real features (N, D)."""
    real = np.asarray(real, np.float64)
    fake = np.asarray(fake, np.float64)
    if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with the same D, got {real.shape} and {fake.shape}")
    real_radii = knn_radii(real, k, batch_size)
    fake_radii = knn_radii(fake, k, batch_size)
    precision = _coverage(real, real_radii, fake, batch_size)
    recall = _coverage(fake, fake_radii, real, batch_size)
    return precision, recall
