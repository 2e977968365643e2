"""Packing: decode every item of a source, in source order, into one uint8 ``images.npy``.

The array is a memory map of ``(capacity, C, size, size)``, its blocks reserved up front (a full
disk is an error, not a SIGBUS), filled chunk by chunk, then shrunk to the rows actually kept.
Per-file image decoding runs in a process pool above `PARALLEL_MIN_IMAGES` items, with a bounded
number of chunks in flight; a `limit` decodes only as many items as it needs. Items that cannot be
decoded are collected as `Skipped` for the skip log; the store decides what is too many.
"""

from __future__ import annotations

import multiprocessing
import os
import re
import shutil
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path

import numpy as np

from ..errors import DataError
from ..fsutil import atomic_write
from .base import Contents, Decoder, Skipped
from .decode import dataset_pixel_limit, use_dataset_pixel_limit

__all__ = ["PARALLEL_MIN_IMAGES", "escape_field", "pack_images", "read_skip_log", "unescape_field", "write_skip_log"]

PARALLEL_MIN_IMAGES = 2000  # decode in worker processes above this many files


def pack_images(
    file: Path, contents: Contents, capacity: int, size: int, channels: int, progress: bool, kind: str
) -> tuple[list[int], list[Skipped], int]:
    """Decode items in source order into a new .npy of up to `capacity` rows, shrunk to the rows kept.

    `file` gets uint8 ``(len(kept), channels, size, size)``. Returns (source indices of the rows
    written, skipped items, number of items considered). `kind` names the source on the progress bar.
    """
    kept, skipped, considered = _decode_into(file, contents, capacity, size, channels, progress, kind)
    if len(kept) < capacity:
        _truncate_rows(file, len(kept))
    return kept, skipped, considered


def _decode_into(
    file: Path, contents: Contents, capacity: int, size: int, channels: int, progress: bool, kind: str
) -> tuple[list[int], list[Skipped], int]:
    """Decode items in source order into a new .npy of `capacity` rows until it is full.

    Returns (source indices of the rows written, skipped items, number of items considered).
    """
    from tqdm import tqdm

    nbytes = capacity * channels * size * size
    free = shutil.disk_usage(file.parent).free
    if nbytes > free:
        raise DataError(
            f"not enough disk space in {file.parent.parent}: "
            f"packing needs {nbytes / 1e9:.1f} GB, {free / 1e9:.1f} GB free; "
            f"free some space or set DCGAN_CACHE to a folder on a larger disk"
        )
    images = np.lib.format.open_memmap(file, mode="w+", dtype=np.uint8, shape=(capacity, channels, size, size))
    _reserve(file)

    kept: list[int] = []
    skipped = list(contents.pre_skipped)
    considered = len(skipped)
    decoder = contents.decoder
    workers = _cpu_count() if decoder.parallel and capacity > PARALLEL_MIN_IMAGES else 1
    total = contents.count if capacity == contents.count else capacity
    bar = tqdm(total=total, unit="img", desc=f"packing {kind} {size}px", disable=not progress, file=sys.stderr)
    chunks = _decode_chunks(decoder, contents.count, size, channels, workers, lambda: capacity - len(kept))
    try:
        for start, results in chunks:
            if isinstance(results, np.ndarray):  # array sources never skip: copy the block
                take = min(len(results), capacity - len(kept))
                images[len(kept) : len(kept) + take] = results[:take]
                kept.extend(range(start, start + take))
                considered += take
                bar.update(take)
            else:
                for offset, item in enumerate(results):
                    if len(kept) == capacity:
                        break
                    considered += 1
                    bar.update(1)
                    if isinstance(item, Skipped):
                        skipped.append(item)
                    else:
                        images[len(kept)] = item
                        kept.append(start + offset)
            if len(kept) == capacity:
                break
    finally:
        chunks.close()
        bar.close()
    images.flush()
    del images
    return kept, skipped, considered


