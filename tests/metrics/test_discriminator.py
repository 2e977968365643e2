"""The discriminator report on a fake discriminator with known outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dcgan.metrics.discriminator import classification_report, disc_report


class MeanD(nn.Module):
    """Logit = 10 x mean pixel (in [-1, 1]); records what it was fed. Output (N, 1) like a conv D."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return (x.mean(dim=(1, 2, 3)) * 10).unsqueeze(1)


def images(levels: list[int]) -> np.ndarray:
    return np.stack([np.full((1, 8, 8), v, np.uint8) for v in levels])


def test_report_counts_and_scores() -> None:
    d = MeanD().train()
    real = images([255, 200, 180, 10])  # 3 called real (bright), 1 not
    fake = images([250, 150, 0, 60])  # 2 called real, 2 not
    r = disc_report(d, real, fake, batch_size=3)
    assert (r["disc_tp"], r["disc_fn"], r["disc_fp"], r["disc_tn"]) == (3, 1, 2, 2)
    assert r["disc_accuracy"] == pytest.approx(5 / 8)
    assert r["disc_precision"] == pytest.approx(3 / 5)
    assert r["disc_recall"] == pytest.approx(3 / 4)
    assert r["disc_f1"] == pytest.approx(2 * 0.6 * 0.75 / 1.35)
    assert d.training  # the mode is restored


def test_real_images_scaled_as_in_training() -> None:
    d = MeanD()
    disc_report(d, images([0, 255]), images([127]))
    fed = torch.cat(d.seen)
    assert fed[0].max().item() == -1.0 and fed[1].min().item() == 1.0
    assert fed[2].max().item() == pytest.approx(127 / 127.5 - 1)


def test_threshold_is_half_and_degenerate_cases() -> None:
    # sigmoid(0) = 0.5 is not above the threshold: called fake.
    r = classification_report(np.array([0.0, 0.1]), np.array([-0.1, 0.0]))
    assert (r["disc_tp"], r["disc_fp"]) == (1, 0)
    r = classification_report(np.array([-5.0]), np.array([-5.0]))
    assert r["disc_precision"] == 0.0 and r["disc_f1"] == 0.0 and r["disc_accuracy"] == 0.5
