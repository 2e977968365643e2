"""Synthetic shapes through open_store: deterministic, labelled, the same shapes at every size."""

from __future__ import annotations

import numpy as np
from PIL import Image

from dcgan.data.store import open_store, source_channels


def test_synthetic_is_deterministic_and_labelled(tmp_path):
    a = open_store("synthetic", 16, cache_dir=tmp_path / "a", progress=False)
    b = open_store("synthetic", 16, cache_dir=tmp_path / "b", progress=False)
    assert a.images.shape == (2000, 3, 16, 16) and a.manifest["resolved"] == "synthetic"
    np.testing.assert_array_equal(a.images, b.images)
    assert a.class_names == ["circle", "square", "triangle"]
    assert np.bincount(a.labels).tolist() == [667, 667, 666]
    assert a.images.std(axis=(1, 2, 3)).min() > 10  # every image shows a shape on a background


def test_synthetic_test_split_and_gray(cache):
    test = open_store("synthetic", 28, split="test", channels=1, cache_dir=cache, progress=False)
    assert test.images.shape == (500, 1, 28, 28) and source_channels("synthetic") == 3
    train = open_store("synthetic", 28, channels=1, limit=500, cache_dir=cache, progress=False)
    assert not np.array_equal(test.images, train.images)


def test_synthetic_same_shapes_at_every_size(cache):
    small = open_store("synthetic", 16, limit=20, cache_dir=cache, progress=False)
    large = open_store("synthetic", 64, limit=20, cache_dir=cache, progress=False)
    np.testing.assert_array_equal(small.labels, large.labels)
    shrunk = np.stack(
        [np.asarray(Image.fromarray(img.transpose(1, 2, 0)).resize((16, 16), Image.BOX)) for img in large.images]
    )
    assert np.abs(shrunk.transpose(0, 3, 1, 2).astype(int) - small.images).mean() < 8
