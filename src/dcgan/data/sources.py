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

import os
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
    A SOURCE that cannot be read at all (a folder without permission on the way) is a `DataError`.
    """
    if split not in SPLITS:
        raise DataError(f"--split {split}: unknown split; choose one of {', '.join(SPLITS)}")
    if not source.strip():
        # Path("") is the working directory: an unset variable in `--data "$DIR"` would pack whatever is there.
        raise DataError(f"--data {source!r}: empty SOURCE; give a folder, .zip, CelebA root or a dataset name")
    if "\0" in source:  # only reachable through a config file; os functions raise ValueError on it
        raise DataError(f"--data {source!r}: a path cannot contain a NUL character")
    try:
        return _open(source, split, cache_dir, progress)
    except OSError as exc:
        where = exc.filename if exc.filename is not None else source
        raise DataError(f"--data {source}: cannot read {where} ({exc.strerror or exc})") from None


def _open(source: str, split: str, cache_dir: Path, progress: bool) -> Source:
    if source == "synthetic":
        return open_synthetic(split)
    if source == "fashion-mnist":
        return open_fashion_mnist(split, cache_dir, progress=progress)
    if source == "celeba":
        return open_celeba(find_celeba(cache_dir), split, source=source)
    try:
        path = Path(source).expanduser()
    except RuntimeError:  # '~name' of a user that does not exist
        raise DataError(f"--data {source}: cannot expand {source.split('/')[0]!r} (no such user)") from None
    if not path.exists():
        raise DataError(f"--data {source}: no such file or folder")
    if path.is_dir():
        if not os.access(path, os.R_OK | os.X_OK):  # else the error would name the first file looked for
            raise DataError(f"--data {source}: cannot read folder {path} (permission denied)")
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
    """The channels a SOURCE has natively: 1 for Fashion-MNIST (the name or a folder of IDX files), else 3.

    Never raises: a SOURCE that cannot be looked at says 3 here, and `open_source` names the problem.
    """
    if source == "fashion-mnist":
        return 1
    if source in ("synthetic", "celeba") or not source.strip() or "\0" in source:
        return 3
    try:
        path = Path(source).expanduser()
        return 1 if path.is_dir() and idx_files(path) else 3
    except (OSError, RuntimeError):  # no permission on the way; '~user' of an unknown user
        return 3
