"""Folder and zip readers: every image file below a folder, or every image member of a zip.

Listing is safe for data from anywhere: hidden files and macOS metadata are ignored, directory
symlinks are not followed, zip members with absolute or '..' names or that are symbolic links are
never read (they are reported as skipped), nothing is ever extracted, and oversized files are
skipped. The fingerprint (names, sizes, mtimes or CRCs) identifies the content for the store's
cache key. The picklable decoders here read one file per item; CelebA reuses them.

Classes follow the ImageFolder convention: when every image lies in a sub-folder, the first folder
of its path is its class (names sorted; in a zip a single wrapping top folder is looked through),
and the class names join the fingerprint. Images directly in the root, or no sub-folders: no classes.
"""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import IMAGE_EXTENSIONS, Contents, Decoder, SkipImage, Skipped, Source, digest, one_line, split_error
from .decode import decode_image

__all__ = [
    "MAX_FILE_BYTES",
    "FolderDecoder",
    "ZipDecoder",
    "hidden",
    "is_image_name",
    "open_zipfile",
    "zip_images",
    "open_folder",
    "open_zip",
    "class_labels",
    "class_layout_problem",
]

# Largest file (or zip member) we read into memory; anything bigger is skipped.
MAX_FILE_BYTES = 256 * 2**20


class _FileDecoder(Decoder):
    """One file read + `decode_image` per item; a file that cannot be used becomes `Skipped`."""

    parallel = True

    def __init__(self, names: list[str]) -> None:
        self.names = names  # what the skip log calls each item

    def read(self, index: int) -> bytes:
        raise NotImplementedError

    def decode(self, start: int, stop: int, size: int, channels: int) -> list[np.ndarray | Skipped]:
        out: list[np.ndarray | Skipped] = []
        for index in range(start, stop):
            try:
                out.append(decode_image(self.read(index), size, channels))
            except SkipImage as exc:
                out.append(Skipped(self.names[index], one_line(exc)))
        return out


class FolderDecoder(_FileDecoder):
    """Reads ``root / name`` for each relative name."""

    def __init__(self, root: Path, names: list[str]) -> None:
        super().__init__(names)
        self.root = str(root)

    def read(self, index: int) -> bytes:
        path = os.path.join(self.root, self.names[index])
        try:
            if os.path.getsize(path) > MAX_FILE_BYTES:
                raise SkipImage(f"file larger than {MAX_FILE_BYTES // 2**20} MiB")
            with open(path, "rb") as f:
                return f.read()
        except OSError as exc:
            raise SkipImage(f"cannot read: {exc.strerror or one_line(exc)}") from None


class ZipDecoder(_FileDecoder):
    """Reads zip members in place; each process opens the archive once."""

    def __init__(self, path: Path, indices: list[int], names: list[str]) -> None:
        super().__init__(names)
        self.path = str(path)
        self.indices = indices  # positions in ZipFile.infolist() (names may repeat in a zip)
        self._zip: zipfile.ZipFile | None = None

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_zip"] = None  # an open archive is not picklable; workers open their own
        return state

    def read(self, index: int) -> bytes:
        try:
            if self._zip is None:
                self._zip = zipfile.ZipFile(self.path)
            return self._zip.read(self._zip.infolist()[self.indices[index]])
        except Exception as exc:  # noqa: BLE001 - bad CRC, encryption, unsupported compression, ...
            raise SkipImage(f"cannot read zip member: {one_line(exc)}") from None


def hidden(name: str) -> bool:
    """Whether a file or folder name is metadata rather than data (dot files, ``__MACOSX``)."""
    # Dot files/folders (AppleDouble "._x.jpg", .ipynb_checkpoints) and macOS zip metadata are not
    # part of a dataset; counting them as damaged images would trip the skip threshold.
    return name.startswith(".") or name == "__MACOSX"


def is_image_name(name: str) -> bool:
    """Whether a name ends in one of `IMAGE_EXTENSIONS` (any case)."""
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _unsafe_member(info: zipfile.ZipInfo) -> str | None:
    """Why a zip member name must not be used (absolute, '..', link), or None."""
    name = info.filename.replace("\\", "/")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "unsafe member name (absolute path)"
    if ".." in name.split("/"):
        return "unsafe member name (contains '..')"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "unsafe member (symbolic link)"
    return None


