"""Every architecture builds for the sizes it claims, with the published shapes and counts."""

from __future__ import annotations

import pytest
import torch

from dcgan.config import PRESETS, TrainConfig, resolve_config
from dcgan.errors import ConfigError
from dcgan.models import build_models, conv_plan


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_builds_and_maps_z_to_images_to_logits(preset: str) -> None:
    cfg = resolve_config(preset, {})
    g, d = build_models(cfg, cfg.channels)
    z = torch.randn(4, cfg.z_dim)
    x = g(z)
    assert x.shape == (4, cfg.channels, cfg.size, cfg.size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert d(x).shape == (4,)


def test_s1_dcgan_matches_the_published_network() -> None:
    cfg = resolve_config("celeba-dcgan", {})
    g, d = build_models(cfg, 3)
    # Parameter counts of the PyTorch DCGAN example at 64 px, nz=100, ngf=ndf=64.
    assert sum(p.numel() for p in g.parameters()) == 3_576_704
    assert sum(p.numel() for p in d.parameters()) == 2_765_568
    convs_t = [m for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.out_channels for m in convs_t] == [512, 256, 128, 64, 3]
    # No BatchNorm on D's first layer; BN after every other strided conv.
    first = list(d.main)[:2]
    assert isinstance(first[0], torch.nn.Conv2d) and isinstance(first[1], torch.nn.LeakyReLU)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules()) == 3


def test_s1_init_statistics() -> None:
    cfg = resolve_config("celeba-dcgan", {})
    torch.manual_seed(0)
    g, _ = build_models(cfg, 3)
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)])
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    bn = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1.0) < 5e-3 and abs(bn.std().item() - 0.02) < 5e-3


def test_s5_mlp_parameter_counts() -> None:
    cfg = resolve_config("fashion-mlp", {})
    g, d = build_models(cfg, 1)
    assert sum(p.numel() for p in g.parameters()) == 227_344
    assert sum(p.numel() for p in d.parameters()) == 201_217


def test_s4_variant_has_no_batchnorm_in_d_and_fc_heads() -> None:
    cfg = resolve_config("celeba-variant", {})
    g, d = build_models(cfg, 3)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    assert isinstance(d.fc, torch.nn.Linear) and d.fc.out_features == 1
    assert isinstance(g.fc, torch.nn.Linear)
    assert cfg.real_label == 0.9 and cfg.z_dist == "uniform"


@pytest.mark.parametrize("size,plan", [(28, (7, 2)), (32, (4, 3)), (64, (4, 4)), (96, (6, 4)), (128, (4, 5))])
def test_conv_plan(size: int, plan: tuple[int, int]) -> None:
    assert conv_plan(size) == plan
    cfg = TrainConfig(size=size, g_channels=8, d_channels=8).validate()
    g, d = build_models(cfg, 3)
    assert g(torch.randn(2, 100)).shape[-1] == size


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
