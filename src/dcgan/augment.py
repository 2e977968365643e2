"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

D sees real and fake images through the same random, differentiable transforms, so it cannot
memorise a small training set, and G still gets gradients through them. Policies, by name:

- `color`: brightness (add U[-0.5, 0.5)), saturation (scale the distance from the pixel's
  channel mean by U[0, 2); a no-op on 1-channel images) and contrast (scale the distance from the
  image mean by U[0.5, 1.5)), one draw per image each;
- `translation`: shift by whole pixels, up to 1/8 of the side each way, filling with zeros;
- `cutout`: zero one square of half the side per image, its centre anywhere in the image
  (the square is clipped at the borders).

Images are (N, C, H, W) floats, in [-1, 1] as the loop feeds them; any N, C, H, W, CPU or CUDA.

Random draws come from `generator` when given (a torch.Generator on the images' device), else
from torch's global generator for that device. The training loop passes its own device
generator (`aug_rng`), whose state it writes into every checkpoint, so a resumed run draws the
same augmentations as an uninterrupted one. Each draw is float32 whatever the image dtype, so
the stream does not depend on autocast.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from .errors import ConfigError

Augment = Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]

TRANSLATION_RATIO = 1 / 8  # largest shift, as a fraction of the side
CUTOUT_RATIO = 1 / 2  # cutout square side, as a fraction of the side


def _rand(x: torch.Tensor, generator: torch.Generator | None, *shape: int) -> torch.Tensor:
    """U[0, 1) of `shape` on x's device, float32 draws cast to x's dtype."""
    return torch.rand(shape, generator=generator, device=x.device).to(x.dtype)


def _randint(x: torch.Tensor, generator: torch.Generator | None, low: int, high: int, n: int) -> torch.Tensor:
    """n integers in [low, high) on x's device, shape (n, 1, 1)."""
    return torch.randint(low, high, (n, 1, 1), generator=generator, device=x.device)


def brightness(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    # x + U[-0.5, 0.5), one offset per image: (N, 1, 1, 1)
    return x + (_rand(x, generator, x.shape[0], 1, 1, 1) - 0.5)


def saturation(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    # Scale each pixel's distance from its channel mean by U[0, 2); 1 channel: nothing to scale.
    if x.shape[1] == 1:
        return x
    mean = x.mean(dim=1, keepdim=True)  # (N, 1, H, W)
    return (x - mean) * (_rand(x, generator, x.shape[0], 1, 1, 1) * 2) + mean


def contrast(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    # Scale the distance from the image's mean by U[0.5, 1.5).
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (N, 1, 1, 1)
    return (x - mean) * (_rand(x, generator, x.shape[0], 1, 1, 1) + 0.5) + mean


def translation(
    x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = TRANSLATION_RATIO
) -> torch.Tensor:
    """Shift each image by (dy, dx) whole pixels, |dy| <= H*ratio, |dx| <= W*ratio; zeros come in.

    out[n, :, i, j] = x[n, :, i - dy, j - dx] where that lies inside the image, else 0, so a
    positive dy moves content down. A gather from the zero-padded image keeps it differentiable.
    """
    n, _, h, w = x.shape
    max_dy, max_dx = int(h * ratio), int(w * ratio)
    dy = _randint(x, generator, -max_dy, max_dy + 1, n)  # (N, 1, 1)
    dx = _randint(x, generator, -max_dx, max_dx + 1, n)  # (N, 1, 1)
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    # Source indices in the image padded by one zero pixel on each side; out of range -> the pad.
    src_rows = (rows - dy + 1).clamp(0, h + 1)  # (N, H, 1)
    src_cols = (cols - dx + 1).clamp(0, w + 1)  # (N, 1, W)
    batch = torch.arange(n, device=x.device).view(n, 1, 1)
    padded = F.pad(x, (1, 1, 1, 1))  # (N, C, H + 2, W + 2)
    # Advanced indices on dims 0, 2, 3 broadcast to (N, H, W); the channel dim goes last.
    out = padded.permute(0, 2, 3, 1)[batch, src_rows, src_cols]  # (N, H, W, C)
    return out.permute(0, 3, 1, 2)  # (N, C, H, W)


def cutout(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """Zero a (H*ratio) x (W*ratio) square per image, centred anywhere in it and clipped at the borders."""
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    # Centre in [0, h] (odd sizes: [0, h)), as in the reference implementation.
    cy = _randint(x, generator, 0, h + (1 - ch % 2), n)  # (N, 1, 1)
    cx = _randint(x, generator, 0, w + (1 - cw % 2), n)  # (N, 1, 1)
    top, left = cy - ch // 2, cx - cw // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)  # (N, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)  # (N, C, H, W)


AUGMENTS: dict[str, list[Augment]] = {
    "color": [brightness, saturation, contrast],
    "translation": [translation],
    "cutout": [cutout],
}

DEFAULT_POLICY = "color,translation,cutout"


def parse_policy(policy: str) -> list[str]:
    """'color, translation' -> ['color', 'translation']; '' -> []; unknown names raise ConfigError."""
    names = [p.strip() for p in policy.split(",") if p.strip()]
    for name in names:
        if name not in AUGMENTS:
            raise ConfigError(f"--augment: unknown policy '{name}'; choose from {', '.join(AUGMENTS)}")
    return names


def diff_augment(
    x: torch.Tensor, policy: str = DEFAULT_POLICY, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Apply the policies in order to (N, C, H, W) images; differentiable w.r.t. x; same shape out.

    generator: a torch.Generator on x's device (None: torch's global generator).
    """
    if x.dim() != 4:
        raise ValueError(f"diff_augment needs (N, C, H, W) images, got shape {tuple(x.shape)}")
    if generator is not None and generator.device.type != x.device.type:
        raise ValueError(f"diff_augment: the generator is on {generator.device}, the images on {x.device}")
    for name in parse_policy(policy):
        for fn in AUGMENTS[name]:
            x = fn(x, generator)
    return x


def make_augment(policy: str) -> Augment:
    """The function the training step applies to every D input: DiffAugment with `policy` drawing
    from the generator it is given, or the identity for "" (the policy is validated here)."""
    if not policy:
        return lambda x, generator: x
    parse_policy(policy)
    return lambda x, generator: diff_augment(x, policy, generator=generator)
