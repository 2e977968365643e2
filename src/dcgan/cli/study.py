"""`dcgan study`: S2's data-size study as one command (the logic is `dcgan.study`; docs/study.md).

Importing this module is cheap (click, the presets and the metric registry); torch is imported by
the study itself, inside the command.
"""

from __future__ import annotations

import click

from ..config import DEFAULT_PRESET, PRESETS
from .evaluate import MetricList, _not_empty


@click.command("study", context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--data", required=True, callback=_not_empty, help="SOURCE to study (any that `dcgan train --data` takes)."
)
@click.option(
    "--limits",
    required=True,
    help="Comma-separated training-set sizes: the first N images of the train split, or 'all', e.g. 100,1000,5000,all.",
)
@click.option(
    "--augment",
    default="none",
    show_default=True,
    help="Comma-separated augmentation modes: none, fixed (DiffAugment color,translation,cutout), ada (adaptive).",
)
@click.option("--seeds", type=click.IntRange(1, 1000), default=1, show_default=True, help="Seeds 0..N-1 per cell.")
@click.option("--seconds", type=float, default=None, help="Budget: wall-clock training seconds per run.")
@click.option("--epochs", type=int, default=None, help="Budget: passes over each run's images (default: the preset's).")
@click.option("--steps", type=int, default=None, help="Budget: optimisation steps per run.")
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    default=None,
    help=f"Recipe (default {DEFAULT_PRESET}, adapted to --data as `dcgan train` does).",
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a config field of every run, e.g. --set batch_size=64 (repeatable).",
)
@click.option(
    "--metrics",
    type=MetricList(),
    default="fid,kid",
    show_default=True,
    help="Metrics per run (see `dcgan evaluate --help`); Fashion-MNIST data adds fid_fashion (domain FID).",
)
@click.option(
    "--num",
    type=click.IntRange(2, 1_000_000),
    default=10000,
    show_default=True,
    help="Generated images per evaluation, against as many held-out images as the test split has up to this "
    "(train split without one). Inception embeds ~10 images/s on a CPU: use fewer there.",
)
@click.option("--out", type=click.Path(file_okay=False), required=True, callback=_not_empty, help="Study folder.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Where packed stores live.")
@click.option(
    "--jobs",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Runs trained at once, each in its own process with an equal share of the CPU threads (or "
    "OMP_NUM_THREADS each). Small models train faster side by side: on 2 cores, --jobs 2.",
)
@click.option("--no-progress", is_flag=True, help="No progress bars (the one line per run stays).")
@click.option("--dry-run", is_flag=True, help="Check the flags, recipe and data, list the runs; write nothing.")
def study(
    data: str,
    limits: str,
    augment: str,
    seeds: int,
    seconds: float | None,
    epochs: int | None,
    steps: int | None,
    preset: str | None,
    sets: tuple[str, ...],
    metrics: tuple[str, ...],
    num: int,
    out: str,
    device: str,
    cache_dir: str | None,
    jobs: int,
    no_progress: bool,
    dry_run: bool,
) -> None:
    """Train the same recipe on the first N images for every N in --limits (and each --augment mode and
    seed), evaluate every run, and write OUT/study.json, study.md, study.png and grids.png. Rerun the same
    command to continue an interrupted study."""
    from ..config import resolve_data
    from ..study.plan import Budget, Settings, parse_augments, parse_limits, parse_sets

    settings = Settings(
        data=resolve_data(data),
        limits=parse_limits(limits),
        augments=parse_augments(augment),
        seeds=seeds,
        budget=Budget(seconds=seconds, epochs=epochs, steps=steps),
        preset=preset,
        sets=parse_sets(sets),
        metrics=metrics,
        num=num,
    )
    from ..study.runner import run_study

    run_study(settings, out, device=device, cache_dir=cache_dir, progress=not no_progress, dry_run=dry_run, jobs=jobs)
    if not dry_run:
        click.echo(f"{out}/study.md")
