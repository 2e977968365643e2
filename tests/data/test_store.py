"""The packed store: cache hits, verification and rebuilds, limits, atomic packing, refusing damaged sources."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgan.data import files
from dcgan.data import store as store_module
from dcgan.data.store import PackedStore, default_cache_dir, open_store
from dcgan.errors import DataError


def no_packing(*args, **kwargs):
    raise AssertionError("the store was packed again")


def packs(monkeypatch) -> list[int]:
    """Count calls to the packer (and still pack)."""
    calls: list[int] = []
    real = store_module._pack

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(store_module, "_pack", counting)
    return calls


def test_manifest_and_files(image_folder, cache):
    store = open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)
    m = store.manifest
    for key in (
        "source",
        "resolved",
        "kind",
        "size",
        "channels",
        "split",
        "count",
        "checksum",
        "source_fingerprint",
        "skipped",
        "skipped_log",
        "created",
        "version",
    ):
        assert key in m, key
    assert (m["source"], m["size"], m["channels"], m["split"], m["count"]) == (
        str(image_folder.path),
        16,
        3,
        "train",
        13,
    )
    assert m["resolved"] == str(image_folder.path.resolve())
    assert store.path.parent == cache / "stores" and store.path.name.startswith("folder-16px-c3-train-")
    assert json.loads((store.path / "manifest.json").read_text()) == m
    assert isinstance(store.images, np.memmap) and not store.images.flags.writeable
    assert np.load(store.path / "images.npy").shape == (13, 3, 16, 16)  # shrunk after the 4 skips
    assert "PackedStore(folder" in repr(store)


def test_second_open_is_a_cache_hit(image_folder, cache, monkeypatch):
    first = open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)
    monkeypatch.setattr(store_module, "_pack", no_packing)
    monkeypatch.setattr(files, "decode_image", no_packing)
    store_module._CHECKSUMS.clear()  # as in a new process: the checksum is verified again
    second = open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)
    assert second.path == first.path and second.manifest == first.manifest
    np.testing.assert_array_equal(first.images, second.images)


def test_corrupted_images_are_rebuilt(image_folder, cache, capsys):
    first = open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)
    expected = np.array(first.images)
    with open(first.path / "images.npy", "r+b") as f:
        f.seek(-100, 2)
        f.write(b"\x00" * 50)
    second = open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)
    assert "checksum mismatch" in capsys.readouterr().err
    np.testing.assert_array_equal(second.images, expected)


@pytest.mark.parametrize("damage", ["truncate", "manifest", "delete", "version"])
def test_damaged_stores_are_rebuilt(image_folder, cache, capsys, damage):
    first = open_store("synthetic", 16, limit=50, cache_dir=cache, progress=False)
    expected = np.array(first.images)
    images, manifest = first.path / "images.npy", first.path / "manifest.json"
    if damage == "truncate":
        images.write_bytes(images.read_bytes()[: -16 * 16 * 3])
    elif damage == "manifest":
        manifest.write_text("{ not json")
    elif damage == "delete":
        images.unlink()
    else:
        manifest.write_text(json.dumps(dict(first.manifest, version=-1)))
    second = open_store("synthetic", 16, limit=50, cache_dir=cache, progress=False)
    assert "is unusable" in capsys.readouterr().err
    np.testing.assert_array_equal(second.images, expected)
    np.testing.assert_array_equal(second.labels, first.labels)


def test_rebuild_forces_a_pack(cache, monkeypatch):
    open_store("synthetic", 8, limit=10, cache_dir=cache, progress=False)
    calls = packs(monkeypatch)
    open_store("synthetic", 8, limit=10, cache_dir=cache, progress=False)
    assert calls == []
    store = open_store("synthetic", 8, limit=10, cache_dir=cache, progress=False, rebuild=True)
    assert calls == [1] and len(store) == 10
    assert [p.name for p in (cache / "stores").iterdir()] == [store.path.name]  # replaced in place


def test_limit_slices_a_cached_full_store(image_folder, cache, monkeypatch):
    full = open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)
    monkeypatch.setattr(store_module, "_pack", no_packing)
    part = open_store(str(image_folder.path), 16, limit=5, cache_dir=cache, progress=False)
    assert len(part) == 5 and part.manifest["count"] == 5 and part.manifest["prefix_of"] == str(full.path)
    np.testing.assert_array_equal(part.images, full.images[:5])
    assert len(open_store(str(image_folder.path), 16, limit=100, cache_dir=cache, progress=False)) == 13


def test_labels_follow_the_limit(cache):
    full = open_store("synthetic", 8, cache_dir=cache, progress=False)
    part = open_store("synthetic", 8, limit=7, cache_dir=cache, progress=False)
    np.testing.assert_array_equal(part.labels, full.labels[:7])


def test_killed_pack_leaves_no_half_store(image_folder, cache, monkeypatch):
    real = files.decode_image
    calls: list[int] = []

    def dies_midway(data, size, channels):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real(data, size, channels)

    monkeypatch.setattr(files, "decode_image", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)
    assert list((cache / "stores").iterdir()) == []  # neither a store nor a temp dir
    monkeypatch.setattr(files, "decode_image", real)
    assert len(open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)) == 13


def test_changed_source_gets_a_new_store_and_the_old_one_goes(image_folder, cache):
    old = open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)
    Image.new("RGB", (16, 16), (9, 9, 9)).save(image_folder.path / "zz_new.png")
    new = open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)
    assert len(new) == 14 and new.path != old.path and not old.path.exists()
    assert new.manifest["source_fingerprint"] != old.manifest["source_fingerprint"]


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


def test_bad_arguments(cache):
    with pytest.raises(DataError, match="--size"):
        open_store("synthetic", 0, cache_dir=cache)
    with pytest.raises(DataError, match="--channels"):
        open_store("synthetic", 8, channels=2, cache_dir=cache)
    with pytest.raises(DataError, match="--limit"):
        open_store("synthetic", 8, limit=0, cache_dir=cache)


def test_unwritable_cache_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder should be")
    with pytest.raises(DataError, match="is not writable .*set DCGAN_CACHE"):
        open_store("synthetic", 8, cache_dir=blocker / "cache", progress=False)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("DCGAN_CACHE")
    assert default_cache_dir() == Path.home() / ".cache" / "dcgan"


def test_packed_store_len():
    store = PackedStore(np.zeros((3, 1, 2, 2), np.uint8), None, None, None, None, {}, Path("."))
    assert len(store) == 3
