"""Class labels of image folders and zips (dcgan.data.files): one sub-folder per class, as ImageFolder."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from dcgan.data import open_store
from dcgan.data.files import class_labels, class_layout_problem


def write(root: Path, names: list[str], helpers) -> Path:
    from PIL import Image

    for i, name in enumerate(names):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(helpers.encode(Image.new("RGB", (12, 12), (20 * i, 0, 0)), "PNG"))
    return root


def test_the_first_folder_of_each_path_is_its_class_names_sorted() -> None:
    labels, names = class_labels(["dog/a.png", "Cat/b.png", "dog/deep/c.png", "bird/d.png"])
    assert names == ["Cat", "bird", "dog"] and labels.tolist() == [2, 0, 2, 1]
    assert class_labels(["a.png", "dog/b.png"]) is None  # an image in the root: no classes
    assert class_labels(["a.png", "b.png"]) is None  # no sub-folders
    # In a zip, one folder wrapping everything is looked through.
    wrapped = ["set/dog/a.png", "set/cat/b.png"]
    assert class_labels(wrapped, look_through_wrapper=True)[1] == ["cat", "dog"]
    assert class_labels(wrapped)[1] == ["set"]


def test_a_class_folder_and_its_zip_store_the_same_labels(tmp_path: Path, cache: Path, data_helpers) -> None:
    names = ["coat/0.png", "coat/1.png", "bag/0.png", "bag/sub/1.png", "shoe/0.png"]
    root = write(tmp_path / "clothes", names, data_helpers)
    with zipfile.ZipFile(tmp_path / "clothes.zip", "w") as archive:
        for name in names:
            archive.write(root / name, f"clothes/{name}")
    for source in (root, tmp_path / "clothes.zip"):
        store = open_store(str(source), 12, cache_dir=cache, progress=False)
        assert store.class_names == ["bag", "coat", "shoe"]
        assert store.labels.tolist() == [0, 0, 1, 1, 2]  # sorted paths: bag/0, bag/sub/1, coat/0, coat/1, shoe/0


def test_the_store_key_follows_the_class_assignment(tmp_path: Path, cache: Path, data_helpers) -> None:
    root = write(tmp_path / "clothes", ["a/0.png", "a/1.png", "b/2.png"], data_helpers)
    first = open_store(str(root), 12, cache_dir=cache, progress=False)
    os.rename(root / "a" / "1.png", root / "b" / "1.png")  # the same file, now in class b
    moved = open_store(str(root), 12, cache_dir=cache, progress=False)
    assert moved.path != first.path and moved.labels.tolist() == [0, 1, 1]
    os.rename(root / "b", root / "c")  # a class renamed
    renamed = open_store(str(root), 12, cache_dir=cache, progress=False)
    assert renamed.path != moved.path and renamed.class_names == ["a", "c"]
    assert np.array_equal(renamed.images, moved.images)


def test_folders_without_classes_say_which_images_lack_one(tmp_path: Path, cache: Path, data_helpers) -> None:
    mixed = write(tmp_path / "mixed", ["a/0.png", "x.png", "y.png"], data_helpers)
    store = open_store(str(mixed), 12, cache_dir=cache, progress=False)
    assert store.labels is None and store.class_names is None
    problem = class_layout_problem(str(mixed), "folder")
    assert "2 images lie directly in" in problem and "'x.png'" in problem and "mixed/<class>/<image>" in problem
    flat = write(tmp_path / "flat", ["x.png"], data_helpers)
    assert "has no sub-folders" in class_layout_problem(str(flat), "folder")
