"""A trained generator, ready to use from Python, the commands and the latent tools.

    from dcgan import load_generator
    G = load_generator("runs/fashion")      # a run directory (its newest checkpoint) or a checkpoint file
    images = G.sample(16, seed=0)           # uint8 (16, C, H, W) on the CPU, the same for the same seed

The generator is G_ema when the run kept one, else G; both networks are in eval mode.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .checkpoint import load_state, read_checkpoint
from .config import TrainConfig
from .device import resolve_device
from .models import build_models
from .sample import sample_images, sample_latents


@dataclass
class TrainedGenerator:
    generator: nn.Module  # eval mode, on `device`
    discriminator: nn.Module  # eval mode, on `device` (the S5 report and the latent tools use it)
    config: TrainConfig  # the run's config
    channels: int
    step: int  # the training step of the checkpoint
    path: Path  # the checkpoint file
    device: torch.device

    @property
    def size(self) -> int:
        return self.config.size

    def latents(self, num: int, seed: int = 0) -> torch.Tensor:
        """`num` latents (num, z_dim) from the run's distribution, on the device; the same for a seed."""
        return sample_latents(self.config, num, torch.Generator().manual_seed(seed), self.device)

    @torch.no_grad()
    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """Images for latents `z` (N, z_dim): floats in [-1, 1], (N, C, H, W), on the device."""
        return self.generator(z.to(self.device)).float()

    def sample(self, num: int, seed: int = 0, batch_size: int = 256) -> torch.Tensor:
        """`num` images as uint8 (num, C, H, W) on the CPU; the same images for the same seed."""
        return sample_images(self.generator, self.config, num, seed=seed, device=self.device, batch_size=batch_size)


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> TrainedGenerator:
    """Rebuild G (G_ema when saved) and D from a run directory or a checkpoint file, in eval mode.

    device: auto, cpu, cuda, cuda:N or a torch.device. Refuses pickles and checkpoints that do not
    fit the architecture with one-line errors (CheckpointError)."""
    dev = resolve_device(device)
    ck = read_checkpoint(path)
    channels = int(ck.meta["extra"].get("channels") or ck.config.channels or 3)
    g, d = build_models(ck.config, channels)
    load_state(g, ck.state("G_ema") or ck.state("G"), "generator", ck.path)
    load_state(d, ck.state("D"), "discriminator", ck.path)
    return TrainedGenerator(g.to(dev).eval(), d.to(dev).eval(), ck.config, channels, ck.step, ck.path, dev)
