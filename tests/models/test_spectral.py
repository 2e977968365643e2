"""Spectral norm wraps every weight layer and survives a state-dict round trip exactly."""

from __future__ import annotations

import io

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from dcgan.models.dcgan import Discriminator, FCDiscriminator, Generator
from dcgan.models.spectral import SPECTRAL_LAYERS, apply_spectral_norm
from dcgan.models.weight_init import initialise


def has_spectral_norm(module: nn.Module) -> bool:
    """Whether any weight layer of `module` is parametrized (spectral-normalised)."""
    return any(isinstance(m, SPECTRAL_LAYERS) and parametrize.is_parametrized(m, "weight") for m in module.modules())


def build_d(seed: int, fc: bool = False) -> nn.Module:
    torch.manual_seed(seed)
    d = FCDiscriminator(3, 32, width=8) if fc else Discriminator(1, 28, width=8, batchnorm=False)
    initialise(d, "dcgan")
    return apply_spectral_norm(d)


def test_every_conv_and_linear_is_wrapped_and_it_is_idempotent() -> None:
    for module in (build_d(0), build_d(0, fc=True), apply_spectral_norm(Generator(8, 1, 28, width=8))):
        layers = [m for m in module.modules() if isinstance(m, SPECTRAL_LAYERS)]
        assert layers and all(parametrize.is_parametrized(m, "weight") for m in layers)
        assert has_spectral_norm(module)
        keys = set(module.state_dict())
        apply_spectral_norm(module)
        assert set(module.state_dict()) == keys  # nothing wrapped twice
    assert not has_spectral_norm(Discriminator(1, 28, width=8))


def test_batchnorm_layers_are_left_alone() -> None:
    d = apply_spectral_norm(Discriminator(1, 28, width=8))
    bns = [m for m in d.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and not any(parametrize.is_parametrized(m) for m in bns)
    assert has_spectral_norm(d)


def test_normalised_weights_have_unit_spectral_norm() -> None:
    d = build_d(0, fc=True)
    x = torch.randn(4, 3, 32, 32)
    for _ in range(30):  # power iteration converges over training-mode forwards
        d(x)
    d.eval()
    for m in d.modules():
        if isinstance(m, SPECTRAL_LAYERS):
            w = m.weight.flatten(1) if not isinstance(m, nn.ConvTranspose2d) else m.weight.transpose(0, 1).flatten(1)
            assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, abs=1e-2)


@pytest.mark.parametrize("fc", [False, True])
def test_state_dict_round_trip_into_a_fresh_module_matches_exactly(fc: bool) -> None:
    d = build_d(0, fc)
    size, ch = (32, 3) if fc else (28, 1)
    x = torch.randn(5, ch, size, size)
    for _ in range(3):  # move u, v away from their initial values
        d(x)
    state = d.state_dict()
    assert any(k.endswith("._u") for k in state) and any(k.endswith("._v") for k in state)
    for name, m in d.named_modules():
        if isinstance(m, SPECTRAL_LAYERS):  # the weight lives in the parametrization only
            assert f"{name}.weight" not in state and f"{name}.parametrizations.weight.original" in state
    # Through bytes, as a checkpoint would: safetensors when present, else torch.save.
    try:
        from safetensors.torch import load, save

        blob = save({k: v.contiguous() for k, v in state.items()})
        loaded = load(blob)
    except ImportError:  # pragma: no cover
        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        loaded = torch.load(buf)
    fresh = build_d(1, fc)  # different seed: different weights and u, v before loading
    with torch.no_grad():
        assert not torch.equal(fresh.eval()(x), d.eval()(x))
    fresh.load_state_dict(loaded)
    for k, v in d.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k
    with torch.no_grad():
        assert torch.equal(fresh.eval()(x), d.eval()(x))
        # Training mode runs one power iteration from the loaded u, v: still identical.
        assert torch.equal(fresh.train()(x), d.train()(x))
        assert torch.equal(fresh.train()(x), d.train()(x))


def test_gradients_reach_the_original_weights() -> None:
    d = build_d(0)
    params = dict(d.named_parameters())
    assert any(k.endswith("parametrizations.weight.original") for k in params)
    d(torch.randn(2, 1, 28, 28)).sum().backward()
    assert all(p.grad is not None for p in d.parameters())
