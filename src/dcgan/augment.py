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
from dataclasses import dataclass
from typing import Any

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


# Each transform is a draw (its random parameters, which depend on the images' shape only) and an
# application; the plain functions below do one after the other, as DiffAugment does. Adaptive
# augmentation (`ada_augment`) draws every transform's parameters first, then its per-image masks.


def _draw_per_image(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """U[0, 1) per image, (N, 1, 1, 1): brightness's, saturation's and contrast's one draw."""
    return _rand(x, generator, x.shape[0], 1, 1, 1)


def _apply_brightness(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    # x + U[-0.5, 0.5), one offset per image: (N, 1, 1, 1)
    return x + (r - 0.5)


def brightness(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    return _apply_brightness(x, _draw_per_image(x, generator))


def _draw_saturation(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor | None:
    return None if x.shape[1] == 1 else _draw_per_image(x, generator)  # 1 channel: nothing to draw


def _apply_saturation(x: torch.Tensor, r: torch.Tensor | None) -> torch.Tensor:
    # Scale each pixel's distance from its channel mean by U[0, 2); 1 channel: nothing to scale.
    if r is None:
        return x
    mean = x.mean(dim=1, keepdim=True)  # (N, 1, H, W)
    return (x - mean) * (r * 2) + mean


def saturation(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    return _apply_saturation(x, _draw_saturation(x, generator))


def _apply_contrast(x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    # Scale the distance from the image's mean by U[0.5, 1.5).
    mean = x.mean(dim=(1, 2, 3), keepdim=True)  # (N, 1, 1, 1)
    return (x - mean) * (r + 0.5) + mean


def contrast(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    return _apply_contrast(x, _draw_per_image(x, generator))


def _draw_translation(
    x: torch.Tensor, generator: torch.Generator | None, ratio: float = TRANSLATION_RATIO
) -> tuple[torch.Tensor, torch.Tensor]:
    n, _, h, w = x.shape
    max_dy, max_dx = int(h * ratio), int(w * ratio)
    dy = _randint(x, generator, -max_dy, max_dy + 1, n)  # (N, 1, 1)
    dx = _randint(x, generator, -max_dx, max_dx + 1, n)  # (N, 1, 1)
    return dy, dx


def _apply_translation(x: torch.Tensor, shift: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    n, _, h, w = x.shape
    dy, dx = shift
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


def translation(
    x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = TRANSLATION_RATIO
) -> torch.Tensor:
    """Shift each image by (dy, dx) whole pixels, |dy| <= H*ratio, |dx| <= W*ratio; zeros come in.

    out[n, :, i, j] = x[n, :, i - dy, j - dx] where that lies inside the image, else 0, so a
    positive dy moves content down. A gather from the zero-padded image keeps it differentiable.
    """
    return _apply_translation(x, _draw_translation(x, generator, ratio))


def _cutout_size(x: torch.Tensor, ratio: float) -> tuple[int, int]:
    _, _, h, w = x.shape
    return int(h * ratio + 0.5), int(w * ratio + 0.5)


def _draw_cutout(
    x: torch.Tensor, generator: torch.Generator | None, ratio: float = CUTOUT_RATIO
) -> tuple[torch.Tensor, torch.Tensor]:
    n, _, h, w = x.shape
    ch, cw = _cutout_size(x, ratio)
    # Centre in [0, h] (odd sizes: [0, h)), as in the reference implementation.
    cy = _randint(x, generator, 0, h + (1 - ch % 2), n)  # (N, 1, 1)
    cx = _randint(x, generator, 0, w + (1 - cw % 2), n)  # (N, 1, 1)
    return cy, cx


def _apply_cutout(
    x: torch.Tensor, centre: tuple[torch.Tensor, torch.Tensor], ratio: float = CUTOUT_RATIO
) -> torch.Tensor:
    _, _, h, w = x.shape
    ch, cw = _cutout_size(x, ratio)
    cy, cx = centre
    top, left = cy - ch // 2, cx - cw // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= top) & (rows < top + ch) & (cols >= left) & (cols < left + cw)  # (N, H, W)
    return x * (~inside).unsqueeze(1).to(x.dtype)  # (N, C, H, W)


def cutout(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = CUTOUT_RATIO) -> torch.Tensor:
    """Zero a (H*ratio) x (W*ratio) square per image, centred anywhere in it and clipped at the borders."""
    return _apply_cutout(x, _draw_cutout(x, generator, ratio), ratio)


@dataclass(frozen=True)
class Transform:
    """One transform split in two: `draw(x, generator)` -> its random parameters, `apply(x, params)`."""

    name: str
    draw: Callable[[torch.Tensor, torch.Generator | None], Any]
    apply: Callable[[torch.Tensor, Any], torch.Tensor]


#: The transforms of each policy, in DiffAugment's order (`AUGMENTS` holds the same as plain functions).
TRANSFORMS: dict[str, list[Transform]] = {
    "color": [
        Transform("brightness", _draw_per_image, _apply_brightness),
        Transform("saturation", _draw_saturation, _apply_saturation),
        Transform("contrast", _draw_per_image, _apply_contrast),
    ],
    "translation": [Transform("translation", _draw_translation, _apply_translation)],
    "cutout": [Transform("cutout", _draw_cutout, _apply_cutout)],
}


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


# --- adaptive augmentation (ADA) ------------------------------------------------------------------------------

ADA_INTERVAL = 4  # steps between adjustments of p (StyleGAN2-ADA: every 4 minibatches)


def ada_augment(
    x: torch.Tensor, policy: str, p: float | torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The transforms of `policy`, each applied to each image with probability p (a float or a 0-d tensor
    on x's device), in DiffAugment's order: every transform's parameters are drawn first, in the order
    `diff_augment` draws them, then one U[0, 1) per (transform, image); a transform applies to an image
    where its draw is below p. So p = 0 returns x itself and p = 1 returns exactly `diff_augment(x, policy)`
    for the same generator state (which then has moved further, by the masks). Differentiable w.r.t. x."""
    if x.dim() != 4:
        raise ValueError(f"ada_augment needs (N, C, H, W) images, got shape {tuple(x.shape)}")
    if generator is not None and generator.device.type != x.device.type:
        raise ValueError(f"ada_augment: the generator is on {generator.device}, the images on {x.device}")
    transforms = [t for name in parse_policy(policy) for t in TRANSFORMS[name]]
    if not transforms:
        return x
    params = [t.draw(x, generator) for t in transforms]
    chosen = torch.rand((len(transforms), x.shape[0]), generator=generator, device=x.device) < p  # (T, N)
    for t, param, mask in zip(transforms, params, chosen, strict=True):
        x = torch.where(mask.view(-1, 1, 1, 1), t.apply(x, param), x)
    return x


class AdaptiveAugment:
    """--augment ada (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data"):
    `ada_augment` with one probability p for every D input, real and fake, in D's and G's updates.

    p starts at 0. Each step adds the signs of D's raw logits on the real images (`observe`; minus 0.5 for
    lsgan, whose targets are 1 and 0); every ADA_INTERVAL steps (`step_done`), r = their mean per image and
    p += sign(r - target) * images / speed, clamped to [0, 1]: D that calls most real images real (it has
    learnt them) gets more augmentation, and less once it stops. p and the sign sum are tensors on the
    device, updated there: the step never waits for the host (p is read with the logged statistics)."""

    def __init__(
        self, policy: str, target: float, speed: float, device: torch.device | str, threshold: float = 0.0
    ) -> None:
        parse_policy(policy)
        self.policy, self.target, self.speed, self.threshold = policy, target, speed, threshold
        self.p = torch.zeros((), device=device)
        self.sign_sum = torch.zeros((), device=device)  # since the last adjustment (this process's share)
        self.steps = 0  # steps since the last adjustment
        self.images = 0  # images in those steps (over all processes)

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return ada_augment(x, self.policy, self.p, generator)

    @torch.no_grad()
    def observe(self, real_logits: torch.Tensor) -> None:
        """Fold one step's logits of D on (augmented) real images in: the sum of their signs per image."""
        signs = torch.sign(real_logits.detach().float() - self.threshold)
        self.sign_sum += signs.reshape(len(signs), -1).mean(1).sum()

    @torch.no_grad()
    def step_done(self, images: int, all_sum: Callable[[torch.Tensor], torch.Tensor] | None = None) -> None:
        """After each step (`images`: the step's images over all processes): every ADA_INTERVAL steps,
        adjust p. all_sum: sums a tensor over the processes in place (multi-process training), so that
        every process takes the same step."""
        self.steps += 1
        self.images += images
        if self.steps < ADA_INTERVAL:
            return
        total = all_sum(self.sign_sum) if all_sum is not None else self.sign_sum
        self.adjust(total / self.images, self.images)
        self.sign_sum.zero_()
        self.steps = self.images = 0

    @torch.no_grad()
    def adjust(self, r: torch.Tensor, images: int) -> None:
        """p += sign(r - target) * images / speed, clamped to [0, 1], on the device."""
        self.p.add_(torch.sign(r - self.target) * (images / self.speed)).clamp_(0.0, 1.0)

    def state_dict(self) -> dict[str, float | int]:
        """What a checkpoint keeps (read on the host: checkpoints are written between steps)."""
        return {"p": float(self.p), "sign_sum": float(self.sign_sum), "steps": self.steps, "images": self.images}

    def load_state_dict(self, state: dict[str, Any], pending: bool = True) -> None:
        """Restore `state_dict()`'s values; pending=False drops the sign sum (the other processes of a
        multi-process run: rank 0 alone carries the sum the checkpoint holds). ValueError if malformed."""
        p, sign_sum, steps, images = (state.get(k) for k in ("p", "sign_sum", "steps", "images"))
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (p, sign_sum))
        counts = all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (steps, images))
        if not (numbers and counts) or not (0.0 <= p <= 1.0 and abs(sign_sum) <= images and steps < ADA_INTERVAL):
            raise ValueError(f"augmentation state {state!r}")
        self.p.fill_(p)
        self.sign_sum.fill_(sign_sum if pending else 0.0)
        self.steps, self.images = steps, images


def make_adaptive(policy: str, target: float, speed: float, loss: str, device: torch.device | str) -> AdaptiveAugment:
    """The AdaptiveAugment of a run with `loss`: lsgan's logits are compared with 0.5 (its targets are 1 and 0),
    every other loss's with 0."""
    return AdaptiveAugment(policy, target, speed, device, threshold=0.5 if loss == "lsgan" else 0.0)
