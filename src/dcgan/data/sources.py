"""SOURCE string -> the reader for it; and the channels a SOURCE has natively.

A SOURCE string resolves, in this order, to:

1. ``synthetic``      procedurally drawn shapes (circle / square / triangle, labelled), no files;
2. ``fashion-mnist``  the IDX files from /usr/share/datasets, the cache, or the official download;
3. a folder holding Fashion-MNIST IDX files (``train-images-idx3-ubyte.gz`` ...);
4. a CelebA root (``img_align_celeba/`` or ``img_align_celeba.zip`` plus the ``list_*.txt``
   files), or the name ``celeba`` (looked up, never downloaded);
5. any other folder: every image below it, recursively;
6. a ``.zip`` file: every image inside it, read in place (never extracted).

Opening a source is cheap: the reader lists the files and fingerprints them (for the store's cache
key); the expensive part happens in `Source.load`, which the store calls only when it has to pack.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import DataError
from .base import SPLITS, Source
from .celeba import CELEBA_IMAGES, celeba_layout, find_celeba, has_celeba_lists, open_celeba
from .fashion_mnist import idx_files, open_fashion_mnist, open_idx
from .files import open_folder, open_zip
from .synthetic import open_synthetic

__all__ = ["open_source", "source_channels"]


def open_source(source: str, split: str, cache_dir: Path, progress: bool = True) -> Source:
    """Resolve SOURCE (see the module docstring) and open it for `split` (train/val/test/all).

    `cache_dir` is where Fashion-MNIST downloads go and where the name ``celeba`` is also looked up.
    """
    if split not in SPLITS:
        raise DataError(f"--split {split}: unknown split; choose one of {', '.join(SPLITS)}")
    if source == "synthetic":
        return open_synthetic(split)
    if source == "fashion-mnist":
        return open_fashion_mnist(split, cache_dir, progress=progress)
    if source == "celeba":
        return open_celeba(find_celeba(cache_dir), split, source=source)
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"--data {source}: no such file or folder")
    if path.is_dir():
        if idx_files(path):
            return open_idx(path, split, source=source)
        if celeba_layout(path) is not None:
            return open_celeba(path, split, source=source)
        return open_folder(path, split, source=source)
    if path.is_file() and path.suffix.lower() == ".zip":
        if path.name == f"{CELEBA_IMAGES}.zip" and has_celeba_lists(path.parent):
            return open_celeba(path.parent, split, source=source)
        return open_zip(path, split, source=source)
    raise DataError(f"--data {source}: {path} is not a folder, .zip, CelebA root or Fashion-MNIST folder")


def source_channels(source: str) -> int:
    """The channels a SOURCE has natively: 1 for Fashion-MNIST (the name or a folder of IDX files), else 3."""
    if source == "fashion-mnist":
        return 1
    path = Path(source).expanduser()
    if source not in ("synthetic", "celeba") and path.is_dir() and idx_files(path):
        return 1
    return 3
