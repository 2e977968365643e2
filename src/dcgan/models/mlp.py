"""The Keras MLP GAN of the `fashion-mlp` preset: G = Dense(hidden, relu) -> Dense(H*W*C, tanh);
D = Dense(hidden, relu) -> Dense(1).

At 28x28x1, z = 100 and hidden = 256 the parameter counts are the Keras model's: G 227,344, D 201,217.
"""

from __future__ import annotations

import torch
from torch import nn


class Generator(nn.Module):
    """z (N, z_dim) -> (N, channels, size, size) in [-1, 1]."""

    def __init__(self, z_dim: int, channels: int, size: int, hidden: int = 256) -> None:
        super().__init__()
        self.z_dim, self.channels, self.size = z_dim, channels, size
        self.main = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.ReLU(True), nn.Linear(hidden, channels * size * size), nn.Tanh()
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, z_dim) -> images (N, channels, size, size)."""
        return self.main(z.view(z.shape[0], self.z_dim)).view(-1, self.channels, self.size, self.size)


class Discriminator(nn.Module):
    """Images (N, channels, size, size), flattened -> logits (N,)."""

    def __init__(self, channels: int, size: int, hidden: int = 256) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * size * size, hidden), nn.ReLU(True), nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, channels, size, size) -> logits (N,)."""
        return self.main(x).view(-1)
