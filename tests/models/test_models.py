"""build_models (dcgan.models): every preset builds and maps z to images to logits; what it refuses."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dcgan.config import PRESETS, TrainConfig, resolve_config
from dcgan.data.fashion_mnist import FASHION_MNIST_CLASSES
from dcgan.errors import ConfigError
from dcgan.labels import Condition
from dcgan.models import build_models


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_builds_and_maps_z_to_images_to_logits(preset: str) -> None:
    cfg = resolve_config(preset, {})
    condition = Condition("class", tuple(FASHION_MNIST_CLASSES), (1,) * 10) if cfg.is_conditional() else None
    g, d = build_models(cfg, cfg.channels, condition)
    z = torch.randn(4, cfg.z_dim)
    y = None if condition is None else torch.arange(4)
    x = g(z) if y is None else g(z, y)
    assert x.shape == (4, cfg.channels, cfg.size, cfg.size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert (d(x) if y is None else d(x, y)).shape == (4,)


def test_an_unknown_architecture_is_refused_naming_the_flag() -> None:
    # The config refuses it first; build_models still refuses a config made without validation.
    cfg = dataclasses.replace(TrainConfig(), arch="nope")
    with pytest.raises(ConfigError, match="--arch: unknown architecture 'nope'"):
        build_models(cfg, 1)
