"""Latent noise and image sampling: the one place where [-1, 1] turns back into uint8."""

from __future__ import annotations

import torch
from torch import nn

from .config import TrainConfig


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


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats -> uint8 (same shape), rounding to the nearest level."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round_().to(torch.uint8)


def to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 -> [-1, 1] floats: the single scaling used for training and for the discriminator."""
    return x.float().div_(127.5).sub_(1.0)


@torch.no_grad()
def sample_images(
    generator: nn.Module,
    config: TrainConfig,
    num: int,
    seed: int = 0,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> torch.Tensor:
    """`num` generated images as uint8 (num, C, H, W) on the CPU; deterministic for a seed."""
    rng = torch.Generator().manual_seed(seed)
    was_training = generator.training
    generator.eval()
    out = []
    try:
        for start in range(0, num, batch_size):
            z = sample_latents(config, min(batch_size, num - start), rng, device)
            out.append(to_uint8(generator(z)).cpu())
    finally:
        generator.train(was_training)
    if not out:
        return torch.empty(0, dtype=torch.uint8)
    return torch.cat(out)
