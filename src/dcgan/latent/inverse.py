"""Projection, inpainting and outpainting: find latents z whose images G(z) match a real image.

    from dcgan.generator import load_generator
    from dcgan.latent.inverse import inpaint, load_images, project, side_mask

    G = load_generator("runs/fashion")
    images = load_images("photos/", G.size, G.channels)            # LoadedImage list, converted to the run's size
    x = torch.from_numpy(np.stack([im.pixels for im in images]))      # uint8 (N, C, S, S)
    p = project(G, x, steps=300, restarts=4)                          # p.latents (N, z_dim), p.images, losses
    c = inpaint(G, x, side_mask(G.size, "left", 0.5)[None].expand(len(x), -1, -1), candidates=4)

Projection minimises, over z, the pixel MSE plus a feature loss. A perceptual network (VGG, LPIPS)
cannot be downloaded on the machines this runs on, and the one network that certainly knows the
run's image domain is the run's own discriminator: its features before the last layer (the input of
the layer that makes the logit) are what it learnt to tell images of this domain apart by, so they
serve as the feature space (`DiscriminatorFeatures`). Several random restarts are optimised at once
(Adam on z) and the best is kept; z stays in its distribution's support (uniform z is clamped to
[-1, 1]; a normal z has all of R^d as support and is left free).

Inpainting and outpainting follow Yeh et al. 2017 ("Semantic image inpainting with deep generative
models"): z minimises a contextual loss, the L1 distance to the known pixels weighted by how much
hole surrounds each of them (known pixels next to the hole matter most), plus `prior_weight` times
the perceptual prior -log D(G(z)) from the run's discriminator. The generated hole is then blended
into the image across a thin seam band: Poisson blending (OpenCV's seamlessClone) when OpenCV is
importable, else a feathered alpha blend; pixels outside the hole and the band are the input's,
exactly. Each image gets several candidates, ranked best (lowest loss) first.

Shapes: images are uint8 (N, C, S, S) at the run's size S; masks are bool (N, S, S), True = hole.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..data.base import SkipImage
from ..data.decode import decode_image
from ..errors import DcganError
from ..generator import TrainedGenerator
from ..pixels import to_float, to_uint8

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
SIDES = ("left", "right", "top", "bottom")
Progress = Callable[[int], None] | None  # called with the number of optimisation steps just done


# ----------------------------------------------------------------------------------------------- inputs
@dataclass
class LoadedImage:
    name: str  # the file's stem: outputs are NAME.*
    pixels: np.ndarray  # uint8 (C, S, S): center-cropped, resized and in the run's channels
    original_size: tuple[int, int]  # (width, height) of the file
    note: str | None  # what the conversion did, when it did anything


def image_files(path: str | Path) -> list[Path]:
    """`path` itself, or the images directly inside the folder `path` (sorted); one-line errors otherwise."""
    p = Path(path)
    if p.is_dir():
        files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DcganError(f"--image {path}: the folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
        return files
    if not p.is_file():
        raise DcganError(f"--image {path}: no such file or folder")
    return [p]


def load_image(path: Path, size: int, channels: int) -> LoadedImage:
    """One file as the run sees images: center crop to a square, resize to `size`, bring to `channels`."""
    try:
        data = path.read_bytes()
        pixels = decode_image(data, size, channels)
        with Image.open(path) as img:
            (w, h), mode = img.size, img.mode
    except (SkipImage, OSError) as e:
        raise DcganError(f"--image {path}: cannot be used ({e})") from e
    changes = []
    if w != h:
        changes.append(f"center-cropped {w}x{h} to {min(w, h)}x{min(w, h)}")
    if min(w, h) != size:
        changes.append(f"resized to {size}x{size}")
    want = "L" if channels == 1 else "RGB"
    if mode != want:
        changes.append(f"converted {mode} to {want}")
    note = f"{path.name}: " + ", ".join(changes) + " (the run's images)" if changes else None
    return LoadedImage(path.stem, pixels, (w, h), note)


def load_images(path: str | Path, size: int, channels: int) -> list[LoadedImage]:
    """The image `path`, or every image in the folder `path`, converted to the run's size and channels."""
    return [load_image(f, size, channels) for f in image_files(path)]


def convert_mask(hole: np.ndarray, size: int) -> np.ndarray:
    """A hole mask at the file's size (H, W) bool -> (size, size) bool, cropped and resized as the image
    is. A converted pixel is hole if any part of it was: every pixel the user marked is regenerated."""
    h, w = hole.shape
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = Image.fromarray(hole.astype(np.uint8) * 255)
    resized = img.resize((size, size), Image.Resampling.BOX, box=(left, top, left + side, top + side))
    return np.asarray(resized) > 0


