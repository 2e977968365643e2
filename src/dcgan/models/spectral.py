"""Spectral normalisation (Miyato et al. 2018) for every weight layer of a network, usually D.

`apply_spectral_norm(d)` wraps each Conv2d, ConvTranspose2d and Linear in
`torch.nn.utils.parametrizations.spectral_norm`: the layer's weight becomes W / sigma(W), with
sigma estimated by one power iteration per training-mode forward (the vectors u, v are buffers).

State dict: a wrapped layer stores `<layer>.parametrizations.weight.original` and the power
iteration's `<layer>.parametrizations.weight.0._u` / `._v` instead of `<layer>.weight`. A
checkpoint therefore loads only into a module to which `apply_spectral_norm` was applied too
(build, initialise, apply, then load), and loading u and v as well makes outputs match exactly.

Order: initialise the weights first (the parametrization's `original` keeps them), apply before
building the optimiser (it must see the `original` parameters), move to a device at any time.

BatchNorm layers are left alone. Together with spectral norm in D they are unusual: SN bounds each
layer's Lipschitz constant and BatchNorm's per-batch rescaling undoes that bound, which is why
SN-GAN and BigGAN's discriminators have no BatchNorm (train with --no-d-batchnorm).
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

SPECTRAL_LAYERS = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Wrap every Conv2d / ConvTranspose2d / Linear in `module` (in place) and return it.

    Idempotent: layers already parametrized are left as they are. ConvTranspose2d is normalised
    over its output-channel dimension (dim 1), which torch picks for transposed convolutions.
    """
    # Collect first: registering a parametrization adds submodules while we would iterate.
    layers = [m for m in module.modules() if isinstance(m, SPECTRAL_LAYERS)]
    for layer in layers:
        if parametrize.is_parametrized(layer, "weight"):
            continue
        spectral_norm(layer, name="weight", n_power_iterations=1)
    return module
