"""Readers for every kind of SOURCE: one `open_*` per kind, each describing what it found.

A SOURCE string resolves, in this order, to:

1. ``synthetic``      procedurally drawn shapes (circle / square / triangle, labelled), no files;
2. ``fashion-mnist``  the IDX files from /usr/share/datasets, the cache, or the official download;
3. a folder holding Fashion-MNIST IDX files (``train-images-idx3-ubyte.gz`` ...);
4. a CelebA root (``img_align_celeba/`` or ``img_align_celeba.zip`` plus the ``list_*.txt``
   files), or the name ``celeba`` (looked up, never downloaded);
5. any other folder: every image below it, recursively;
6. a ``.zip`` file: every image inside it, read in place (never extracted).

Opening a source is cheap: it lists the files and fingerprints them (for the store's cache key).
The expensive part (parsing label files, reading IDX arrays) happens in `Source.load`, which the
store calls only when it has to pack. Decoding is done by a picklable `Decoder`, so the store can
hand it to worker processes.

Every decoded image is uint8 ``(C, size, size)``: center-cropped to a square, then resized
(see `square_resize`), converted to RGB (C=3) or L (C=1) as described in `_convert`. Files that
cannot be decoded are not fatal: they come back as `Skipped` with a reason, and the store counts
and logs them.
"""

from __future__ import annotations

import colorsys
import contextlib
import gzip
import hashlib
import io
import json
import math
import os
import stat
import struct
import sys
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageDraw, ImageOps

from ..errors import DataError

__all__ = [
    "IMAGE_EXTENSIONS",
    "SPLITS",
    "FASHION_MNIST_CLASSES",
    "SYNTHETIC_CLASSES",
    "Decoder",
    "Skipped",
    "SkipImage",
    "Contents",
    "Source",
    "open_source",
    "native_channels",
    "decode_image",
    "square_resize",
    "dataset_pixel_limit",
    "open_synthetic",
    "open_fashion_mnist",
    "open_idx",
    "open_celeba",
    "open_folder",
    "open_zip",
    "read_idx",
]

# Bump when decoding changes what a store holds (filters, mode handling): old stores are rebuilt.
DECODE_VERSION = 1

SPLITS = ("train", "val", "test", "all")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
# Pillow plugins we let identify a file; anything else (GIF, TIFF, PSD, ...) is skipped as
# "not a supported image". (Multi-picture JPEGs from some cameras open through JPEG as "MPO".)
PIL_FORMATS = ("JPEG", "PNG", "BMP", "WEBP")
# Pixel budget for one dataset image (64 Mi pixels, about 8192 x 8192). Checked on the declared
# size before any pixel is decoded, so a tiny PNG declaring 20000 x 20000 costs nothing.
MAX_DATASET_PIXELS = 64 * 2**20
# Largest file (or zip member) we read into memory; anything bigger is skipped.
MAX_FILE_BYTES = 256 * 2**20

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

SYNTHETIC_CLASSES = ["circle", "square", "triangle"]
SYNTHETIC_SPLITS = {"train": (2000, 1_000_003), "test": (500, 2_000_003)}  # split: (count, seed)
SYNTHETIC_VERSION = "synthetic-v1"  # change when the drawing changes

CELEBA_IMAGES = "img_align_celeba"
CELEBA_ATTR_FILE = "list_attr_celeba.txt"
CELEBA_PARTITION_FILE = "list_eval_partition.txt"
_CELEBA_PARTITIONS = {"train": 0, "val": 1, "test": 2}


# ---------------------------------------------------------------------------------------------
# What a reader returns.


@dataclass(frozen=True)
class Skipped:
    """An item that could not be used: its name (relative path or zip member) and why."""

    name: str
    reason: str


class SkipImage(Exception):
    """Raised by `decode_image` for a file that is not a usable image; the message is the reason."""


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


def _digest(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, separators=(",", ":")).encode()).hexdigest()


def _note(message: str) -> None:
    print(message, file=sys.stderr)


def _split_error(split: str, what: str, allowed: Sequence[str]) -> DataError:
    return DataError(f"--split {split}: {what} has no {split} split; use --split {' or '.join(allowed)}")


# ---------------------------------------------------------------------------------------------
# Resolving a SOURCE string.


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
        return open_celeba(_find_celeba(cache_dir), split, source=source)
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"--data {source}: no such file or folder")
    if path.is_dir():
        if _idx_files(path):
            return open_idx(path, split, source=source)
        if _celeba_layout(path) is not None:
            return open_celeba(path, split, source=source)
        return open_folder(path, split, source=source)
    if path.is_file() and path.suffix.lower() == ".zip":
        if path.name == f"{CELEBA_IMAGES}.zip" and _has_celeba_lists(path.parent):
            return open_celeba(path.parent, split, source=source)
        return open_zip(path, split, source=source)
    raise DataError(f"--data {source}: {path} is not a folder, .zip, CelebA root or Fashion-MNIST folder")


