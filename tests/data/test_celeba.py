"""CelebA through open_store: splits, attributes, folder or zip, list files damaged or missing, the name."""

from __future__ import annotations

import numpy as np
import pytest

from dcgan.data.store import open_store
from dcgan.errors import DataError


@pytest.mark.parametrize("split, count", [("train", 8), ("val", 2), ("test", 2), ("all", 12)])
def test_celeba_splits_and_attributes(celeba_root, cache, data_helpers, split, count):
    store = open_store(str(celeba_root), 32, split=split, cache_dir=cache, progress=False)
    assert store.images.shape == (count, 3, 32, 32) and store.manifest["kind"] == "celeba"
    assert store.attribute_names == data_helpers.CELEBA_ATTRIBUTE_NAMES
    start = {"train": 0, "val": 8, "test": 10, "all": 0}[split]
    expected = data_helpers.celeba_attributes()[start : start + count]
    assert store.attributes.dtype == np.int8 and store.attributes.shape == (count, 40)
    np.testing.assert_array_equal(store.attributes, expected)
    first = np.asarray(data_helpers.celeba_color(start + 1))
    assert np.abs(store.images[0][:, 16, 16].astype(int) - first).max() <= 6  # right image, right order


def test_celeba_zip_matches_the_folder(celeba_root, celeba_zip_root, cache):
    folder = open_store(str(celeba_root), 32, split="val", cache_dir=cache, progress=False)
    archive = open_store(str(celeba_zip_root), 32, split="val", cache_dir=cache, progress=False)
    np.testing.assert_array_equal(folder.images, archive.images)
    np.testing.assert_array_equal(folder.attributes, archive.attributes)


def test_celeba_image_folder_itself_is_accepted(celeba_root, cache):
    store = open_store(str(celeba_root / "img_align_celeba"), 16, split="test", cache_dir=cache, progress=False)
    assert len(store) == 2 and store.manifest["resolved"] == str(celeba_root.resolve())


def test_celeba_without_partition_file(celeba_root, cache, capsys):
    (celeba_root / "list_eval_partition.txt").unlink()
    with pytest.raises(DataError, match="list_eval_partition.txt is missing"):
        open_store(str(celeba_root), 16, split="test", cache_dir=cache, progress=False)
    store = open_store(str(celeba_root), 16, split="train", cache_dir=cache, progress=False)
    assert len(store) == 12
    assert "list_eval_partition.txt not found" in capsys.readouterr().err


def test_celeba_truncated_attribute_file(celeba_root, cache):
    attr = celeba_root / "list_attr_celeba.txt"
    attr.write_text("\n".join(attr.read_text().splitlines()[:-3]) + "\n")
    with pytest.raises(DataError, match=r"list_attr_celeba.txt: line 1 says 12 images but the file has 9 rows"):
        open_store(str(celeba_root), 16, cache_dir=cache, progress=False)


def test_celeba_damaged_partition_file(celeba_root, cache):
    (celeba_root / "list_eval_partition.txt").write_text("000001.jpg 0\n000002.jpg seven\n")
    with pytest.raises(DataError, match=r"list_eval_partition.txt: line 2"):
        open_store(str(celeba_root), 16, cache_dir=cache, progress=False)


def test_celeba_name_is_looked_up_never_downloaded(celeba_root, tmp_path, cache, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./data/celeba here
    monkeypatch.delenv("DCGAN_CELEBA", raising=False)
    with pytest.raises(DataError, match="cannot be downloaded automatically.*--data /path/to/celeba"):
        open_store("celeba", 16, cache_dir=cache, progress=False)
    monkeypatch.setenv("DCGAN_CELEBA", str(celeba_root))
    assert len(open_store("celeba", 16, cache_dir=cache, progress=False)) == 8
