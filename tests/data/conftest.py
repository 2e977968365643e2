"""Fixtures for the data layer: image folders in every Pillow mode, bad files, CelebA, IDX.

Everything is generated in `tmp_path` with Pillow and numpy; nothing touches the network or
the user's cache (every test passes `cache_dir=cache`).
"""

from __future__ import annotations

import gzip
import io
import shutil
import struct
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CELEBA_ATTRIBUTE_NAMES = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
    "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair Heavy_Makeup "
    "High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face Pale_Skin Pointy_Nose "
    "Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair Wearing_Earrings Wearing_Hat "
    "Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()
CELEBA_PARTITION = [0] * 8 + [1] * 2 + [2] * 2  # 12 images: 8 train, 2 val, 2 test


# ---------------------------------------------------------------------------------------------
# Encoded images.


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_bomb(width: int = 20000, height: int = 20000) -> bytes:
    """A ~70-byte PNG whose header declares width x height RGB pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")
    )


def truncated_jpeg() -> bytes:
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    data = encode(Image.fromarray(noise), "JPEG", quality=95)
    return data[: len(data) // 2]


def bad_files() -> dict[str, bytes]:
    """The four unusable files every folder-like fixture carries (names relative to its root)."""
    return {
        "bad/empty.jpg": b"",
        "bad/text.jpg": b"this is a text file, not a JPEG\n",
        "bad/truncated.jpg": truncated_jpeg(),
        "bad/bomb.png": png_bomb(),
    }


def mode_images() -> dict[str, tuple[bytes, str]]:
    """{relative name: (encoded bytes, what it should decode to)} covering every awkward mode."""
    red, blue, green = (255, 0, 0), (0, 0, 255), (0, 255, 0)
    gradient = np.tile(np.linspace(0, 65535, 32).round().astype(np.uint16), (32, 1))

    la = Image.new("LA", (32, 32), (128, 255))
    la.paste((0, 0), (0, 0, 16, 32))  # left half fully transparent

    palette = Image.new("P", (32, 32), 1)
    palette.putpalette([*red, *blue] + [0, 0, 0] * 254)
    palette.paste(0, (0, 0, 16, 32))  # left half: index 0 (red)
    p_plain = encode(palette, "PNG")
    p_transparent = encode(palette, "PNG", transparency=0)  # index 0 transparent -> white

    rgba_half = Image.new("RGBA", (32, 32), (*green, 255))
    rgba_half.paste((0, 0, 0, 0), (0, 0, 16, 32))  # transparent black on the left

    bilevel = Image.fromarray((np.indices((32, 32)).sum(0) % 2 * 255).astype(np.uint8)).convert("1")

    wide = Image.new("RGB", (80, 40), red)
    wide.paste(blue, (20, 0, 60, 40))  # center crop keeps only blue
    tall = Image.new("RGB", (40, 80), red)
    tall.paste(green, (0, 20, 40, 60))  # center crop keeps only green

    return {
        "a_gray/l.png": (encode(Image.new("L", (32, 32), 100), "PNG"), "gray 100"),
        "a_gray/la.png": (encode(la, "PNG"), "left white, right gray 128"),
        "b_color/p.png": (p_plain, "left red, right blue"),
        "b_color/p_transparent.png": (p_transparent, "left white, right blue"),
        "b_color/rgba_red.png": (encode(Image.new("RGBA", (40, 40), (*red, 255)), "PNG"), "red"),
        "b_color/rgba_half.png": (encode(rgba_half, "PNG"), "left white, right green"),
        "c/cmyk.jpg": (encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG", quality=95), "red"),
        "c/deep/i16.png": (encode(Image.fromarray(gradient), "PNG"), "gradient 0..255"),
        "c/deep/bilevel.png": (encode(bilevel, "PNG"), "checkerboard 0/255"),
        "d/photo.webp": (encode(Image.new("RGB", (48, 48), blue), "WEBP", lossless=True), "blue"),
        "d/photo.bmp": (encode(Image.new("RGB", (48, 48), green), "BMP"), "green"),
        "d/wide.png": (encode(wide, "PNG"), "blue"),
        "d/TALL.PNG": (encode(tall, "PNG"), "green"),
    }


def write_tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


@dataclass
class ImageFolder:
    path: Path
    good: list[str]  # relative names of decodable images, in store order
    bad: list[str]  # relative names of the four unusable files

    def index(self, name: str) -> int:
        return self.good.index(name)


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@pytest.fixture
def image_folder(tmp_path: Path) -> ImageFolder:
    """13 good images in nested folders (every awkward mode), 4 bad files, and files to ignore."""
    good = {name: data for name, (data, _) in mode_images().items()}
    bad = bad_files()
    ignored = {"notes.txt": b"not an image", "d/._photo.bmp": b"AppleDouble junk", ".cache/x.png": b"junk"}
    root = write_tree(tmp_path / "images", {**good, **bad, **ignored})
    return ImageFolder(root, sorted(good), sorted(bad))


@pytest.fixture
def image_zip(tmp_path: Path) -> tuple[Path, list[str]]:
    """A zip of 5 images plus members that must never be used: '..', absolute, symlink, macOS junk."""
    path = tmp_path / "archive" / "images.zip"
    path.parent.mkdir()
    names = [f"set/{i:02d}.png" for i in range(5)]
    with zipfile.ZipFile(path, "w") as archive:
        for i, name in enumerate(names):
            archive.writestr(name, encode(Image.new("RGB", (20, 20), (i * 50, 0, 0)), "PNG"))
        archive.writestr("../evil.png", encode(Image.new("RGB", (20, 20)), "PNG"))
        archive.writestr("/abs/evil.png", encode(Image.new("RGB", (20, 20)), "PNG"))
        link = zipfile.ZipInfo("set/link.png")
        link.external_attr = 0o120777 << 16  # S_IFLNK | 0777
        archive.writestr(link, "../../etc/passwd")
        archive.writestr("__MACOSX/set/._00.png", b"AppleDouble junk")
        archive.writestr("set/readme.txt", b"not an image")
    return path, names


# ---------------------------------------------------------------------------------------------
# CelebA.


def celeba_attributes() -> np.ndarray:
    rng = np.random.default_rng(7)
    return np.where(rng.random((len(CELEBA_PARTITION), 40)) < 0.5, -1, 1).astype(np.int8)


def celeba_color(i: int) -> tuple[int, int, int]:
    return (20 * i, 255 - 20 * i, 100)


def write_celeba_lists(root: Path) -> None:
    attributes = celeba_attributes()
    lines = [str(len(attributes)), " ".join(CELEBA_ATTRIBUTE_NAMES) + " "]
    for i, row in enumerate(attributes, start=1):
        lines.append(f"{i:06d}.jpg " + " ".join(f"{v:2d}" for v in row))
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    partition = [f"{i:06d}.jpg {part}" for i, part in enumerate(CELEBA_PARTITION, start=1)]
    (root / "list_eval_partition.txt").write_text("\n".join(partition) + "\n")


@pytest.fixture
def celeba_root(tmp_path: Path) -> Path:
    """CelebA's published layout: 12 178x218 JPEGs in img_align_celeba/ plus both list files."""
    root = tmp_path / "celeba"
    images = root / "img_align_celeba"
    images.mkdir(parents=True)
    for i in range(1, len(CELEBA_PARTITION) + 1):
        Image.new("RGB", (178, 218), celeba_color(i)).save(images / f"{i:06d}.jpg", quality=95)
    write_celeba_lists(root)
    return root