def native_channels(source: str) -> int:
    """1 for Fashion-MNIST (the name or a folder of IDX files), 3 for everything else."""
    if source == "fashion-mnist":
        return 1
    path = Path(source).expanduser()
    if source not in ("synthetic", "celeba") and path.is_dir() and _idx_files(path):
        return 1
    return 3


# ---------------------------------------------------------------------------------------------
# Decoding one image file.


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
        raise SkipImage(f"{kind}: {_one_line(exc)}") from None
    if array.ndim == 2:
        array = array[None]
    else:
        array = array.transpose(2, 0, 1)
    return np.ascontiguousarray(array)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


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


# ---------------------------------------------------------------------------------------------
# File-based decoders (folder, zip, CelebA): picklable, one file read + decode per item.


class _FileDecoder(Decoder):
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
                out.append(Skipped(self.names[index], str(exc)))
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
            raise SkipImage(f"cannot read: {exc.strerror or _one_line(exc)}") from None


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
            raise SkipImage(f"cannot read zip member: {_one_line(exc)}") from None


def _hidden(name: str) -> bool:
    # Dot files/folders (AppleDouble "._x.jpg", .ipynb_checkpoints) and macOS zip metadata are not
    # part of a dataset; counting them as damaged images would trip the skip threshold.
    return name.startswith(".") or name == "__MACOSX"


def _is_image_name(name: str) -> bool:
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


