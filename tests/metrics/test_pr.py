"""Improved precision and recall (k-th nearest neighbour balls) on features with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from dcgan.metrics.pr import knn_radii, precision_recall


def test_pr_identical_sets_is_one() -> None:
    real = np.random.default_rng(6).standard_normal((300, 8))
    assert precision_recall(real, real.copy()) == (1.0, 1.0)


def test_pr_same_distribution_high_disjoint_zero() -> None:
    rng = np.random.default_rng(7)
    real, fake = rng.standard_normal((800, 8)), rng.standard_normal((800, 8))
    p, r = precision_recall(real, fake)
    assert p > 0.85 and r > 0.85
    assert precision_recall(real, fake + 100.0) == (0.0, 0.0)


def test_pr_mode_collapse_keeps_precision_loses_recall() -> None:
    rng = np.random.default_rng(8)
    real = rng.standard_normal((800, 4))
    collapsed = rng.standard_normal((800, 4)) * 0.1  # all samples near the real mode
    p, r = precision_recall(real, collapsed, batch_size=128)
    assert p > 0.95 and r < 0.2


def test_knn_radius_is_kth_neighbour_excluding_self() -> None:
    points = np.array([[0.0], [1.0], [3.0], [7.0], [15.0]])
    # For 0: neighbours at 1, 3, 7 -> k=3 radius^2 = 49.
    assert knn_radii(points, k=3)[0] == pytest.approx(49.0)
    with pytest.raises(ValueError, match="more than 3"):
        knn_radii(points[:3], k=3)
