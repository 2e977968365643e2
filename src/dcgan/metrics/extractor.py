"""What every feature network shares: batching, the move to its device, the progress bar.

A `FeatureNetwork` maps uint8 images (N, C, H, W) to float64 features (N, dim). Subclasses
(`inception.FeatureExtractor`, `fashion.FashionFeatureExtractor`) give `features` for one batch,
their `name` (for results), `key` (for cache file names), `dim` and default batch size.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import numpy as np
import torch


class FeatureNetwork:
    """uint8 images -> float64 features, in batches, on one device.

    Every image is processed independently (no batch statistics), so features do not depend on
    the batch size."""

    name: str  # the network, as reported in results
    key: str  # short identifier used in reference-statistics cache names
    dim: int  # feature size D
    label: str  # what the progress bar calls the features by default, e.g. "inception"

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = torch.device(device)

    def default_batch_size(self) -> int:
        raise NotImplementedError

    def features(self, batch: torch.Tensor) -> torch.Tensor:
        """One batch of uint8 images (N, C, H, W), any device -> float features (N, dim) on this device."""
        raise NotImplementedError

    def extract(
        self,
        images: np.ndarray | torch.Tensor,
        batch_size: int | None = None,
        progress: bool = True,
        desc: str | None = None,
    ) -> np.ndarray:
        """images: uint8 (N, C, H, W), numpy (a memmap is fine) or torch. Returns float64 (N, dim).

        The network's float32 outputs are widened to float64 exactly, so statistics computed from
        these features and from cached float32 copies of them agree bit for bit."""
        return run_batches(
            self.features,
            images,
            self.dim,
            batch_size or self.default_batch_size(),
            progress,
            desc or f"{self.label} features",
        )


def run_batches(
    fn: Callable[[torch.Tensor], torch.Tensor],
    images: np.ndarray | torch.Tensor,
    dim: int,
    batch_size: int,
    progress: bool,
    desc: str,
) -> np.ndarray:
    """Apply `fn` (uint8 torch batch -> float features (B, dim)) over `images` (N, C, H, W) in
    batches, with a tqdm bar (images/s) on stderr. Returns float64 (N, dim)."""
    from tqdm import tqdm

    n = len(images)
    out = np.empty((n, dim), dtype=np.float32)
    with tqdm(
        total=n, desc=desc, unit="img", file=sys.stderr, disable=not progress, dynamic_ncols=True, leave=False
    ) as bar:
        for start in range(0, n, batch_size):
            chunk = images[start : start + batch_size]
            if not torch.is_tensor(chunk):
                chunk = torch.from_numpy(np.array(chunk))  # a copy: store memmaps are read-only
            out[start : start + len(chunk)] = fn(chunk).float().cpu().numpy()
            bar.update(len(chunk))
    return out.astype(np.float64)
