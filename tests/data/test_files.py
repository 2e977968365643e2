"""Folders and zips, opened through open_store: every image mode, order, unsafe members, errors."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from dcgan.data.store import open_store
from dcgan.errors import DataError


@pytest.mark.parametrize("channels", [1, 3])
def test_folder_packs_every_mode_and_skips_bad_files(image_folder, cache, capsys, channels):
    store = open_store(str(image_folder.path), 24, channels=channels, cache_dir=cache, progress=False)

    assert store.images.shape == (13, channels, 24, 24) and store.images.dtype == np.uint8
    assert len(store) == 13 and store.attributes is None
    # Every image lies in a sub-folder: the first folder is its class (ImageFolder's convention).
    assert store.class_names == ["a_gray", "b_color", "bad", "c", "d"]
    assert store.labels.tolist() == [0, 0, 1, 1, 1, 1, 3, 3, 3, 4, 4, 4, 4]
    assert store.manifest["kind"] == "folder" and store.manifest["skipped"] == 4
    log = Path(store.manifest["skipped_log"])
    assert log == store.path / "skipped.txt"
    logged = {line.split("\t")[0] for line in log.read_text().splitlines() if not line.startswith("#")}
    assert logged == set(image_folder.bad)
    assert f"skipped 4 of 17 files (see {log})" in capsys.readouterr().err


def test_folder_order_and_values(image_folder, cache):
    store = open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)
    red = store.images[image_folder.index("b_color/rgba_red.png")]
    assert tuple(red[:, 8, 8]) == (255, 0, 0)
    gradient = store.images[image_folder.index("c/deep/i16.png")][0]
    assert gradient.min() <= 10 and gradient.max() >= 245
    half = store.images[image_folder.index("b_color/rgba_half.png")]
    assert tuple(half[:, 8, 1]) == (255, 255, 255)  # transparent -> white
    wide = store.images[image_folder.index("d/wide.png")]
    # Center crop: only the blue middle (the filter reaches slightly past the crop at the edges,
    # exactly as torchvision's Resize + CenterCrop would).
    assert np.all(wide[2] >= 230) and np.all(wide[0, :, 2:-2] <= 5) and np.all(wide[0] <= 40)


def test_folder_train_and_all_are_the_same(image_folder, cache):
    train = open_store(str(image_folder.path), 8, split="train", cache_dir=cache, progress=False)
    everything = open_store(str(image_folder.path), 8, split="all", cache_dir=cache, progress=False)
    np.testing.assert_array_equal(train.images, everything.images)


def test_folder_has_no_test_split(image_folder, cache):
    with pytest.raises(DataError, match=r"--split test: folder .*images"):
        open_store(str(image_folder.path), 8, split="test", cache_dir=cache, progress=False)


def test_empty_folder(tmp_path, cache):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match=f"no images .* found in folder {tmp_path / 'empty'}"):
        open_store(str(tmp_path / "empty"), 8, cache_dir=cache)


def test_zip_reads_in_place_and_rejects_unsafe_members(image_zip, tmp_path, cache):
    path, names = image_zip
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    store = open_store(str(path), 20, cache_dir=cache, progress=False)

    assert store.images.shape == (5, 3, 20, 20) and store.manifest["kind"] == "zip"
    assert [int(img[0, 10, 10]) for img in store.images] == [0, 50, 100, 150, 200]  # sorted by name
    assert store.manifest["skipped"] == 3
    log = Path(store.manifest["skipped_log"]).read_text()
    assert "../evil.png\tunsafe" in log and "/abs/evil.png\tunsafe" in log and "set/link.png\tunsafe" in log
    assert "__MACOSX" not in log
    # Nothing was extracted: only the cache changed, and no evil.png exists anywhere near.
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if not p.is_relative_to(cache))
    assert after == [p for p in before]
    assert not list(tmp_path.parent.glob("evil.png")) and not Path("/abs/evil.png").exists()


def test_zip_without_images(tmp_path, cache):
    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "nothing here")
    with pytest.raises(DataError, match=f"no images .* found in zip {path}"):
        open_store(str(path), 8, cache_dir=cache, progress=False)


def test_damaged_zip(tmp_path, cache):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip")
    with pytest.raises(DataError, match=f"{path} is not a readable zip"):
        open_store(str(path), 8, cache_dir=cache, progress=False)
