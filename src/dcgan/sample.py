"""Latent noise and image sampling.

Sampling draws the latents of a seed as one stream (`LatentStream`): the n-th image of a seed is the
same whatever the batch size and however many images are asked for, and `iter_images` hands the
images out batch by batch, so memory is bounded by the batch size, not by the number of images.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from .config import TrainConfig
from .pixels import to_uint8

# Latents are drawn from the seed's generator in chunks of this many, whatever the batch size: torch's
# CPU normal sampler fills a tensor in blocks, so drawing (a + b) latents at once or a then b differ.
LATENT_CHUNK = 256


def sample_latents(
    config: TrainConfig, num: int, generator: torch.Generator | None = None, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """z as the config says: N(0, 1) or U(-1, 1), shape (num, z_dim). Drawn on the CPU from
    `generator` so a seed gives the same z on every device, then moved."""
    if config.z_dist == "uniform":
        z = torch.rand(num, config.z_dim, generator=generator) * 2 - 1
    else:
        z = torch.randn(num, config.z_dim, generator=generator)
    return z.to(device)


class LatentStream:
    """The latents of `seed`, in order: `take(n)` returns the next n, the same values however the
    stream is cut (chunks of LATENT_CHUNK are drawn from one CPU generator and handed out in slices)."""

    def __init__(self, config: TrainConfig, seed: int) -> None:
        self.config = config
        self.rng = torch.Generator().manual_seed(seed)
        self.buffer = torch.empty(0, config.z_dim)

    def take(self, num: int, device: str | torch.device = "cpu") -> torch.Tensor:
        parts = []
        while num > 0:
            if not len(self.buffer):
                self.buffer = sample_latents(self.config, LATENT_CHUNK, self.rng)
            part, self.buffer = self.buffer[:num], self.buffer[num:]
            parts.append(part)
            num -= len(part)
        if not parts:
            return torch.empty(0, self.config.z_dim, device=device)
        return torch.cat(parts).to(device)


@torch.no_grad()
def iter_images(
    generator: nn.Module,
    config: TrainConfig,
    num: int,
    seed: int = 0,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    labels: torch.Tensor | None = None,
) -> Iterator[torch.Tensor]:
    """`num` generated images as uint8 (n, C, H, W) CPU batches of at most `batch_size`, in order;
    the same images for a seed whatever the batch size. The generator samples in eval mode (restored after).

    labels: for a conditional generator (one with a `condition`), one label per image (see dcgan.labels);
    None: its default labels for the seed (classes round-robin, attributes drawn from the training data)."""
    latents = LatentStream(config, seed)
    condition = getattr(generator, "condition", None)
    stream = condition.stream(seed) if condition is not None and labels is None else None
    was_training = generator.training
    generator.eval()
    try:
        for start in range(0, num, batch_size):
            n = min(batch_size, num - start)
            z = latents.take(n, device)
            if condition is None:
                yield to_uint8(generator(z)).cpu()
                continue
            y = stream.take(n) if stream is not None else labels[start : start + n]  # type: ignore[index]
            yield to_uint8(generator(z, condition.as_tensor(y).to(device))).cpu()
    finally:
        generator.train(was_training)


def sample_images(
    generator: nn.Module,
    config: TrainConfig,
    num: int,
    seed: int = 0,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
    labels: torch.Tensor | None = None,
) -> torch.Tensor:
    """`num` generated images as uint8 (num, C, H, W) on the CPU; deterministic for a seed (see iter_images)."""
    out = list(iter_images(generator, config, num, seed=seed, device=device, batch_size=batch_size, labels=labels))
    if not out:
        return torch.empty(0, dtype=torch.uint8)
    return torch.cat(out)
