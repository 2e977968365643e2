"""Fashion-MNIST: IDX files from a folder, the Debian system copy, the user cache or a checked download.

The name ``fashion-mnist`` is looked up in the Debian package's folder, then in the cache, and only
then downloaded from the official mirrors, every file checked against its published MD5. Any
folder holding IDX files (gzipped or not, ``-`` or ``.`` spelling) is read the same way. The IDX
arrays are parsed only when the store packs; their structure is validated, so a damaged or cut
file is named with what to do.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import sys
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image

from ..errors import DataError
from ..fsutil import atomic_write
from .base import Contents, Decoder, Source, digest, one_line, split_error, stat_row
from .decode import square_resize

__all__ = [
    "KIND",
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_SYSTEM_DIR",
    "FASHION_MNIST_MIRRORS",
    "FASHION_MNIST_MD5",
    "idx_files",
    "read_idx",
    "open_idx",
    "open_fashion_mnist",
]

KIND = "fashion-mnist"  # the stores' and evaluations' name for this source
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
FASHION_MNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")  # Debian dataset-fashion-mnist
# The official files (zalandoresearch/fashion-mnist README); the S3 site is plain http, so every
# download is checked against the published MD5 sums (the same ones torchvision's FashionMNIST uses).
FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
FASHION_MNIST_MD5 = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}
_IDX_PREFIX = {"train": "train", "test": "t10k"}


def _idx_candidates(split: str, kind: str) -> list[str]:
    """File names accepted for a split's images or labels: gzipped or not, '-' or '.' spelling."""
    prefix, suffix = _IDX_PREFIX[split], ("idx3-ubyte" if kind == "images" else "idx1-ubyte")
    names = [f"{prefix}-{kind}-{suffix}", f"{prefix}-{kind}.{suffix}"]
    return [n + ext for n in names for ext in (".gz", "")]


def idx_files(folder: Path) -> dict[str, tuple[Path | None, Path | None]]:
    """{split: (images file, labels file)} for each split whose images file is in `folder`."""
    found: dict[str, tuple[Path | None, Path | None]] = {}
    for split in _IDX_PREFIX:
        images = next((folder / n for n in _idx_candidates(split, "images") if (folder / n).is_file()), None)
        labels = next((folder / n for n in _idx_candidates(split, "labels") if (folder / n).is_file()), None)
        if images is not None:
            found[split] = (images, labels)
    return found


def _read_exactly(f: BinaryIO, count: int) -> bytes:
    """Up to `count` bytes (fewer only at the end of the file), read in blocks so a short file costs little."""
    blocks, left = [], count
    while left > 0:
        block = f.read(min(left, 1 << 24))
        if not block:
            break
        blocks.append(block)
        left -= len(block)
    return b"".join(blocks)


def read_idx(path: Path) -> np.ndarray:
    """Parse an unsigned-byte IDX file (optionally gzipped) into a uint8 array of its declared shape.

    Only the declared number of bytes is read (plus one, to notice trailing data), so a damaged header
    or a gzip bomb costs at most what the header declares.
    """
    try:
        with gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb") as f:
            magic = f.read(4)
            if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] != 0x08 or magic[3] == 0:
                raise DataError(
                    f"{path}: not an unsigned-byte IDX file (magic number {magic.hex() or 'missing'}); "
                    f"replace it with the original file"
                )
            dims = f.read(4 * magic[3])
            if len(dims) < 4 * magic[3]:
                raise DataError(f"{path}: the IDX header is truncated; replace the file")
            shape = struct.unpack(f">{magic[3]}I", dims)
            expected = math.prod(shape)
            data = _read_exactly(f, expected + 1)
    except (OSError, EOFError, zlib.error) as exc:  # BadGzipFile is an OSError; a cut .gz an EOFError
        raise DataError(
            f"{path}: cannot read this IDX file ({one_line(exc)}); it is damaged or truncated, replace it"
        ) from None
    if len(data) != expected:
        held = f"{len(data)}" if len(data) <= expected else "more"
        raise DataError(
            f"{path}: the IDX header declares shape {shape} ({expected} bytes) but the file holds {held}; "
            f"it is truncated or damaged, replace it"
        )
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


class ArrayDecoder(Decoder):
    """Gray uint8 images (N, H, W) in memory: crop/resize with PIL when size differs, repeat for RGB."""

    chunk_size = 4096

    def __init__(self, images: np.ndarray) -> None:
        self.images = images

    def decode(self, start: int, stop: int, size: int, channels: int) -> np.ndarray:
        chunk = self.images[start:stop]
        if chunk.shape[1:] != (size, size):
            chunk = np.stack([np.asarray(square_resize(Image.fromarray(a), size)) for a in chunk])
        chunk = chunk[:, None]
        return np.repeat(chunk, 3, axis=1) if channels == 3 else np.ascontiguousarray(chunk)