def mask_from_file(path: str | Path, image: LoadedImage) -> np.ndarray:
    """A mask PNG (white = hole, black = keep) of the image's own size -> the converted (S, S) bool hole."""
    try:
        with Image.open(path) as img:
            hole = np.asarray(img.convert("L")) >= 128
    except (OSError, Image.DecompressionBombError) as e:
        raise DcganError(f"--mask {path}: cannot be read ({e})") from e
    if (hole.shape[1], hole.shape[0]) != image.original_size:
        w, h = image.original_size
        raise DcganError(f"--mask {path}: is {hole.shape[1]}x{hole.shape[0]}, the image {image.name} is {w}x{h}")
    return convert_mask(hole, image.pixels.shape[-1])


def box_mask(box: tuple[int, int, int, int], image: LoadedImage) -> np.ndarray:
    """--box x,y,w,h in the file's pixel coordinates -> the converted (S, S) bool hole."""
    x, y, bw, bh = box
    w, h = image.original_size
    if bw < 1 or bh < 1 or x < 0 or y < 0 or x + bw > w or y + bh > h:
        raise DcganError(f"--box {x},{y},{bw},{bh}: must lie inside the {w}x{h} image {image.name}")
    hole = np.zeros((h, w), bool)
    hole[y : y + bh, x : x + bw] = True
    return convert_mask(hole, image.pixels.shape[-1])


def side_mask(size: int, side: str, fraction: float) -> np.ndarray:
    """The `fraction` of a (size, size) image on `side` as a bool hole (at least one row or column)."""
    if side not in SIDES:
        raise DcganError(f"--side {side}: choose from {', '.join(SIDES)}")
    if not 0 < fraction < 1:
        raise DcganError(f"--fraction {fraction}: must be between 0 and 1 (exclusive)")
    n = min(size - 1, max(1, round(size * fraction)))
    hole = np.zeros((size, size), bool)
    index = {"left": np.s_[:, :n], "right": np.s_[:, size - n :], "top": np.s_[:n, :], "bottom": np.s_[size - n :, :]}
    hole[index[side]] = True
    return hole


def check_mask(hole: np.ndarray, what: str) -> None:
    """Refuse a hole that leaves nothing to fill or nothing to match."""
    if not hole.any():
        raise DcganError(f"{what}: the hole is empty at the run's size (nothing to fill)")
    if hole.all():
        raise DcganError(f"{what}: the hole covers the whole image (no known pixels to match)")


