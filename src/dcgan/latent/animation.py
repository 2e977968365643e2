"""Frames to files: animated GIF/WebP, PNG strips, labels on frames, and a run's training progress.

    from dcgan.latent.animation import progress_frames, save_animation
    save_animation(progress_frames("runs/fashion", scale=2), "progress.gif", fps=4)

Frames are PIL images (mode L for gray, RGB for colour). GIFs of gray frames keep every pixel
(a 256-level gray palette); colour GIFs are quantised to 256 colours per frame. WebP is written
lossless. Pillow's GIF writer merges a frame identical to the one before into one longer frame:
the animation plays the same, with fewer frames in the file (their durations add up).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..errors import DcganError
from ..fsutil import atomic_write
from ..io import atomic_save_png, make_grid
from ..pixels import as_uint8_array

ANIMATION_SUFFIXES = (".gif", ".webp")
EPOCH_GRID = re.compile(r"epoch_(\d+)\.png")
FONT_SIZE = 10  # pixels at --scale 1; the labels grow with the scale


def to_pil(image: np.ndarray | torch.Tensor) -> Image.Image:
    """One uint8 image (C, H, W) -> a PIL image (L for one channel, RGB for three)."""
    a = as_uint8_array(image)
    return Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0))


def upscale(image: Image.Image, scale: int) -> Image.Image:
    """Nearest-neighbour enlargement: the generator's pixels stay sharp squares."""
    return image if scale <= 1 else image.resize((image.width * scale, image.height * scale), Image.NEAREST)


def font(scale: int = 1) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's own default font (no font file is read from the system), sized for the scale."""
    return ImageFont.load_default(size=FONT_SIZE * max(1, scale))


def colours(mode: str) -> tuple[int | tuple[int, int, int], int | tuple[int, int, int]]:
    """(background, text) for a label band: black text on white."""
    return ((255, 255, 255), (0, 0, 0)) if mode == "RGB" else (255, 0)


def label_above(image: Image.Image, text: str, scale: int = 1) -> Image.Image:
    """`image` with a white band on top holding `text` (the picture itself is left untouched)."""
    f = font(scale)
    box = ImageDraw.Draw(image).textbbox((0, 0), text, font=f)
    pad = 2 * max(1, scale)
    band = box[3] + 2 * pad
    background, ink = colours(image.mode)
    out = Image.new(image.mode, (max(image.width, box[2] + 2 * pad), image.height + band), background)
    out.paste(image, (0, band))
    ImageDraw.Draw(out).text((pad, pad), text, fill=ink, font=f)
    return out


def label_left(image: Image.Image, labels: Sequence[tuple[int, str]], width: int, scale: int = 1) -> Image.Image:
    """`image` with a white column `width` wide on its left; each (y, text) is written there at height y."""
    background, ink = colours(image.mode)
    out = Image.new(image.mode, (image.width + width, image.height), background)
    out.paste(image, (width, 0))
    draw, f = ImageDraw.Draw(out), font(scale)
    for y, text in labels:
        draw.text((2 * max(1, scale), y), text, fill=ink, font=f)
    return out


def text_width(text: str, scale: int = 1) -> int:
    f = font(scale)
    return int(ImageDraw.Draw(Image.new("L", (1, 1))).textbbox((0, 0), text, font=f)[2])


def same_size(frames: Sequence[Image.Image]) -> list[Image.Image]:
    """Frames padded (white, bottom right) to the largest width and height: an animation has one size."""
    w, h = max(f.width for f in frames), max(f.height for f in frames)
    out = []
    for f in frames:
        if f.size != (w, h):
            canvas = Image.new(f.mode, (w, h), colours(f.mode)[0])
            canvas.paste(f, (0, 0))
            f = canvas
        out.append(f)
    return out


def check_suffix(path: str | Path, flag: str, allowed: Sequence[str]) -> str:
    """The lower-case suffix of `path` when it is one of `allowed`, else a one-line error."""
    suffix = Path(path).suffix.lower()
    if suffix not in allowed:
        raise DcganError(f"{flag} {path}: the file name must end in {' or '.join(allowed)}")
    return suffix