@pytest.fixture
def celeba_zip_root(celeba_root: Path, tmp_path: Path) -> Path:
    """The same data with the images as img_align_celeba.zip (members img_align_celeba/000001.jpg)."""
    root = tmp_path / "celeba_zip"
    root.mkdir()
    with zipfile.ZipFile(root / "img_align_celeba.zip", "w") as archive:
        for path in sorted((celeba_root / "img_align_celeba").iterdir()):
            archive.write(path, f"img_align_celeba/{path.name}")
    for name in ("list_attr_celeba.txt", "list_eval_partition.txt"):
        shutil.copy(celeba_root / name, root / name)
    return root


# ---------------------------------------------------------------------------------------------
# IDX (Fashion-MNIST format).


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def idx_folder(tmp_path: Path) -> Path:
    """A miniature Fashion-MNIST: 30 train and 10 test 28x28 images, gzipped IDX, labels i % 10."""
    root = tmp_path / "fmnist"
    root.mkdir()
    rng = np.random.default_rng(3)
    for prefix, count in (("train", 30), ("t10k", 10)):
        images = rng.integers(0, 256, (count, 28, 28), dtype=np.uint8)
        labels = np.arange(count, dtype=np.uint8) % 10
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return root


def read_idx_fixture(root: Path, prefix: str, kind: str) -> np.ndarray:
    suffix = "idx3" if kind == "images" else "idx1"
    data = gzip.decompress((root / f"{prefix}-{kind}-{suffix}-ubyte.gz").read_bytes())
    ndim = data[3]
    shape = struct.unpack(f">{ndim}I", data[4 : 4 + 4 * ndim])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(shape)


# Helpers for the test modules (conftest is not importable without packages).
@pytest.fixture
def data_helpers() -> object:
    class Helpers:
        encode = staticmethod(encode)
        png_bomb = staticmethod(png_bomb)
        truncated_jpeg = staticmethod(truncated_jpeg)
        bad_files = staticmethod(bad_files)
        mode_images = staticmethod(mode_images)
        write_tree = staticmethod(write_tree)
        idx_bytes = staticmethod(idx_bytes)
        read_idx_fixture = staticmethod(read_idx_fixture)
        celeba_attributes = staticmethod(celeba_attributes)
        celeba_color = staticmethod(celeba_color)
        CELEBA_ATTRIBUTE_NAMES = CELEBA_ATTRIBUTE_NAMES
        CELEBA_PARTITION = CELEBA_PARTITION

    return Helpers
