"""Walks through a trained generator's latent space, and how smooth they look.

    from dcgan import load_generator
    from dcgan.latent.walks import walk, grid_walk, smoothness
    G = load_generator("runs/fashion")
    frames = walk(G, [3, 17, 42], steps=30)          # uint8 (59, C, H, W): 3 -> 17 -> 42
    corners = grid_walk(G, [1, 2, 3, 4], n=8)        # uint8 (64, C, H, W), row-major
    smoothness(G, frames)                            # {'mean_step': ..., 'cv': ...}

A seed's latent is the first latent of its stream (`G.latents(1, seed)`): the latent of the first
image `G.sample(n, seed)` and `dcgan generate --seed` make. Latents are interpolated spherically
(slerp) for normal z, whose mass lies near a sphere of radius sqrt(z_dim), so the path stays where
the generator was trained, and linearly (lerp) for uniform z, whose cube a straight line never
leaves. Frames are decoded one latent at a time, exactly as `G.sample(1, seed)` decodes, so a
walk's endpoints are the seeds' own samples bit for bit, whatever the walk's length.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..errors import DcganError
from ..generator import TrainedGenerator
from ..pixels import to_float, to_uint8

MODES = ("slerp", "lerp")
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes a signed 64-bit integer
MAX_SEEDS = 64
MAX_FRAMES = 4096  # a walk's frames are held in memory and written as one file

Progress = Callable[[int], object] | None  # called with the number of frames just decoded


def parse_seeds(text: str, flag: str = "--seeds") -> list[int]:
    """'3,17,42' -> [3, 17, 42]; a one-line DcganError naming `flag` for anything else."""
    parts = [p.strip() for p in str(text).split(",")]
    if not text or not text.strip() or any(not p for p in parts):
        raise DcganError(f"{flag} {text!r}: give seeds as whole numbers separated by commas, e.g. 3,17,42")
    seeds = []
    for p in parts:
        if not p.isascii() or not p.isdigit():
            raise DcganError(f"{flag}: {p!r} is not a seed (seeds are whole numbers from 0 to {MAX_SEED})")
        if int(p) > MAX_SEED:
            raise DcganError(f"{flag}: seed {p} is too large (seeds are whole numbers from 0 to {MAX_SEED})")
        seeds.append(int(p))
    if len(seeds) > MAX_SEEDS:
        raise DcganError(f"{flag}: {len(seeds)} seeds, at most {MAX_SEEDS}")
    return seeds


def default_mode(G: TrainedGenerator) -> str:
    """slerp for normal z, lerp for uniform z (see the module docstring)."""
    return "lerp" if G.config.z_dist == "uniform" else "slerp"


def check_mode(mode: str | None, G: TrainedGenerator) -> str:
    mode = mode or default_mode(G)
    if mode not in MODES:
        raise DcganError(f"mode {mode!r}: choose one of {', '.join(MODES)}")
    return mode


def seed_latents(G: TrainedGenerator, seeds: Sequence[int]) -> torch.Tensor:
    """The seeds' latents (S, z_dim), on G's device: row i is `G.latents(1, seeds[i])`."""
    if not seeds:
        raise DcganError("no seeds given")
    return torch.cat([G.latents(1, seed) for seed in seeds])


def lerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(D,), (D,), t (T,) -> (T, D) on the straight line: (1 - t) z0 + t z1."""
    t = t.to(z0)[:, None]
    return (1 - t) * z0 + t * z1


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """(D,), (D,), t (T,) -> (T, D): the direction turns along the great circle from z0's to z1's at
    constant angular speed (Shoemake's slerp of the unit vectors) while the norm goes linearly from
    |z0| to |z1|; between latents of equal norm the walk stays on their sphere. lerp when z0 and z1
    are (anti)parallel or zero: no unique great circle."""
    t64 = t.double()[:, None]
    a, b = z0.double(), z1.double()
    na, nb = a.norm(), b.norm()
    if na == 0 or nb == 0:
        return lerp(z0, z1, t)
    ua, ub = a / na, b / nb
    omega = torch.arccos(torch.dot(ua, ub).clamp(-1, 1))
    if omega < 1e-6 or torch.pi - omega < 1e-6:
        return lerp(z0, z1, t)
    s = torch.sin(omega)
    direction = (torch.sin((1 - t64) * omega) / s) * ua + (torch.sin(t64 * omega) / s) * ub
    return (direction * ((1 - t64) * na + t64 * nb)).to(z0.dtype)


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str = "slerp") -> torch.Tensor:
    """`steps` latents (steps, D) from z0 to z1, both included exactly (no rounding at the ends)."""
    if steps < 2:
        raise DcganError(f"--steps {steps}: a walk needs at least 2 frames per segment (its two ends)")
    if mode not in MODES:
        raise DcganError(f"mode {mode!r}: choose one of {', '.join(MODES)}")
    t = torch.linspace(0, 1, steps, dtype=torch.float64)
    out = (slerp if mode == "slerp" else lerp)(z0, z1, t)
    out[0], out[-1] = z0, z1
    return out