def open_zipfile(path: Path, source: str) -> zipfile.ZipFile:
    """Open a zip for listing, or raise the `DataError` that says it is damaged."""
    try:
        return zipfile.ZipFile(path)
    except Exception as exc:  # noqa: BLE001 - a damaged central directory raises ValueError, EOFError, ... too
        raise DataError(
            f"--data {source}: {path} is not a readable zip ({one_line(exc)}); "
            f"it may be truncated, re-create or re-download it"
        ) from None


def zip_images(
    archive: zipfile.ZipFile, accept: Callable[[str], bool] = lambda name: True
) -> tuple[list[tuple[str, int]], list[Skipped], list[tuple[str, int, int]]]:
    """Image members of a zip, sorted by name: ((name, index) list, unsafe ones, fingerprint rows)."""
    members: list[tuple[str, int]] = []
    unsafe: list[Skipped] = []
    rows: list[tuple[str, int, int]] = []
    for index, info in enumerate(archive.infolist()):
        name = info.filename
        if info.is_dir() or not is_image_name(name):
            continue
        reason = _unsafe_member(info)  # before the hidden check: '../x.png' must be reported
        if reason is None:
            parts = name.replace("\\", "/").split("/")
            if any(hidden(part) for part in parts) or not accept(name):
                continue
            if info.file_size > MAX_FILE_BYTES:
                reason = f"member larger than {MAX_FILE_BYTES // 2**20} MiB"
        rows.append((name, info.file_size, info.CRC))
        if reason is not None:
            unsafe.append(Skipped(name, reason))
        else:
            members.append((name, index))
    members.sort()
    rows.sort()
    return members, unsafe, rows


def _scan_folder(root: Path, source: str) -> tuple[list[tuple[str, int, int]], list[Skipped]]:
    """Image files below `root` as sorted (relative posix path, bytes, mtime_ns), and what was skipped.

    Directory symlinks are not followed (no cycles); file symlinks are. A sub-folder that cannot be
    listed (no permission, a path too long, an I/O error) is skipped as ``<relative path>/`` with the
    reason, like an unreadable image; only `root` itself being unlistable is an error.
    """
    found: list[tuple[str, int, int]] = []
    skipped: list[Skipped] = []
    pending = [""]
    while pending:
        rel = pending.pop()
        try:
            with os.scandir(os.path.join(root, rel) if rel else root) as listing:
                entries = list(listing)
        except OSError as exc:
            if not rel:
                raise DataError(f"--data {source}: cannot list {root} ({exc.strerror or one_line(exc)})") from None
            skipped.append(Skipped(f"{rel}/", f"cannot list folder: {exc.strerror or one_line(exc)}"))
            continue
        for entry in entries:
            if hidden(entry.name):
                continue
            name = f"{rel}/{entry.name}" if rel else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    pending.append(name)
                    continue
                if not is_image_name(entry.name):
                    continue
                st = entry.stat()
            except OSError as exc:  # a broken link, or an entry that vanished or cannot be stat'ed
                if is_image_name(entry.name):
                    skipped.append(Skipped(name, f"cannot read: {exc.strerror or one_line(exc)}"))
                continue
            if stat.S_ISREG(st.st_mode):
                found.append((name, st.st_size, st.st_mtime_ns))
    found.sort()
    skipped.sort(key=lambda item: item.name)
    return found, skipped


def open_folder(path: Path, split: str = "train", source: str | None = None) -> Source:
    """Every jpg/jpeg/png/bmp/webp file below `path` (any case), sorted by relative path.

    A folder has one split: ``train`` and ``all`` both mean every image. Sub-folders that cannot be
    listed are skipped (and logged) like unreadable images.
    """
    source = source or str(path)
    if split not in ("train", "all"):
        raise split_error(split, f"folder {path} (a plain folder of images)", ["train", "all"])
    root = path.resolve()
    files, skipped = _scan_folder(root, source)
    if not files:
        unlisted = [item.name for item in skipped if item.name.endswith("/")]
        extra = f" ({len(unlisted)} sub-folders could not be listed, first: {unlisted[0]!r})" if unlisted else ""
        raise DataError(
            f"--data {source}: no images ({', '.join(e[1:] for e in IMAGE_EXTENSIONS)}) found in folder {root}{extra}"
        )
    names = [name for name, _, _ in files]
    classes = class_labels(names)

    def load() -> Contents:
        labels, class_names = classes if classes is not None else (None, None)
        return Contents(
            decoder=FolderDecoder(root, names),
            count=len(names),
            pre_skipped=skipped,
            labels=labels,
            class_names=class_names,
        )

    # Skipped entries (unlisted folders, broken links) and the class names (one sub-folder per class) join the
    # fingerprint only when there are some, so the stores of other folders keep their keys.
    identity: list[object] = ["folder", files] + ([[item.name for item in skipped]] if skipped else [])
    identity += [["classes", classes[1]]] if classes is not None else []
    return Source("folder", str(root), digest(identity), load)


