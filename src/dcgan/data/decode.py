"""One encoded image -> uint8 ``(C, size, size)``, or `SkipImage` with the reason it is unusable.

Pillow does the work, with guards for datasets from anywhere: only JPEG/PNG/BMP/WebP are
identified, the declared size is checked against a pixel budget before any pixel is decoded, and
truncated files fail instead of being padded. Every image is brought to RGB (C=3) or L (C=1) as
described in `_convert`, then center-cropped to a square and resized (`square_resize`).
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Iterator

import numpy as np
from PIL import ExifTags, Image, ImageOps

from .base import SkipImage, one_line

__all__ = [
    "MAX_DATASET_PIXELS",
    "PIL_FORMATS",
    "dataset_pixel_limit",
    "use_dataset_pixel_limit",
    "decode_image",
    "square_resize",
]

# Pillow plugins we let identify a file; anything else (GIF, TIFF, PSD, ...) is skipped as
# "not a supported image". (Multi-picture JPEGs from some cameras open through JPEG as "MPO".)
PIL_FORMATS = ("JPEG", "PNG", "BMP", "WEBP")
# Pixel budget for one dataset image (64 Mi pixels, about 8192 x 8192). Checked on the declared
# size before any pixel is decoded, so a tiny PNG declaring 20000 x 20000 costs nothing.
MAX_DATASET_PIXELS = 64 * 2**20


@contextlib.contextmanager
def dataset_pixel_limit() -> Iterator[None]:
    """Lower Pillow's decompression-bomb limit to `MAX_DATASET_PIXELS` while decoding a dataset.

    Pillow raises `DecompressionBombError` in `Image.open` above twice the limit; between one and
    two times it only warns, so the warning is silenced here and `decode_image` rejects those
    itself (it checks the declared size before decoding).
    """
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = MAX_DATASET_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def use_dataset_pixel_limit() -> None:
    """`dataset_pixel_limit` for the rest of this process's life (a worker that only decodes datasets)."""
    Image.MAX_IMAGE_PIXELS = MAX_DATASET_PIXELS
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)


def decode_image(data: bytes, size: int, channels: int) -> np.ndarray:
    """Decode one encoded image to uint8 ``(channels, size, size)``, or raise `SkipImage(reason)`.

    Only JPEG/PNG/BMP/WebP are identified (explicit `formats=`); the declared size is checked
    against `MAX_DATASET_PIXELS` before decoding; truncated files fail (we never set
    ``ImageFile.LOAD_TRUNCATED_IMAGES``, which would pad them with grey). EXIF orientation is
    applied, so phone photos come out upright.
    """
    if not data:
        raise SkipImage("empty file (0 bytes)")
    try:
        with Image.open(io.BytesIO(data), formats=PIL_FORMATS) as img:
            width, height = img.size
            if width < 1 or height < 1:
                raise SkipImage(f"declares an empty image ({width}x{height})")
            if width * height > MAX_DATASET_PIXELS:
                raise SkipImage(
                    f"declares {width}x{height} pixels, over the {MAX_DATASET_PIXELS} pixel limit for datasets"
                )
            if img.format in ("JPEG", "MPO"):
                # Let libjpeg downscale by 2/4/8 in the DCT while both sides stay >= 2x the target;
                # the final LANCZOS step still does the real antialiasing (like reducing_gap=2).
                img.draft(None, (2 * size, 2 * size))
            img.load()
            if img.getexif().get(ExifTags.Base.Orientation, 1) != 1:
                img = ImageOps.exif_transpose(img)
            img = square_resize(_convert(img, channels), size)
            array = np.asarray(img, dtype=np.uint8)
    except SkipImage:
        raise
    except Image.DecompressionBombError as exc:
        raise SkipImage(f"decompression bomb: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - Pillow plugins raise many undocumented types on bad input
        kind = "not a JPEG/PNG/BMP/WebP image" if isinstance(exc, Image.UnidentifiedImageError) else type(exc).__name__
        raise SkipImage(f"{kind}: {one_line(exc)}") from None
    if array.ndim == 2:
        array = array[None]
    else:
        array = array.transpose(2, 0, 1)
    return np.ascontiguousarray(array)


_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA_MODES = ("RGBA", "RGBa", "LA", "La", "PA")


def _convert(img: Image.Image, channels: int) -> Image.Image:
    """Bring any Pillow mode to RGB (channels=3) or L (channels=1), with correct tone scaling.

    - 16-bit (I;16*, and I as Pillow loads 16-bit PNGs): scaled by 255/65535 (rounded), not clipped.
    - F (float): [0, 1] data scaled by 255, anything else clipped to [0, 255].
    - 1 (bilevel): 0/255. P: through its palette. CMYK, YCbCr, RGBX, HSV: Pillow's conversion.
    - Transparency (RGBA, LA, PA, P or L/RGB with a tRNS colour) is composited on WHITE: transparent
      PNGs (icons, product shots, sprites) are made to be seen on white pages, while dropping the
      alpha would expose whatever colour the transparent pixels happen to store (often black).
    """
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        values = np.clip(np.asarray(img).astype(np.int64), 0, 65535)
        img = Image.fromarray(((values * 255 + 32767) // 65535).astype(np.uint8))
    elif mode == "F":
        values = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if values.size and values.max() <= 1.0:
            values = values * 255.0
        img = Image.fromarray(np.clip(np.rint(values), 0, 255).astype(np.uint8))
    elif mode in _ALPHA_MODES or (mode in ("L", "RGB", "P") and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(white, rgba).convert("RGB")
    elif mode not in ("L", "RGB"):
        img = img.convert("RGB" if mode != "1" else "L")
    target = "RGB" if channels == 3 else "L"
    return img if img.mode == target else img.convert(target)


def square_resize(img: Image.Image, size: int) -> Image.Image:
    """Center-crop to a square, then resize to ``size x size``.

    The same as torchvision's ``Resize(size)`` + ``CenterCrop(size)`` used by the published DCGAN
    code, but resampling only the cropped box. Downscaling uses LANCZOS (as StyleGAN's
    dataset_tool) with ``reducing_gap=3`` (a box pre-reduction that is visually identical and much
    faster for large photos); upscaling uses BICUBIC, which rings less than LANCZOS.
    """
    width, height = img.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    box = (left, top, left + side, top + side)
    if side == size:
        return img.crop(box) if (width, height) != (size, size) else img
    if side > size:
        return img.resize((size, size), Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)
    return img.resize((size, size), Image.Resampling.BICUBIC, box=box)
