"""Domain features for Fashion-MNIST: a small classifier trained once by this project.

Inception features of 28x28 grayscale clothes upsampled to 299x299 are a poor fit, so for
Fashion-MNIST we also report `fid_fashion`: the Fréchet distance on the 128-d penultimate
features (after global average pooling) of `FashionClassifier`, whose weights ship in
`weights/fashion_classifier.safetensors` with their test accuracy and training command in
`weights/fashion_classifier.json` (train again with `python -m dcgan.metrics.train_classifier`).

Input contract: uint8 (N, 1 or 3, H, W). RGB is converted to gray with the ITU-R 601 weights that
PIL's "L" mode uses; larger images are reduced to 28x28 by box filtering (area), smaller ones resampled bilinearly; then
x/255 is normalised with the Fashion-MNIST training mean and standard deviation.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import DcganError
from .extractor import FeatureNetwork

WEIGHTS = Path(__file__).with_name("weights") / "fashion_classifier.safetensors"
INFO = WEIGHTS.with_suffix(".json")
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training set, pixels in [0, 1]
SIDE = 28
FEATURE_DIM = 128


class FashionClassifier(nn.Module):
    """Five 3x3 conv layers with BatchNorm (28 -> 14 -> 7 px), global average pool, linear head.

    About 140k parameters (0.6 MB in float32)."""

    def __init__(self, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        w = width
        self.features = nn.Sequential(
            *block(1, w),
            *block(w, w),
            nn.MaxPool2d(2),  # state size. w x 14 x 14
            *block(w, 2 * w),
            *block(2 * w, 2 * w),
            nn.MaxPool2d(2),  # state size. 2w x 7 x 7
            *block(2 * w, 4 * w),  # state size. 4w x 7 x 7
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),  # state size. 4w (the domain features)
        )
        self.dropout = nn.Dropout(0.3)
        self.head = nn.Linear(4 * w, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.embed(x)))


def preprocess(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 1 or 3, H, W) -> normalised float (N, 1, 28, 28)."""
    if images.dtype != torch.uint8 or images.ndim != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"expected uint8 images of shape (N, 1 or 3, H, W), got {images.dtype} {tuple(images.shape)}")
    x = images.float()
    if x.shape[1] == 3:
        weights = torch.tensor([0.299, 0.587, 0.114], device=x.device).view(1, 3, 1, 1)
        x = (x * weights).sum(dim=1, keepdim=True).round_()
    if tuple(x.shape[2:]) != (SIDE, SIDE):
        if min(x.shape[2:]) > SIDE:  # box filter: exact inverse of an integer upscale, no ringing
            x = torch.nn.functional.interpolate(x, size=(SIDE, SIDE), mode="area")
        else:
            x = torch.nn.functional.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False)
    return (x / 255.0 - MEAN) / STD


def load_info() -> dict[str, Any]:
    if not INFO.is_file():
        raise DcganError(
            f"{INFO}: the Fashion-MNIST classifier's description is missing; reinstall dcgan "
            "or train it: python -m dcgan.metrics.train_classifier"
        )
    return json.loads(INFO.read_text())


def load_classifier(device: str | torch.device = "cpu") -> FashionClassifier:
    from safetensors.torch import load_file

    if not WEIGHTS.is_file():
        raise DcganError(
            f"{WEIGHTS}: the Fashion-MNIST classifier weights are missing; reinstall dcgan "
            "or train them: python -m dcgan.metrics.train_classifier"
        )
    info = load_info()
    model = FashionClassifier(width=int(info.get("width", 32)))
    model.load_state_dict(load_file(str(WEIGHTS)))
    return model.to(device).eval()


class FashionFeatureExtractor(FeatureNetwork):
    """Same interface as `inception.FeatureExtractor`: uint8 images -> float64 (N, 128)."""

    dim = FEATURE_DIM
    key = "fashion-classifier-v1"
    label = "fashion"

    def __init__(self, device: str | torch.device = "cpu") -> None:
        super().__init__(device)
        self.net = load_classifier(self.device)
        info = load_info()
        self.test_accuracy = float(info["test_accuracy"])
        self.name = (
            f"fashion-classifier-128 (dcgan fashion_classifier.safetensors, test accuracy {self.test_accuracy:.4f})"
        )

    def default_batch_size(self) -> int:
        return 1000

    @torch.inference_mode()
    def features(self, batch: torch.Tensor) -> torch.Tensor:
        """One batch of uint8 images (any device) -> float32 features (N, 128) on the classifier's device."""
        return self.net.embed(preprocess(batch.to(self.device)))


@lru_cache(maxsize=2)
def get_fashion_extractor(device: str = "cpu") -> FashionFeatureExtractor:
    return FashionFeatureExtractor(device)
