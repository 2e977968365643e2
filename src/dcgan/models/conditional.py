"""Conditional networks: G and D that also take labels y (class indices or {-1, 1} attribute vectors).

- DCGAN generators (`dcgan`, `dcgan-fc`): every BatchNorm becomes a class-conditional BatchNorm
  (de Vries et al. 2017, Miyato & Koyama 2018): normalise without affine parameters, then scale
  and shift by a per-label gamma and beta (an embedding row per class; a linear map of the
  attribute vector). The rest of the network is the unconditional one, layer for layer.
- DCGAN discriminators: a projection discriminator (Miyato & Koyama 2018): with h the features
  before the last layer (after the activation), output = psi(h) + <embed(y), sum over space of h>,
  where psi is the unconditional head. With --spectral-norm the embedding is normalised too.
- MLP (`mlp`): a label embedding concatenated to the inputs of G (z) and D (the flattened image).
- `--class-loss W` (AC-GAN, Odena et al. 2017), DCGAN discriminators: a second head, a linear classifier
  on the same features h (flattened, which never see y), giving class logits (N, K) (attributes: (N, A));
  `D(x, y, classify=True)` returns (logits, class_logits). The loss is `losses.classification_loss`.
  (The MLP's D sees y in its first layer, so a head there could read the label instead of the image.)

Labels: `LabelEmbedding` looks up a row per class index, or applies a linear map (a "vector
condition") to an attribute vector. `y=None` gives the label-free forward: G uses the mean of
its class embeddings (attributes: the all-zero vector, between absent and present) and D only
psi(h); tools that do not know about labels use that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

from ..labels import CLASS, Condition
from . import dcgan, mlp

if TYPE_CHECKING:  # pragma: no cover
    from ..config import TrainConfig

MLP_LABEL_DIM = 50  # width of the MLP's label embedding (as in common conditional MLP GANs)


class LabelEmbedding(nn.Module):
    """y -> (N, dim): a lookup table for class indices (N,), a linear map for attribute vectors (N, A)."""

    def __init__(self, condition: Condition, dim: int, bias: bool = False) -> None:
        super().__init__()
        self.kind = condition.kind
        self.map: nn.Module = (
            nn.Embedding(condition.size, dim) if condition.kind == CLASS else nn.Linear(condition.size, dim, bias=bias)
        )

    def forward(self, y: torch.Tensor | None, n: int) -> torch.Tensor:
        """(n, dim); y None: the label-free embedding (the mean of the rows; the linear map of zeros)."""
        if self.kind == CLASS:
            if y is None:
                return self.map.weight.mean(0, keepdim=True).expand(n, -1)
            return self.map(y.long())
        weight = self.map.weight
        if y is None:
            y = torch.zeros(n, weight.shape[1], device=weight.device, dtype=weight.dtype)
        return self.map(y.to(weight.dtype))


class ConditionalBatchNorm2d(nn.Module):
    """BatchNorm2d without its own affine parameters, then x * gamma(y) + beta(y), per label."""

    def __init__(self, features: int, condition: Condition) -> None:
        super().__init__()
        self.features = features
        self.bn = nn.BatchNorm2d(features, affine=False)
        self.embed = LabelEmbedding(condition, 2 * features, bias=True)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        gamma, beta = self.embed(y, len(x)).to(x.dtype).chunk(2, dim=1)
        return self.bn(x) * gamma[:, :, None, None] + beta[:, :, None, None]


def run_layers(layers: nn.Sequential, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
    """`layers` in order, passing y to the conditional BatchNorms."""
    for layer in layers:
        x = layer(x, y) if isinstance(layer, ConditionalBatchNorm2d) else layer(x)
    return x


class ConditionalGenerator(nn.Module):
    """A DCGAN generator (`dcgan.Generator` or `dcgan.FCGenerator`) with conditional BatchNorm:
    (z (N, z_dim), y) -> images (N, C, size, size) in [-1, 1]."""

    def __init__(self, base: dcgan.Generator | dcgan.FCGenerator, condition: Condition) -> None:
        super().__init__()
        self.condition = condition
        self.z_dim = base.z_dim
        for i, layer in enumerate(base.main):
            if isinstance(layer, nn.BatchNorm2d):
                base.main[i] = ConditionalBatchNorm2d(layer.num_features, condition)
        self.base = base

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        base = self.base
        if isinstance(base, dcgan.FCGenerator):
            x = base.fc(z.view(z.shape[0], self.z_dim)).view(-1, base.top, base.start, base.start)
            x = torch.relu(x)
        else:
            x = z.view(z.shape[0], self.z_dim, 1, 1)
        return run_layers(base.main, x, y)


class ProjectionDiscriminator(nn.Module):
    """A DCGAN discriminator (`dcgan.Discriminator` or `dcgan.FCDiscriminator`) as a projection
    discriminator: (x, y) -> psi(h) + <embed(y), sum_hw h>, logits (N,). classifier: also an auxiliary
    class head on h (--class-loss), whose logits `classify=True` returns too."""

    def __init__(
        self, base: dcgan.Discriminator | dcgan.FCDiscriminator, condition: Condition, classifier: bool = False
    ) -> None:
        super().__init__()
        self.condition = condition
        self.base = base
        if isinstance(base, dcgan.FCDiscriminator):
            features = [m for m in base.main if isinstance(m, nn.Conv2d)][-1].out_channels
            flat = base.fc.in_features
        else:
            last = base.main[-1]
            features = last.in_channels
            flat = features * last.kernel_size[0] * last.kernel_size[1]  # the last conv reads the whole map
        self.embed = LabelEmbedding(condition, features)
        self.classifier = nn.Linear(flat, condition.size) if classifier else None

    def forward(
        self, x: torch.Tensor, y: torch.Tensor | None = None, classify: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        base = self.base
        if isinstance(base, dcgan.FCDiscriminator):
            h = base.main(x)
            out = base.fc(h.flatten(1)).view(-1)
        else:
            layers = list(base.main)
            for layer in layers[:-1]:
                x = layer(x)
            h = x
            out = layers[-1](h).view(-1)
        if y is not None:
            pooled = h.sum(dim=(2, 3))  # (N, F): global sum pooling, as in the projection discriminator
            out = out + (self.embed(y, len(h)).to(pooled.dtype) * pooled).sum(dim=1)
        return with_classes(self.classifier, out, h, classify)


def with_classes(
    classifier: nn.Linear | None, out: torch.Tensor, h: torch.Tensor, classify: bool
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """`out`, or with classify=True (out, class logits of the flattened features h).

    The linear head is applied as a convolution with a kernel the size of the map (the same weights, read in
    the flattening's order): on channels-last features, flatten(1) copies h to NCHW and sends its gradient
    back in that layout, which made the activation's backward before it 10x slower on the CPU (the whole
    training step ~15%)."""
    if not classify:
        return out
    if classifier is None:
        raise ValueError("this discriminator has no class head (it was trained without --class-loss)")
    kernel = classifier.weight.view(len(classifier.weight), *h.shape[1:])
    return out, F.conv2d(h, kernel, classifier.bias).flatten(1)


class ConditionalMLPGenerator(nn.Module):
    """The MLP generator with a label embedding concatenated to z."""

    def __init__(self, z_dim: int, channels: int, size: int, hidden: int, condition: Condition) -> None:
        super().__init__()
        self.condition = condition
        self.z_dim, self.channels, self.size = z_dim, channels, size
        self.embed = LabelEmbedding(condition, MLP_LABEL_DIM)
        self.main = mlp.Generator(z_dim + MLP_LABEL_DIM, channels, size, hidden).main

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        z = z.view(z.shape[0], self.z_dim)
        x = torch.cat([z, self.embed(y, len(z)).to(z.dtype)], dim=1)
        return self.main(x).view(-1, self.channels, self.size, self.size)


class ConditionalMLPDiscriminator(nn.Module):
    """The MLP discriminator with a label embedding concatenated to the flattened image."""

    def __init__(self, channels: int, size: int, hidden: int, condition: Condition) -> None:
        super().__init__()
        self.condition = condition
        self.embed = LabelEmbedding(condition, MLP_LABEL_DIM)
        self.main = nn.Sequential(
            nn.Linear(channels * size * size + MLP_LABEL_DIM, hidden), nn.ReLU(True), nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        flat = x.flatten(1)
        return self.main(torch.cat([flat, self.embed(y, len(x)).to(flat.dtype)], dim=1)).view(-1)


def build_conditional(config: TrainConfig, channels: int, condition: Condition) -> tuple[nn.Module, nn.Module]:
    """Conditional (G, D) for the config's architecture, not yet initialised (see `initialise_labels`)."""
    c = config
    if c.arch == "mlp":
        return (
            ConditionalMLPGenerator(c.z_dim, channels, c.size, c.mlp_hidden, condition),
            ConditionalMLPDiscriminator(channels, c.size, c.mlp_hidden, condition),
        )
    if c.arch == "dcgan-fc":
        g: nn.Module = dcgan.FCGenerator(c.z_dim, channels, c.size, c.g_channels)
        d: nn.Module = dcgan.FCDiscriminator(channels, c.size, c.d_channels, batchnorm=c.d_batchnorm)
    else:
        g = dcgan.Generator(c.z_dim, channels, c.size, c.g_channels)
        d = dcgan.Discriminator(channels, c.size, c.d_channels, batchnorm=c.d_batchnorm)
    return ConditionalGenerator(g, condition), ProjectionDiscriminator(d, condition, c.class_loss > 0)


