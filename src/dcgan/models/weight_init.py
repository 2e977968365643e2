"""Weight initialisation schemes, by name (the config's `init`)."""

from __future__ import annotations

from torch import nn


def initialise(module: nn.Module, scheme: str) -> None:
    """Initialise every layer of `module` in place.

    dcgan: conv and linear weights N(0, 0.02), BatchNorm weight N(1, 0.02), every bias 0, as the
    DCGAN paper prescribes. keras: Glorot uniform weights and zero biases, Keras' Dense defaults
    (the `fashion-mlp` preset).
    """
    for m in module.modules():
        if scheme == "dcgan":
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d) and m.affine:  # conditional BatchNorm has its own (labels)
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
        elif scheme == "keras":
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        else:
            raise ValueError(f"unknown init scheme {scheme!r}")
