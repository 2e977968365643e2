"""Conditional networks (dcgan.models.conditional): the shared model tests for every architecture with class
labels and with attribute vectors, and what only conditional networks do (labels change the output)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from dcgan.config import resolve_config
from dcgan.errors import ConfigError
from dcgan.labels import Condition
from dcgan.models import build_models
from dcgan.models.conditional import ConditionalBatchNorm2d, ProjectionDiscriminator

from .model_tester import ModelTesterMixin

TINY = {"g_channels": 8, "d_channels": 8, "mlp_hidden": 16, "conditional": True}
CLASSES = Condition("class", ("circle", "square", "triangle"), (5, 3, 4), (), "0" * 64)
ATTRS = Condition("attributes", ("Smiling", "Male"), (3, 1, 2), ("++", "+-", "--"), "1" * 64)


class TestConditionalDCGAN28(ModelTesterMixin):
    preset = "fashion-dcgan"
    overrides = {**TINY, "size": 28, "channels": 1}
    condition = CLASSES


class TestConditionalDCGANAttributes(ModelTesterMixin):
    preset = "fashion-dcgan"
    overrides = {**TINY, "size": 32, "channels": 3}
    condition = ATTRS


class TestConditionalDCGANSpectralNorm(ModelTesterMixin):
    preset = "fashion-dcgan"
    overrides = {**TINY, "spectral_norm": True, "d_batchnorm": False, "loss": "hinge"}
    condition = CLASSES
    d_batchnorm = False
    d_spectral_norm = True


class TestConditionalDCGANFCAttributesSpectralNorm(ModelTesterMixin):
    preset = "celeba-variant"
    overrides = {**TINY, "size": 32, "spectral_norm": True}
    condition = ATTRS
    d_batchnorm = False
    d_spectral_norm = True


class TestConditionalMLP(ModelTesterMixin):
    preset = "fashion-mlp"
    overrides = TINY
    condition = CLASSES
    g_batchnorm = False
    d_batchnorm = False


class TestConditionalMLPAttributes(ModelTesterMixin):
    preset = "fashion-mlp"
    overrides = TINY
    condition = ATTRS
    g_batchnorm = False
    d_batchnorm = False


@pytest.mark.parametrize("preset", ["fashion-dcgan", "celeba-variant", "fashion-mlp"])
@pytest.mark.parametrize("condition", [CLASSES, ATTRS], ids=["classes", "attributes"])
def test_labels_change_what_g_makes_and_what_d_says(preset: str, condition: Condition) -> None:
    cfg = resolve_config(preset, {**TINY, "size": 32})
    torch.manual_seed(0)
    g, d = build_models(cfg, cfg.channels, condition)
    for net in (g, d):  # the label layers start small; give them weight so the effect is clear
        for m in net.modules():
            if isinstance(m, nn.Embedding) or (isinstance(m, nn.Linear) and m.in_features <= 3):
                nn.init.normal_(m.weight, 0.0, 1.0)
    g.eval(), d.eval()
    z = torch.randn(1, cfg.z_dim).repeat(2, 1)
    y = condition.as_tensor([0, 1] if condition.kind == "class" else [[1, 1], [-1, -1]])
    with torch.no_grad():
        x = g(z, y)
        assert not torch.allclose(x[0], x[1], atol=1e-4)  # same z, two labels: two images
        same = x[:1].repeat(2, 1, 1, 1)
        logits = d(same, y)
        assert not torch.allclose(logits[0], logits[1], rtol=1e-3, atol=0)  # same image, two labels: two scores
        assert g(z, y.flip(0)).allclose(x.flip(0), atol=1e-6)  # the label, not the position, decides
        assert g(z).shape == x.shape and d(x).shape == (2,)  # no labels: the label-free forward


def test_the_dcgan_generator_uses_conditional_batchnorm_and_d_is_a_projection_discriminator() -> None:
    cfg = resolve_config("fashion-dcgan", {**TINY, "size": 32})
    g, d = build_models(cfg, 1, CLASSES)
    unconditional, _ = build_models(resolve_config("fashion-dcgan", {**TINY, "size": 32, "conditional": False}), 1)
    cbn = [m for m in g.modules() if isinstance(m, ConditionalBatchNorm2d)]
    plain = [m for m in unconditional.modules() if isinstance(m, nn.BatchNorm2d)]
    assert [m.features for m in cbn] == [m.num_features for m in plain]  # one conditional BN per BN
    assert all(m.embed.map.weight.shape == (3, 2 * m.features) for m in cbn)  # gamma and beta per class
    assert isinstance(d, ProjectionDiscriminator) and d.embed.map.weight.shape == (3, 8 * 4)
    # Conditional BN starts as the BatchNorm it replaces: gamma ~ N(1, 0.02), beta 0.
    gamma, beta = cbn[0].embed.map.weight.detach().chunk(2, dim=1)
    assert abs(float(gamma.mean()) - 1) < 0.02 and float(beta.abs().max()) == 0


def test_spectral_norm_covers_the_projection_embedding() -> None:
    cfg = resolve_config("fashion-dcgan", {**TINY, "spectral_norm": True, "d_batchnorm": False})
    _, d = build_models(cfg, 1, CLASSES)
    assert parametrize.is_parametrized(d.embed.map, "weight")
    sigma = torch.linalg.matrix_norm(d.embed.map.weight.detach(), ord=2)
    d.train()
    for _ in range(30):  # power iterations converge on the embedding's largest singular value
        d(torch.zeros(2, 1, cfg.size, cfg.size), torch.tensor([0, 1]))
    assert float(torch.linalg.matrix_norm(d.embed.map.weight.detach(), ord=2)) == pytest.approx(1.0, abs=0.05)
    assert sigma > 0


def test_a_conditional_config_needs_labels_and_an_unconditional_one_takes_none() -> None:
    cfg = resolve_config("fashion-dcgan", TINY)
    with pytest.raises(ConfigError, match="needs the labels of its data"):
        build_models(cfg, 1)
    with pytest.raises(ConfigError, match="takes no labels"):
        build_models(resolve_config("fashion-dcgan", {}), 1, CLASSES)


@pytest.mark.parametrize("preset,size", [("fashion-dcgan", 28), ("celeba-variant", 32)])
def test_the_class_head_is_a_linear_map_of_the_flattened_features_that_keeps_their_layout(
    preset: str, size: int
) -> None:
    # --class-loss's head runs as a convolution over the whole map: the same numbers as a linear layer on
    # flatten(1) (so its weights mean the same), and its gradient comes back in the features' own memory
    # format (channels-last stays channels-last: no slow mixed-layout backward through D).
    from dcgan.models.conditional import with_classes

    cfg = resolve_config(preset, {**TINY, "size": size, "channels": 1, "class_loss": 1.0})
    _, d = build_models(cfg, 1, CLASSES)
    head = d.classifier
    torch.manual_seed(0)
    for layout in (torch.contiguous_format, torch.channels_last):
        x = torch.randn(5, head.in_features // 16, 4, 4).to(memory_format=layout).requires_grad_(True)
        h = nn.functional.leaky_relu(x, 0.2)  # D's last features (its last map is 4 x 4), inside the graph
        grads: list[torch.Tensor] = []
        h.register_hook(grads.append)  # the gradient the head sends back into D
        _, classes = with_classes(head, torch.zeros(5), h, classify=True)
        assert torch.allclose(classes, head(h.flatten(1)), atol=1e-5) and classes.shape == (5, 3)
        classes.square().sum().backward()
        assert grads[0].is_contiguous(memory_format=layout)  # flatten(1) sent NCHW back into channels-last h
