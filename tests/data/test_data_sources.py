"""Every SOURCE kind, opened through open_store: folders, zips, CelebA, IDX, names, and errors."""

from __future__ import annotations

import os
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgan.data import sources
from dcgan.data.store import open_store, source_channels
from dcgan.errors import DataError

FMNIST_SYSTEM = Path("/usr/share/datasets/fashion-mnist")


# ---------------------------------------------------------------------------------------------
# Folders.


@pytest.mark.parametrize("channels", [1, 3])
def test_folder_packs_every_mode_and_skips_bad_files(image_folder, cache, capsys, channels):
    store = open_store(str(image_folder.path), 24, channels=channels, cache_dir=cache, progress=False)

    assert store.images.shape == (13, channels, 24, 24) and store.images.dtype == np.uint8
    assert len(store) == 13 and store.labels is None and store.attributes is None
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


# ---------------------------------------------------------------------------------------------
# Zips.


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


# ---------------------------------------------------------------------------------------------
# CelebA.


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


# ---------------------------------------------------------------------------------------------
# Fashion-MNIST (IDX).


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
    monkeypatch.setattr(sources, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "nowhere")

    def offline(*args, **kwargs):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(sources.urllib.request, "urlopen", offline)
    with pytest.raises(DataError) as error:
        open_store("fashion-mnist", 28, cache_dir=cache, progress=False)
    message = str(error.value)
    assert "download failed" in message and "dataset-fashion-mnist" in message
    assert str(cache / "downloads" / "fashion-mnist") in message and "\n" not in message
    assert not list((cache / "downloads" / "fashion-mnist").glob("*.part"))


def test_fashion_mnist_download_is_md5_checked(tmp_path, cache, monkeypatch, idx_folder):
    """A download whose bytes do not match the published MD5 is refused (no network: a fake server)."""
    import io

    monkeypatch.setattr(sources, "FASHION_MNIST_SYSTEM_DIR", tmp_path / "nowhere")

    class Response(io.BytesIO):
        headers: dict[str, str] = {}

    monkeypatch.setattr(sources.urllib.request, "urlopen", lambda url, timeout: Response(b"tampered"))
    with pytest.raises(DataError, match="MD5 mismatch"):
        open_store("fashion-mnist", 28, cache_dir=cache, progress=False)


# ---------------------------------------------------------------------------------------------
# Synthetic.


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


# ---------------------------------------------------------------------------------------------
# Errors and channels.


def test_missing_path(tmp_path, cache):
    missing = tmp_path / "nope"
    with pytest.raises(DataError, match=f"--data {missing}: no such file or folder"):
        open_store(str(missing), 8, cache_dir=cache)


def test_empty_folder(tmp_path, cache):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match=f"no images .* found in folder {tmp_path / 'empty'}"):
        open_store(str(tmp_path / "empty"), 8, cache_dir=cache)


def test_folder_of_only_bad_files(tmp_path, cache, data_helpers):
    root = data_helpers.write_tree(tmp_path / "bad", data_helpers.bad_files())
    with pytest.raises(
        DataError, match=f"--data {root}: none of the 4 files could be read as images; see (.*skipped.txt)"
    ) as error:
        open_store(str(root), 8, cache_dir=cache, progress=False)
    log = Path(str(error.value).split("see ")[1].split(" for each")[0])
    assert len(log.read_text().splitlines()) == 5  # a comment and the four files
    assert not [p for p in (cache / "stores").iterdir() if p.is_dir()]  # no store was left behind


def test_mostly_bad_folder_is_refused(tmp_path, cache, data_helpers):
    good = {f"ok{i}.png": data_helpers.encode(Image.new("RGB", (8, 8)), "PNG") for i in range(3)}
    root = data_helpers.write_tree(tmp_path / "mostly_bad", {**good, **data_helpers.bad_files()})
    with pytest.raises(DataError, match="4 of 7 files could not be read as images \\(over 50%\\)"):
        open_store(str(root), 8, cache_dir=cache, progress=False)


def test_not_a_source(tmp_path, cache):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(DataError, match="is not a folder, .zip, CelebA root or Fashion-MNIST folder"):
        open_store(str(path), 8, cache_dir=cache)


@pytest.mark.parametrize("source, split", [("synthetic", "val"), ("fashion-mnist", "val"), ("synthetic", "dev")])
def test_unknown_splits(source, split, cache):
    with pytest.raises(DataError, match=f"--split {split}"):
        open_store(source, 8, split=split, cache_dir=cache)


def test_bad_arguments(cache):
    with pytest.raises(DataError, match="--size"):
        open_store("synthetic", 0, cache_dir=cache)
    with pytest.raises(DataError, match="--channels"):
        open_store("synthetic", 8, channels=2, cache_dir=cache)
    with pytest.raises(DataError, match="--limit"):
        open_store("synthetic", 8, limit=0, cache_dir=cache)


def test_source_channels(idx_folder, image_folder):
    assert source_channels("fashion-mnist") == 1 and source_channels(str(idx_folder)) == 1
    assert source_channels("synthetic") == 3 and source_channels(str(image_folder.path)) == 3
    assert source_channels("celeba") == 3 and source_channels(os.devnull) == 3
