"""The discriminator report (S5): the trained D as a real-vs-fake classifier.

D sees N real held-out images and N generated ones; an image is called real when
sigmoid(logit) > 0.5 (positive class = real). Real images are scaled exactly as in training:
uint8 -> x / 127.5 - 1 in [-1, 1] (`dcgan.pixels.to_float`, the one scaling used everywhere).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


@torch.no_grad()
def discriminator_logits(
    discriminator: nn.Module,
    images: np.ndarray | torch.Tensor,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> np.ndarray:
    """Raw logits (N,) of D for uint8 images (N, C, H, W), numpy or torch; D is run in eval mode."""
    from ..pixels import to_float

    was_training = discriminator.training
    discriminator.eval()
    out = []
    try:
        for start in range(0, len(images), batch_size):
            chunk = images[start : start + batch_size]
            if not torch.is_tensor(chunk):
                chunk = torch.from_numpy(np.array(chunk))  # a copy: store memmaps are read-only
            logits = discriminator(to_float(chunk.to(device)))
            out.append(logits.float().reshape(len(chunk), -1)[:, 0].cpu().numpy())
    finally:
        discriminator.train(was_training)
    return np.concatenate(out).astype(np.float64) if out else np.empty(0)


def classification_report(real_logits: np.ndarray, fake_logits: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall and F1 with real as the positive class, threshold 0.5 on sigmoid."""
    real_p = 1.0 / (1.0 + np.exp(-np.asarray(real_logits, np.float64)))
    fake_p = 1.0 / (1.0 + np.exp(-np.asarray(fake_logits, np.float64)))
    tp = int((real_p > 0.5).sum())  # real called real
    fn = len(real_p) - tp
    fp = int((fake_p > 0.5).sum())  # fake called real
    tn = len(fake_p) - fp
    total = tp + fn + fp + tn
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "disc_accuracy": (tp + tn) / total if total else 0.0,
        "disc_precision": precision,
        "disc_recall": recall,
        "disc_f1": f1,
        "disc_real_mean": float(real_p.mean()) if len(real_p) else 0.0,  # mean D(x)
        "disc_fake_mean": float(fake_p.mean()) if len(fake_p) else 0.0,  # mean D(G(z))
        "disc_tp": tp,
        "disc_fn": fn,
        "disc_fp": fp,
        "disc_tn": tn,
    }


def disc_report(
    discriminator: nn.Module,
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    device: str | torch.device = "cpu",
    batch_size: int = 256,
) -> dict[str, float]:
    """The S5 report for uint8 real and fake images (N, C, H, W)."""
    return classification_report(
        discriminator_logits(discriminator, real, device, batch_size),
        discriminator_logits(discriminator, fake, device, batch_size),
    )
