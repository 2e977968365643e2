"""Generator and discriminator for a config: `build_models(config, channels)`.

Architectures (`ARCHS`): `dcgan` and `dcgan-fc` (models.dcgan), `mlp` (models.mlp); their
conditional forms (labels as a second input) are in models.conditional. Every
generator maps z (N, z_dim) to images (N, channels, size, size) in [-1, 1]; every discriminator
maps such images to raw logits (N,): the sigmoid lives in the loss (BCEWithLogits), which is
numerically safer than DCGAN's Sigmoid + BCELoss and equal in value.

Importing this package loads no torch (the config imports `models.plan` through it, and
`dcgan --help` must stay light); the networks are imported when `build_models` runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError
from .plan import ARCHS, check_size, conv_plan

__all__ = ["ARCHS", "build_models", "check_size", "conv_plan"]

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from ..config import TrainConfig
    from ..labels import Condition


def build_models(
    config: "TrainConfig", channels: int, condition: "Condition | None" = None
) -> tuple["nn.Module", "nn.Module"]:
    """Build (generator, discriminator) for the config, initialised as the config says.

    Uses config.arch, size, z_dim, g_channels / d_channels (conv widths), d_batchnorm, mlp_hidden,
    init and spectral_norm; `channels` is the image channel count C (1 gray, 3 RGB). Both modules
    are in training mode on the CPU, drawn from torch's global generator (seed it for the same
    weights). Spectral normalisation is applied to D here when the config asks, so training and
    every loader build the same module (its state dict differs from a plain D).

    condition: the labels of a conditional config (`dcgan.labels.Condition`, from the data or a
    checkpoint): G and D then take labels too (models.conditional). An unconditional config takes None.
    """
    from . import dcgan, mlp
    from .weight_init import initialise

    check_size(config.arch, config.size)
    if config.is_conditional() != (condition is not None):
        want = "needs the labels of its data" if condition is None else "takes no labels"
        raise ConfigError(f"--conditional/--attributes: this config {want}")
    if condition is not None:
        from .conditional import build_conditional

        g, d = build_conditional(config, channels, condition)
    elif config.arch == "dcgan":
        g = dcgan.Generator(config.z_dim, channels, config.size, config.g_channels)
        d = dcgan.Discriminator(channels, config.size, config.d_channels, batchnorm=config.d_batchnorm)
    elif config.arch == "dcgan-fc":
        g = dcgan.FCGenerator(config.z_dim, channels, config.size, config.g_channels)
        d = dcgan.FCDiscriminator(channels, config.size, config.d_channels, batchnorm=config.d_batchnorm)
    elif config.arch == "mlp":
        g = mlp.Generator(config.z_dim, channels, config.size, config.mlp_hidden)
        d = mlp.Discriminator(channels, config.size, config.mlp_hidden)
    else:  # validated earlier; kept for direct callers
        raise ConfigError(f"--arch: unknown architecture {config.arch!r}")
    initialise(g, config.init)
    initialise(d, config.init)
    if condition is not None:
        from .conditional import initialise_labels

        initialise_labels(g, config.init)
        initialise_labels(d, config.init)
    if config.spectral_norm:  # after init (the parametrization keeps the initialised weight)
        from .spectral import apply_spectral_norm

        apply_spectral_norm(d)
        if condition is not None:
            from .conditional import spectral_norm_embeddings

            spectral_norm_embeddings(d)
    return g, d
