"""What many tests build: one tiny training config (on `pythonpath`, see pyproject.toml)."""

from __future__ import annotations

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
