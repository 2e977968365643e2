"""Weight initialisation schemes, by name."""

from __future__ import annotations

from torch import nn


def initialise(module: nn.Module, scheme: str) -> None:
    """dcgan: conv weights N(0, 0.02), BatchNorm weight N(1, 0.02) and bias 0 (S1); linear N(0, 0.02).
    keras: Glorot uniform weights and zero biases, Keras' Dense defaults (S5)."""
    for m in module.modules():
        if scheme == "dcgan":
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.normal_(m.weight, 0.0, 0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)
                nn.init.zeros_(m.bias)
        elif scheme == "keras":
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        else:
            raise ValueError(f"unknown init scheme {scheme!r}")