def open_idx(folder: Path, split: str = "train", source: str | None = None) -> Source:
    """Fashion-MNIST-style IDX files in `folder`: ``train`` (60k), ``test`` (t10k), ``all`` (both)."""
    source = source or str(folder)
    folder = folder.resolve()
    if split == "val":
        raise split_error(split, f"Fashion-MNIST ({folder})", ["train", "test", "all"])
    found = idx_files(folder)
    splits = ["train", "test"] if split == "all" else [split]
    pairs: list[tuple[Path, Path]] = []
    for part in splits:
        images, labels = found.get(part, (None, None))
        if images is None:
            raise DataError(
                f"--data {source}: {folder} has no {_idx_candidates(part, 'images')[0]} for the {part} split; "
                f"place it there"
            )
        if labels is None:
            raise DataError(
                f"--data {source}: {folder} has {images.name} but not {_idx_candidates(part, 'labels')[0]}; "
                f"place it beside it"
            )
        pairs.append((images, labels))
    stats = [stat_row(p) for pair in pairs for p in pair]

    def load() -> Contents:
        all_images, all_labels = [], []
        for images_path, labels_path in pairs:
            images, labels = read_idx(images_path), read_idx(labels_path)
            if images.ndim != 3 or 0 in images.shape[1:]:
                raise DataError(f"{images_path}: expected an IDX array of images (N, H, W), got shape {images.shape}")
            if labels.ndim != 1 or len(labels) != len(images):
                raise DataError(
                    f"{labels_path}: expected {len(images)} labels for {images_path.name}, "
                    f"got shape {labels.shape}; replace it"
                )
            all_images.append(images)
            all_labels.append(labels)
        images = np.concatenate(all_images) if len(all_images) > 1 else all_images[0]
        labels = np.concatenate(all_labels).astype(np.int64)
        class_names = FASHION_MNIST_CLASSES if labels.size and int(labels.max()) < len(FASHION_MNIST_CLASSES) else None
        return Contents(decoder=ArrayDecoder(images), count=len(images), labels=labels, class_names=class_names)

    return Source(KIND, str(folder), digest(["idx", stats]), load)


def _fetch(url: str, name: str, target: Path, progress: bool) -> None:
    """Download `url` into `target`, which appears only once the bytes match the published MD5 of `name`."""
    from tqdm import tqdm

    with urllib.request.urlopen(url, timeout=30) as response:
        total = int(response.headers.get("Content-Length") or 0) or None

        def write(out: BinaryIO) -> None:
            md5 = hashlib.md5(usedforsecurity=False)
            with tqdm(total=total, unit="B", unit_scale=True, desc=name, disable=not progress, file=sys.stderr) as bar:
                for block in iter(lambda: response.read(1 << 16), b""):
                    out.write(block)
                    md5.update(block)
                    bar.update(len(block))
            if md5.hexdigest() != FASHION_MNIST_MD5[name]:
                raise ValueError("MD5 mismatch")  # atomic_write removes the temp file

        atomic_write(target, write)


def _download(name: str, target: Path, progress: bool) -> None:
    """Fetch one official Fashion-MNIST file into `target` from the first mirror that serves it intact."""
    errors = []
    for mirror in FASHION_MNIST_MIRRORS:
        try:
            _fetch(mirror + name, name, target, progress)
            return
        except (OSError, ValueError, urllib.error.URLError) as exc:
            errors.append(f"{mirror}{name}: {one_line(exc)}")
    raise OSError("; ".join(errors))


def open_fashion_mnist(split: str, cache_dir: Path, progress: bool = True) -> Source:
    """The name ``fashion-mnist``: system copy, then the cache, then the official download.

    The Debian package's files are re-compressed (their .gz MD5s differ from the published ones),
    so local files are validated by their IDX structure; downloads are checked against the MD5s.
    """
    if split == "val":
        raise split_error(split, "Fashion-MNIST", ["train", "test", "all"])
    needed = ["train", "test"] if split == "all" else [split]
    downloads = cache_dir / "downloads" / "fashion-mnist"
    for folder in (FASHION_MNIST_SYSTEM_DIR, downloads):
        found = idx_files(folder) if folder.is_dir() else {}
        if all(part in found and found[part][1] is not None for part in needed):
            return open_idx(folder, split, source="fashion-mnist")
    missing = [n for n in FASHION_MNIST_MD5 if not (downloads / n).is_file()]
    try:
        downloads.mkdir(parents=True, exist_ok=True)
        for name in missing:
            _download(name, downloads / name, progress)
    except OSError as exc:
        raise DataError(
            f"--data fashion-mnist: the Fashion-MNIST files were not found in {FASHION_MNIST_SYSTEM_DIR} "
            f"or {downloads}, "
            f"and the download failed ({one_line(exc)}); install the Debian package dataset-fashion-mnist "
            f"or place {', '.join(FASHION_MNIST_MD5)} in {downloads}"
        ) from None
    return open_idx(downloads, split, source="fashion-mnist")
