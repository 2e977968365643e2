r"""The packed store: a source decoded once into one uint8 array on disk, memory-mapped, cached.

Layout of a store directory ``<cache>/stores/<kind>-<size>px-c<channels>-<split>-<key16>/``::

    images.npy       uint8 (N, C, size, size), C-order; opened with mmap_mode="r"
    labels.npy       int64 (N,)       when the source has class labels (Fashion-MNIST, synthetic)
    attributes.npy   int8 (N, A)      when the source has attributes (CelebA list_attr_celeba.txt)
    skipped.txt      "<name>\t<reason>" per item that could not be used (only when some were)
    manifest.json    what was packed, from what, and the sha256 of images.npy

skipped.txt is UTF-8 text: a first line starting with ``#``, then one line per skipped item, its
name (path relative to the source, zip member, or a sub-folder that could not be listed, ending in
``/``) and the reason, separated by one tab. Both columns are backslash-escaped
(`dcgan.data.pack.escape_field`): ``\\`` ``\t`` ``\n`` ``\r``, ``\xNN`` for byte NN (controls and
bytes that are not UTF-8), ``\uNNNN`` for other non-printable characters, and a leading ``#`` as
``\x23``; so a file named "a.png<newline>fake.png<tab>broken" is one line and forges nothing.
`dcgan.data.pack.read_skip_log` reads it back. A folder that could not be listed counts as one
skipped item towards the refusal of a mostly unreadable source (its images cannot be counted).

The key is a sha256 of the resolved source, its fingerprint (names, sizes, mtimes / CRCs), size,
channels, split and limit, so a changed source gets a new store and the outdated one is removed.
A store is built in a temporary directory and renamed into place, so a killed pack never leaves a
half store; on reuse the manifest, shape and checksum are verified and a damaged store is rebuilt.
The decoding itself is `dcgan.data.pack`'s job; this module names, verifies, reuses and publishes.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..fsutil import atomic_write, file_sha256
from .base import DECODE_VERSION, Source
from .pack import pack_images, write_skip_log
from .sources import open_source, source_channels

__all__ = ["PackedStore", "open_store", "source_channels", "default_cache_dir", "STORE_VERSION"]

STORE_VERSION = 1  # bump when the store layout changes: old stores are rebuilt
MAX_SKIPPED_FRACTION = 0.5  # more unreadable files than this and the source is called damaged
_STALE_TMP_SECONDS = 24 * 3600  # temp dirs this old belong to killed packs and are removed


def default_cache_dir() -> Path:
    """``$DCGAN_CACHE`` when set, else ``~/.cache/dcgan``."""
    env = os.environ.get("DCGAN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dcgan"


@dataclass
class PackedStore:
    """A packed source: uint8 NCHW images (memory-mapped, read-only) and what is known per image.

    When a `limit` was served from a cached store of the whole source, `images` (and labels,
    attributes) are a prefix view of that store, `path` is that store's directory, and the
    manifest's ``count``/``limit`` describe the view (``prefix_of`` names the full store).
    """

    images: np.ndarray  # uint8 (N, C, H, W), np.load(mmap_mode="r")
    labels: np.ndarray | None  # int64 (N,) class labels, or None
    attributes: np.ndarray | None  # int8 (N, A) in {-1, 1} (CelebA), or None
    attribute_names: list[str] | None
    class_names: list[str] | None
    manifest: dict[str, Any]
    path: Path  # the store directory

    def __len__(self) -> int:
        return int(self.images.shape[0])

    def __repr__(self) -> str:
        n, c, h, w = self.images.shape
        what = f"{self.manifest.get('kind')} {self.manifest.get('source')!r}"
        return f"PackedStore({what}: {n} x {c}x{h}x{w}, path={str(self.path)!r})"


def open_store(
    source: str,
    size: int,
    channels: int | None = None,
    split: str = "train",
    limit: int | None = None,
    cache_dir: str | Path | None = None,
    progress: bool = True,
    rebuild: bool = False,
) -> PackedStore:
    """Open SOURCE as a packed store of ``size x size`` images, packing it on first use.

    source:    folder, .zip, CelebA root, Fashion-MNIST folder, or a name (synthetic, fashion-mnist, celeba).
    size:      image side in pixels (center crop, then resize).
    channels:  1 (gray) or 3 (RGB); None: the source's own (`source_channels`).
    split:     train | val | test | all (which exist depends on the source).
    limit:     keep the first N images in source order; None: all. Served from a cached full store
               without decoding when one exists.
    cache_dir: where stores (and downloads) live; None: `default_cache_dir()`.
    progress:  show a progress bar (stderr) while packing or downloading.
    rebuild:   pack again even when a valid cached store exists.
    """
    # Check the arguments.
    if not isinstance(size, int) or size < 1:
        raise DataError(f"--size {size}: must be a positive number of pixels")
    channels = source_channels(source) if channels is None else channels
    if channels not in (1, 3):
        raise DataError(f"--channels {channels}: must be 1 or 3")
    if limit is not None and limit < 1:
        raise DataError(f"--limit {limit}: must be at least 1 (or omitted for all images)")
    if cache_dir is not None and not str(cache_dir).strip():
        # Path("") is the working directory: stores would silently land wherever the command ran.
        raise DataError("--cache-dir '': empty path; name a folder (or leave it out for the default)")
    try:
        cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    except RuntimeError:  # '~name' of a user that does not exist
        raise DataError(f"--cache-dir {cache_dir}: cannot expand '~' (no such user)") from None
    if os.path.isfile(cache):  # os.path.isfile never raises (a folder without permission on the way)
        raise DataError(f"--cache-dir {cache}: is a file, not a folder; name a folder for the packed stores")

    # Resolve the source (cheap: lists and fingerprints it) and find its store.
    src = open_source(source, split, cache, progress=progress)
    stores = cache / "stores"
    path = stores / _store_name(src, size, channels, split, limit)

    # Reuse a valid store: the exact one, or a prefix of the whole source's store.
    if not rebuild:
        store = _reuse(path)
        if store is not None:
            return store
        if limit is not None:
            full = _reuse(stores / _store_name(src, size, channels, split, None))
            if full is not None:
                return _prefix(full, limit)

    # Pack it.
    return _pack(src, source, path, size, channels, split, limit, progress)


# ---------------------------------------------------------------------------------------------
# Naming and reusing stores.


def _store_key(src: Source, size: int, channels: int, split: str, limit: int | None) -> str:
    identity = {
        "resolved": src.resolved,
        "fingerprint": src.fingerprint,
        "size": size,
        "channels": channels,
        "split": split,
        "limit": limit,
        "store_version": STORE_VERSION,
        "decode_version": DECODE_VERSION,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _store_name(src: Source, size: int, channels: int, split: str, limit: int | None) -> str:
    return f"{src.kind}-{size}px-c{channels}-{split}-{_store_key(src, size, channels, split, limit)[:16]}"


class _Unusable(Exception):
    """A cached store that cannot be trusted; the message says why."""


# (path, size, mtime_ns, inode) -> sha256 hex: each images.npy is hashed at most once per process.
_CHECKSUMS: dict[tuple[str, int, int, int], str] = {}


def _checksum_key(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return (str(path), st.st_size, st.st_mtime_ns, st.st_ino)


def _images_sha256(path: Path) -> str:
    """sha256 of a store's images.npy, computed once per process per file version."""
    key = _checksum_key(path)
    if key not in _CHECKSUMS:
        _CHECKSUMS[key] = file_sha256(path)
    return _CHECKSUMS[key]


