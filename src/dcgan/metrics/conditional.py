"""Metrics of a class-conditional run: does each class come out as that class, and how real is each class?

`dcgan evaluate` on a conditional run samples its images with labels (classes in turn, so every
class gets num / K images) and adds, next to the usual FID over all images:

- class consistency (Fashion-MNIST data only): the project's Fashion-MNIST classifier
  (`metrics.fashion`, test accuracy in its weights' JSON) labels each generated image; the share
  it assigns to the requested class, per class and overall;
- intra-class FID: for each class, the Fréchet distance between the generated images of that class
  and the real held-out images of that class (the reference images of the evaluation, split by
  their labels), on Inception features (`fid_intra`, with --metrics fid) and on the Fashion-MNIST
  classifier's features (`fid_fashion_intra`, with fid_fashion); the mean over classes is reported
  with each class's value. The features are those the overall FID already computed: nothing is
  embedded twice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..data.fashion_mnist import KIND as FASHION_KIND
from .fid import feature_stats, frechet_distance

if TYPE_CHECKING:
    from ..labels import Condition
    from .context import MetricContext


@torch.no_grad()
def class_consistency(
    images: torch.Tensor, labels: torch.Tensor, class_names: list[str], device: str | torch.device = "cpu"
) -> dict[str, Any]:
    """The share of generated Fashion-MNIST images (uint8 (N, C, H, W)) that the project's classifier assigns
    to their requested class (`labels`, indices into `class_names`, which must be Fashion-MNIST's names)."""
    from ..data.fashion_mnist import FASHION_MNIST_CLASSES
    from .fashion import load_classifier, preprocess

    net = load_classifier(device)
    to_classifier = torch.tensor([FASHION_MNIST_CLASSES.index(n) for n in class_names])
    predicted = torch.cat(
        [net(preprocess(images[i : i + 500].to(device))).argmax(dim=1).cpu() for i in range(0, len(images), 500)]
    )
    hit = predicted == to_classifier[labels.long()]
    per_class = {
        name: float(hit[labels == k].float().mean()) for k, name in enumerate(class_names) if (labels == k).any()
    }
    return {"class_consistency": float(hit.float().mean()), "class_consistency_per_class": per_class}


def intra_class_fid(
    real_features: np.ndarray,
    real_labels: np.ndarray,
    fake_features: np.ndarray,
    fake_labels: np.ndarray,
    names: list[str],
) -> tuple[float | None, dict[str, float | None]]:
    """(mean over classes, {class: FID}) between each class's real and generated features; None for a class
    with fewer than 2 images on either side."""
    per_class: dict[str, float | None] = {}
    for k, name in enumerate(names):
        real, fake = real_features[real_labels == k], fake_features[fake_labels == k]
        if len(real) < 2 or len(fake) < 2:
            per_class[name] = None
            continue
        mu_r, sigma_r = feature_stats(real)
        mu_f, sigma_f = feature_stats(fake)
        per_class[name] = frechet_distance(mu_r, sigma_r, mu_f, sigma_f)
    values = [v for v in per_class.values() if v is not None]
    return (float(np.mean(values)) if values else None), per_class


def conditional_metrics(
    ctx: MetricContext, condition: Condition, fake_labels: torch.Tensor, names: tuple[str, ...], notes: list[str]
) -> dict[str, Any]:
    """Class consistency and intra-class FIDs for the metrics in `names` (see the module docstring);
    what cannot be computed is said in `notes`."""
    if condition.kind != "class":
        notes.append("per-class metrics are computed for class-conditional runs; this run is conditioned on attributes")
        return {}
    store, class_names = ctx.real_store, list(condition.names)
    if store.labels is None or list(store.class_names or []) != class_names:
        notes.append(
            f"no per-class metrics: the real images' classes ({', '.join(store.class_names or []) or 'none'}) "
            "are not the run's"
        )
        return {}
    assert ctx.fake_images is not None
    fake = torch.as_tensor(np.asarray(ctx.fake_images)) if not torch.is_tensor(ctx.fake_images) else ctx.fake_images
    labels = fake_labels.long().cpu()
    out: dict[str, Any] = {"classes": class_names, "num_fake_per_class": int(len(labels) // max(1, len(class_names)))}
    if store.manifest.get("kind") == FASHION_KIND:
        out.update(class_consistency(fake, labels, class_names, ctx.device))
    for metric, key in (("fid", "inception"), ("fid_fashion", "fashion")):
        if metric not in names:
            continue
        real = ctx.inception_real() if key == "inception" else ctx.fashion_real()
        fake_features = ctx.inception_fake() if key == "inception" else ctx.fashion_fake()
        real_labels = np.asarray(store.labels)[real.indices]
        mean, per_class = intra_class_fid(real.features, real_labels, fake_features, labels.numpy(), class_names)
        out[f"{metric}_intra"] = mean
        out[f"{metric}_intra_per_class"] = per_class
        out["num_real_per_class"] = {n: int((real_labels == k).sum()) for k, n in enumerate(class_names)}
        if any(v is None for v in per_class.values()):
            notes.append(f"{metric}_intra: some classes have fewer than 2 images on a side; raise --num")
    return out


def conditional_rows(result: dict[str, Any]) -> list[tuple[str, str]]:
    """The per-class lines of `dcgan evaluate`'s table: overall values, then one line per class."""
    keys = [k for k in ("class_consistency", "fid_intra", "fid_fashion_intra") if k in result]
    if not keys:
        return []

    def fmt(key: str, value: Any) -> str:
        if value is None:
            return "-"
        return f"{value:.1%}" if key == "class_consistency" else f"{value:.3f}"

    rows = [(k, fmt(k, result[k])) for k in keys]
    for name in result.get("classes", []):
        cells = [f"{k} {fmt(k, result[f'{k}_per_class'].get(name))}" for k in keys]
        rows.append((f"  {name}", ", ".join(cells)))
    return rows
