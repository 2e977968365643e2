"""Latent vector arithmetic (Radford et al. 2016, figure 7): mean(a) - mean(b) + mean(c), decoded.

    from dcgan.latent.arithmetic import latent_arithmetic, arithmetic_figure
    r = latent_arithmetic(G, a=[1, 2, 3], b=[4, 5, 6], c=[7, 8, 9], num=4)
    r.images                 # uint8 (4, C, H, W): the result, then 3 perturbations of it
    arithmetic_figure(r)     # the figure as an HWC uint8 array

Averaging a few latents of a group (e.g. three smiling women) keeps what they share and averages
out the rest, which is why the paper's arithmetic works on means and not on single samples. The
groups are seeds (the first latent of each seed's stream, as everywhere in dcgan.latent); groups
given as images, projected into the latent space, come later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from ..errors import DcganError
from ..generator import TrainedGenerator
from .animation import label_left, text_width, upscale
from .walks import decode, seed_latents

GROUPS = ("a", "b", "c")
ROW_LABELS = ("a", "- b", "+ c", "=")
MAX_RESULTS = 64
PAD = 2  # pixels between cells, before scaling


@dataclass
class ArithmeticResult:
    """Every latent and image of one arithmetic: groups are a, b, c in that order."""

    seeds: list[list[int]]  # the seeds of a, b, c
    members: list[torch.Tensor]  # per group: its members' latents (k, z_dim)
    means: torch.Tensor  # (3, z_dim): the mean latent of a, b, c
    latents: torch.Tensor  # (num, z_dim): a - b + c first, then its perturbations
    member_images: list[torch.Tensor]  # per group: uint8 (k, C, H, W)
    mean_images: torch.Tensor  # uint8 (3, C, H, W): the means decoded
    images: torch.Tensor  # uint8 (num, C, H, W): the latents decoded

    @property
    def result(self) -> torch.Tensor:
        """The latent a - b + c (z_dim,), unperturbed."""
        return self.latents[0]


def perturbations(G: TrainedGenerator, num: int, noise: float, seed: int) -> torch.Tensor:
    """(num, z_dim) offsets: zero first (the exact result), then noise of scale `noise` in z's own
    distribution: N(0, noise^2) for normal z, U(-noise, noise) for uniform z (the paper's +-0.25)."""
    rng = torch.Generator().manual_seed(seed)
    if G.config.z_dist == "uniform":
        offsets = (torch.rand(num, G.config.z_dim, generator=rng) * 2 - 1) * noise
    else:
        offsets = torch.randn(num, G.config.z_dim, generator=rng) * noise
    offsets[0] = 0
    return offsets.to(G.device)


def latent_arithmetic(
    G: TrainedGenerator,
    a: Sequence[int] | torch.Tensor,
    b: Sequence[int] | torch.Tensor,
    c: Sequence[int] | torch.Tensor,
    num: int = 1,
    noise: float = 0.25,
    seed: int = 0,
) -> ArithmeticResult:
    """mean(a) - mean(b) + mean(c) over the groups' latents, decoded, plus `num - 1` results from the
    result latent with small noise added (seeded by `seed`). A group is a list of seeds (their first
    latents) or a tensor of latents (N, z_dim), e.g. real images projected by `dcgan.latent.inverse.project`."""
    groups = [g if isinstance(g, torch.Tensor) else list(g) for g in (a, b, c)]
    for name, group in zip(GROUPS, groups, strict=True):
        if len(group) == 0:
            raise DcganError(f"--{name}: give at least one seed")
    if not 1 <= num <= MAX_RESULTS:
        raise DcganError(f"--num {num}: choose 1 to {MAX_RESULTS} results")
    if not (np.isfinite(noise) and 0 <= noise <= 10):
        raise DcganError(f"--noise {noise}: choose a scale from 0 to 10")
    members = [g.to(G.device, torch.float32) if isinstance(g, torch.Tensor) else seed_latents(G, g) for g in groups]
    means = torch.stack([m.mean(dim=0) for m in members])
    result = means[0] - means[1] + means[2]
    latents = result[None] + perturbations(G, num, noise, seed)
    latents[0] = result  # exactly a - b + c, not a - b + c + 0.0 in another rounding
    return ArithmeticResult(
        seeds=groups,
        members=members,
        means=means,
        latents=latents,
        member_images=[decode(G, m) for m in members],
        mean_images=decode(G, means),
        images=decode(G, latents),
    )


def figure_columns(r: ArithmeticResult) -> int:
    """Cells per row: the largest group and its mean, or up to 8 results, whichever is more."""
    return max(max(len(g) for g in r.seeds) + 1, min(len(r.images), 8))


def cell_origin(row: int, col: int, side: int, scale: int = 1, label_width: int = 0) -> tuple[int, int]:
    """(x, y) of the top-left pixel of cell (row, col) in the figure (images `side` px square)."""
    step = (side + PAD) * scale
    return label_width + PAD * scale + col * step, PAD * scale + row * step


def figure_label_width(scale: int = 1) -> int:
    return max(text_width(t, scale) for t in ROW_LABELS) + 6 * max(1, scale)


def arithmetic_figure(r: ArithmeticResult, scale: int = 1) -> np.ndarray:
    """The figure as uint8 (H, W, C): rows a, b, c (members, then the decoded mean in the last
    column), then the result a - b + c and its perturbations (wrapping after `figure_columns` cells).
    Row labels a, - b, + c, = on the left; cell (row, col) starts at `cell_origin`."""
    side, channels = r.images.shape[-1], r.images.shape[1]
    cols = figure_columns(r)
    result_rows = -(-len(r.images) // cols)
    rows = 3 + result_rows
    step = side + PAD
    canvas = np.full((PAD + rows * step, PAD + cols * step, channels), 255, np.uint8)

    def put(row: int, col: int, image: torch.Tensor) -> None:
        x, y = cell_origin(row, col, side)
        canvas[y : y + side, x : x + side] = image.numpy().transpose(1, 2, 0)

    for g in range(3):
        for i, image in enumerate(r.member_images[g]):
            put(g, i, image)
        put(g, cols - 1, r.mean_images[g])
    for i, image in enumerate(r.images):
        put(3 + i // cols, i % cols, image)
    picture = Image.fromarray(canvas[:, :, 0] if channels == 1 else canvas)
    picture = upscale(picture, scale)
    width = figure_label_width(scale)
    labels = [(cell_origin(row, 0, side, scale)[1] + (side * scale) // 3, ROW_LABELS[row]) for row in range(4)]
    out = np.asarray(label_left(picture, labels, width, scale))
    return out[:, :, None] if out.ndim == 2 else out