# ----------------------------------------------------------------------------------------------- losses
class DiscriminatorFeatures:
    """The run's discriminator as a feature network: one forward gives its logits (N,) and the input
    of its last layer (the layer before it), flattened (N, F). See the module docstring for why."""

    def __init__(self, discriminator: nn.Module) -> None:
        layers = [m for m in discriminator.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
        if not layers:
            raise DcganError("the run's discriminator has no convolution or linear layer to take features from")
        self.discriminator = discriminator
        self.last = layers[-1]
        self._features: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        def keep(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
            self._features = args[0]

        handle = self.last.register_forward_pre_hook(keep)
        try:
            logits = self.discriminator(x).float().view(len(x))
        finally:
            handle.remove()
        assert self._features is not None
        features, self._features = self._features.float().flatten(1), None
        return logits, features


def context_weights(hole: torch.Tensor, window: int) -> torch.Tensor:
    """Yeh et al.'s contextual weights: each known pixel weighs the share of hole pixels in the
    `window` x `window` square around it, plus a floor of 0.1 so far pixels still count; hole
    pixels weigh 0. hole (N, S, S) bool -> (N, 1, S, S) float, normalised to mean 1 over known pixels."""
    h = hole.float()[:, None]
    near = F.avg_pool2d(h, window, stride=1, padding=window // 2, count_include_pad=False)
    w = (1 - h) * (0.1 + near)
    return w / w.sum(dim=(1, 2, 3), keepdim=True) * (1 - h).sum(dim=(1, 2, 3), keepdim=True)


def keep_in_support(z: torch.Tensor, z_dist: str) -> None:
    """Uniform z lives in [-1, 1]^d: clamp in place. Normal z has all of R^d as support: nothing to do."""
    if z_dist == "uniform":
        with torch.no_grad():
            z.clamp_(-1, 1)


def _optimise(
    model: TrainedGenerator,
    num: int,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    steps: int,
    lr: float,
    seed: int,
    progress: Progress,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adam on `num` latents drawn from the run's distribution (seeded) for `steps` steps.

    loss_fn: images (num, C, S, S) in [-1, 1] -> per-latent losses (num,). Returns (z (num, z_dim),
    the losses at the start (num,), the losses of the returned z (num,)); z is the best seen per row."""
    z = model.latents(num, seed=seed).clone().requires_grad_(True)
    opt = torch.optim.Adam([z], lr=lr)
    best_z, best, start = z.detach().clone(), None, None
    for step in range(steps + 1):
        loss = loss_fn(model.generator(z).float())
        with torch.no_grad():
            value = loss.detach()
            if best is None:
                start, best = value.clone(), value.clone()
            better = value < best
            best = torch.where(better, value, best)
            best_z[better] = z.detach()[better]
        if step == steps:
            break
        # Only z's gradient is computed: the networks' weights stay untouched and gradient-free.
        (grad,) = torch.autograd.grad(loss.sum(), [z])
        z.grad = grad
        opt.step()
        keep_in_support(z, model.config.z_dist)
        if progress:
            progress(1)
    assert start is not None and best is not None
    return best_z, start, best


# ----------------------------------------------------------------------------------------------- projection
@dataclass
class Projection:
    latents: torch.Tensor  # (N, z_dim) on the CPU: the best restart per image
    images: torch.Tensor  # uint8 (N, C, S, S): G(latents)
    loss_before: np.ndarray  # (N,) the lowest loss among the restarts before optimising
    loss_after: np.ndarray  # (N,) the loss of `latents`


def project(
    model: TrainedGenerator,
    targets: torch.Tensor,
    steps: int = 200,
    restarts: int = 4,
    lr: float = 0.05,
    feature_weight: float = 1.0,
    seed: int = 0,
    progress: Progress = None,
) -> Projection:
    """Latents whose images are closest to `targets` (uint8 (N, C, S, S) at the run's size).

    Loss per image: pixel MSE in [-1, 1] + feature_weight * the MSE of the discriminator's features,
    divided by the target's mean squared feature (so the two terms are of the same order whatever D's scale).
    All N * restarts latents are optimised in one batch; the best restart per image is returned."""
    t = to_float(targets.to(model.device))
    n = len(t)
    feats = DiscriminatorFeatures(model.discriminator)
    with torch.no_grad():
        _, target_f = feats(t)
    target_f = target_f.repeat(restarts, 1)  # row r * n + i is restart r of image i
    t_rep = t.repeat(restarts, 1, 1, 1)
    scale = target_f.pow(2).mean(1).clamp_min(1e-8)

    def loss_fn(x: torch.Tensor) -> torch.Tensor:
        _, f = feats(x)
        pixel = (x - t_rep).pow(2).flatten(1).mean(1)
        return pixel + feature_weight * (f - target_f).pow(2).mean(1) / scale

    z, start, end = _optimise(model, n * restarts, loss_fn, steps, lr, seed, progress)
    best = end.view(restarts, n).argmin(0)
    rows = best * n + torch.arange(n, device=best.device)
    latents = z[rows]
    with torch.no_grad():
        images = to_uint8(model(latents)).cpu()
    before = start.view(restarts, n).min(0).values
    return Projection(latents.detach().cpu(), images, before.cpu().numpy(), end[rows].cpu().numpy())


# ----------------------------------------------------------------------------------------------- completion
@dataclass
class Completion:
    images: torch.Tensor  # uint8 (N, K, C, S, S): the blended completions, best (lowest loss) first
    generated: torch.Tensor  # uint8 (N, K, C, S, S): G(z) before blending, same order
    latents: torch.Tensor  # (N, K, z_dim)
    losses: np.ndarray  # (N, K) ascending: contextual + prior_weight * prior
    changed: np.ndarray  # bool (N, S, S): the hole and the seam band, the only pixels that may differ
    blend: str  # "poisson" or "feather"


def seam_band(size: int) -> int:
    """Width of the band around the hole in which the blend may change known pixels (1 px at 28-32 px)."""
    return max(1, size // 24)


def dilate(hole: np.ndarray, radius: int) -> np.ndarray:
    """(S, S) bool grown by `radius` pixels in every direction (a square structuring element)."""
    t = torch.from_numpy(hole.astype(np.float32))[None, None]
    return F.max_pool2d(t, 2 * radius + 1, stride=1, padding=radius)[0, 0].numpy() > 0


def opencv_available() -> bool:
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def feather_blend(known: np.ndarray, generated: np.ndarray, hole: np.ndarray, band: int) -> np.ndarray:
    """Alpha 1 in the hole, falling linearly to 0 across `band` known pixels, 0 beyond.
    known, generated: uint8 (C, S, S); hole: bool (S, S). Pixels with alpha 0 are `known`'s, exactly."""
    alpha = hole.astype(np.float32)
    for r in range(1, band + 1):
        ring = dilate(hole, r) & (alpha == 0)
        alpha[ring] = 1 - r / (band + 1)
    mixed = alpha * generated.astype(np.float32) + (1 - alpha) * known.astype(np.float32)
    return np.where(alpha > 0, np.clip(np.rint(mixed), 0, 255), known).astype(np.uint8)


def poisson_blend(known: np.ndarray, generated: np.ndarray, region: np.ndarray) -> np.ndarray:
    """OpenCV's seamlessClone of `generated` into `known` over `region` (bool (S, S): hole + band).

    seamlessClone needs 3 channels and a region clear of the image border, so gray images are
    repeated to 3 channels and both are padded by edge replication (the region too) first."""
    import cv2

    pad = 3
    c = known.shape[0]

    def prep(x: np.ndarray) -> np.ndarray:
        hwc = np.repeat(x, 3, 0) if c == 1 else x
        return np.pad(hwc.transpose(1, 2, 0), ((pad, pad), (pad, pad), (0, 0)), mode="edge")

    src, dst = prep(generated), prep(known)
    mask = np.pad(region, pad, mode="edge").astype(np.uint8) * 255
    # Keep the padded mask away from the padded border, where seamlessClone drops it.
    mask[:1], mask[-1:], mask[:, :1], mask[:, -1:] = 0, 0, 0, 0
    x, y, w, h = cv2.boundingRect(mask)
    out = cv2.seamlessClone(np.ascontiguousarray(src), np.ascontiguousarray(dst), mask, (x + w // 2, y + h // 2), 1)
    out = out[pad:-pad, pad:-pad].transpose(2, 0, 1)
    out = np.rint(out.astype(np.float32).mean(0, keepdims=True)).astype(np.uint8) if c == 1 else out
    return np.where(region[None], out, known).astype(np.uint8)


def blend(known: np.ndarray, generated: np.ndarray, hole: np.ndarray, method: str) -> np.ndarray:
    """The generated hole in the known image (uint8 (C, S, S) each), changing only hole + seam band.

    The hole's own pixels in `known` are never looked at: they are replaced by the generated ones first
    (Poisson blending reads the destination's gradients at the region's edge, which would leak them)."""
    band = seam_band(known.shape[-1])
    known = np.where(hole[None], generated, known)
    if method == "poisson":
        try:
            return poisson_blend(known, generated, dilate(hole, band))
        except Exception as e:  # noqa: BLE001 - OpenCV raises cv2.error on shapes it dislikes; feathering always works
            warnings.warn(
                f"Poisson blending failed ({str(e).splitlines()[0][:80]}); used a feathered blend", stacklevel=2
            )
    return feather_blend(known, generated, hole, band)


def inpaint(
    model: TrainedGenerator,
    images: torch.Tensor,
    holes: torch.Tensor | np.ndarray,
    steps: int = 300,
    candidates: int = 4,
    lr: float = 0.05,
    prior_weight: float = 0.01,
    seed: int = 0,
    blend_method: str = "auto",
    progress: Progress = None,
) -> Completion:
    """Complete the holes of `images` (uint8 (N, C, S, S)); holes: bool (N, S, S), True = to fill.

    Each image gets `candidates` latents, optimised together for `steps` Adam steps on the contextual
    loss (weighted L1 on known pixels, see `context_weights`) + prior_weight * softplus(-D(G(z)))
    (= -log D(G(z))). blend_method: auto (poisson when OpenCV is importable), poisson or feather."""
    holes_t = torch.as_tensor(np.asarray(holes), dtype=torch.bool)
    n, k, size = len(images), candidates, images.shape[-1]
    method = ("poisson" if opencv_available() else "feather") if blend_method == "auto" else blend_method
    if method == "poisson" and not opencv_available():
        raise DcganError("Poisson blending needs OpenCV (pip install opencv-python-headless); or use feather")
    t = to_float(images.to(model.device)).repeat(k, 1, 1, 1)  # row c * n + i: candidate c of image i
    w = context_weights(holes_t.to(model.device), window=max(3, size // 8 | 1)).repeat(k, 1, 1, 1)
    feats = DiscriminatorFeatures(model.discriminator)

    def loss_fn(x: torch.Tensor) -> torch.Tensor:
        logits, _ = feats(x)
        contextual = (w * (x - t).abs()).flatten(1).mean(1)
        return contextual + prior_weight * F.softplus(-logits)

    z, _, end = _optimise(model, n * k, loss_fn, steps, lr, seed, progress)
    order = end.view(k, n).argsort(0)  # (K, N): candidates of each image, best first
    rows = (order * n + torch.arange(n, device=order.device)).T  # (N, K)
    latents = z[rows.reshape(-1)]
    with torch.no_grad():
        generated = to_uint8(model(latents)).cpu().view(n, k, *images.shape[1:])
    known = images.cpu().numpy()
    holes_np = holes_t.numpy()
    done = np.stack(
        [[blend(known[i], generated[i, j].numpy(), holes_np[i], method) for j in range(k)] for i in range(n)]
    )
    changed = np.stack([dilate(h, seam_band(size)) for h in holes_np])
    return Completion(
        torch.from_numpy(done),
        generated,
        latents.detach().cpu().view(n, k, -1),
        end[rows].cpu().numpy(),
        changed,
        method,
    )
