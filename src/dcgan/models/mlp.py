"""S5's MLP GAN: G = Dense(256, relu) -> Dense(H*W*C, tanh); D = Dense(256, relu) -> Dense(1).

At 28x28x1 and z = 100 the parameter counts are S5's: G 227,344, D 201,217.
"""

from __future__ import annotations

import torch
from torch import nn


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, size: int, hidden: int = 256) -> None:
        super().__init__()
        self.z_dim, self.channels, self.size = z_dim, channels, size
        self.main = nn.Sequential(
            nn.Linear(z_dim, hidden), nn.ReLU(True), nn.Linear(hidden, channels * size * size), nn.Tanh()
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(z.shape[0], self.z_dim)).view(-1, self.channels, self.size, self.size)


class Discriminator(nn.Module):
    def __init__(self, channels: int, size: int, hidden: int = 256) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * size * size, hidden), nn.ReLU(True), nn.Linear(hidden, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)