def _cpu_count() -> int:
    """CPUs this process may run on (the worker count for a parallel pack)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))  # respects container / taskset limits
    except AttributeError:
        return os.cpu_count() or 1


# The decoder a worker process was started with (see `_init_worker`).
_WORKER_DECODER: Decoder | None = None


def _init_worker(decoder: Decoder) -> None:
    """Runs once in each worker process: keep the decoder (sent once, not per chunk)."""
    global _WORKER_DECODER
    _WORKER_DECODER = decoder
    # This process only ever decodes dataset images: apply the dataset pixel limit for its lifetime.
    use_dataset_pixel_limit()


def _decode_in_worker(start: int, stop: int, size: int, channels: int) -> Sequence[np.ndarray | Skipped]:
    """One chunk, decoded in a worker process by its `_WORKER_DECODER`."""
    assert _WORKER_DECODER is not None
    return _WORKER_DECODER.decode(start, stop, size, channels)


def _decode_chunks(
    decoder: Decoder, count: int, size: int, channels: int, workers: int, needed: Callable[[], int]
) -> Iterator[tuple[int, Sequence[np.ndarray | Skipped]]]:
    """Yield (start, decoded items) chunk by chunk, in source order, until `needed()` is 0.

    Chunks never reach further than the images still needed, so a `limit` decodes only the first
    images (plus one more per skipped file). With several workers the decoder is handed once to
    each process (see `_worker_context`), and at most 2 x workers chunks are in flight, so memory
    stays bounded.
    """
    step = decoder.chunk_size
    start = 0
    if workers <= 1:
        with dataset_pixel_limit():
            while start < count and needed() > 0:
                stop = min(start + min(step, needed()), count)
                yield start, decoder.decode(start, stop, size, channels)
                start = stop
        return
    with ProcessPoolExecutor(
        workers, mp_context=_worker_context(), initializer=_init_worker, initargs=(decoder,)
    ) as pool:
        pending: deque[tuple[int, int, Future[Sequence[np.ndarray | Skipped]]]] = deque()
        in_flight = 0
        try:
            while True:
                while start < count and len(pending) < 2 * workers and needed() - in_flight > 0:
                    stop = min(start + min(step, needed() - in_flight), count)
                    pending.append((start, stop, pool.submit(_decode_in_worker, start, stop, size, channels)))
                    in_flight += stop - start
                    start = stop
                if not pending:
                    return
                first, last, future = pending.popleft()
                in_flight -= last - first
                yield first, future.result()
        finally:
            for _, _, future in pending:
                future.cancel()


def _worker_context() -> multiprocessing.context.BaseContext:
    """fork on Linux, the platform default (spawn) elsewhere.

    Like PyTorch's DataLoader workers: the workers only run Pillow, numpy and zipfile (never torch
    or CUDA), so a parent's torch threads do not matter, and a forked worker does not re-import
    the user's script, so quick scripts need no ``if __name__ == "__main__":`` guard (with spawn
    or forkserver they would fail with a bootstrapping error).
    """
    if sys.platform.startswith("linux"):
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def _reserve(file: Path) -> None:
    """Allocate the file's blocks now: writing a memory map on a full disk kills with SIGBUS."""
    if not hasattr(os, "posix_fallocate"):
        return
    fd = os.open(file, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as exc:
        if exc.errno == 28:  # ENOSPC
            raise DataError(
                f"not enough disk space in {file.parent.parent} to pack; set DCGAN_CACHE to a larger disk"
            ) from None
        # Not supported by this filesystem: carry on without the reservation.
    finally:
        os.close(fd)


def _truncate_rows(file: Path, rows: int) -> None:
    """Shrink a C-order .npy in place to its first `rows` rows: rewrite the shape, cut the tail.

    The header keeps its length (NPY headers are space-padded), so the data offset is unchanged.
    """
    with open(file, "r+b") as f:
        version = np.lib.format.read_magic(f)
        if version != (1, 0):
            raise ValueError(f"{file}: unexpected .npy version {version}")
        shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(f)
        offset = f.tell()
        new_shape = (rows, *shape[1:])
        header = repr(
            {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": fortran_order, "shape": new_shape}
        )
        room = offset - 10  # magic (6) + version (2) + header length (2)
        if len(header) + 1 > room:
            raise ValueError(f"{file}: the new .npy header does not fit")
        f.seek(10)
        f.write((header + " " * (room - len(header) - 1) + "\n").encode("latin1"))
        f.truncate(offset + int(np.prod(new_shape)) * dtype.itemsize)


# Skip-log columns are escaped so that one skipped item is always one line of exactly two columns: a
# file name may hold a tab or any line break `str.splitlines` knows (and could forge entries), bytes
# that are not UTF-8 (unwritable as text), or invisible and direction-changing characters.
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape_char(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (os.fsdecode's surrogateescape): the byte
        return f"\\x{code - 0xDC00:02x}"
    if code < 0x80:  # ASCII controls: the byte is the character
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def escape_field(text: str) -> str:
    r"""One skip-log column: backslash escapes for every character that is not printable, and backslash.

    ``\\`` ``\t`` ``\n`` ``\r`` as usual; ``\xNN`` is byte NN of the name (an ASCII control, or a byte
    that is not UTF-8); ``\uNNNN`` / ``\UNNNNNNNN`` any other non-printable character (line and paragraph
    separators, format and direction controls, non-breaking spaces). A leading ``#`` becomes ``\x23``
    (lines starting with ``#`` are comments). Printable text, non-ASCII letters included, stays as it is.
    """
    escaped = "".join(char if char.isprintable() and char != "\\" else _escape_char(char) for char in text)
    return "\\x23" + escaped[1:] if escaped.startswith("#") else escaped


_UNESCAPE = re.compile(r"\\(x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8}|[\\tnr])")


def unescape_field(text: str) -> str:
    """The inverse of `escape_field` (bytes that are not UTF-8 come back as surrogate escapes, like os.fsdecode)."""

    def one(match: re.Match[str]) -> str:
        code = match.group(1)
        if code[0] == "x":
            byte = int(code[1:], 16)
            return chr(byte) if byte < 0x80 else chr(0xDC00 + byte)
        if code[0] in "uU":
            return chr(int(code[1:], 16))
        return {"\\": "\\", "t": "\t", "n": "\n", "r": "\r"}[code]

    return _UNESCAPE.sub(one, text)


SKIP_LOG_HEADER = "# files that could not be used: <name>\t<reason> (backslash-escaped, see dcgan.data.store)\n"


def write_skip_log(file: Path, skipped: list[Skipped]) -> None:
    """Write a skip log: a comment line, then ``<name>`` TAB ``<reason>`` per skipped item (UTF-8).

    Both columns go through `escape_field`, so a file named ``a.png\\nfake.png\\tbroken`` is one line
    and cannot forge a second entry.
    """
    lines = [SKIP_LOG_HEADER]
    lines += [f"{escape_field(item.name)}\t{escape_field(item.reason)}\n" for item in skipped]
    atomic_write(file, "".join(lines))


def read_skip_log(file: Path) -> list[Skipped]:
    """The items of a skip log written by `write_skip_log`, names and reasons unescaped."""
    items = []
    for line in file.read_text(encoding="utf-8").split("\n"):
        if line and not line.startswith("#"):
            name, _, reason = line.partition("\t")
            items.append(Skipped(unescape_field(name), unescape_field(reason)))
    return items
