"""CelebA in its published layout: aligned images (folder or zip), evaluation partitions, attributes.

A CelebA root holds ``img_align_celeba/`` (``000001.jpg`` ...) or ``img_align_celeba.zip`` plus
``list_eval_partition.txt`` (0 train, 1 val, 2 test) and ``list_attr_celeba.txt`` (40 binary
attributes per image). The images are read with the folder and zip decoders; the list files are
parsed only when the store packs, and each damaged line is reported with its number.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import DataError
from .base import Contents, Decoder, Skipped, Source, digest, note, one_line, stat_row
from .files import FolderDecoder, ZipDecoder, hidden, is_image_name, open_zipfile, zip_images

__all__ = [
    "CELEBA_IMAGES",
    "CELEBA_ATTR_FILE",
    "CELEBA_PARTITION_FILE",
    "has_celeba_lists",
    "celeba_layout",
    "find_celeba",
    "open_celeba",
]

CELEBA_IMAGES = "img_align_celeba"
CELEBA_ATTR_FILE = "list_attr_celeba.txt"
CELEBA_PARTITION_FILE = "list_eval_partition.txt"
_CELEBA_PARTITIONS = {"train": 0, "val": 1, "test": 2}


def has_celeba_lists(folder: Path) -> bool:
    """Whether `folder` holds one of CelebA's list files (attributes or partitions)."""
    return (folder / CELEBA_ATTR_FILE).is_file() or (folder / CELEBA_PARTITION_FILE).is_file()


def celeba_layout(path: Path) -> tuple[Path, Path] | None:
    """(root holding the list files, image folder or zip) when `path` is a CelebA root, else None.

    Accepts ``path/img_align_celeba/`` (also doubly nested, as some unzip tools leave it),
    ``path/img_align_celeba.zip``, or `path` being the ``img_align_celeba`` folder itself when
    its parent holds the list files.
    """
    folder = path / CELEBA_IMAGES
    if folder.is_dir():
        nested = folder / CELEBA_IMAGES
        try:
            doubly_nested = nested.is_dir() and not any(is_image_name(n) for n in os.listdir(folder))
        except OSError:  # unreadable: open_celeba names the problem when it lists the folder
            doubly_nested = False
        return path, nested if doubly_nested else folder
    if (path / f"{CELEBA_IMAGES}.zip").is_file():
        return path, path / f"{CELEBA_IMAGES}.zip"
    if path.name == CELEBA_IMAGES and path.is_dir() and has_celeba_lists(path.parent):
        return path.parent, path
    return None


def find_celeba(cache_dir: Path) -> Path:
    """The CelebA root for the name ``celeba``: ./data/celeba, then $DCGAN_CELEBA, then the cache."""
    env = os.environ.get("DCGAN_CELEBA")
    candidates = [Path("data/celeba"), *([Path(env).expanduser()] if env else []), cache_dir / "celeba"]
    for candidate in candidates:
        if candidate.is_dir() and celeba_layout(candidate) is not None:
            return candidate
    where = ", ".join(
        [str(Path("data/celeba").resolve()), f"$DCGAN_CELEBA ({env or 'unset'})", str(cache_dir / "celeba")]
    )
    raise DataError(
        f"--data celeba: CelebA was not found in {where}; it cannot be downloaded automatically "
        f"(its Google Drive host refuses scripted downloads), so download it from the CelebA site and pass "
        f"--data /path/to/celeba, a folder holding {CELEBA_IMAGES}/ (000001.jpg ...) or {CELEBA_IMAGES}.zip, "
        f"plus {CELEBA_ATTR_FILE} and {CELEBA_PARTITION_FILE}"
    )


def _read_text_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read this file ({one_line(exc)}); download it again") from None


