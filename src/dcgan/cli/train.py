"""`dcgan presets`, `dcgan prepare` and `dcgan train`: the recipes, the packed data and the training run."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from ..config import DEFAULT_PRESET, PRESET_EVIDENCE, PRESETS, PUBLISHED, UNBOUNDED_EPOCHS, TrainConfig, flag_name
from .inverse import finite

# Flags spelled out on `train` with their own types; every other TrainConfig field gets a flag from its metadata.
EXPLICIT = {"data", "size", "epochs", "batch_size", "limit", "seed", "device", "extra"}


def _config_options(func: Any) -> Any:
    """One flag per TrainConfig field (help text and choices from the field), so any preset value can be
    overridden from the command line. Ranges are checked by TrainConfig.validate, naming the flag."""
    for f in reversed(dataclasses.fields(TrainConfig)):
        if f.name in EXPLICIT:
            continue
        flag, help_text, choices = flag_name(f.name), f.metadata["help"], f.metadata["choices"]
        kind = str(f.type).split("|")[0].strip()
        decls, kw = [flag], {}
        if f.name == "channels":
            kw = dict(type=click.Choice(["1", "3"]), callback=lambda c, p, v: int(v) if v else None)
        elif choices is not None:
            kw = dict(type=click.Choice(choices))
        elif kind == "bool":
            decls = [f"{flag}/--no-{flag[2:]}"]
        else:
            kw = dict(type={"float": float, "int": click.IntRange(min=0)}.get(kind, str))
        func = click.option(*decls, f.name, default=None, help=help_text, **kw)(func)
    return func


@click.command()
def presets() -> None:
    """List the presets (the published systems and our defaults)."""
    for name, values in PRESETS.items():
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        marks = [
            m
            for m, on in (
                ("default", name == DEFAULT_PRESET),
                ("published", name in PUBLISHED),
                ("recommended", name not in PUBLISHED and name != DEFAULT_PRESET),
            )
            if on
        ]
        evidence = PRESET_EVIDENCE.get(name)
        click.echo(f"{name} ({', '.join(marks)}): {shown}" + (f"  [{evidence}]" if evidence else ""))


@click.command()
@click.argument("source")
@click.option("--size", type=click.IntRange(8, 4096), required=True, help="Image side in pixels.")
@click.option(
    "--channels", type=click.Choice(["1", "3"]), default=None, help="1 (gray) or 3 (RGB); default: the source's own."
)
@click.option(
    "--split", default="train", show_default=True, help="train, test, val or all (where the source has them)."
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the first N images.")
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False),
    default=None,
    help="Where packed stores live (default $DCGAN_CACHE or ~/.cache/dcgan).",
)
@click.option("--rebuild", is_flag=True, help="Decode again even if a valid store is cached.")
def prepare(
    source: str, size: int, channels: str | None, split: str, limit: int | None, cache_dir: str | None, rebuild: bool
) -> None:
    """Decode SOURCE once into a packed uint8 store that training and evaluation reuse."""
    from ..data.store import open_store

    store = open_store(
        source,
        size,
        int(channels) if channels else None,
        split=split,
        limit=limit,
        cache_dir=cache_dir,
        rebuild=rebuild,
    )
    m = store.manifest
    click.echo(
        f"{m['count']} images, {m['channels']}x{m['size']}x{m['size']}, kind {m['kind']}, split {m['split']}, "
        f"checksum {str(m['checksum'])[:12]}, skipped {m.get('skipped', 0)}"
    )
    click.echo(f"store: {store.path}")


@click.command()
@click.option(
    "--data",
    default=None,
    help="SOURCE: image folder, .zip, CelebA root, Fashion-MNIST folder, 'fashion-mnist' or 'synthetic'. Default: the preset's.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    required=True,
    help="Run directory (created; must be new unless --resume).",
)
@click.option(
    "--preset",
    type=click.Choice(list(PRESETS)),
    default=None,
    help=f"Recipe to start from (default {DEFAULT_PRESET}); see 'dcgan presets'.",
)
@click.option(
    "--size", type=click.IntRange(8, 4096), default=None, help="Image side in pixels (the models are built for it)."
)
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="Passes over the data.")
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Images per step.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Train on the first N images only.")
@click.option("--seed", type=int, default=None, help="Random seed (same seed, same CPU: same weights).")
@click.option("--device", default=None, help="auto, cpu, cuda or cuda:N.")
@_config_options
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="JSON or TOML file of config fields (like a run's config.json); flags override it.",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its latest checkpoint.")
@click.option("--max-steps", type=click.IntRange(min=1), default=None, help="Stop after this many steps in total.")
@click.option(
    "--max-minutes",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    callback=finite,
    help="Stop after this many minutes of training in total (over --resume; not counting data packing, "
    "evaluations or grids), with a final checkpoint; resume with a larger value to train on. A new run "
    "without --epochs trains until the budget is spent (the preset's epochs do not end it).",
)
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Where packed stores live.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and exit.")
@click.option("--no-progress", is_flag=True, help="No progress bar (metrics.jsonl is still written).")
@click.option(
    "--nproc",
    type=click.IntRange(1, 1024),
    default=None,
    help="Train with N processes on this machine (one per GPU on CUDA): runs this command under torchrun "
    "(DistributedDataParallel); --batch-size stays the global batch. See README, 'Multi-process training'.",
)
def train(
    out: str,
    preset: str | None,
    config_file: str | None,
    resume: bool,
    max_steps: int | None,
    max_minutes: float | None,
    cache_dir: str | None,
    dry_run: bool,
    no_progress: bool,
    nproc: int | None,
    **overrides: Any,
) -> None:
    """Train a generator on --data and write everything into the run directory --out."""
    from ..config import load_config_file, resolve_config

    if config_file is not None:
        file_preset, file_values = load_config_file(config_file)
        preset = preset or file_preset
        overrides = {**file_values, **{k: v for k, v in overrides.items() if v is not None}}

    from ..config import resume_config, source_defaults
    from ..training import distributed, launch
    from ..training.rundir import RunDir

    # --resume continues the saved recipe (a run without a checkpoint yet: its config.json); a new or
    # empty --out with --resume starts a new run, as a job scheduler's requeue expects.
    run_dir = RunDir(out)
    first = distributed.env_rank() == 0  # under torchrun only rank 0 touches the lock and speaks
    if first:
        run_dir.check_folder()
        run_dir.check_unlocked()
    saved = run_dir.saved_config() if resume else None
    if saved is not None:
        if saved.epochs >= UNBOUNDED_EPOCHS and not (max_minutes or max_steps or overrides.get("epochs")):
            from ..errors import ConfigError

            raise ConfigError(  # its length was its time budget: without one it would train until stopped
                f"--resume: {out} was trained to a time budget; give --max-minutes M (a larger M trains on), "
                "--max-steps N or --epochs N"
            )
        config = resume_config(saved, overrides, preset)
    else:
        config = resolve_config(preset, overrides)
        if preset is None and overrides.get("data") and source_defaults(overrides["data"]):
            chosen = [f"--{k} {getattr(config, k)}" for k in ("size",) if overrides.get(k) is None]
            chosen += ["its own channels"] if overrides.get("channels") is None else []
            if chosen and first:
                click.echo(
                    f"note: --data {overrides['data']} without --preset: training with {' and '.join(chosen)} "
                    f"(the default preset is for Fashion-MNIST; see 'dcgan presets')",
                    err=True,
                )
    if saved is None and max_minutes is not None and overrides.get("epochs") is None:
        config = dataclasses.replace(config, epochs=UNBOUNDED_EPOCHS)  # the time budget, not the preset, ends it
    if dry_run:
        click.echo(config.to_json())
        return
    if nproc is not None and nproc > 1:  # the same command, less --nproc, in N processes under torchrun
        with launch.quiet_echoes():
            launch.launch(nproc, given_arguments(click.get_current_context()), config.device)
        return
    from ..training.trainer import train as run_training

    with launch.quiet_echoes():  # under torchrun: rank 0 says an error all ranks share
        run = run_training(
            config,
            out,
            resume=resume,
            progress=not no_progress,
            max_steps=max_steps,
            cache_dir=cache_dir,
            max_seconds=max_minutes * 60 if max_minutes else None,
        )
    if first:
        click.echo(f"run finished: {run}  (report: {run / 'report.html'})")
    launch.leave_worker()


def given_arguments(ctx: click.Context) -> list[str]:
    """The arguments this `dcgan train` was given on its command line, less --nproc (what `--nproc N` hands
    each of its processes)."""
    args: list[str] = []
    for p in ctx.command.params:
        if p.name == "nproc" or ctx.get_parameter_source(p.name) is not click.core.ParameterSource.COMMANDLINE:
            continue
        value = ctx.params[p.name]
        if isinstance(p, click.Option) and p.is_flag:
            args.append(p.opts[0] if value else p.secondary_opts[0])
        else:
            args += [p.opts[0], str(value)]
    return args
