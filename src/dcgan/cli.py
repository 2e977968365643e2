"""The `dcgan` command: prepare, train, generate, evaluate, presets.

Heavy modules (torch, numpy) are imported inside the commands so `dcgan --help` stays fast.
Every problem the user can fix ends as one line on stderr and exit status 2.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click

from .config import (
    AMP_MODES,
    ARCHS,
    DEFAULT_PRESET,
    DIVERGENCE,
    INITS,
    LOSSES,
    LR_SCALINGS,
    PRESETS,
    PUBLISHED,
    RESUME_MAY_CHANGE,
    SWITCHES,
    Z_DISTS,
    TrainConfig,
)
from .errors import DcganError

CHOICES = {
    "arch": ARCHS,
    "loss": LOSSES,
    "z_dist": Z_DISTS,
    "init": INITS,
    "amp": AMP_MODES,
    "channels_last": SWITCHES,
    "on_divergence": DIVERGENCE,
    "lr_scaling": LR_SCALINGS,
}
# Flags spelled out on `train` with their own help; every other TrainConfig field gets a generic flag.
EXPLICIT = {"data", "size", "epochs", "batch_size", "limit", "seed", "device", "extra"}


def _config_options(func: Any) -> Any:
    """One flag per TrainConfig field, so any preset value can be overridden from the command line."""
    comments = _field_comments()
    for f in reversed(dataclasses.fields(TrainConfig)):
        if f.name in EXPLICIT:
            continue
        flag = "--" + f.name.replace("_", "-")
        help_text = comments.get(f.name, "")
        if f.name in CHOICES:
            opt = click.option(flag, f.name, type=click.Choice(CHOICES[f.name]), default=None, help=help_text)
        elif isinstance(f.default, bool):
            opt = click.option(f"{flag}/--no-{flag[2:]}", f.name, default=None, help=help_text)
        elif f.name == "channels":
            opt = click.option(
                flag,
                f.name,
                type=click.Choice(["1", "3"]),
                default=None,
                callback=lambda c, p, v: int(v) if v else None,
                help=help_text,
            )
        elif isinstance(f.default, float):
            opt = click.option(flag, f.name, type=float, default=None, help=help_text)
        elif isinstance(f.default, int):
            opt = click.option(flag, f.name, type=click.IntRange(min=0), default=None, help=help_text)
        else:
            opt = click.option(flag, f.name, type=str, default=None, help=help_text)
        func = opt(func)
    return func


def _field_comments() -> dict[str, str]:
    """The end-of-line comments in config.py document each field; reuse them as flag help."""
    import inspect
    import re

    from . import config as cfg

    out = {}
    for line in inspect.getsource(cfg.TrainConfig).splitlines():
        m = re.match(r"\s+(\w+): [^=]+= [^#]+#\s*(.+)$", line)
        if m:
            out[m.group(1)] = m.group(2)
    return out


class Group(click.Group):
    def main(self, args: Any = None, prog_name: str | None = None, **extra: Any) -> Any:  # noqa: D401
        """Run standalone, but turn every user error into one line and exit status 2."""
        try:
            return super().main(args=args, prog_name=prog_name or "dcgan", standalone_mode=False, **extra)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)
        except click.UsageError as e:
            cmd = e.ctx.command_path if e.ctx else "dcgan"
            click.echo(f"error: {e.format_message()} (see '{cmd} --help')", err=True)
            sys.exit(2)
        except click.ClickException as e:
            click.echo(f"error: {e.format_message()}", err=True)
            sys.exit(2)
        except DcganError as e:
            click.echo(f"error: {e}", err=True)
            sys.exit(e.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="dcgan")
def main() -> None:
    """Train DCGAN-family image generators on real image collections, and use them."""


@main.command()
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
        click.echo(f"{name} ({', '.join(marks)}): {shown}")


@main.command()
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
    from .data.store import open_store

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


@main.command()
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
@click.option("--cache-dir", type=click.Path(file_okay=False), default=None, help="Where packed stores live.")
@click.option("--dry-run", is_flag=True, help="Print the resolved config and exit.")
@click.option("--no-progress", is_flag=True, help="No progress bar (metrics.jsonl is still written).")
def train(
    out: str,
    preset: str | None,
    config_file: str | None,
    resume: bool,
    max_steps: int | None,
    cache_dir: str | None,
    dry_run: bool,
    no_progress: bool,
    **overrides: Any,
) -> None:
    """Train a generator on --data and write everything into the run directory --out."""
    from .config import load_config_file, resolve_config

    if config_file:
        file_preset, file_values = load_config_file(config_file)
        preset = preset or file_preset
        overrides = {**file_values, **{k: v for k, v in overrides.items() if v is not None}}

    if resume:
        from .train.trainer import prepare_run_dir

        saved = prepare_run_dir(Path(out), resume=True)
        assert saved is not None
        base = saved.config.to_dict()
        changed = {
            k: v for k, v in overrides.items() if v is not None and k not in RESUME_MAY_CHANGE and base.get(k) != v
        }
        if preset is not None and preset != base.get("extra", {}).get("preset"):
            changed["preset"] = preset
        if changed:
            raise DcganError(
                f"--resume continues the saved recipe; {', '.join('--' + k.replace('_', '-') for k in changed)} "
                f"differ from it (only {', '.join('--' + k.replace('_', '-') for k in RESUME_MAY_CHANGE)} may change)"
            )
        base.update({k: v for k, v in overrides.items() if v is not None and k in RESUME_MAY_CHANGE})
        config = TrainConfig.from_dict(base)
    else:
        config = resolve_config(preset, overrides)
    if dry_run:
        click.echo(config.to_json())
        return
    from .train.trainer import train as run_training

    run = run_training(config, out, resume=resume, progress=not no_progress, max_steps=max_steps, cache_dir=cache_dir)
    click.echo(f"run finished: {run}  (report: {run / 'report.html'})")


@main.command()
@click.argument("run", type=click.Path())
@click.option("--num", type=click.IntRange(1, 1_000_000), default=64, show_default=True, help="How many images.")
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder for the PNG files.")
@click.option(
    "--grid", type=click.Path(dir_okay=False), default=None, help="Also write all images as one grid PNG here."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same images.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--batch-size", type=click.IntRange(min=1), default=256, show_default=True)
def generate(run: str, num: int, out: str, grid: str | None, seed: int, device: str, batch_size: int) -> None:
    """Write NUM generated images from RUN (a run directory or a checkpoint file) as PNG files."""
    from .checkpoint import load_checkpoint
    from .io import save_grid, save_images
    from .sample import sample_images
    from .train.trainer import resolve_device

    dev = resolve_device(device)
    model = load_checkpoint(run, dev)
    images = sample_images(model.generator, model.config, num, seed=seed, device=dev, batch_size=batch_size)
    meta = {
        "Software": "dcgan",
        "dcgan:synthetic": "true",
        "dcgan:model": str(model.path.resolve()),
        "dcgan:step": str(model.step),
        "dcgan:seed": str(seed),
        "Comment": f"Synthetic image generated by dcgan from {model.path.name} (step {model.step}), seed {seed}",
    }
    paths = save_images(images, out, prefix=f"seed{seed}", metadata=meta)
    if grid:
        save_grid(images, grid, metadata=meta)
    click.echo(f"wrote {len(paths)} images to {out}" + (f" and the grid {grid}" if grid else ""))


from .cli_evaluate import evaluate  # noqa: E402  (kept torch-free at import, like this module)

main.add_command(evaluate)


if __name__ == "__main__":  # pragma: no cover
    main()
