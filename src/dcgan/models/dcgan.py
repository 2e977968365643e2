"""DCGAN generator and discriminator (Radford et al. 2015) for any size base * 2**k, and the FC-headed variant.

`Generator` / `Discriminator` (architecture `dcgan`) are, at 64 px and width 64, layer for layer
the networks of the DCGAN paper and the PyTorch DCGAN example (the `celeba-dcgan` preset):

    G: z -> (ngf*8) x 4 x 4 -> (ngf*4) x 8 x 8 -> (ngf*2) x 16 x 16 -> ngf x 32 x 32 -> nc x 64 x 64
    D: nc x 64 x 64 -> ndf x 32 x 32 -> (ndf*2) x 16 x 16 -> (ndf*4) x 8 x 8 -> (ndf*8) x 4 x 4 -> 1

Other sizes change the base (size = base * 2**doublings, see `plan.conv_plan`) and the number of
doublings. `FCGenerator` / `FCDiscriminator` (architecture `dcgan-fc`, the `celeba-variant` preset)
replace the first and last convolution by fully connected layers and drop BatchNorm from D.

Every generator maps z (N, z_dim) to images (N, C, size, size) in [-1, 1] (tanh); every
discriminator maps images (N, C, size, size) to raw logits (N,).
"""

from __future__ import annotations

import torch
from torch import nn

from .plan import conv_plan


class Generator(nn.Module):
    """z (N, z_dim) -> (N, channels, size, size) in [-1, 1]: one 'project' transposed conv to
    (width * 2**(doublings-1)) x base x base, then stride-2 transposed convs that double the side and
    halve the channels, BatchNorm + ReLU after each but the last (tanh)."""

    def __init__(self, z_dim: int, channels: int, size: int, width: int = 64) -> None:
        super().__init__()
        self.z_dim = z_dim
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
        """z (N, z_dim) -> images (N, channels, size, size)."""
        return self.main(z.view(z.shape[0], self.z_dim, 1, 1))


class Discriminator(nn.Module):
    """Images (N, channels, size, size) -> logits (N,): stride-2 convs that halve the side and double
    the channels (LeakyReLU 0.2; BatchNorm after all but the first when `batchnorm`), then one conv
    over the remaining base x base to a single logit."""

    def __init__(self, channels: int, size: int, width: int = 64, batchnorm: bool = True) -> None:
        super().__init__()
        base, doublings = conv_plan(size)
        # nc x size x size -> width x size/2; no BatchNorm on the first layer, as in DCGAN.
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True)]
        ch = width
        for _ in range(doublings - 1):
            # Without BatchNorm the conv needs its own bias; with it, BatchNorm's shift is the bias.
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=not batchnorm)]
            if batchnorm:
                layers += [nn.BatchNorm2d(ch * 2)]
            layers += [nn.LeakyReLU(0.2, inplace=True)]
            ch *= 2
        # (ch) x base x base -> 1 x 1 x 1 logit
        layers += [nn.Conv2d(ch, 1, base, 1, 0, bias=False)]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, channels, size, size) -> logits (N,)."""
        return self.main(x).view(-1)


class FCGenerator(nn.Module):
    """z (N, z_dim) -> fully connected -> (width*8) x size/16 x size/16 -> 4 stride-2 transposed convs
    -> (N, channels, size, size) in [-1, 1]. `size` must be a multiple of 16."""

    def __init__(self, z_dim: int, channels: int, size: int, width: int = 64) -> None:
        super().__init__()
        self.z_dim = z_dim
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
        """z (N, z_dim) -> images (N, channels, size, size)."""
        x = self.fc(z.view(z.shape[0], self.z_dim)).view(-1, self.top, self.start, self.start)
        return self.main(torch.relu(x))


class FCDiscriminator(nn.Module):
    """Images (N, channels, size, size) -> logits (N,): 4 stride-2 convs (kernel 4, width doubling from
    `width`), LeakyReLU(0.2), then a fully connected layer to one logit. `size` must be a multiple of 16."""

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
        """x (N, channels, size, size) -> logits (N,)."""
        return self.fc(self.main(x).flatten(1)).view(-1)
