"""What every reader returns, and what all readers share.

A reader turns a SOURCE into a `Source` (identity for the cache key, cheap) whose `load` gives the
`Contents` (a picklable `Decoder` plus labels / attributes, the expensive part). Unusable items come
back as `Skipped`. The constants here are the ones more than one module needs: the split names,
the image file extensions, and `DECODE_VERSION`, which is part of every store key.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import DataError

__all__ = [
    "DECODE_VERSION",
    "SPLITS",
    "IMAGE_EXTENSIONS",
    "Skipped",
    "SkipImage",
    "Decoder",
    "Contents",
    "Source",
    "digest",
    "note",
    "one_line",
    "split_error",
    "stat_row",
]

# Bump when decoding changes what a store holds (filters, mode handling): old stores are rebuilt.
DECODE_VERSION = 1

SPLITS = ("train", "val", "test", "all")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


@dataclass(frozen=True)
class Skipped:
    """An item that could not be used: its name (relative path or zip member) and why."""

    name: str
    reason: str


class SkipImage(Exception):
    """Raised for a file that is not a usable image; the message is the reason."""


class Decoder:
    """Decodes items ``[start, stop)`` of a source, in source order; picklable (sent to workers).

    `decode` returns one entry per item: a uint8 array ``(channels, size, size)`` or a `Skipped`;
    array decoders may return a single uint8 array ``(stop - start, channels, size, size)``.
    """

    parallel: bool = False  # worth a process pool (per-file image decoding)
    chunk_size: int = 128  # items per task

    def decode(self, start: int, stop: int, size: int, channels: int) -> Sequence[np.ndarray | Skipped]:
        raise NotImplementedError


@dataclass
class Contents:
    """The loaded items of a source: how to decode them, and what is known about each."""

    decoder: Decoder
    count: int  # number of items `decoder` can decode (skipped ones included)
    labels: np.ndarray | None = None  # int64 (count,)
    attributes: np.ndarray | None = None  # int8 (count, A) in {-1, 1}
    attribute_names: list[str] | None = None
    class_names: list[str] | None = None
    pre_skipped: list[Skipped] = field(default_factory=list)  # rejected while listing (unsafe zip names)


@dataclass
class Source:
    """A resolved SOURCE: identity (for the cache key) now, contents on demand."""

    kind: str  # folder | zip | celeba | fashion-mnist | synthetic
    resolved: str  # absolute path, or the name for synthetic
    fingerprint: str  # sha256 hex of what identifies the content (names, sizes, mtimes / CRCs)
    load: Callable[[], Contents]  # parse lists and build the decoder (the expensive part)


def digest(obj: object) -> str:
    """sha256 hex of `obj` as compact JSON: a source fingerprint (part of the store key)."""
    return hashlib.sha256(json.dumps(obj, separators=(",", ":")).encode()).hexdigest()


def note(message: str) -> None:
    """Tell the user something on stderr (stdout stays for results)."""
    print(message, file=sys.stderr)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line, at most 200 characters (its type name when empty)."""
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def split_error(split: str, what: str, allowed: Sequence[str]) -> DataError:
    """The error for a split that `what` does not have, naming the ones it has."""
    return DataError(f"--split {split}: {what} has no {split} split; use --split {' or '.join(allowed)}")


def stat_row(path: Path) -> tuple[str, int, int] | None:
    """(name, bytes, mtime_ns) of a file for a fingerprint, or None when it cannot be read."""
    try:
        st = path.stat()
    except OSError:
        return None
    return (path.name, st.st_size, st.st_mtime_ns)