def walk_latents(G: TrainedGenerator, seeds: Sequence[int], steps: int, mode: str | None = None) -> torch.Tensor:
    """The latents (F, z_dim) of a walk through the seeds in order, `steps` frames per segment
    (ends included, shared between segments): F = (len(seeds) - 1) * (steps - 1) + 1."""
    if len(seeds) < 2:
        raise DcganError(f"--seeds: a walk needs at least 2 seeds, got {len(seeds)}")
    if steps < 2:
        raise DcganError(f"--steps {steps}: a walk needs at least 2 frames per segment (its two ends)")
    frames = (len(seeds) - 1) * (steps - 1) + 1
    if frames > MAX_FRAMES:
        raise DcganError(f"{len(seeds)} seeds x {steps} steps make {frames} frames; at most {MAX_FRAMES}")
    mode = check_mode(mode, G)
    z = seed_latents(G, seeds)
    parts = [interpolate(z[i], z[i + 1], steps, mode)[(1 if i else 0) :] for i in range(len(z) - 1)]
    return torch.cat(parts)


def grid_latents(G: TrainedGenerator, seeds: Sequence[int], n: int, mode: str | None = None) -> torch.Tensor:
    """(n * n, z_dim), row-major: an n x n interpolation between four corners, seeds (a, b, c, d) =
    (top left, top right, bottom left, bottom right). The top row goes a -> b and the bottom row
    c -> d; each column then goes from its top to its bottom. With lerp this is bilinear
    interpolation; with slerp each of the two passes is spherical. The corners are the seeds' latents."""
    if len(seeds) != 4:
        raise DcganError(
            f"--grid needs exactly 4 seeds (top left, top right, bottom left, bottom right), got {len(seeds)}"
        )
    if n < 2:
        raise DcganError(f"--grid {n}: a grid needs at least 2 x 2 images")
    if n * n > MAX_FRAMES:
        raise DcganError(f"--grid {n}: {n * n} images; at most {MAX_FRAMES}")
    mode = check_mode(mode, G)
    a, b, c, d = seed_latents(G, seeds)
    top, bottom = interpolate(a, b, n, mode), interpolate(c, d, n, mode)
    columns = [interpolate(top[j], bottom[j], n, mode) for j in range(n)]  # each (n, D): rows of column j
    return torch.stack(columns, dim=1).reshape(n * n, -1)


@torch.no_grad()
def decode(G: TrainedGenerator, z: torch.Tensor, progress: Progress = None) -> torch.Tensor:
    """Latents (N, z_dim) -> uint8 images (N, C, H, W) on the CPU, one latent at a time (see the
    module docstring: a latent decodes to the same pixels as in `G.sample`)."""
    out = []
    for row in z.split(1):
        out.append(to_uint8(G(row)).cpu())
        if progress:
            progress(1)
    if not out:
        return torch.empty(0, G.channels, G.size, G.size, dtype=torch.uint8)
    return torch.cat(out)


