"""DCGAN generator and discriminator (S1), built for any size base * 2**k, and the S4 variant.

For 64 px and ngf = ndf = 64 these are layer for layer the networks of S1 / the PyTorch example:
G: z -> (ngf*8) x 4 x 4 -> (ngf*4) x 8 x 8 -> (ngf*2) x 16 x 16 -> ngf x 32 x 32 -> nc x 64 x 64
D: nc x 64 x 64 -> ndf x 32 x 32 -> (ndf*2) x 16 x 16 -> (ndf*4) x 8 x 8 -> (ndf*8) x 4 x 4 -> 1
"""

from __future__ import annotations

import torch
from torch import nn

from .plan import conv_plan


class Generator(nn.Module):
    def __init__(self, z_dim: int, channels: int, size: int, width: int = 64) -> None:
        super().__init__()
        self.z_dim, self.channels, self.size = z_dim, channels, size
        base, doublings = conv_plan(size)
        top = width * 2 ** (doublings - 1)
        # z (z_dim x 1 x 1) -> top x base x base
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(z_dim, top, base, 1, 0, bias=False),
            nn.BatchNorm2d(top),
            nn.ReLU(True),
        ]
        ch = top
        # Each step doubles the side and halves the channels; the last one makes the image.
        for _ in range(doublings - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(z.shape[0], self.z_dim, 1, 1))


class Discriminator(nn.Module):
    def __init__(self, channels: int, size: int, width: int = 64, batchnorm: bool = True) -> None:
        super().__init__()
        base, doublings = conv_plan(size)
        # nc x size x size -> width x size/2 (no BatchNorm on the first layer, as in S1)
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        ch = width
        for _ in range(doublings - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=not batchnorm)]
            if batchnorm:
                layers += [nn.BatchNorm2d(ch * 2)]
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            ch *= 2
        # (ch) x base x base -> 1 x 1 x 1 logit
        layers += [nn.Conv2d(ch, 1, base, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)


class FCGenerator(nn.Module):
    """S4's generator: z -> fully connected -> (width*8) x size/16 x size/16 -> 4 transposed convs."""

    def __init__(self, z_dim: int, channels: int, size: int, width: int = 64) -> None:
        super().__init__()
        self.z_dim, self.channels, self.size = z_dim, channels, size
        self.start = size // 16
        self.top = width * 8
        self.fc = nn.Linear(z_dim, self.top * self.start * self.start)
        layers: list[nn.Module] = []
        ch = self.top
        for _ in range(3):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.fc(z.view(z.shape[0], self.z_dim)).view(-1, self.top, self.start, self.start)
        return self.main(torch.relu(x))


class FCDiscriminator(nn.Module):
    """S4's discriminator: 4 strided convs (kernel 4, width doubling), LeakyReLU(0.2), FC to one logit."""

    def __init__(self, channels: int, size: int, width: int = 64, batchnorm: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        ch_in, ch = channels, width
        for i in range(4):
            layers += [nn.Conv2d(ch_in, ch, 4, 2, 1, bias=not (batchnorm and i > 0))]
            if batchnorm and i > 0:
                layers += [nn.BatchNorm2d(ch)]
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            ch_in, ch = ch, ch * 2
        self.main = nn.Sequential(*layers)
        self.fc = nn.Linear(ch_in * (size // 16) ** 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.main(x).flatten(1)).view(-1)
