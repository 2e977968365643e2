"""build_models (dcgan.models): every preset builds and maps z to images to logits; what it refuses."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dcgan.config import PRESETS, TrainConfig, resolve_config
from dcgan.errors import ConfigError
from dcgan.models import build_models


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_builds_and_maps_z_to_images_to_logits(preset: str) -> None:
    cfg = resolve_config(preset, {})
    g, d = build_models(cfg, cfg.channels)
    z = torch.randn(4, cfg.z_dim)
    x = g(z)
    assert x.shape == (4, cfg.channels, cfg.size, cfg.size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert d(x).shape == (4,)


def test_an_unknown_architecture_is_refused_naming_the_flag() -> None:
    # The config refuses it first; build_models still refuses a config made without validation.
    cfg = dataclasses.replace(TrainConfig(), arch="nope")
    with pytest.raises(ConfigError, match="--arch: unknown architecture 'nope'"):
        build_models(cfg, 1)


# The three tests below check the config (resolve_config, TrainConfig.validate) rather than the models.


@pytest.mark.parametrize("size", [100, 10, 50, 2000])
def test_impossible_sizes_are_refused_with_the_flag_named(size: int) -> None:
    with pytest.raises(ConfigError, match=f"--size {size}"):
        TrainConfig(size=size).validate()


def test_unknown_values_name_their_flag() -> None:
    with pytest.raises(ConfigError, match="--preset"):
        resolve_config("nope", {})
    with pytest.raises(ConfigError, match="--real-label"):
        resolve_config(None, {"real_label": 1.5})
    with pytest.raises(ConfigError, match="--batch-size"):
        resolve_config(None, {"batch_size": 0})


def test_flags_override_presets() -> None:
    cfg = resolve_config("celeba-dcgan", {"size": 32, "epochs": 1, "lr_d": 1e-4, "limit": None})
    assert (cfg.size, cfg.epochs, cfg.lr_d, cfg.batch_size) == (32, 1, 1e-4, 128)
    assert cfg.extra["preset"] == "celeba-dcgan"
    again = TrainConfig.from_dict(cfg.to_dict())
    assert again == cfg