def _read_partition(path: Path) -> dict[str, int]:
    """``000001.jpg 0`` lines -> {name: 0 train | 1 val | 2 test}."""
    partition: dict[str, int] = {}
    for number, line in enumerate(_read_text_lines(path), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
            raise DataError(
                f"{path}: line {number} is not '<image> <0|1|2>' ({line.strip()[:60]!r}); "
                f"the file is damaged, download it again"
            )
        partition[parts[0]] = int(parts[1])
    if not partition:
        raise DataError(f"{path}: the file is empty; download it again")
    return partition


def _read_attributes(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    """CelebA attribute list: line 1 the count, line 2 the names, then ``name v1 ... vA`` in {-1, 1}."""
    lines = _read_text_lines(path)
    if len(lines) < 2:
        raise DataError(f"{path}: the file is truncated (fewer than 2 lines); download it again")
    try:
        declared = int(lines[0].split()[0])
    except (ValueError, IndexError):
        raise DataError(
            f"{path}: line 1 should be the number of images, got {lines[0][:60]!r}; download it again"
        ) from None
    names = lines[1].split()
    rows = [(number, line.split()) for number, line in enumerate(lines[2:], start=3) if line.strip()]
    if len(rows) != declared:
        raise DataError(
            f"{path}: line 1 says {declared} images but the file has {len(rows)} rows; "
            f"it is truncated or damaged, download it again"
        )
    table: dict[str, np.ndarray] = {}
    for number, parts in rows:
        values = parts[1:]
        if len(values) != len(names) or not set(values) <= {"1", "-1"}:
            raise DataError(
                f"{path}: line {number} should be an image name and {len(names)} values of 1 or -1; "
                f"the file is damaged, download it again"
            )
        table[parts[0]] = np.array([1 if v == "1" else -1 for v in values], dtype=np.int8)
    return names, table


def open_celeba(root: Path, split: str = "train", source: str | None = None) -> Source:
    """CelebA in its published layout (see `celeba_layout`); splits from list_eval_partition.txt.

    ``train``/``val``/``test`` are partitions 0/1/2 and ``all`` is every image. Without the
    partition file, ``train`` and ``all`` use every image and the others are an error.
    Attributes come from list_attr_celeba.txt when present.
    """
    source = source or str(root)
    layout = celeba_layout(root)
    if layout is None:
        raise DataError(f"--data {source}: {root} has no {CELEBA_IMAGES}/ folder or {CELEBA_IMAGES}.zip")
    root, images = layout[0].resolve(), layout[1].resolve()
    partition_file, attr_file = root / CELEBA_PARTITION_FILE, root / CELEBA_ATTR_FILE
    if split in ("val", "test") and not partition_file.is_file():
        raise DataError(
            f"--split {split}: {partition_file} is missing, so CelebA has no {split} split; "
            f"add {CELEBA_PARTITION_FILE} from the CelebA site or use --split train"
        )

    # List the images (cheap) for the fingerprint; parse the text files only in load().
    unsafe: list[Skipped] = []
    if images.is_dir():
        rows: list[tuple[str, int, int]] = []
        try:
            with os.scandir(images) as listing:
                entries = [e for e in listing if not hidden(e.name) and is_image_name(e.name)]
        except OSError as exc:
            raise DataError(f"--data {source}: cannot list {images} ({exc.strerror or one_line(exc)})") from None
        for entry in entries:
            try:
                if not entry.is_file():
                    continue
                st = entry.stat()
            except OSError as exc:  # vanished, or cannot be stat'ed: skipped and logged like a bad image
                unsafe.append(Skipped(f"{images.name}/{entry.name}", f"cannot read: {exc.strerror or one_line(exc)}"))
                continue
            rows.append((entry.name, st.st_size, st.st_mtime_ns))
        rows.sort()
        items = [name for name, _, _ in rows]
        item_names = [f"{images.name}/{name}" for name in items]
        indices: list[int] = []
    else:

        def in_image_folder(name: str) -> bool:
            parts = name.replace("\\", "/").split("/")
            return len(parts) == 1 or (len(parts) == 2 and parts[0] == CELEBA_IMAGES)

        with open_zipfile(images, source) as archive:
            members, unsafe, rows = zip_images(archive, in_image_folder)
        item_names = [name for name, _ in members]
        items = [name.replace("\\", "/").rsplit("/", 1)[-1] for name in item_names]
        indices = [index for _, index in members]
    if not items:
        raise DataError(f"--data {source}: no images found in {images}")
    lists = [r for r in (stat_row(partition_file), stat_row(attr_file)) if r is not None]
    fingerprint = digest(["celeba", images.name, rows, lists])

    def load() -> Contents:
        chosen = list(range(len(items)))
        if partition_file.is_file() and split != "all":
            partition = _read_partition(partition_file)
            wanted = _CELEBA_PARTITIONS[split]
            chosen = [i for i in chosen if partition.get(items[i]) == wanted]
            present = set(items)
            absent = [name for name, part in partition.items() if part == wanted and name not in present]
            if absent:
                note(
                    f"note: {len(absent)} images of the {split} split listed in {partition_file} are not in "
                    f"{images} (first: {absent[0]!r}); using the {len(chosen)} present"
                )
            # Images the partition file does not list (a truncated file) belong to no split: say so.
            unlisted = [name for name in items if name not in partition]
            if unlisted:
                note(
                    f"note: {len(unlisted)} images in {images} are not listed in {partition_file} "
                    f"(first: {unlisted[0]!r}), so they are in no split; the file may be truncated"
                )
            if not chosen:
                raise DataError(
                    f"--split {split}: none of the images in {images} belong to the {split} split of {partition_file}"
                )
        elif split == "train" and not partition_file.is_file():
            note(f"note: {partition_file} not found; --split train uses all {len(items)} CelebA images")
        attributes = attribute_names = None
        if attr_file.is_file():
            attribute_names, table = _read_attributes(attr_file)
            missing = [items[i] for i in chosen if items[i] not in table]
            if missing:
                raise DataError(
                    f"{attr_file}: no attributes for {len(missing)} images of {images} (first: {missing[0]}); "
                    f"the attribute file does not match the images, download it again"
                )
            attributes = np.stack([table[items[i]] for i in chosen]) if chosen else None
        names = [item_names[i] for i in chosen]
        if images.is_dir():
            decoder: Decoder = FolderDecoder(images.parent, names)
        else:
            decoder = ZipDecoder(images, [indices[i] for i in chosen], names)
        return Contents(
            decoder=decoder,
            count=len(chosen),
            attributes=attributes,
            attribute_names=attribute_names,
            pre_skipped=unsafe,
        )

    return Source("celeba", str(root), fingerprint, load)
