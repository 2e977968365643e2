"""The convolutional architectures (dcgan.models.dcgan): the shared model tests at several sizes,
the FC-headed variant and spectral norm; the published DCGAN layer for layer."""

from __future__ import annotations

import torch

from dcgan.config import resolve_config
from dcgan.models import build_models

from .model_tester import ModelTesterMixin

TINY = {"g_channels": 8, "d_channels": 8}


class TestDCGAN28Gray(ModelTesterMixin):
    preset = "fashion-dcgan"
    overrides = {**TINY, "size": 28, "channels": 1}


class TestDCGAN32(ModelTesterMixin):
    preset = "fashion-dcgan"
    overrides = {**TINY, "size": 32, "channels": 3}


class TestDCGAN64(ModelTesterMixin):
    preset = "celeba-dcgan"
    overrides = {**TINY, "size": 64}


class TestDCGAN96(ModelTesterMixin):
    preset = "faces-96"
    overrides = {**TINY, "size": 96}
    batch_size = 2


class TestDCGANWithoutDBatchNorm(ModelTesterMixin):
    preset = "fashion-dcgan"
    overrides = {**TINY, "d_batchnorm": False}
    d_batchnorm = False


class TestDCGANSpectralNorm(ModelTesterMixin):
    preset = "fashion-dcgan"
    overrides = {**TINY, "spectral_norm": True, "d_batchnorm": False, "loss": "hinge"}
    d_batchnorm = False
    d_spectral_norm = True


class TestDCGANFC(ModelTesterMixin):
    preset = "celeba-variant"
    overrides = {**TINY, "size": 32}
    d_batchnorm = False


class TestDCGANFC48WithDBatchNorm(ModelTesterMixin):
    preset = "celeba-variant"
    overrides = {**TINY, "size": 48, "d_batchnorm": True}


class TestDCGANFCSpectralNorm(ModelTesterMixin):
    preset = "celeba-variant"
    overrides = {**TINY, "size": 32, "spectral_norm": True, "loss": "hinge"}
    d_batchnorm = False
    d_spectral_norm = True


def test_dcgan_matches_the_published_network() -> None:
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


def test_variant_has_no_batchnorm_in_d_and_fc_heads() -> None:
    cfg = resolve_config("celeba-variant", {})
    g, d = build_models(cfg, 3)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    assert isinstance(d.fc, torch.nn.Linear) and d.fc.out_features == 1
    assert isinstance(g.fc, torch.nn.Linear)
    assert cfg.real_label == 0.9 and cfg.z_dist == "uniform"