def save_animation(frames: Sequence[Image.Image], path: str | Path, fps: int = 12) -> Path:
    """Write frames as an endlessly looping GIF or lossless WebP (by the suffix), atomically."""
    suffix = check_suffix(path, "--out", ANIMATION_SUFFIXES)
    if not frames:
        raise DcganError(f"{path}: no frames to write")
    if not 1 <= fps <= 100:
        raise DcganError(f"--fps {fps}: choose 1 to 100 frames per second")
    frames = same_size([f if f.mode in ("L", "RGB") else f.convert("RGB") for f in frames])
    modes = {f.mode for f in frames}
    if len(modes) > 1:
        frames = [f.convert("RGB") for f in frames]
    duration = round(1000 / fps)
    first, rest = frames[0], list(frames[1:])
    if suffix == ".gif":
        options = dict(format="GIF", save_all=True, append_images=rest, duration=duration, loop=0, disposal=1)
    else:
        options = dict(format="WEBP", save_all=True, append_images=rest, duration=duration, loop=0, lossless=True)
    return atomic_write(path, lambda f: first.save(f, **options))


def save_strip(
    images: np.ndarray | torch.Tensor,
    path: str | Path,
    nrow: int | None = None,
    scale: int = 1,
    metadata: dict[str, str] | None = None,
) -> Path:
    """uint8 images (N, C, H, W) as one PNG: `nrow` per row (all in one row by default), 2 px black
    padding between them (`dcgan.io.make_grid`), then enlarged `scale` times."""
    grid = make_grid(images, nrow=nrow or len(images))
    image = Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid)
    return atomic_save_png(upscale(image, scale), path, metadata)


def frames_of(images: np.ndarray | torch.Tensor, scale: int = 1) -> list[Image.Image]:
    """uint8 images (N, C, H, W) -> N PIL frames, enlarged `scale` times."""
    return [upscale(to_pil(im), scale) for im in as_uint8_array(images)]


def epoch_grids(run: str | Path) -> list[tuple[int, Path]]:
    """A run's fixed-noise grids `samples/epoch_NNNN.png`, as (epoch, path) in epoch order."""
    root = Path(run)
    if not root.exists():
        raise DcganError(f"{run}: no such run directory")
    if not root.is_dir():
        raise DcganError(f"{run}: not a run directory (animate reads a run's samples/epoch_*.png grids)")
    samples = root / "samples"
    found = []
    if samples.is_dir():
        for p in samples.iterdir():
            m = EPOCH_GRID.fullmatch(p.name)
            if m and p.is_file():
                found.append((int(m.group(1)), p))
    if not found:
        what = "a dcgan run" if (root / "config.json").is_file() else "perhaps not a dcgan run"
        raise DcganError(
            f"{run}: no fixed-noise grids (samples/epoch_NNNN.png) to animate ({what}; grids are written at the "
            "end of each snapshot epoch)"
        )
    return sorted(found)


def progress_frames(
    run: str | Path, scale: int = 1, progress: Callable[[int], object] | None = None
) -> list[Image.Image]:
    """One frame per fixed-noise grid of the run, enlarged `scale` times, with 'epoch N' written above."""
    frames = []
    for epoch, path in epoch_grids(run):
        try:
            with Image.open(path) as im:
                im.load()
                image = im.convert("L") if im.mode in ("L", "I;16", "1", "P") and _is_gray(im) else im.convert("RGB")
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise DcganError(f"{path}: not a readable PNG ({str(e).splitlines()[0][:100]})") from e
        frames.append(label_above(upscale(image, scale), f"epoch {epoch}", scale))
        if progress:
            progress(1)
    return frames


def _is_gray(im: Image.Image) -> bool:
    if im.mode != "P":
        return True
    rgb = np.asarray(im.convert("RGB"))
    return bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
