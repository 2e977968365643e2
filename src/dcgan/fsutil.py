"""Files that are never seen half-written: one atomic write for the whole package.

`atomic_write` writes to a temp file in the target's folder, flushes and fsyncs it, renames it
over the target and fsyncs the folder. On any error the temp file is removed and the old target
is intact.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

Payload = bytes | str | Callable[[BinaryIO], object]


def temp_name(path: Path) -> Path:
    """The temp file `atomic_write` uses for `path` (hidden, per process)."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (best effort: not every file system supports it)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | Path, data: Payload) -> Path:
    """Write `data` (bytes, text as UTF-8, or a function that writes to a binary file) to `path`
    atomically, creating the folder. Raises the OSError after cleaning up; the old file stays."""
    path = Path(path)
    tmp = temp_name(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            if isinstance(data, str):
                f.write(data.encode("utf-8"))
            elif isinstance(data, bytes):
                f.write(data)
            else:
                data(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    fsync_dir(path.parent)
    return path


def file_sha256(path: str | Path, chunk: int = 1 << 22) -> str:
    """sha256 of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
