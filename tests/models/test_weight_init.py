"""dcgan.models.weight_init: the DCGAN and Keras schemes, measured on built networks."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dcgan.config import resolve_config
from dcgan.models import build_models
from dcgan.models.weight_init import initialise


def test_dcgan_init_statistics() -> None:
    cfg = resolve_config("celeba-dcgan", {})
    torch.manual_seed(0)
    g, _ = build_models(cfg, 3)
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)])
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    bn = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1.0) < 5e-3 and abs(bn.std().item() - 0.02) < 5e-3
    assert all(not m.bias.any() for m in g.modules() if isinstance(m, torch.nn.BatchNorm2d))


def test_keras_init_is_glorot_uniform_with_zero_biases() -> None:
    cfg = resolve_config("fashion-mlp", {})
    torch.manual_seed(0)
    g, d = build_models(cfg, 1)
    for m in list(g.modules()) + list(d.modules()):
        if isinstance(m, nn.Linear):
            bound = math.sqrt(6 / (m.in_features + m.out_features))
            assert m.weight.abs().max() <= bound and m.weight.abs().max() > 0.9 * bound
            assert not m.bias.any()


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown init scheme 'nope'"):
        initialise(nn.Linear(2, 2), "nope")
