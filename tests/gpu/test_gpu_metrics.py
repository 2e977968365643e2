"""The same metric code on a CUDA device (run with -m gpu on a GPU machine)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


class Store(SimpleNamespace):
    """A store-like object (images, manifest, path), as the metrics read a PackedStore."""

    def __len__(self) -> int:
        return len(self.images)


def fashion_store(path: Path, n: int) -> Store:
    """`n` random 8 px gray images that the metrics take for Fashion-MNIST (so fid_fashion is added)."""
    images = np.random.default_rng(0).integers(0, 256, (n, 1, 8, 8), dtype=np.uint8)
    path.mkdir(parents=True, exist_ok=True)
    manifest = {"checksum": "0" * 64, "split": "train", "kind": "fashion-mnist", "count": n, "size": 8, "channels": 1}
    return Store(images=images, labels=None, manifest=manifest, path=path)


def test_inception_features_on_gpu_match_cpu() -> None:
    from dcgan.metrics.inception import FeatureExtractor, get_extractor

    imgs = torch.randint(0, 256, (6, 3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    cpu = get_extractor("cpu").extract(imgs, progress=False)
    gpu = FeatureExtractor("cuda").extract(imgs, batch_size=4, progress=False)
    assert np.abs(gpu - cpu).max() <= 2e-3 * np.abs(cpu).max()  # TF32/cuDNN differ slightly from CPU


def test_during_training_on_gpu(tmp_path: Path) -> None:
    from torch import nn

    from dcgan.config import TrainConfig
    from dcgan.metrics.evaluate import evaluate_during_training

    class G(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(100, 64)

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.fc(z)).view(len(z), 1, 8, 8)

    store = fashion_store(tmp_path / "store", 24)
    r = evaluate_during_training(G().cuda(), TrainConfig(), store, 24, torch.device("cuda"), step=1, progress=False)
    assert np.isfinite(r["fid"]) and np.isfinite(r["kid"]) and np.isfinite(r["fid_fashion"]) and r["device"] == "cuda"
