"""Reference statistics: computed once, cached beside the store, keyed by checksum/split/count/network."""

from __future__ import annotations

import numpy as np
import pytest

from dcgan.metrics.reference import cache_path, reference_stats, select_indices


def test_miss_then_hit_without_running_the_network(make_store, pixel_features, monkeypatch) -> None:
    store = make_store(n=40)
    first = reference_stats(store, pixel_features, 30, progress=False)
    assert not first.cached and first.count == 30 and pixel_features.calls == 1
    assert first.path == cache_path(store, pixel_features, 30) and first.path.parent == store.path / "refstats"
    assert not [p for p in first.path.parent.iterdir() if ".tmp" in p.name]  # atomic: no temp files left

    def boom(*a, **k):
        raise AssertionError("the network ran on a cache hit")

    monkeypatch.setattr(pixel_features, "extract", boom)
    second = reference_stats(store, pixel_features, 30, progress=False)
    assert second.cached and second.seconds == 0.0
    np.testing.assert_array_equal(second.features, first.features)
    np.testing.assert_array_equal(second.mu, first.mu)
    np.testing.assert_array_equal(second.sigma, first.sigma)
    np.testing.assert_array_equal(second.indices, first.indices)


@pytest.mark.parametrize("change", ["count", "checksum", "split", "network"])
def test_key_changes_are_misses(make_store, pixel_features, change) -> None:
    store = make_store(n=40)
    reference_stats(store, pixel_features, 30, progress=False)
    num = 30
    if change == "count":
        num = 20
    elif change == "checksum":
        store.manifest["checksum"] = "f" * 64
    elif change == "split":
        store.manifest["split"] = "train"
    else:
        pixel_features.key, pixel_features.name = "other-net", "other net"
    again = reference_stats(store, pixel_features, num, progress=False)
    assert not again.cached and pixel_features.calls == 2


def test_damaged_cache_is_recomputed(make_store, pixel_features, capsys) -> None:
    store = make_store(n=12)
    first = reference_stats(store, pixel_features, 12, progress=False)
    first.path.write_bytes(b"garbage")
    again = reference_stats(store, pixel_features, 12, progress=False)
    assert not again.cached and "computing them again" in capsys.readouterr().err
    np.testing.assert_array_equal(again.features, first.features)
    assert reference_stats(store, pixel_features, 12, progress=False).cached


def test_unwritable_cache_is_a_note_not_an_error(make_store, pixel_features, capsys) -> None:
    store = make_store(n=12)
    (store.path / "refstats").write_text("a file where the folder should be")
    stats = reference_stats(store, pixel_features, 12, progress=False)
    assert stats.path is None and "could not cache" in capsys.readouterr().err


def test_subset_selection() -> None:
    assert list(select_indices(5, 10)) == [0, 1, 2, 3, 4]
    a = select_indices(1000, 100)
    assert len(set(a.tolist())) == 100 and list(a) == sorted(a) and (a == select_indices(1000, 100)).all()
    assert a.max() > 500  # a spread-out sample, not the first rows


def test_miss_and_hit_agree_exactly(make_store, pixel_features) -> None:
    """Features are kept at float32 precision (the networks' own), so a hit equals the miss bit for bit."""
    store = make_store(n=20)
    miss = reference_stats(store, pixel_features, 20, progress=False)
    hit = reference_stats(store, pixel_features, 20, progress=False)
    assert hit.cached and not miss.cached
    np.testing.assert_array_equal(hit.features, miss.features)
    np.testing.assert_array_equal(hit.features.astype(np.float32).astype(np.float64), hit.features)
    np.testing.assert_array_equal(hit.sigma, np.cov(hit.features, rowvar=False))