def open_zip(path: Path, split: str = "train", source: str | None = None) -> Source:
    """Every image member of a zip, read in place; absolute, '..' and symlink members are skipped."""
    source = source or str(path)
    if split not in ("train", "all"):
        raise split_error(split, f"zip {path} (a plain archive of images)", ["train", "all"])
    resolved = path.resolve()
    with open_zipfile(resolved, source) as archive:
        members, unsafe, rows = zip_images(archive)
    if not members:
        extra = f" ({len(unsafe)} unsafe members rejected)" if unsafe else ""
        raise DataError(
            f"--data {source}: no images ({', '.join(e[1:] for e in IMAGE_EXTENSIONS)}) found in zip {resolved}{extra}"
        )

    classes = class_labels([n for n, _ in members], look_through_wrapper=True)

    def load() -> Contents:
        decoder = ZipDecoder(resolved, [i for _, i in members], [n for n, _ in members])
        labels, class_names = classes if classes is not None else (None, None)
        return Contents(decoder=decoder, count=len(members), pre_skipped=unsafe, labels=labels, class_names=class_names)

    identity: list[object] = ["zip", rows] + ([["classes", classes[1]]] if classes is not None else [])
    return Source("zip", str(resolved), digest(identity), load)


# ---------------------------------------------------------------------------------------------
# Classes: one sub-folder per class (the ImageFolder convention).


def _class_parts(names: list[str], look_through_wrapper: bool) -> list[list[str]]:
    """Each name's path components; in a zip, one top folder that wraps everything (as zipping a folder
    makes) is looked through when every member lies at least one folder below it."""
    parts = [name.replace("\\", "/").split("/") for name in names]
    if look_through_wrapper and parts and len({p[0] for p in parts}) == 1 and all(len(p) >= 3 for p in parts):
        parts = [p[1:] for p in parts]
    return parts


def class_labels(names: list[str], look_through_wrapper: bool = False) -> tuple[np.ndarray, list[str]] | None:
    """(int64 label per name, sorted class names) when every image lies in a sub-folder: the first folder
    of its path is its class (ImageFolder's convention; deeper folders belong to that class). None when
    any image lies directly in the root, or there are no sub-folders: such a source has no classes."""
    parts = _class_parts(names, look_through_wrapper)
    if not parts or any(len(p) < 2 for p in parts):
        return None
    classes = sorted({p[0] for p in parts})
    index = {name: i for i, name in enumerate(classes)}
    return np.array([index[p[0]] for p in parts], dtype=np.int64), classes


def class_layout_problem(resolved: str, kind: str) -> str:
    """Why a folder or zip has no classes, naming the images without one, and how to lay it out."""
    path = Path(resolved)
    if kind == "zip":
        with open_zipfile(path, resolved) as archive:
            members, _, _ = zip_images(archive)
        parts = _class_parts([n for n, _ in members], look_through_wrapper=True)
    else:
        files, _ = _scan_folder(path, resolved)
        parts = _class_parts([n for n, _, _ in files], look_through_wrapper=False)
    loose = ["/".join(p) for p in parts if len(p) < 2]
    layout = f"put each image in a sub-folder named after its class ({path.name}/<class>/<image>)"
    if loose and len(loose) < len(parts):
        return (
            f"{len(loose)} images lie directly in {resolved} beside the class folders (first: {loose[0]!r}); {layout}"
        )
    return f"{resolved} has no sub-folders, so its images have no class; {layout}"