def _load(path: Path) -> PackedStore:
    """Open and verify a store directory, or raise `_Unusable`."""
    try:
        manifest = json.loads((path / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise _Unusable(f"manifest.json unreadable: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("version") != STORE_VERSION:
        raise _Unusable("made by another version")
    try:
        count, channels, size = int(manifest["count"]), int(manifest["channels"]), int(manifest["size"])
        images = np.load(path / "images.npy", mmap_mode="r")
    except (KeyError, TypeError, ValueError, OSError) as exc:
        raise _Unusable(f"images.npy or manifest damaged: {exc}") from None
    if images.dtype != np.uint8 or images.shape != (count, channels, size, size):
        raise _Unusable(
            f"images.npy holds {images.dtype} {images.shape}, expected uint8 {(count, channels, size, size)}"
        )
    if _images_sha256(path / "images.npy") != manifest.get("checksum"):
        raise _Unusable("images.npy checksum mismatch")
    labels = _load_side(path / "labels.npy", manifest.get("labels"), (count,), np.int64)
    attributes = _load_side(path / "attributes.npy", manifest.get("attributes"), None, np.int8)
    if attributes is not None and attributes.shape != (count, len(manifest.get("attribute_names") or [])):
        raise _Unusable(f"attributes.npy has shape {attributes.shape}")
    return PackedStore(
        images=images,
        labels=labels,
        attributes=attributes,
        attribute_names=manifest.get("attribute_names"),
        class_names=manifest.get("class_names"),
        manifest=manifest,
        path=path,
    )


def _load_side(path: Path, expected: object, shape: tuple[int, ...] | None, dtype: type) -> np.ndarray | None:
    if not expected:
        return None
    try:
        array = np.load(path)
    except (OSError, ValueError) as exc:
        raise _Unusable(f"{path.name} unreadable: {exc}") from None
    if array.dtype != dtype or (shape is not None and array.shape != shape):
        raise _Unusable(f"{path.name} holds {array.dtype} {array.shape}")
    return array


def _reuse(path: Path) -> PackedStore | None:
    if not os.path.isdir(path):  # never raises: a cache folder without permission reads as no store
        return None
    try:
        return _load(path)
    except (_Unusable, OSError) as exc:
        print(f"note: cached store {path} is unusable ({exc}); packing again", file=sys.stderr)
        return None


def _prefix(full: PackedStore, limit: int) -> PackedStore:
    """The first `limit` images of a store, as views (no decoding, no copy)."""
    n = min(limit, len(full))
    manifest = dict(full.manifest, count=n, limit=limit, prefix_of=str(full.path))
    return PackedStore(
        images=full.images[:n],
        labels=None if full.labels is None else full.labels[:n],
        attributes=None if full.attributes is None else full.attributes[:n],
        attribute_names=full.attribute_names,
        class_names=full.class_names,
        manifest=manifest,
        path=full.path,
    )


# ---------------------------------------------------------------------------------------------
# Building a store.


def _pack(
    src: Source, source: str, path: Path, size: int, channels: int, split: str, limit: int | None, progress: bool
) -> PackedStore:
    """Pack `src` into a temp directory beside `path`, refuse it if mostly unreadable, publish it at `path`."""
    stores = path.parent
    try:
        stores.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=stores))
    except OSError as exc:
        raise DataError(
            f"cache folder {stores.parent} is not writable ({exc.strerror or exc}); "
            f"set DCGAN_CACHE to a writable folder"
        ) from None
    try:
        # Decode every image into a temporary images.npy.
        started = time.monotonic()
        try:
            contents = src.load()
        except OSError as exc:  # a list file or folder that became unreadable after listing
            where = exc.filename or src.resolved
            raise DataError(f"--data {source}: cannot read {where} ({exc.strerror or exc})") from None
        if contents.count == 0 and not contents.pre_skipped:
            raise DataError(f"--data {source}: the {split} split holds no images")
        capacity = contents.count if limit is None else min(limit, contents.count)
        kept, skipped, considered = pack_images(
            tmp / "images.npy", contents, capacity, size, channels, progress, src.kind
        )

        # Account for unreadable files: log them, and refuse a source that is mostly damaged.
        log_name = "skipped.txt"
        if skipped:
            write_skip_log(tmp / log_name, skipped)
        if not kept or len(skipped) > MAX_SKIPPED_FRACTION * considered:
            # The store is not created, so keep the log beside where it would have been.
            failed_log = stores / f"{path.name}.skipped.txt"
            write_skip_log(failed_log, skipped)
            if not kept:
                problem = f"none of the {considered} files could be read as images"
            else:
                problem = (
                    f"{len(skipped)} of {considered} files could not be read as images "
                    f"(over {MAX_SKIPPED_FRACTION:.0%})"
                )
            folders = sum(item.name.endswith("/") for item in skipped)  # only unlisted folders end in '/'
            if folders:
                problem += f"; {folders} of them are folders that could not be listed, each counted once"
            raise DataError(f"--data {source}: {problem}; see {failed_log} for each file and why")

        # Write the side arrays (rows of the images kept) and the manifest.
        rows = np.asarray(kept, dtype=np.int64)
        if contents.labels is not None:
            np.save(tmp / "labels.npy", contents.labels[rows].astype(np.int64))
        if contents.attributes is not None:
            np.save(tmp / "attributes.npy", contents.attributes[rows].astype(np.int8))
        manifest = {
            "source": source,
            "resolved": src.resolved,
            "kind": src.kind,
            "size": size,
            "channels": channels,
            "split": split,
            "limit": limit,
            "count": len(kept),
            "checksum": file_sha256(tmp / "images.npy"),
            "source_fingerprint": src.fingerprint,
            "considered": considered,
            "skipped": len(skipped),
            "skipped_log": str(path / log_name) if skipped else None,
            "labels": contents.labels is not None,
            "attributes": contents.attributes is not None,
            "class_names": contents.class_names,
            "attribute_names": contents.attribute_names,
            "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "pack_seconds": round(time.monotonic() - started, 2),
            "decode_version": DECODE_VERSION,
            "version": STORE_VERSION,
        }
        atomic_write(tmp / "manifest.json", json.dumps(manifest, indent=2) + "\n")
        if _publish(tmp, path):
            # rename keeps inode and mtime: the fresh store need not be hashed again on load.
            _CHECKSUMS[_checksum_key(path / "images.npy")] = manifest["checksum"]
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    if skipped:
        print(f"skipped {len(skipped)} of {considered} files (see {path / log_name})", file=sys.stderr)
    (stores / f"{path.name}.skipped.txt").unlink(missing_ok=True)
    _remove_outdated(stores, path, src, limit)
    return _load(path)


def _publish(tmp: Path, path: Path) -> bool:
    """Move a finished temp store into place atomically, replacing an old one at `path`.

    Returns False when another process published the same store first (theirs is kept).
    """
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.{os.getpid()}.old")
        shutil.rmtree(old, ignore_errors=True)
        try:
            os.rename(path, old)
        except FileNotFoundError:
            old = None
    try:
        os.rename(tmp, path)
    except OSError:
        # Another process published the same store between our two renames: theirs is as good.
        if not (path / "manifest.json").is_file():
            raise
        shutil.rmtree(tmp, ignore_errors=True)
        return False
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    return True


def _remove_outdated(stores: Path, current: Path, src: Source, limit: int | None) -> None:
    """Delete stores of the same source and settings made from an older version of its files,
    and temp dirs left by packs killed more than a day ago."""
    prefix = current.name.rsplit("-", 1)[0] + "-"
    now = time.time()
    for entry in stores.iterdir():
        try:
            if entry.name.endswith(".tmp") or entry.name.endswith(".old"):
                if entry.is_dir() and now - entry.stat().st_mtime > _STALE_TMP_SECONDS:
                    shutil.rmtree(entry, ignore_errors=True)
                continue
            if entry == current or not entry.name.startswith(prefix) or not entry.is_dir():
                continue
            manifest = json.loads((entry / "manifest.json").read_text())
            if manifest.get("resolved") == src.resolved and manifest.get("limit") == limit:
                shutil.rmtree(entry, ignore_errors=True)
        except (OSError, ValueError):
            continue