@torch.no_grad()
def initialise_labels(module: nn.Module, scheme: str) -> None:
    """Initialise the label layers (after `weight_init.initialise`, which does not know them).

    Conditional BatchNorm starts as the BatchNorm it replaces: gamma N(1, 0.02) (keras: 1), beta 0,
    the attribute map's weights N(0, 0.02). Embeddings that feed a network (MLP inputs, the projection)
    start small: N(0, 0.02) (keras: U(-0.05, 0.05), Keras' Embedding default)."""
    in_batchnorm = {id(m.embed) for m in module.modules() if isinstance(m, ConditionalBatchNorm2d)}
    for m in module.modules():
        if isinstance(m, ConditionalBatchNorm2d):
            f, layer = m.features, m.embed.map
            weight = layer.weight  # (K, 2F) table, or (2F, A) linear map
            if isinstance(layer, nn.Embedding):
                weight.zero_()
                gamma = weight[:, :f]
            else:
                weight.normal_(0.0, 0.02)
                layer.bias.zero_()
                gamma = layer.bias[:f]
            if scheme == "dcgan":
                gamma.normal_(1.0, 0.02)
            else:
                gamma.fill_(1.0)
        elif isinstance(m, LabelEmbedding) and isinstance(m.map, nn.Embedding) and id(m) not in in_batchnorm:
            if scheme == "dcgan":
                m.map.weight.normal_(0.0, 0.02)
            else:
                m.map.weight.uniform_(-0.05, 0.05)


def spectral_norm_embeddings(module: nn.Module) -> None:
    """Spectral normalisation of D's class embeddings (Miyato & Koyama normalise the projection's
    embedding matrix too); attribute maps are Linear layers, normalised with every other layer."""
    for m in module.modules():
        if isinstance(m, nn.Embedding) and not parametrize.is_parametrized(m, "weight"):
            spectral_norm(m, name="weight", n_power_iterations=1)
