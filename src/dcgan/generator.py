"""A trained generator, ready to use from Python, the commands and the latent tools.

    from dcgan import load_generator
    G = load_generator("runs/fashion")      # a run directory (its newest checkpoint) or a checkpoint file
    images = G.sample(16, seed=0)           # uint8 (16, C, H, W) on the CPU, the same for the same seed

The generator is G_ema when the run kept one, else G; both networks are in eval mode.

A checkpoint is untrusted input: its config could describe networks of any size. The networks are
therefore first built on torch's meta device (shapes only, no memory), their size bounded and every
weight's key and shape compared with the file's tensors; only then are they allocated and loaded.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .checkpoint import Checkpoint, check_shapes, read_checkpoint
from .config import TrainConfig
from .device import resolve_device
from .errors import CheckpointError, ConfigError
from .models import build_models
from .sample import LatentStream, iter_images, sample_images

# Far above any network dcgan trains (S1's G has 3.6 M parameters) and below what would exhaust a
# machine's memory on a damaged or hostile config: 2**31 float32 parameters are 8 GiB.
MAX_PARAMETERS = 2**31
SAMPLING_PREFIXES = ("G", "G_ema", "D")  # the tensors load_generator needs (no optimiser state)


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
        """The first `num` latents (num, z_dim) of the seed's stream, on the device: those `sample` uses."""
        return LatentStream(self.config, seed).take(num, self.device)

    @torch.no_grad()
    def __call__(self, z: torch.Tensor) -> torch.Tensor:
        """Images for latents `z` (N, z_dim): floats in [-1, 1], (N, C, H, W), on the device."""
        return self.generator(z.to(self.device)).float()

    def sample(self, num: int, seed: int = 0, batch_size: int = 256) -> torch.Tensor:
        """`num` images as uint8 (num, C, H, W) on the CPU; the same images for the same seed."""
        return sample_images(self.generator, self.config, num, seed=seed, device=self.device, batch_size=batch_size)

    def batches(self, num: int, seed: int = 0, batch_size: int = 256) -> Iterator[torch.Tensor]:
        """The images of `sample(num, seed)`, as uint8 CPU batches of at most `batch_size`: memory stays
        bounded by the batch size however large `num` is."""
        return iter_images(self.generator, self.config, num, seed=seed, device=self.device, batch_size=batch_size)


def _expected_shapes(module: nn.Module) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in module.state_dict().items()}


def _all_in_state_dict(module: nn.Module) -> bool:
    names = {n for n, _ in module.named_parameters()} | {n for n, _ in module.named_buffers()}
    return names <= set(module.state_dict())


def build_checked(ck: Checkpoint) -> tuple[nn.Module, nn.Module]:
    """(G, D) with the checkpoint's weights (G_ema's when saved), on the CPU, in eval mode.

    Built on the meta device first: a config claiming absurd sizes, or weights that do not fit it,
    are refused in one line before a single parameter is allocated."""
    channels = ck.channels
    try:
        with torch.device("meta"):
            g, d = build_models(ck.config, channels)
    except (RuntimeError, ValueError, OverflowError, TypeError, ConfigError) as e:
        raise CheckpointError(
            f"{ck.path}: its config describes networks that cannot be built ({str(e).splitlines()[0][:120]})"
        ) from e
    states = {"generator": ck.state("G_ema") or ck.state("G"), "discriminator": ck.state("D")}
    c = ck.config
    for what, net in (("generator", g), ("discriminator", d)):
        n = sum(p.numel() for p in net.parameters())
        if n > MAX_PARAMETERS:
            raise CheckpointError(
                f"{ck.path}: its config asks for a {what} of {n:,} parameters (arch {c.arch}, size {c.size}, "
                f"widths {c.g_channels}/{c.d_channels}, z_dim {c.z_dim}), over the {MAX_PARAMETERS:,} this loader "
                "allocates; the file is damaged or not a dcgan checkpoint"
            )
        check_shapes(_expected_shapes(net), states[what], what, ck.path)
    if not all(_all_in_state_dict(net) for net in (g, d)):
        # A buffer outside the state dict would stay uninitialised below: build for real instead.
        g, d = build_models(ck.config, channels)
    for what, net in (("generator", g), ("discriminator", d)):
        if next(net.parameters()).is_meta:
            # Every parameter and buffer is in the state dict: allocating without initialising and
            # loading over it equals building, initialising and loading (and leaves torch's RNG alone).
            net.to_empty(device="cpu")
        try:
            net.load_state_dict(states[what])
        except RuntimeError as e:  # keys and shapes fit; a value that cannot be copied in (e.g. its dtype)
            raise CheckpointError(
                f"{ck.path}: the {what} in this checkpoint cannot be loaded ({str(e).splitlines()[0][:120]})"
            ) from e
    return g.eval(), d.eval()


def load_generator(path: str | Path, device: str | torch.device = "cpu") -> TrainedGenerator:
    """Rebuild G (G_ema when saved) and D from a run directory or a checkpoint file, in eval mode.

    device: auto, cpu, cuda, cuda:N or a torch.device. Refuses pickles, damaged or hostile metadata,
    and checkpoints that do not fit the architecture with one-line errors (CheckpointError)."""
    dev = resolve_device(device)
    ck = read_checkpoint(path, prefixes=SAMPLING_PREFIXES)
    g, d = build_checked(ck)
    return TrainedGenerator(g.to(dev), d.to(dev), ck.config, ck.channels, ck.step, ck.path, dev)
