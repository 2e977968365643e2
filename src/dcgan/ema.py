"""An exponential moving average of G's weights, G_ema, used for sampling (as StyleGAN does).

The rate is a half-life in images, independent of the batch size: after every batch of n images

    beta = 0.5 ** (n / half_life_images)
    p_ema <- beta * p_ema + (1 - beta) * p          for every parameter p of G

so a weight's contribution halves every `half_life_images` images. With `ramp` set, the
half-life early in training is min(half_life_images, images_seen * ramp) (StyleGAN's ema_rampup,
e.g. 0.05), images_seen counting the images before this batch; at the start beta = 0, a copy.
Buffers (BatchNorm running statistics) are copied, not averaged: they describe the current G.

G_ema is a deep copy of G in eval mode whose parameters never require grad; its
`state_dict()` has G's keys, so a checkpoint stores it under the prefix `G_ema.` and loads it
back with `load_state_dict`. A half-life of 0 means no EMA: the caller builds none.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn


class EMA:
    def __init__(
        self, generator: nn.Module, half_life_images: float, ramp: float | None = None, images_seen: int = 0
    ) -> None:
        """generator: the G being trained (copied now, on its device). half_life_images: > 0, in images.
        ramp: None (no ramp-up) or the ramp-up ratio. images_seen: images already trained on (resume)."""
        if not half_life_images > 0:
            raise ValueError(f"EMA half-life must be > 0 images, got {half_life_images} (0 means: build no EMA)")
        if ramp is not None and not ramp > 0:
            raise ValueError(f"EMA ramp must be > 0 or None, got {ramp}")
        self.half_life_images = float(half_life_images)
        self.ramp = ramp
        self.images_seen = int(images_seen)  # drives the ramp-up only; restore it on resume
        self.module = copy.deepcopy(generator).eval().requires_grad_(False)

    def half_life(self) -> float:
        """The half-life in images for the next update (shortened during a ramp-up)."""
        if self.ramp is None:
            return self.half_life_images
        return min(self.half_life_images, self.images_seen * self.ramp)

    def beta(self, images_in_batch: int) -> float:
        """The weight kept on the average for a batch of `images_in_batch` images."""
        half_life = self.half_life()
        if half_life <= 0:
            return 0.0  # ramp-up at images_seen = 0: start from a copy of G
        return 0.5 ** (images_in_batch / half_life)

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
        self.images_seen += int(images_in_batch)

    def state_dict(self) -> dict[str, Any]:
        """G_ema's weights and buffers under G's own keys (save them with the prefix `G_ema.`)."""
        return self.module.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Load a G_ema (or, for a run that had none, G's) state dict."""
        self.module.load_state_dict(state)
        self.module.requires_grad_(False)
