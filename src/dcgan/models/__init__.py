"""Generator and discriminator builders, registered by architecture name.

Every discriminator returns raw logits of shape (N,); the sigmoid lives in the loss
(BCEWithLogits), which is numerically safer than S1's Sigmoid + BCELoss and equal in value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from torch import nn

    from ..config import TrainConfig


def conv_plan(size: int) -> tuple[int, int]:
    """Split `size` into (base, doublings) with size == base * 2**doublings, base in 3..8.

    28 -> (7, 2), 32 -> (4, 3), 64 -> (4, 4), 96 -> (6, 4), 128 -> (4, 5).
    """
    base, doublings = size, 0
    while base % 2 == 0 and base // 2 >= 4:
        base //= 2
        doublings += 1
    if not 3 <= base <= 8 or doublings < 2:
        raise ConfigError(
            f"--size {size}: a DCGAN cannot be built for this size; use b*2^k with b in 3..8 and k >= 2 "
            "(e.g. 28, 32, 48, 64, 96, 128, 256)"
        )
    return base, doublings


def check_size(arch: str, size: int) -> None:
    if size < 12 or size > 1024:
        raise ConfigError(f"--size {size}: must be between 12 and 1024 pixels")
    if arch == "mlp":
        return
    if arch == "dcgan-fc" and size % 16:
        raise ConfigError(f"--size {size}: the dcgan-fc architecture needs a multiple of 16 (e.g. 32, 64, 96, 128)")
    conv_plan(size)


def build_models(config: "TrainConfig", channels: int) -> tuple["nn.Module", "nn.Module"]:
    """Build (generator, discriminator) for the config, initialised as the config says.

    Spectral normalisation is applied to D here when the config asks, so training and every
    loader build the same module (its state dict differs from a plain D).
    """
    from . import dcgan, mlp
    from .init import initialise

    check_size(config.arch, config.size)
    if config.arch == "dcgan":
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
    if config.spectral_norm:  # after init (the parametrization keeps the initialised weight)
        from .spectral import apply_spectral_norm

        apply_spectral_norm(d)
    return g, d