def walk(
    G: TrainedGenerator, seeds: Sequence[int], steps: int, mode: str | None = None, progress: Progress = None
) -> torch.Tensor:
    """The frames of `walk_latents` as uint8 (F, C, H, W): frame 0 is `G.sample(1, seeds[0])`, frame
    k * (steps - 1) is `G.sample(1, seeds[k])`."""
    return decode(G, walk_latents(G, seeds, steps, mode), progress)


def grid_walk(
    G: TrainedGenerator, seeds: Sequence[int], n: int, mode: str | None = None, progress: Progress = None
) -> torch.Tensor:
    """The images of `grid_latents` as uint8 (n * n, C, H, W), row-major."""
    return decode(G, grid_latents(G, seeds, n, mode), progress)


def snake(n: int) -> list[int]:
    """Row-major indices of an n x n grid in boustrophedon order (left to right, then back): a
    continuous path through the grid, for animating it."""
    return [r * n + (c if r % 2 == 0 else n - 1 - c) for r in range(n) for c in range(n)]


# --- Smoothness -------------------------------------------------------------------------------


def _feature_layer(D: nn.Module) -> nn.Module:
    """D's last Conv2d or Linear: its input is D's penultimate representation (every dcgan D ends in one)."""
    layers = [m for m in D.modules() if isinstance(m, nn.Conv2d | nn.Linear)]
    if not layers:
        raise DcganError("the discriminator has no convolution or linear layer to take features from")
    return layers[-1]


@torch.no_grad()
def discriminator_features(G: TrainedGenerator, images: torch.Tensor, batch_size: int = 64) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> the run's discriminator's penultimate activations (N, F), float64
    on the CPU: what D computes just before its final logit layer, scaled as D saw images in training."""
    D = G.discriminator
    layer = _feature_layer(D)
    captured: list[torch.Tensor] = []
    hook = layer.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach().flatten(1)))
    out = []
    was_training = D.training
    D.eval()
    try:
        for chunk in images.split(batch_size):
            captured.clear()
            D(to_float(chunk.to(G.device)))
            out.append(captured[0].double().cpu())
    finally:
        hook.remove()
        D.train(was_training)
    return torch.cat(out) if out else torch.empty(0, 0, dtype=torch.float64)


def pixel_features(images: torch.Tensor) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> (N, C*H*W) float64 in [-1, 1]."""
    return to_float(images).double().flatten(1)


def step_sizes(features: torch.Tensor) -> torch.Tensor:
    """(N, F) -> (N - 1,): the L2 distance between consecutive rows."""
    return (features[1:] - features[:-1]).norm(dim=1)


def smoothness(G: TrainedGenerator, frames: torch.Tensor, feature: str = "discriminator") -> dict[str, float]:
    """How evenly a walk moves: the step between consecutive frames (uint8 (N, C, H, W), N >= 2) in a
    feature space, its mean and its coefficient of variation (std / mean; 0 = perfectly even steps).

    feature: "discriminator" (the run's own D's penultimate activations: the only learned image
    features that exist offline for every run and resolution; a perceptual proxy, as good as D) or
    "pixel" (L2 in [-1, 1] pixel space)."""
    if len(frames) < 2:
        raise DcganError("smoothness needs at least 2 frames")
    if feature == "discriminator":
        f = discriminator_features(G, frames)
    elif feature == "pixel":
        f = pixel_features(frames)
    else:
        raise DcganError(f"feature {feature!r}: choose discriminator or pixel")
    steps = step_sizes(f)
    mean = float(steps.mean())
    std = float(steps.std(unbiased=False))
    return {
        "feature": feature,
        "frames": len(frames),
        "mean_step": mean,
        "std_step": std,
        "cv": std / mean if mean > 0 else 0.0,
        "max_step": float(steps.max()),
    }
