"""The same metric code on a CUDA device (run with -m gpu on a GPU machine)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def test_inception_features_on_gpu_match_cpu() -> None:
    from dcgan.metrics.inception import FeatureExtractor, get_extractor

    imgs = torch.randint(0, 256, (6, 3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    cpu = get_extractor("cpu").extract(imgs, progress=False)
    gpu = FeatureExtractor("cuda").extract(imgs, batch_size=4, progress=False)
    assert np.abs(gpu - cpu).max() <= 2e-3 * np.abs(cpu).max()  # TF32/cuDNN differ slightly from CPU


def test_during_training_on_gpu(make_store) -> None:
    from torch import nn

    from dcgan.config import TrainConfig
    from dcgan.metrics.evaluate import evaluate_during_training

    class G(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(100, 64)

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.tanh(self.fc(z)).view(len(z), 1, 8, 8)

    store = make_store(n=24, kind="fashion-mnist", split="train")
    r = evaluate_during_training(G().cuda(), TrainConfig(), store, 24, torch.device("cuda"), step=1, progress=False)
    assert np.isfinite(r["fid"]) and np.isfinite(r["kid"]) and np.isfinite(r["fid_fashion"]) and r["device"] == "cuda"
