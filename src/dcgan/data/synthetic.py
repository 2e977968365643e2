"""Synthetic shapes for smoke tests: coloured circles, squares and triangles, labelled 0, 1, 2.

No files: the shape parameters come from fixed seeds and are drawn (supersampled, so antialiased)
at whatever size the store asks for, so the dataset is the same at every size and on every machine.
"""

from __future__ import annotations

import colorsys
import math

import numpy as np
from PIL import Image, ImageDraw

from .base import Contents, Decoder, Source, digest, split_error

__all__ = ["SYNTHETIC_CLASSES", "SYNTHETIC_SPLITS", "SYNTHETIC_VERSION", "open_synthetic"]

SYNTHETIC_CLASSES = ["circle", "square", "triangle"]
SYNTHETIC_SPLITS = {"train": (2000, 1_000_003), "test": (500, 2_000_003)}  # split: (count, seed)
SYNTHETIC_VERSION = "synthetic-v1"  # change when the drawing changes


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    """HSV in [0, 1] -> 8-bit RGB."""
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return (round(r * 255), round(g * 255), round(b * 255))


# (label, background RGB, shape RGB, center x, center y, radius, angle), geometry in [0, 1] units.
_Shape = tuple[int, tuple[int, int, int], tuple[int, int, int], float, float, float, float]


def _synthetic_shapes(count: int, seed: int) -> list[_Shape]:
    """Deterministic shape parameters, independent of the image size (same dataset at every size)."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % len(SYNTHETIC_CLASSES))  # balanced classes
    shapes: list[_Shape] = []
    for label in labels:
        dark_background = rng.random() < 0.5  # shape and background always differ in brightness
        background = _rgb(
            rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.1, 0.4) if dark_background else rng.uniform(0.7, 0.95)
        )
        color = _rgb(
            rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.75, 1.0) if dark_background else rng.uniform(0.05, 0.35)
        )
        radius = rng.uniform(0.2, 0.4)  # circumradius, as a fraction of the side
        cx, cy = rng.uniform(radius, 1 - radius, size=2)
        shapes.append(
            (int(label), background, color, float(cx), float(cy), float(radius), float(rng.uniform(0, 2 * math.pi)))
        )
    return shapes


def _draw_shape(shape: _Shape, size: int, channels: int, supersample: int = 4) -> np.ndarray:
    """One shape as uint8 ``(channels, size, size)``, drawn at `supersample` x the size and box-filtered down."""
    label, background, color, cx, cy, radius, angle = shape
    scale = size * supersample
    img = Image.new("RGB", (scale, scale), background)
    draw = ImageDraw.Draw(img)
    x, y, r = cx * scale, cy * scale, radius * scale
    if SYNTHETIC_CLASSES[label] == "circle":
        r *= 0.85  # similar area to the polygons
        draw.ellipse((x - r, y - r, x + r, y + r), fill=color)
    else:
        corners = 4 if SYNTHETIC_CLASSES[label] == "square" else 3
        points = [
            (x + r * math.cos(angle + 2 * math.pi * k / corners), y + r * math.sin(angle + 2 * math.pi * k / corners))
            for k in range(corners)
        ]
        draw.polygon(points, fill=color)
    img = img.reduce(supersample)  # box-filter the supersampled drawing: antialiased edges
    if channels == 1:
        img = img.convert("L")
        return np.asarray(img)[None]
    return np.asarray(img).transpose(2, 0, 1)


class SyntheticDecoder(Decoder):
    """Draws shapes ``[start, stop)`` as uint8 ``(stop - start, channels, size, size)``."""

    chunk_size = 256

    def __init__(self, shapes: list[_Shape]) -> None:
        self.shapes = shapes

    def decode(self, start: int, stop: int, size: int, channels: int) -> np.ndarray:
        return np.stack([_draw_shape(shape, size, channels) for shape in self.shapes[start:stop]])


def open_synthetic(split: str = "train") -> Source:
    """Coloured circles, squares and triangles (labels 0, 1, 2) drawn at the requested size.

    ``train``: 2,000 images; ``test``: 500 (another seed); ``all``: train then test.
    """
    if split == "val":
        raise split_error(split, "synthetic", ["train", "test", "all"])
    parts = ["train", "test"] if split == "all" else [split]

    def load() -> Contents:
        shapes = [s for part in parts for s in _synthetic_shapes(*SYNTHETIC_SPLITS[part])]
        labels = np.array([s[0] for s in shapes], dtype=np.int64)
        return Contents(
            decoder=SyntheticDecoder(shapes), count=len(shapes), labels=labels, class_names=list(SYNTHETIC_CLASSES)
        )

    fingerprint = digest([SYNTHETIC_VERSION, [SYNTHETIC_SPLITS[p] for p in parts]])
    return Source("synthetic", "synthetic", fingerprint, load)
