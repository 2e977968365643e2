"""`dcgan evaluate`: metrics for a run or checkpoint, or for any two image sets, printed as a table.

Importing this module is cheap (click and the metric registry only, for `--metrics` and its help);
torch and the metrics themselves (`dcgan.metrics.evaluate`) are imported inside the command, so
`dcgan --help` stays fast.
"""

from __future__ import annotations

import os
from typing import Any

import click

from ..metrics.registry import DEFAULT_METRICS, METRICS, parse_metrics


class MetricList(click.ParamType):
    """Comma-separated metric names, validated against the registry."""

    name = "METRICS"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> tuple[str, ...]:
        if isinstance(value, tuple):
            return value
        try:
            return parse_metrics(str(value))
        except ValueError as e:
            self.fail(str(e), param, ctx)


def _not_empty(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse an empty path or SOURCE (an unset variable in a script): Path("") would be the working folder."""
    if value is not None and not value.strip():
        raise click.BadParameter("empty; give a path", ctx=ctx, param=param)
    return value


def _check_json_path(path: str) -> None:
    """Refuse a --json that cannot be written before any work is done (an evaluation can take an hour).

    os.path's tests never raise (a folder without permission on the way reads as absent)."""
    target = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(target):
        raise click.BadParameter(f"{path} is a folder; give a file name", param_hint="'--json'")
    folder = os.path.dirname(target)
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:  # atomic_write creates them
        folder = os.path.dirname(folder)
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK | os.X_OK):
        raise click.BadParameter(f"cannot write {path}: {folder} is not a writable folder", param_hint="'--json'")


def _metrics_help() -> str:
    lines = [f"{m.name}: {m.summary}." for m in METRICS.values()]
    return "Comma-separated metrics. " + " ".join(lines)


@click.command("evaluate", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("run", required=False, type=click.Path(), callback=_not_empty)
@click.option(
    "--data", default=None, callback=_not_empty, help="SOURCE of the real images (default: the run's own data)."
)
@click.option(
    "--real",
    default=None,
    callback=_not_empty,
    help="Compare two image sets: SOURCE of the real images (needs --fake, no RUN).",
)
@click.option(
    "--fake",
    type=click.Path(),
    default=None,
    callback=_not_empty,
    help="Folder of generated images to compare with --real (e.g. another tool's output).",
)
@click.option(
    "--metrics", type=MetricList(), default=",".join(DEFAULT_METRICS), show_default=True, help=_metrics_help()
)
@click.option(
    "--num",
    type=click.IntRange(4, 1_000_000),
    default=10000,
    show_default=True,
    help="Images per set (generated, and real held-out). Below 2048 FID is biased and KID is added.",
)
@click.option(
    "--split",
    type=click.Choice(["test", "train"]),
    default="test",
    show_default=True,
    help="Split of the real images; test falls back to train (with a note) when the source has none.",
)
@click.option(
    "--size",
    type=click.IntRange(8, 4096),
    default=None,
    help="--real/--fake only: side both sets are brought to (default: the fake images' own).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),  # what torch's and numpy's generators both take
    default=0,
    show_default=True,
    help="Seed of the generated images and of KID's subsets.",
)
@click.option(
    "--batch-size",
    type=click.IntRange(1, 4096),
    default=None,
    help="Images per feature-network batch (default 32 on CPU, 200 on GPU); results do not depend on it.",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False),
    default=None,
    callback=_not_empty,
    help="Also write every number here as JSON.",
)
@click.option(
    "--cache-dir", type=click.Path(file_okay=False), default=None, callback=_not_empty, help="Where packed stores live."
)
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def evaluate(
    run: str | None,
    data: str | None,
    real: str | None,
    fake: str | None,
    metrics: tuple[str, ...],
    num: int,
    split: str,
    size: int | None,
    device: str,
    seed: int,
    batch_size: int | None,
    json_path: str | None,
    cache_dir: str | None,
    no_progress: bool,
) -> None:
    """Evaluate RUN (a run directory or checkpoint file) against real held-out images, or compare
    two image sets with --real SOURCE --fake FOLDER. Prints a table; --json writes every number."""
    # Sanity checks: exactly one of the two forms.
    if run is not None and (real is not None or fake is not None):
        raise click.UsageError("give either RUN or --real/--fake, not both (use --data to choose RUN's real images)")
    if run is None:
        if real is None and fake is None:
            raise click.UsageError("missing RUN (a run directory or checkpoint file), or --real SOURCE --fake FOLDER")
        if real is None or fake is None:
            raise click.UsageError("--real and --fake go together: --real SOURCE --fake FOLDER")
        if data is not None:
            raise click.UsageError("--data is for RUN; with --fake, name the real images with --real")
    elif size is not None:
        raise click.UsageError("--size is for --real/--fake; RUN is evaluated at its training size")

    if json_path is not None:
        _check_json_path(json_path)

    from ..metrics.evaluate import evaluate_run, evaluate_sets, write_json

    common: dict[str, Any] = {
        "metrics": metrics,
        "num": num,
        "split": split,
        "device": device,
        "seed": seed,
        "json_path": None,  # written below, after the table: a failed write then loses no numbers
        "progress": not no_progress,
        "batch_size": batch_size,
        "cache_dir": cache_dir,
    }
    if run is not None:
        result = evaluate_run(run, data=data, **common)
    else:
        assert real is not None and fake is not None  # checked above
        result = evaluate_sets(real, fake, size=size, **common)
    click.echo(format_table(result))
    if json_path is not None:
        write_json(result, json_path)
        click.echo(f"wrote {json_path}")


