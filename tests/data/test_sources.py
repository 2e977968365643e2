"""Resolving a SOURCE string: what is not a source, unknown splits, and each source's native channels."""

from __future__ import annotations

import os

import pytest

from dcgan.data.store import open_store, source_channels
from dcgan.errors import DataError


def test_missing_path(tmp_path, cache):
    missing = tmp_path / "nope"
    with pytest.raises(DataError, match=f"--data {missing}: no such file or folder"):
        open_store(str(missing), 8, cache_dir=cache)


def test_not_a_source(tmp_path, cache):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(DataError, match="is not a folder, .zip, CelebA root or Fashion-MNIST folder"):
        open_store(str(path), 8, cache_dir=cache)


@pytest.mark.parametrize("source, split", [("synthetic", "val"), ("fashion-mnist", "val"), ("synthetic", "dev")])
def test_unknown_splits(source, split, cache):
    with pytest.raises(DataError, match=f"--split {split}"):
        open_store(source, 8, split=split, cache_dir=cache)


def test_source_channels(idx_folder, image_folder):
    assert source_channels("fashion-mnist") == 1 and source_channels(str(idx_folder)) == 1
    assert source_channels("synthetic") == 3 and source_channels(str(image_folder.path)) == 3
    assert source_channels("celeba") == 3 and source_channels(os.devnull) == 3
