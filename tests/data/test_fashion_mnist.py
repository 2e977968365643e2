"""Fashion-MNIST (IDX) through open_store: folders, damaged files, the system copy, the checked download."""

from __future__ import annotations

import urllib.error
from pathlib import Path

import numpy as np
import pytest

from dcgan.data import fashion_mnist
from dcgan.data.store import open_store
from dcgan.errors import DataError

FMNIST_SYSTEM = Path("/usr/share/datasets/fashion-mnist")


def test_idx_folder(idx_folder, cache, data_helpers):
    train = open_store(str(idx_folder), 28, cache_dir=cache, progress=False)
    test = open_store(str(idx_folder), 28, split="test", cache_dir=cache, progress=False)
    assert train.manifest["kind"] == "fashion-mnist" and train.manifest["channels"] == 1
    assert train.images.shape == (30, 1, 28, 28) and test.images.shape == (10, 1, 28, 28)
    np.testing.assert_array_equal(train.images[:, 0], data_helpers.read_idx_fixture(idx_folder, "train", "images"))
    assert train.labels.dtype == np.int64 and list(train.labels[:12]) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]
    assert train.class_names[0] == "T-shirt/top" and train.class_names[9] == "Ankle boot"
    both = open_store(str(idx_folder), 28, split="all", cache_dir=cache, progress=False)
    assert len(both) == 40


def test_idx_resized_to_rgb(idx_folder, cache):
    store = open_store(str(idx_folder), 32, channels=3, cache_dir=cache, progress=False)
    assert store.images.shape == (30, 3, 32, 32)
    np.testing.assert_array_equal(store.images[:, 0], store.images[:, 2])  # gray repeated


def test_idx_unzipped_names_are_accepted(idx_folder, tmp_path, cache):
    import gzip

    plain = tmp_path / "plain"
    plain.mkdir()
    for gz in idx_folder.glob("train-*.gz"):
        (plain / gz.name[:-3].replace("-idx", ".idx")).write_bytes(gzip.decompress(gz.read_bytes()))
    assert len(open_store(str(plain), 28, cache_dir=cache, progress=False)) == 30


def test_idx_damaged_files_are_named(idx_folder, cache):
    images = idx_folder / "train-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:-200])  # a cut download
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: cannot read this IDX file"):
        open_store(str(idx_folder), 28, cache_dir=cache, progress=False)


def test_idx_wrong_magic_and_size(idx_folder, cache, data_helpers):
    import gzip

    labels = idx_folder / "t10k-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(b"\x00\x00\x0d\x01" + b"\x00" * 20))
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz: not an unsigned-byte IDX file"):
        open_store(str(idx_folder), 28, split="test", cache_dir=cache, progress=False)
    labels.write_bytes(gzip.compress(data_helpers.idx_bytes(np.zeros(10, np.uint8))[:-4]))
    with pytest.raises(DataError, match=r"declares shape \(10,\).*truncated"):
        open_store(str(idx_folder), 28, split="test", cache_dir=cache, progress=False)


def test_idx_missing_labels(idx_folder, cache):
    (idx_folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="not t10k-labels-idx1-ubyte.gz"):
        open_store(str(idx_folder), 28, split="test", cache_dir=cache, progress=False)


@pytest.mark.skipif(not FMNIST_SYSTEM.is_dir(), reason="Debian package dataset-fashion-mnist not installed")
def test_real_fashion_mnist(cache):
    train = open_store("fashion-mnist", 28, cache_dir=cache, progress=False)
    test = open_store("fashion-mnist", 28, split="test", cache_dir=cache, progress=False)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert np.bincount(train.labels).tolist() == [6000] * 10 and np.bincount(test.labels).tolist() == [1000] * 10
    assert train.manifest["resolved"] == str(FMNIST_SYSTEM) and train.images.max() == 255


def test_fashion_mnist_offline_error(tmp_path, cache, monkeypatch):
    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "nowhere")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(fashion_mnist.urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as error:
        open_store("fashion-mnist", 28, cache_dir=cache, progress=False)
    message = str(error.value)
    assert "download failed" in message and "dataset-fashion-mnist" in message
    assert str(cache / "downloads" / "fashion-mnist") in message and "\n" not in message
    assert not list((cache / "downloads" / "fashion-mnist").glob("*.part"))
    assert not list((cache / "downloads" / "fashion-mnist").iterdir())  # no temp file left either


def test_fashion_mnist_download_is_md5_checked(tmp_path, cache, monkeypatch, idx_folder):
    """A download whose bytes do not match the published MD5 is refused (no network: a fake server)."""
    import io

    monkeypatch.setattr(fashion_mnist, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "nowhere")

    class Response(io.BytesIO):
        headers: dict[str, str] = {}

    monkeypatch.setattr(fashion_mnist.urllib.request, "urlopen", lambda url, timeout: Response(b"tampered"))
    with pytest.raises(DataError, match="MD5 mismatch"):
        open_store("fashion-mnist", 28, cache_dir=cache, progress=False)
    assert not list((cache / "downloads" / "fashion-mnist").iterdir())  # the refused bytes are not kept
