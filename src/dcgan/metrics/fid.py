"""Fréchet distance between two Gaussians fitted to features (FID when the features are Inception's).

    d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2))

Everything is float64. The matrix square root is scipy's `sqrtm` made robust: when it returns
non-finite values (singular covariances, typical with fewer samples than feature dimensions) both
covariances get eps*I added and it is tried again; the real part is kept (tiny imaginary parts are
numerical noise). The result does not depend on how the features were batched.
"""

from __future__ import annotations

import warnings

import numpy as np

# Below this many samples the 2048x2048 covariance is rank-deficient: FID is biased upwards and
# unstable (mseitzer/pytorch-fid #13, #78). We still compute it, warn, and report KID beside it.
MIN_SAMPLES_FOR_FID = 2048


def feature_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (D,) and unbiased covariance (D, D) of features (N, D), in float64."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) < 2:
        raise ValueError(f"need at least 2 feature vectors of shape (N, D), got {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _sqrtm(a: np.ndarray) -> np.ndarray:
    import scipy.linalg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Matrix is singular and may not have a square root."
        # SciPy >= 1.16 deprecates (1.18 removes) `disp`: call with the matrix only.
        return np.asarray(scipy.linalg.sqrtm(a))


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != (len(mu1), len(mu1)):
        raise ValueError(
            f"mismatched statistics: mu {mu1.shape} vs {mu2.shape}, sigma {sigma1.shape} vs {sigma2.shape}"
        )
    diff = mu1 - mu2
    covmean = _sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(len(mu1)) * eps
        covmean = _sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    # Rounding can leave a tiny negative number for identical inputs; a distance is >= 0.
    return max(value, 0.0)


def fid_from_features(real: np.ndarray, fake: np.ndarray, warn: bool = True) -> float:
    """FID between two feature sets (N, D); warns when either has fewer than 2,048 samples."""
    if warn:
        warn_if_few(min(len(real), len(fake)))
    mu1, s1 = feature_stats(real)
    mu2, s2 = feature_stats(fake)
    return frechet_distance(mu1, s1, mu2, s2)


def few_samples_message(n: int) -> str | None:
    if n >= MIN_SAMPLES_FOR_FID:
        return None
    return (
        f"FID from {n} samples (< {MIN_SAMPLES_FOR_FID}) is biased upwards and unstable; "
        "compare KID instead, or use --num 10000"
    )


def warn_if_few(n: int) -> None:
    msg = few_samples_message(n)
    if msg:
        warnings.warn(msg, FewSamplesWarning, stacklevel=3)


class FewSamplesWarning(UserWarning):
    """FID was computed from fewer samples than feature dimensions."""
