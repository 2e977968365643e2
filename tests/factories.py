"""What many tests build: one tiny training config (on `pythonpath`, see pyproject.toml)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dcgan.config import TrainConfig, resolve_config

#: 8-channel networks on 48 synthetic images (at the preset's size), 16 per step: 3 steps an epoch, a log line per step.
TINY = dict(
    data="synthetic",
    limit=48,
    g_channels=8,
    d_channels=8,
    mlp_hidden=16,
    batch_size=16,
    log_every=1,
    snapshot_every=1,
    sample_grid=16,
    epochs=2,
)


def tiny_config(preset: str = "fashion-dcgan", **overrides: Any) -> TrainConfig:
    """`preset` with the TINY settings, then `overrides` (any config field)."""
    return resolve_config(preset, {**TINY, **overrides})


def varied_checkpoint(tiny_run: Path, folder: Path) -> Path:
    """A checkpoint in the run directory `folder` (returned: the file) holding tiny_run's networks with G's
    output layer x300: two steps of training leave every sample mid-grey, this makes seeds differ visibly."""
    import torch

    from dcgan.checkpoint import save_checkpoint
    from dcgan.generator import load_generator

    G = load_generator(tiny_run)
    last = [m for m in G.generator.modules() if isinstance(m, torch.nn.ConvTranspose2d)][-1]
    with torch.no_grad():
        last.weight.mul_(300)
    g, d = G.generator, G.discriminator
    return save_checkpoint(
        folder,
        config=G.config,
        generator=g,
        discriminator=d,
        opt_g=torch.optim.Adam(g.parameters()),
        opt_d=torch.optim.Adam(d.parameters()),
        step=G.step,
        epoch=1,
        images_seen=32,
        rng={"z": torch.Generator().get_state()},
        extra={"channels": G.channels},
    )
