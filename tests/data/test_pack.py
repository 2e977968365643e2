"""Packing: a limit decodes only what it needs, worker processes give the same store, progress on stderr."""

from __future__ import annotations

import numpy as np

from dcgan.data import files
from dcgan.data import pack as pack_module
from dcgan.data.store import open_store


def test_limit_without_a_full_store_decodes_only_the_first_images(image_folder, cache, monkeypatch):
    decoded: list[int] = []
    real = files.decode_image

    def counting(data, size, channels):
        decoded.append(1)
        return real(data, size, channels)

    monkeypatch.setattr(files, "decode_image", counting)
    part = open_store(str(image_folder.path), 16, limit=8, cache_dir=cache, progress=False)
    assert len(part) == 8 and part.manifest["limit"] == 8 and "prefix_of" not in part.manifest
    # Source order: a_gray/ (2), b_color/ (4), bad/ (4 skipped), c/... : 12 files for 8 images.
    assert len(decoded) == 12 and part.manifest["skipped"] == 4 and part.manifest["considered"] == 12
    full = open_store(str(image_folder.path), 16, cache_dir=cache, progress=False)
    np.testing.assert_array_equal(part.images, full.images[:8])


def test_worker_processes_give_the_same_result(image_folder, tmp_path, monkeypatch):
    serial = open_store(str(image_folder.path), 16, cache_dir=tmp_path / "serial", progress=False)
    monkeypatch.setattr(pack_module, "PARALLEL_MIN_IMAGES", 0)
    monkeypatch.setattr(pack_module, "_cpu_count", lambda: 2)
    monkeypatch.setattr(files.FolderDecoder, "chunk_size", 3)  # several chunks per worker
    parallel = open_store(str(image_folder.path), 16, cache_dir=tmp_path / "parallel", progress=False)
    np.testing.assert_array_equal(serial.images, parallel.images)
    assert parallel.manifest["skipped"] == 4
    limited = open_store(str(image_folder.path), 16, limit=3, cache_dir=tmp_path / "limited", progress=False)
    np.testing.assert_array_equal(limited.images, serial.images[:3])


def test_zip_in_worker_processes(image_zip, tmp_path, monkeypatch):
    monkeypatch.setattr(pack_module, "PARALLEL_MIN_IMAGES", 0)
    monkeypatch.setattr(pack_module, "_cpu_count", lambda: 2)
    monkeypatch.setattr(files.ZipDecoder, "chunk_size", 2)
    store = open_store(str(image_zip[0]), 8, cache_dir=tmp_path / "c", progress=False)
    assert [int(img[0, 4, 4]) for img in store.images] == [0, 50, 100, 150, 200]


def test_progress_bar_goes_to_stderr(cache, capsys):
    open_store("synthetic", 8, limit=20, cache_dir=cache, progress=True)
    captured = capsys.readouterr()
    assert captured.out == "" and "packing synthetic 8px" in captured.err and "img/s" in captured.err
