"""GAN losses on discriminator logits, registered by name.

Each loss gives the D loss as (loss on real, loss on fake), whose sum is S1's Loss_D, and the
G loss. `bce` is S1's binary cross-entropy with the non-saturating generator loss
(G maximises log D(G(z))), on logits; `real_label` < 1 is one-sided label smoothing (S4).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def bce_d(real_logits: torch.Tensor, fake_logits: torch.Tensor, real_label: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    real = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, real_label))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return real, fake


def bce_g(fake_logits: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


D_LOSSES: dict[str, Callable[..., tuple[torch.Tensor, torch.Tensor]]] = {"bce": bce_d}
G_LOSSES: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"bce": bce_g}
