"""Evaluate a run (or any two image sets) with the metrics of `dcgan.metrics`.

Three entry points, one code path (plan the metrics, build a `MetricContext`, compute, finish):

- `evaluate_run`: sample N images from a run or checkpoint and compare them with N held-out images
  of its data (test split; train when the source has none); a class-conditional run also gets class
  consistency and intra-class FID (`metrics.conditional`);
- `evaluate_sets`: compare any two image sets, e.g. another tool's output folder with a dataset;
- `evaluate_during_training`: FID + KID for the trainer's `--eval-every`, reusing cached
  reference statistics so each evaluation only embeds the generated images.

Real images come from the packed store; their features, mean and covariance are cached beside it
(`metrics.reference`). Results are a flat dict: every metric value, the sample counts, the feature
network, the data, split, checkpoint and step, the seconds taken and the embedding rate.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..data.fashion_mnist import KIND as FASHION_KIND
from ..device import resolve_device
from ..errors import DataError, DcganError
from ..fsutil import atomic_write
from .context import MetricContext
from .fid import few_samples_message
from .registry import DEFAULT_METRICS, METRICS, compute_metrics, parse_metrics

if TYPE_CHECKING:
    from ..config import TrainConfig
    from ..data.store import PackedStore


#: Metric names as the callers give them: 'fid,kid' or an iterable of names.
MetricNames = str | Iterable[str]

#: An evaluation's result: metric values, counts, what was compared; JSON-serialisable.
Result = dict[str, Any]


# ---------------------------------------------------------------------------------------------
# Shared steps.


def _parse(metrics: MetricNames | None) -> tuple[str, ...]:
    """`registry.parse_metrics` with its error as a user error naming --metrics (None: the defaults)."""
    try:
        return parse_metrics(metrics if metrics is not None else DEFAULT_METRICS)
    except ValueError as e:
        raise DcganError(f"--metrics: {e}") from None


def plan_metrics(metrics: MetricNames | None, num_samples: int, is_fashion: bool, notes: list[str]) -> tuple[str, ...]:
    """Requested metrics, plus fid_fashion for Fashion-MNIST and KID when FID has few samples.

    num_samples: images per set. Appends the few-samples warning to `notes`; raises DcganError for
    an unknown name and DataError when `num_samples` is too small. Returns names in registry order."""
    names = list(_parse(metrics))
    if "fid" in names and is_fashion and "fid_fashion" not in names:
        names.append("fid_fashion")
    few = few_samples_message(num_samples)
    if few and "fid" in names:  # KID is unbiased at any count; it shares FID's Inception features
        if "kid" not in names:
            names.append("kid")
        notes.append(few)
    if ("pr" in names) and num_samples <= 3:
        raise DataError(
            f"--num {num_samples}: precision/recall (k=3) needs at least 4 images per set; use a larger --num"
        )
    if num_samples < 2:
        raise DataError(f"--num {num_samples}: the metrics need at least 2 images per set")
    return tuple(n for n in METRICS if n in names)


def _open_reference(
    data: str,
    size: int,
    channels: int | None,
    split: str,
    cache_dir: str | Path | None,
    progress: bool,
    flag: str = "--data",
) -> tuple[PackedStore, str]:
    """Open the real images; a source without a test split falls back to train, with a note.

    Returns the store and the split actually used."""
    from ..data.store import open_store

    try:
        return open_store(data, size, channels, split=split, cache_dir=cache_dir, progress=progress), split
    except DataError as e:
        if split == "test" and "has no test split" in str(e):
            print(f"note: {data} has no test split; evaluating against its train split", file=sys.stderr)
            return _open_reference(data, size, channels, "train", cache_dir, progress, flag)
        raise _reflag(e, flag) from None


def _reflag(e: DataError, flag: str) -> DataError:
    """The data layer names --data; for --real / --fake the user typed another flag."""
    msg = str(e)
    if flag != "--data" and msg.startswith("--data "):
        msg = flag + msg[len("--data") :]
    return type(e)(msg)


def _is_fashion(store: PackedStore) -> bool:
    return store.manifest.get("kind") == FASHION_KIND


def _finish(
    result: Result,
    ctx: MetricContext,
    names: tuple[str, ...],
    notes: list[str],
    started: float,
    json_path: str | Path | None,
) -> Result:
    """Add the counts, feature networks, timings and warnings to `result`; print the warnings;
    write the JSON when asked."""
    from .inception import NAME as INCEPTION_NAME

    uses_inception = any(METRICS[n].network == "inception" for n in names)
    result.update(
        {
            "metrics": list(names),
            "num_real": ctx.num_real,
            "num_fake": ctx.num_fake,
            "feature_network": INCEPTION_NAME if uses_inception else None,
            "reference_cached": ctx.reference_cached.get("inception", ctx.reference_cached.get("fashion")),
            "seed": ctx.seed,
            "device": str(ctx.device),
            "images_embedded": ctx.images_embedded,
            "seconds": round(time.perf_counter() - started, 3),
            "images_per_s": round(ctx.images_embedded / ctx.embed_seconds, 2) if ctx.embed_seconds > 0 else None,
            "warnings": notes,
        }
    )
    if "fid_fashion" in names:
        result["fashion_network"] = ctx.fashion().name
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    if json_path is not None:
        write_json(result, json_path)
    return result


def write_json(result: Result, path: str | Path) -> Path:
    """Write the results atomically as indented JSON; a failure is a DcganError naming --json."""
    path = Path(path)
    try:
        return atomic_write(path, json.dumps(result, indent=2, default=str) + "\n")
    except OSError as e:
        raise DcganError(f"--json {path}: cannot write ({e.strerror or e}); choose another path") from None


# ---------------------------------------------------------------------------------------------
# Entry points.


def evaluate_run(
    run_or_ckpt: str | Path,
    data: str | None = None,
    metrics: MetricNames | None = DEFAULT_METRICS,
    num: int = 10000,
    split: str = "test",
    device: str | torch.device = "auto",
    seed: int = 0,
    json_path: str | Path | None = None,
    progress: bool = True,
    batch_size: int | None = None,
    cache_dir: str | Path | None = None,
) -> Result:
    """Sample `num` images from a run directory (its newest checkpoint) or checkpoint file and compare
    them with `num` real images of `data` (None: the run's own data) from `split`.

    metrics: names or 'fid,kid' (see `metrics.registry.METRICS`); fid_fashion is added for
    Fashion-MNIST. batch_size: images per feature-network batch (None: 32 on CPU, 200 on GPU).
    cache_dir: where packed stores live (None: $DCGAN_CACHE or ~/.cache/dcgan)."""
    from ..generator import load_generator

    started = time.perf_counter()
    dev = resolve_device(device)
    model = load_generator(run_or_ckpt, dev)
    config = model.config
    source = data or config.data
    real_store, used_split = _open_reference(source, config.size, model.channels, split, cache_dir, progress)
    notes: list[str] = []
    names = plan_metrics(metrics, min(num, len(real_store)), _is_fashion(real_store), notes)
    fake_labels = model.labels_for(num=num, seed=seed) if model.conditional else None  # classes in turn
    fake = model.sample(num, seed=seed, labels=fake_labels)
    ctx = MetricContext(
        real_store,
        num,
        fake_images=fake,
        discriminator=model.discriminator,
        device=dev,
        batch_size=batch_size,
        progress=progress,
        seed=seed,
    )
    result: Result = {
        **compute_metrics(ctx, names),
        "data": source,
        "data_kind": real_store.manifest.get("kind"),
        "split": used_split,
        "size": config.size,
        "channels": model.channels,
        "checkpoint": str(model.path),
        "step": model.step,
    }
    if model.condition is not None and fake_labels is not None:  # class consistency, intra-class FID
        from .conditional import conditional_metrics

        result.update(conditional_metrics(ctx, model.condition, fake_labels, names, notes))
    return _finish(result, ctx, names, notes, started, json_path)


def evaluate_sets(
    real: str,
    fake: str,
    metrics: MetricNames | None = DEFAULT_METRICS,
    num: int = 10000,
    split: str = "test",
    size: int | None = None,
    device: str | torch.device = "auto",
    seed: int = 0,
    json_path: str | Path | None = None,
    progress: bool = True,
    batch_size: int | None = None,
    cache_dir: str | Path | None = None,
) -> Result:
    """Compare two image sets: `real` (any SOURCE; its test split, else train) and `fake` (a folder
    or .zip of images, e.g. another tool's output). Up to `num` images of each are used.

    size: the side both sets are brought to before the metrics (None: the fake images' own, read
    from the first one). Features of both sets are cached beside their packed stores."""
    from ..data.store import open_store

    started = time.perf_counter()
    dev = resolve_device(device)
    wanted = _parse(metrics)
    if "disc" in wanted:
        raise DcganError(
            "--metrics disc needs a trained discriminator: evaluate a run (dcgan evaluate RUN --metrics disc), "
            "not --real/--fake"
        )
    side = size or _first_image_side(fake)
    try:
        fake_store = open_store(fake, side, None, split="all", cache_dir=cache_dir, progress=progress)
    except DataError as e:
        raise _reflag(e, "--fake") from None
    real_store, used_split = _open_reference(real, side, None, split, cache_dir, progress, flag="--real")
    notes: list[str] = []
    count = min(num, len(real_store), len(fake_store))
    names = plan_metrics(wanted, count, _is_fashion(real_store), notes)
    ctx = MetricContext(
        real_store, count, fake_store=fake_store, device=dev, batch_size=batch_size, progress=progress, seed=seed
    )
    result: Result = {
        **compute_metrics(ctx, names),
        "data": real,
        "data_kind": real_store.manifest.get("kind"),
        "split": used_split,
        "fake": fake,
        "size": side,
        "checkpoint": None,
        "step": None,
    }
    return _finish(result, ctx, names, notes, started, json_path)


def _first_image_side(folder: str) -> int:
    """The smaller side in pixels of the first image in `folder` (the store center-crops to a square)."""
    from PIL import Image

    from ..data import IMAGE_EXTENSIONS

    path = Path(folder).expanduser()
    if not path.exists():
        raise DataError(f"--fake {folder}: no such folder")
    if not path.is_dir():
        raise DataError(f"--fake {folder}: not a folder; give a folder of generated images (or pass --size for a .zip)")
    for root, dirs, files in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or Path(name).suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            try:
                with Image.open(Path(root) / name) as img:
                    return max(8, min(img.size))
            except (OSError, ValueError):
                continue
    raise DataError(
        f"--fake {folder}: no readable images ({', '.join(sorted(IMAGE_EXTENSIONS))}) in this folder; "
        "point --fake at a folder of generated images"
    )


_WARNED: set[str] = set()  # few-samples notes already printed by evaluate_during_training in this process


@torch.no_grad()
def evaluate_during_training(
    generator: torch.nn.Module,
    config: TrainConfig,
    store_for_reference: PackedStore,
    num: int,
    device: str | torch.device,
    step: int,
    progress: bool = True,
    metrics: MetricNames | None = None,
) -> Result:
    """The metrics of `generator` against `store_for_reference` during training: `metrics`, or
    config.eval_metrics as TrainConfig.evaluation_plan reads it (auto: fid_fashion on Fashion-MNIST, fid and
    kid elsewhere). The same latents (config.seed) every time, so successive evaluations differ only by the
    weights; the reference statistics are cached after the first."""
    from ..sample import sample_images

    started = time.perf_counter()
    dev = resolve_device(device)
    notes: list[str] = []
    fashion = _is_fashion(store_for_reference)
    wanted = metrics if metrics is not None else config.evaluation_plan(fashion)[2]
    names = plan_metrics(wanted, min(num, len(store_for_reference)), fashion, notes)
    fake = sample_images(generator, config, num, seed=config.seed, device=dev)
    ctx = MetricContext(store_for_reference, num, fake_images=fake, device=dev, progress=progress, seed=config.seed)
    result: Result = {**compute_metrics(ctx, names), "step": step, "split": store_for_reference.manifest.get("split")}
    fresh = [n for n in notes if n not in _WARNED]  # warn once per process, not at every evaluation
    _WARNED.update(fresh)
    result = _finish(result, ctx, names, fresh, started, None)
    result["warnings"] = notes
    return result
