"""The shipped Fashion-MNIST classifier (features for fid_fashion)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dcgan.metrics import fashion
from dcgan.metrics.fid import fid_from_features

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def test_weights_load_and_recorded_accuracy() -> None:
    info = fashion.load_info()
    assert info["test_accuracy"] >= 0.90
    assert info["command"].startswith("python -m dcgan.metrics.train_classifier")
    assert fashion.WEIGHTS.stat().st_size < 2_000_000
    model = fashion.load_classifier()
    assert not model.training
    out = model(fashion.preprocess(torch.zeros(2, 1, 28, 28, dtype=torch.uint8)))
    assert out.shape == (2, 10)


def test_preprocess_gray_rgb_and_sizes() -> None:
    gray = torch.randint(0, 256, (3, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(fashion.preprocess(gray.repeat(1, 3, 1, 1)), fashion.preprocess(gray))
    assert fashion.preprocess(torch.zeros(2, 3, 64, 64, dtype=torch.uint8)).shape == (2, 1, 28, 28)
    up = torch.nn.functional.interpolate(gray.float(), size=(56, 56), mode="nearest").to(torch.uint8)
    torch.testing.assert_close(fashion.preprocess(up), fashion.preprocess(gray))  # 2x nearest up, box down: exact


def test_extractor_features(tmp_path) -> None:
    ex = fashion.get_fashion_extractor("cpu")
    imgs = np.random.default_rng(0).integers(0, 256, (5, 1, 28, 28), dtype=np.uint8)
    f = ex.extract(imgs, batch_size=2, progress=False)
    assert f.shape == (5, fashion.FEATURE_DIM) and f.dtype == np.float64
    np.testing.assert_allclose(f, ex.extract(imgs, batch_size=5, progress=False), rtol=1e-5, atol=1e-6)
    assert "test accuracy 0.9" in ex.name


needs_fashion = pytest.mark.skipif(
    not (FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file(), reason="Fashion-MNIST not installed"
)


def _test_split():
    from dcgan.data.store import open_store

    return open_store(str(FASHION_DIR), 28, 1, split="test", progress=False)


def _accuracy(images: np.ndarray, labels: np.ndarray) -> float:
    model = fashion.load_classifier()
    with torch.no_grad():
        pred = torch.cat(
            [
                model(fashion.preprocess(torch.from_numpy(np.array(images[i : i + 2000])))).argmax(1)
                for i in range(0, len(images), 2000)
            ]
        )
    return float((pred.numpy() == labels).mean())


@needs_fashion
def test_domain_features_separate_real_from_noise() -> None:
    test = _test_split()
    assert _accuracy(test.images[:1000], test.labels[:1000]) >= 0.88
    ex = fashion.get_fashion_extractor("cpu")
    feats = ex.extract(test.images[:1000], progress=False)
    noise = np.random.default_rng(0).integers(0, 256, (500, 1, 28, 28), dtype=np.uint8)
    same = fid_from_features(feats[:500], feats[500:], warn=False)
    far = fid_from_features(feats[:500], ex.extract(noise, progress=False), warn=False)
    assert same * 20 < far


@pytest.mark.slow
@needs_fashion
def test_recorded_accuracy_reproduces_on_the_whole_test_split() -> None:
    test = _test_split()
    assert _accuracy(test.images, test.labels) == pytest.approx(fashion.load_info()["test_accuracy"], abs=0.003)
