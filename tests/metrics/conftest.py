"""Cheap stand-ins: a store-like object and a feature extractor that needs no network."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch


class PixelFeatures:
    """Features = a few pixel statistics; same interface as inception.FeatureExtractor."""

    name = "pixel-stats (test)"
    key = "pixel-stats"
    dim = 4

    def __init__(self) -> None:
        self.calls = 0
        self.images_seen = 0

    def extract(self, images, batch_size=None, device=None, progress=True, desc=""):
        self.calls += 1
        x = torch.as_tensor(np.asarray(images)).float() / 255
        self.images_seen += len(x)
        flat = x.flatten(1)
        return torch.stack([flat.mean(1), flat.std(1), flat.amax(1), flat[:, 0]], 1).double().numpy()


def fake_store(
    path: Path, n: int = 40, seed: int = 0, channels: int = 1, size: int = 8, kind: str = "folder", split: str = "test"
) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, channels, size, size), dtype=np.uint8)
    path.mkdir(parents=True, exist_ok=True)
    manifest = {
        "checksum": f"{seed:064x}",
        "split": split,
        "kind": kind,
        "count": n,
        "size": size,
        "channels": channels,
    }
    return SimpleNamespace(images=images, labels=None, manifest=manifest, path=path, __len__=None)


class Store(SimpleNamespace):
    def __len__(self) -> int:
        return len(self.images)


@pytest.fixture
def make_store(tmp_path: Path):
    def make(name: str = "store", **kw) -> Store:
        s = fake_store(tmp_path / name, **kw)
        return Store(**{k: v for k, v in vars(s).items() if k != "__len__"})

    return make


@pytest.fixture
def pixel_features() -> PixelFeatures:
    return PixelFeatures()


@pytest.fixture
def cheap_networks(monkeypatch) -> dict[str, PixelFeatures]:
    """MetricContext's two feature networks replaced by pixel statistics (no network is loaded)."""
    from dcgan.metrics.context import MetricContext

    nets = {"inception": PixelFeatures(), "fashion": PixelFeatures()}
    nets["fashion"].key, nets["fashion"].name = "pixel-fashion", "pixel-fashion (test)"
    monkeypatch.setattr(MetricContext, "inception", lambda self: nets["inception"])
    monkeypatch.setattr(MetricContext, "fashion", lambda self: nets["fashion"])
    return nets
