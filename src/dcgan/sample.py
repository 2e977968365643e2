"""Latent noise and image sampling."""

from __future__ import annotations

import torch
from torch import nn

from .config import TrainConfig
from .pixels import to_uint8


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