def _fmt(key: str, value: Any) -> str:
    """One value for the table: FIDs to 3 decimals, KIDs to 5, fractions to 4; non-floats as they are."""
    if not isinstance(value, float):
        return str(value)
    if key.startswith("fid"):
        return f"{value:.3f}"
    if key.startswith("kid"):
        return f"{value:.5f}"
    return f"{value:.4f}"  # fractions: precision, recall, accuracy, F1, mean D outputs


def format_table(result: dict[str, Any]) -> str:
    """The results of `dcgan.metrics.evaluate` as a small aligned table, with what was compared above it."""
    if result.get("checkpoint"):
        head = f"{result['checkpoint']} (step {result['step']}) vs {result['data']} [{result['split']}]"
    else:
        head = f"{result.get('fake')} vs {result['data']} [{result['split']}]"
    lines = [head, f"{result['num_fake']} generated vs {result['num_real']} real images, {result.get('size')} px"]
    if result.get("feature_network"):
        lines.append(
            f"features: {result['feature_network']}"
            + (" (reference statistics from cache)" if result.get("reference_cached") else "")
        )
    if result.get("fashion_network"):
        lines.append(f"fid_fashion features: {result['fashion_network']}")
    rows: list[tuple[str, str]] = []
    for name in result["metrics"]:
        for key in METRICS[name].keys:
            if key not in result or key == "kid_std":
                continue
            text = _fmt(key, result[key])
            if key == "kid" and "kid_std" in result:
                text += f" ± {result['kid_std']:.5f}"
            rows.append((key, text))
    width = max([len("metric")] + [len(k) for k, _ in rows])
    lines += ["", f"  {'metric':<{width}}  value", f"  {'-' * width}  {'-' * 12}"]
    lines += [f"  {k:<{width}}  {v}" for k, v in rows]
    if result.get("classes"):  # a class-conditional run: per-class metrics (dcgan.metrics.conditional)
        from ..metrics.conditional import conditional_rows

        lines += ["", "per class:"] + [f"  {k}  {v}" for k, v in conditional_rows(result)]
    rate = f", {result['images_per_s']} images/s embedded" if result.get("images_per_s") else ""
    lines += ["", f"{result['seconds']:.1f} s{rate}"]
    return "\n".join(lines)