def _open_zipfile(path: Path, source: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DataError(
            f"--data {source}: {path} is not a readable zip ({_one_line(exc)}); "
            f"it may be truncated, re-create or re-download it"
        ) from None


def _zip_images(
    archive: zipfile.ZipFile, accept: Callable[[str], bool] = lambda name: True
) -> tuple[list[tuple[str, int]], list[Skipped], list[tuple[str, int, int]]]:
    """Image members of a zip, sorted by name: ((name, index) list, unsafe ones, fingerprint rows)."""
    members: list[tuple[str, int]] = []
    unsafe: list[Skipped] = []
    rows: list[tuple[str, int, int]] = []
    for index, info in enumerate(archive.infolist()):
        name = info.filename
        if info.is_dir() or not _is_image_name(name):
            continue
        reason = _unsafe_member(info)  # before the hidden check: '../x.png' must be reported
        if reason is None:
            parts = name.replace("\\", "/").split("/")
            if any(_hidden(part) for part in parts) or not accept(name):
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


# ---------------------------------------------------------------------------------------------
# Folder and zip.


def _scan_folder(root: Path) -> tuple[list[tuple[str, int, int]], list[Skipped]]:
    """Image files below `root` as sorted (relative posix path, bytes, mtime_ns); broken links skipped.

    Directory symlinks are not followed (no cycles); file symlinks are.
    """
    found: list[tuple[str, int, int]] = []
    broken: list[Skipped] = []
    pending = [""]
    while pending:
        rel = pending.pop()
        try:
            entries = list(os.scandir(os.path.join(root, rel)))
        except OSError as exc:
            raise DataError(f"--data {root}: cannot list {os.path.join(root, rel)} ({exc.strerror})") from None
        for entry in entries:
            if _hidden(entry.name):
                continue
            name = f"{rel}/{entry.name}" if rel else entry.name
            if entry.is_dir(follow_symlinks=False):
                pending.append(name)
            elif _is_image_name(entry.name):
                try:
                    st = entry.stat()
                except OSError as exc:
                    broken.append(Skipped(name, f"cannot read: {exc.strerror}"))
                    continue
                if stat.S_ISREG(st.st_mode):
                    found.append((name, st.st_size, st.st_mtime_ns))
    found.sort()
    return found, broken


def open_folder(path: Path, split: str = "train", source: str | None = None) -> Source:
    """Every jpg/jpeg/png/bmp/webp file below `path` (any case), sorted by relative path.

    A folder has one split: ``train`` and ``all`` both mean every image.
    """
    source = source or str(path)
    if split not in ("train", "all"):
        raise _split_error(split, f"folder {path} (a plain folder of images)", ["train", "all"])
    root = path.resolve()
    files, broken = _scan_folder(root)
    if not files:
        raise DataError(
            f"--data {source}: no images ({', '.join(e[1:] for e in IMAGE_EXTENSIONS)}) found in folder {root}"
        )
    names = [name for name, _, _ in files]

    def load() -> Contents:
        return Contents(decoder=FolderDecoder(root, names), count=len(names), pre_skipped=broken)

    return Source("folder", str(root), _digest(["folder", files]), load)


def open_zip(path: Path, split: str = "train", source: str | None = None) -> Source:
    """Every image member of a zip, read in place; absolute, '..' and symlink members are skipped."""
    source = source or str(path)
    if split not in ("train", "all"):
        raise _split_error(split, f"zip {path} (a plain archive of images)", ["train", "all"])
    resolved = path.resolve()
    with _open_zipfile(resolved, source) as archive:
        members, unsafe, rows = _zip_images(archive)
    if not members:
        extra = f" ({len(unsafe)} unsafe members rejected)" if unsafe else ""
        raise DataError(
            f"--data {source}: no images ({', '.join(e[1:] for e in IMAGE_EXTENSIONS)}) found in zip {resolved}{extra}"
        )

    def load() -> Contents:
        decoder = ZipDecoder(resolved, [i for _, i in members], [n for n, _ in members])
        return Contents(decoder=decoder, count=len(members), pre_skipped=unsafe)

    return Source("zip", str(resolved), _digest(["zip", rows]), load)


# ---------------------------------------------------------------------------------------------
# CelebA.


def _has_celeba_lists(folder: Path) -> bool:
    return (folder / CELEBA_ATTR_FILE).is_file() or (folder / CELEBA_PARTITION_FILE).is_file()


def _celeba_layout(path: Path) -> tuple[Path, Path] | None:
    """(root holding the list files, image folder or zip) when `path` is a CelebA root, else None.

    Accepts ``path/img_align_celeba/`` (also doubly nested, as some unzip tools leave it),
    ``path/img_align_celeba.zip``, or `path` being the ``img_align_celeba`` folder itself when
    its parent holds the list files.
    """
    folder = path / CELEBA_IMAGES
    if folder.is_dir():
        nested = folder / CELEBA_IMAGES
        if nested.is_dir() and not any(_is_image_name(n) for n in os.listdir(folder)):
            return path, nested
        return path, folder
    if (path / f"{CELEBA_IMAGES}.zip").is_file():
        return path, path / f"{CELEBA_IMAGES}.zip"
    if path.name == CELEBA_IMAGES and path.is_dir() and _has_celeba_lists(path.parent):
        return path.parent, path
    return None


def _find_celeba(cache_dir: Path) -> Path:
    env = os.environ.get("DCGAN_CELEBA")
    candidates = [Path("data/celeba"), *([Path(env).expanduser()] if env else []), cache_dir / "celeba"]
    for candidate in candidates:
        if candidate.is_dir() and _celeba_layout(candidate) is not None:
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


def _stat_row(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return (path.name, st.st_size, st.st_mtime_ns)


def _read_text_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read this file ({_one_line(exc)}); download it again") from None


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
    """CelebA in its published layout (see `_celeba_layout`); splits from list_eval_partition.txt.

    ``train``/``val``/``test`` are partitions 0/1/2 and ``all`` is every image. Without the
    partition file, ``train`` and ``all`` use every image and the others are an error.
    Attributes come from list_attr_celeba.txt when present.
    """
    source = source or str(root)
    layout = _celeba_layout(root)
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
        for entry in os.scandir(images):
            if entry.is_file() and not _hidden(entry.name) and _is_image_name(entry.name):
                st = entry.stat()
                rows.append((entry.name, st.st_size, st.st_mtime_ns))
        rows.sort()
        items = [name for name, _, _ in rows]
        item_names = [f"{images.name}/{name}" for name in items]
        indices: list[int] = []
    else:

        def in_image_folder(name: str) -> bool:
            parts = name.replace("\\", "/").split("/")
            return len(parts) == 1 or (len(parts) == 2 and parts[0] == CELEBA_IMAGES)

        with _open_zipfile(images, source) as archive:
            members, unsafe, rows = _zip_images(archive, in_image_folder)
        item_names = [name for name, _ in members]
        items = [name.replace("\\", "/").rsplit("/", 1)[-1] for name in item_names]
        indices = [index for _, index in members]
    if not items:
        raise DataError(f"--data {source}: no images found in {images}")
    lists = [r for r in (_stat_row(partition_file), _stat_row(attr_file)) if r is not None]
    fingerprint = _digest(["celeba", images.name, rows, lists])

    def load() -> Contents:
        chosen = list(range(len(items)))
        if partition_file.is_file() and split != "all":
            partition = _read_partition(partition_file)
            wanted = _CELEBA_PARTITIONS[split]
            chosen = [i for i in chosen if partition.get(items[i]) == wanted]
            present = set(items)
            absent = [name for name, part in partition.items() if part == wanted and name not in present]
            if absent:
                _note(
                    f"note: {len(absent)} images of the {split} split listed in {partition_file} are not in "
                    f"{images} (first: {absent[0]}); using the {len(chosen)} present"
                )
            if not chosen:
                raise DataError(
                    f"--split {split}: none of the images in {images} belong to the {split} split of {partition_file}"
                )
        elif split == "train" and not partition_file.is_file():
            _note(f"note: {partition_file} not found; --split train uses all {len(items)} CelebA images")
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


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST (IDX files).


def _idx_candidates(split: str, kind: str) -> list[str]:
    """File names accepted for a split's images or labels: gzipped or not, '-' or '.' spelling."""
    prefix, suffix = _IDX_PREFIX[split], ("idx3-ubyte" if kind == "images" else "idx1-ubyte")
    names = [f"{prefix}-{kind}-{suffix}", f"{prefix}-{kind}.{suffix}"]
    return [n + ext for n in names for ext in (".gz", "")]


def _idx_files(folder: Path) -> dict[str, tuple[Path | None, Path | None]]:
    """{split: (images file, labels file)} for each split whose images file is in `folder`."""
    found: dict[str, tuple[Path | None, Path | None]] = {}
    for split in _IDX_PREFIX:
        images = next((folder / n for n in _idx_candidates(split, "images") if (folder / n).is_file()), None)
        labels = next((folder / n for n in _idx_candidates(split, "labels") if (folder / n).is_file()), None)
        if images is not None:
            found[split] = (images, labels)
    return found


def read_idx(path: Path) -> np.ndarray:
    """Parse an unsigned-byte IDX file (optionally gzipped) into a uint8 array of its declared shape."""
    try:
        with gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as exc:  # gzip.BadGzipFile is an OSError; a cut .gz is an EOFError
        raise DataError(
            f"{path}: cannot read this IDX file ({_one_line(exc)}); it is damaged or truncated, replace it"
        ) from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08 or data[3] == 0:
        raise DataError(
            f"{path}: not an unsigned-byte IDX file (magic number {data[:4].hex() or 'missing'}); "
            f"replace it with the original file"
        )
    header = 4 + 4 * data[3]
    if len(data) < header:
        raise DataError(f"{path}: the IDX header is truncated; replace the file")
    shape = struct.unpack(f">{data[3]}I", data[4:header])
    expected = math.prod(shape)
    if len(data) - header != expected:
        raise DataError(
            f"{path}: the IDX header declares shape {shape} ({expected} bytes) "
            f"but the file holds {len(data) - header}; "
            f"it is truncated or damaged, replace it"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


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
        raise _split_error(split, f"Fashion-MNIST ({folder})", ["train", "test", "all"])
    found = _idx_files(folder)
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
    stats = [_stat_row(p) for pair in pairs for p in pair]

    def load() -> Contents:
        all_images, all_labels = [], []
        for images_path, labels_path in pairs:
            images, labels = read_idx(images_path), read_idx(labels_path)
            if images.ndim != 3:
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

    return Source("fashion-mnist", str(folder), _digest(["idx", stats]), load)


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download(name: str, target: Path, progress: bool) -> None:
    """Fetch one official Fashion-MNIST file into `target`, checking its published MD5."""
    from tqdm import tqdm

    errors = []
    part = target.with_name(target.name + ".part")
    for mirror in FASHION_MNIST_MIRRORS:
        try:
            with urllib.request.urlopen(mirror + name, timeout=30) as response, open(part, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with tqdm(
                    total=total, unit="B", unit_scale=True, desc=name, disable=not progress, file=sys.stderr
                ) as bar:
                    for block in iter(lambda: response.read(1 << 16), b""):
                        out.write(block)
                        bar.update(len(block))
            if _md5(part) != FASHION_MNIST_MD5[name]:
                raise ValueError("MD5 mismatch")
            os.replace(part, target)
            return
        except (OSError, ValueError, urllib.error.URLError) as exc:
            errors.append(f"{mirror}{name}: {_one_line(exc)}")
            part.unlink(missing_ok=True)
    raise OSError("; ".join(errors))


def open_fashion_mnist(split: str, cache_dir: Path, progress: bool = True) -> Source:
    """The name ``fashion-mnist``: system copy, then the cache, then the official download.

    The Debian package's files are re-compressed (their .gz MD5s differ from the published ones),
    so local files are validated by their IDX structure; downloads are checked against the MD5s.
    """
    if split == "val":
        raise _split_error(split, "Fashion-MNIST", ["train", "test", "all"])
    needed = ["train", "test"] if split == "all" else [split]
    downloads = cache_dir / "downloads" / "fashion-mnist"
    for folder in (FASHION_MNIST_SYSTEM_DIR, downloads):
        found = _idx_files(folder) if folder.is_dir() else {}
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
            f"and the download failed ({_one_line(exc)}); install the Debian package dataset-fashion-mnist "
            f"or place {', '.join(FASHION_MNIST_MD5)} in {downloads}"
        ) from None
    return open_idx(downloads, split, source="fashion-mnist")


# ---------------------------------------------------------------------------------------------
# Synthetic shapes.


def _rgb(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    r, g, b = colorsys.hsv_to_rgb(hue, saturation, value)
    return (round(r * 255), round(g * 255), round(b * 255))


# (label, background RGB, shape RGB, center x, center y, radius, angle), geometry in [0, 1] units.
_Shape = tuple[int, tuple[int, int, int], tuple[int, int, int], float, float, float, float]


def _synthetic_shapes(count: int, seed: int) -> list[_Shape]:
    """Deterministic shape parameters, independent of the image size (same dataset at every size)."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(count) % len(SYNTHETIC_CLASSES))  # balanced classes
    shapes: list[_Shape] = []
    for label in labels:
        dark_background = rng.random() < 0.5  # shape and background always differ in brightness
        background = _rgb(
            rng.random(), rng.uniform(0.2, 0.9), rng.uniform(0.1, 0.4) if dark_background else rng.uniform(0.7, 0.95)
        )
        color = _rgb(
            rng.random(), rng.uniform(0.5, 1.0), rng.uniform(0.75, 1.0) if dark_background else rng.uniform(0.05, 0.35)
        )
        radius = rng.uniform(0.2, 0.4)  # circumradius, as a fraction of the side
        cx, cy = rng.uniform(radius, 1 - radius, size=2)
        shapes.append(
            (int(label), background, color, float(cx), float(cy), float(radius), float(rng.uniform(0, 2 * math.pi)))
        )
    return shapes


def _draw_shape(shape: _Shape, size: int, channels: int, supersample: int = 4) -> np.ndarray:
    label, background, color, cx, cy, radius, angle = shape
    scale = size * supersample
    img = Image.new("RGB", (scale, scale), background)
    draw = ImageDraw.Draw(img)
    x, y, r = cx * scale, cy * scale, radius * scale
    if SYNTHETIC_CLASSES[label] == "circle":
        r *= 0.85  # similar area to the polygons
        draw.ellipse((x - r, y - r, x + r, y + r), fill=color)
    else:
        corners = 4 if SYNTHETIC_CLASSES[label] == "square" else 3
        points = [
            (x + r * math.cos(angle + 2 * math.pi * k / corners), y + r * math.sin(angle + 2 * math.pi * k / corners))
            for k in range(corners)
        ]
        draw.polygon(points, fill=color)
    img = img.reduce(supersample)  # box-filter the supersampled drawing: antialiased edges
    if channels == 1:
        img = img.convert("L")
        return np.asarray(img)[None]
    return np.asarray(img).transpose(2, 0, 1)


class SyntheticDecoder(Decoder):
    chunk_size = 256

    def __init__(self, shapes: list[_Shape]) -> None:
        self.shapes = shapes

    def decode(self, start: int, stop: int, size: int, channels: int) -> np.ndarray:
        return np.stack([_draw_shape(shape, size, channels) for shape in self.shapes[start:stop]])


def open_synthetic(split: str = "train") -> Source:
    """Coloured circles, squares and triangles (labels 0, 1, 2) drawn at the requested size.

    ``train``: 2,000 images; ``test``: 500 (another seed); ``all``: train then test.
    """
    if split == "val":
        raise _split_error(split, "synthetic", ["train", "test", "all"])
    parts = ["train", "test"] if split == "all" else [split]

    def load() -> Contents:
        shapes = [s for part in parts for s in _synthetic_shapes(*SYNTHETIC_SPLITS[part])]
        labels = np.array([s[0] for s in shapes], dtype=np.int64)
        return Contents(
            decoder=SyntheticDecoder(shapes), count=len(shapes), labels=labels, class_names=list(SYNTHETIC_CLASSES)
        )

    fingerprint = _digest([SYNTHETIC_VERSION, [SYNTHETIC_SPLITS[p] for p in parts]])
    return Source("synthetic", "synthetic", fingerprint, load)
