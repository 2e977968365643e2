"""Image grids and PNG files. Everything here takes uint8 NCHW (numpy or torch)."""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from .fsutil import atomic_write
from .pixels import as_uint8_array


def make_grid(
    images: np.ndarray | torch.Tensor, nrow: int | None = None, padding: int = 2, pad_value: int = 0
) -> np.ndarray:
    """Tile N images (uint8 NCHW) into one HWC uint8 array, `nrow` images per row."""
    imgs = as_uint8_array(images)
    n, c, h, w = imgs.shape
    nrow = nrow or max(1, int(math.ceil(math.sqrt(n))))
    rows = int(math.ceil(n / nrow))
    grid = np.full((rows * (h + padding) + padding, nrow * (w + padding) + padding, c), pad_value, np.uint8)
    for i in range(n):
        r, col = divmod(i, nrow)
        y, x = padding + r * (h + padding), padding + col * (w + padding)
        grid[y : y + h, x : x + w] = imgs[i].transpose(1, 2, 0)
    return grid


def _pil(hwc: np.ndarray) -> Image.Image:
    return Image.fromarray(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc)


def png_info(metadata: dict[str, str] | None) -> PngImagePlugin.PngInfo:
    """PNG text chunks (provenance tags) from `metadata`."""
    info = PngImagePlugin.PngInfo()
    for k, v in (metadata or {}).items():
        info.add_text(k, str(v))
    return info


def atomic_save_png(image: Image.Image, path: str | Path, metadata: dict[str, str] | None = None) -> Path:
    """Write a PNG atomically (a reader never sees half an image), with text chunks from `metadata`."""
    info = png_info(metadata)
    return atomic_write(path, lambda f: image.save(f, format="PNG", pnginfo=info))


def png_bytes(
    images: np.ndarray | torch.Tensor, metadata: dict[str, str] | None = None, nrow: int | None = None
) -> bytes:
    """The PNG file `save_grid` writes, in memory: one image (uint8 (1, C, H, W)) as itself, several as a grid."""
    hwc = make_grid(images, nrow=nrow, padding=0 if len(images) == 1 else 2)
    buffer = io.BytesIO()
    _pil(hwc).save(buffer, format="PNG", pnginfo=png_info(metadata))
    return buffer.getvalue()


def save_grid(
    images: np.ndarray | torch.Tensor,
    path: str | Path,
    nrow: int | None = None,
    metadata: dict[str, str] | None = None,
    scale: int = 1,
) -> Path:
    img = _pil(make_grid(images, nrow=nrow))
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return atomic_save_png(img, path, metadata)


def save_images(
    images: np.ndarray | torch.Tensor,
    out_dir: str | Path,
    prefix: str = "img",
    metadata: dict[str, str] | None = None,
    start: int = 0,
) -> list[Path]:
    """One PNG per image: out_dir/prefix_000000.png ..., each tagged with `metadata` (+ its index)."""
    imgs = as_uint8_array(images)
    out = Path(out_dir)
    paths = []
    for i, im in enumerate(imgs):
        meta = dict(metadata or {}, index=str(start + i))
        paths.append(atomic_save_png(_pil(im.transpose(1, 2, 0)), out / f"{prefix}_{start + i:06d}.png", meta))
    return paths


def side_by_side(left: np.ndarray, right: np.ndarray, gap: int = 8) -> np.ndarray:
    """Two HWC grids next to each other (heights padded to match)."""
    h = max(left.shape[0], right.shape[0])
    c = max(left.shape[2], right.shape[2])

    def fit(a: np.ndarray) -> np.ndarray:
        if a.shape[2] != c:
            a = np.repeat(a, c, axis=2)
        return np.pad(a, ((0, h - a.shape[0]), (0, 0), (0, 0)), constant_values=255)

    return np.concatenate([fit(left), np.full((h, gap, c), 255, np.uint8), fit(right)], axis=1)
