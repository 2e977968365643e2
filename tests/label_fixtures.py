"""Labelled data for the conditional tests (on `pythonpath`, like factories.py): a class folder (and zip), a
CelebA root with attributes (tests/data/conftest.py's builders), a miniature Fashion-MNIST with a test split."""

from __future__ import annotations

import gzip
import importlib.util
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

COLORS = {"Blue shoes": (30, 30, 200), "green": (30, 200, 30), "red": (200, 30, 30)}


def data_fixtures():
    """tests/data/conftest.py, loaded by path (its builders are plain functions)."""
    if "data_fixtures" in sys.modules:
        return sys.modules["data_fixtures"]
    spec = importlib.util.spec_from_file_location("data_fixtures", Path(__file__).parent / "data" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["data_fixtures"] = module
    spec.loader.exec_module(module)
    return module


def png(color: tuple[int, int, int], seed: int) -> bytes:
    """A 20 px image of one colour with a lighter square at a place that depends on `seed`."""
    pixels = np.zeros((20, 20, 3), np.uint8)
    pixels[...] = color
    x = seed % 10
    pixels[5 : 5 + 8, x : x + 8] = 255 - np.array(color)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def class_folder(root: Path, per_class: int = 8, loose: int = 0) -> Path:
    """ROOT/<class>/<n>.png for three classes (one name with a space and a capital); `loose` images in ROOT."""
    for name, color in COLORS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            (root / name / f"{i:02d}.png").write_bytes(png(color, i))
    for i in range(loose):
        (root / f"loose{i}.png").write_bytes(png((9, 9, 9), i))
    return root


def class_zip(path: Path, per_class: int = 8) -> Path:
    """The class folder as a zip wrapped in one top folder, as zipping a folder makes it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as archive:
        for name, color in COLORS.items():
            for i in range(per_class):
                archive.writestr(f"clothes/{name}/{i:02d}.png", png(color, i))
    return path


def celeba_root(root: Path, drop_attribute_rows: int = 0) -> Path:
    """CelebA's layout with 12 small JPEGs and both list files; `drop_attribute_rows` removes the last rows
    of list_attr_celeba.txt (their images then have no attributes)."""
    data = data_fixtures()
    images = root / "img_align_celeba"
    images.mkdir(parents=True)
    for i in range(1, len(data.CELEBA_PARTITION) + 1):
        Image.new("RGB", (40, 48), data.celeba_color(i)).save(images / f"{i:06d}.jpg", quality=95)
    data.write_celeba_lists(root)
    if drop_attribute_rows:
        attr = root / "list_attr_celeba.txt"
        lines = attr.read_text().splitlines()
        kept = lines[: len(lines) - drop_attribute_rows]
        kept[0] = str(len(kept) - 2)
        attr.write_text("\n".join(kept) + "\n")
    return root


def mini_fashion(root: Path, train: int = 60, test: int = 40) -> Path:
    """A miniature Fashion-MNIST in IDX files: labels i % 10, images a bright square whose place depends on it."""
    data = data_fixtures()
    root.mkdir(parents=True)
    for prefix, count in (("train", train), ("t10k", test)):
        labels = np.arange(count, dtype=np.uint8) % 10
        images = np.zeros((count, 28, 28), np.uint8)
        for i, label in enumerate(labels):
            images[i, 2 * label : 2 * label + 8, 4:24] = 200 + i % 50
        (root / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(data.idx_bytes(images)))
        (root / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(data.idx_bytes(labels)))
    return root
