"""The one pixel contract: images are uint8 (N, C, H, W) everywhere except inside the networks,
which see floats in [-1, 1]. These two functions are the only place that converts between them.
"""

from __future__ import annotations

import numpy as np
import torch


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 -> [-1, 1] floats (x / 127.5 - 1): the scaling of training data and of D's inputs."""
    return x.float().div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 of the same shape, clamped and rounded to the nearest level."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)


def as_uint8_array(x: np.ndarray | torch.Tensor) -> np.ndarray:
    """A torch tensor (uint8, or float in [-1, 1]) or an array of uint8 -> numpy uint8, same shape."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        x = (to_uint8(x) if x.dtype.is_floating_point else x).numpy()
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise TypeError(f"expected uint8 images, got {x.dtype}")
    return x
