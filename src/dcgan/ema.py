"""An exponential moving average of G's weights, G_ema, used for sampling (as StyleGAN does).

The rate is a half-life in images, independent of the batch size: after every batch of n images

    beta = 0.5 ** (n / half_life_images)
    p_ema <- beta * p_ema + (1 - beta) * p          for every parameter p of G

so a weight's contribution halves every `half_life_images` images. Buffers (BatchNorm running
statistics) are copied, not averaged: they describe the current G.

G_ema is a deep copy of G in eval mode whose parameters never require grad; its
`state_dict()` has G's keys, so a checkpoint stores it under the prefix `G_ema.` and loads it
back with `load_state_dict`. A half-life of 0 means no EMA: the caller builds none.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn


class EMA:
    """G_ema, in `module`, and the rule that updates it from G after every step."""

    def __init__(self, generator: nn.Module, half_life_images: float) -> None:
        """generator: the G being trained (copied now, on its device). half_life_images: > 0, in images."""
        if not half_life_images > 0:
            raise ValueError(f"EMA half-life must be > 0 images, got {half_life_images} (0 means: build no EMA)")
        self.half_life_images = float(half_life_images)
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)

    def beta(self, images_in_batch: int) -> float:
        """The weight kept on the average for a batch of `images_in_batch` images."""
        return 0.5 ** (images_in_batch / self.half_life_images)

    @torch.no_grad()
    def update(self, generator: nn.Module, images_in_batch: int) -> None:
        """Fold G's current weights into the average after a step on `images_in_batch` images."""
        beta = self.beta(images_in_batch)
        ema_params = dict(self.module.named_parameters())
        for name, p in generator.named_parameters():
            # p_ema + (1 - beta) * (p - p_ema) == beta * p_ema + (1 - beta) * p
            ema_params[name].lerp_(p.detach().to(ema_params[name].dtype), 1.0 - beta)
        ema_buffers = dict(self.module.named_buffers())
        for name, b in generator.named_buffers():
            ema_buffers[name].copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """G_ema's weights and buffers under G's own keys (save them with the prefix `G_ema.`)."""
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        """Load a G_ema (or, for a run that had none, G's) state dict."""
        self.module.load_state_dict(state)
        self.module.requires_grad_(False)
