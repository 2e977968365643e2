"""`dcgan generate`: images from a trained run, as PNG files and a grid.

Images are streamed: a batch is sampled, written, then the next, so memory is bounded by
--batch-size however large --num is. Each PNG is written atomically, so Ctrl+C or a full disk
leaves only complete files; the one-line error says how many were written.
"""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path

import click

from ..errors import DcganError

GRID_MAX = 256  # --grid shows the first images only: a grid of a million images is no picture


def check_writable(path: Path, flag: str, folder: bool) -> None:
    """Refuse, before any work is done, an output that cannot be written: a file where a folder must
    be (the path itself or one of its parents) or a folder we may not write in. Creates nothing."""
    target = path if folder else path.parent
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise DcganError(f"{flag} {path}: {existing} is a file, not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise DcganError(f"{flag} {path}: cannot write in {existing} (permission denied)")


def write_failed(e: OSError, what: str, written: int, out: str) -> DcganError:
    """One line for a write that failed half way: what failed, and that the images already written are complete."""
    why = "the disk is full" if e.errno == errno.ENOSPC else f"cannot write ({e.strerror or e})"
    return DcganError(
        f"{what}: {why}; the {written} images written to {out} are complete (no partial file is left); "
        "free space or choose another place and run again"
    )


def label_tags(meta: dict[str, str], text: str) -> dict[str, str]:
    """A conditional image's provenance tags: the class or attributes it was asked for, in its own tag and
    the comment."""
    return dict(meta, **{"dcgan:label": text, "Comment": f"{meta['Comment']}, label {text}"})


@click.command()
@click.argument("run", type=click.Path(), required=False)
@click.option("--pretrained", metavar="NAME", default=None, help="A model shipped with dcgan (fashion) instead of RUN.")
@click.option("--num", type=click.IntRange(1, 1_000_000), default=64, show_default=True, help="How many images.")
@click.option(
    "--out", type=click.Path(file_okay=False), default=None, help="Folder for the PNG files (needed unless --grid)."
)
@click.option(
    "--grid",
    type=click.Path(dir_okay=False),
    default=None,
    help=f"Also write the images (the first {GRID_MAX} at most) as one grid PNG here.",
)
@click.option(
    "--seed",
    type=click.IntRange(0, 2**63 - 1),
    default=0,
    show_default=True,
    help="Same seed, same images (whatever --batch-size).",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=256, show_default=True, help="Images in memory at a time."
)
@click.option(
    "--class",
    "class_",
    default=None,
    help="Conditional runs: the class of every image, by name (any case) or index. "
    "Default: the classes in turn (image i gets class i mod K).",
)
@click.option(
    "--attributes",
    default=None,
    help="Attribute-conditional runs: e.g. Smiling=1,Eyeglasses=0; attributes left out are drawn from the "
    "training data's attribute rows that agree with those given (all of them by default).",
)
@click.option("--no-progress", is_flag=True, help="No progress bar on stderr.")
def generate(
    run: str | None,
    pretrained: str | None,
    num: int,
    out: str | None,
    grid: str | None,
    seed: int,
    device: str,
    batch_size: int,
    class_: str | None,
    attributes: str | None,
    no_progress: bool,
) -> None:
    """Write NUM generated images from RUN (a run directory or a checkpoint file) or a --pretrained model as
    PNG files in --out and/or one --grid PNG."""
    if (run is None) == (pretrained is None):
        raise DcganError("give either RUN (a run directory or checkpoint file) or --pretrained NAME, not both")
    if out is None and not grid:
        raise DcganError("--out: give a folder for the PNG files, or --grid FILE for one grid (or both)")
    if out is not None and not out.strip():
        raise click.BadParameter(
            "give a folder for the images (an empty path would write into the working directory)", param_hint="--out"
        )
    if out is not None:
        check_writable(Path(out), "--out", folder=True)
    if grid:
        check_writable(Path(grid), "--grid", folder=False)

    import torch
    from tqdm import tqdm

    from ..checkpoint import checkpoint_label
    from ..device import resolve_device
    from ..generator import load_generator
    from ..io import save_grid, save_images

    dev = resolve_device(device)
    if pretrained is not None:
        from ..pretrained import load_pretrained

        model, label = load_pretrained(pretrained, dev), f"pretrained:{pretrained}"
    else:
        model = load_generator(run, dev)
        label = checkpoint_label(model.path)  # the run and file name: never a local absolute path
    meta = {
        "Software": "dcgan",
        "dcgan:synthetic": "true",
        "dcgan:model": label,
        "dcgan:step": str(model.step),
        "dcgan:seed": str(seed),
        "Comment": f"Synthetic image generated by dcgan from {label} (step {model.step}), seed {seed}",
    }
    labels = None  # a conditional run's labels, one per image (--class, --attributes or the defaults)
    if model.conditional or class_ is not None or attributes is not None:
        labels = model.labels_for(class_, attributes, num=num, seed=seed)
    shown: list[torch.Tensor] = []  # the first GRID_MAX images, for --grid
    written = 0
    try:
        with tqdm(total=num, unit="img", desc="generate", file=sys.stderr, disable=no_progress) as bar:
            for batch in model.batches(num, seed=seed, batch_size=batch_size, labels=labels):
                if grid and written < GRID_MAX:
                    shown.append(batch[: GRID_MAX - written].clone())  # not a view: the batch is let go
                if out is None:  # --grid only
                    written += len(batch)
                    bar.update(len(batch))
                    continue
                for image in batch.split(1):  # one at a time: `written` counts exactly the complete files
                    try:
                        tags = meta if labels is None else label_tags(meta, model.label_text(labels[written]))
                        save_images(image, out, prefix=f"seed{seed}", metadata=tags, start=written)
                    except OSError as e:
                        raise write_failed(e, f"--out {out}", written, out) from e
                    written += 1
                bar.update(len(batch))
    except KeyboardInterrupt:
        if out is None:  # --grid only: no file was written yet
            click.echo(f"interrupted: the grid {grid} was not written", err=True)
            sys.exit(130)
        if (Path(out) / f"seed{seed}_{written:06d}.png").exists():  # renamed into place just before Ctrl+C came
            written += 1
        click.echo(f"interrupted: {written} complete images in {out} (seed {seed}, from index 0)", err=True)
        sys.exit(130)  # as the command group does for Ctrl+C (click.exceptions.Exit would end with status 0)
    if grid:
        try:
            nrow = len(model.class_names) if model.class_names and class_ is None and attributes is None else None
            save_grid(torch.cat(shown), grid, nrow=nrow, metadata=meta)  # round-robin classes: a column each
        except OSError as e:
            raise write_failed(e, f"--grid {grid}", written, out) from e
    note = f" (the first {GRID_MAX} of {num})" if grid and num > GRID_MAX else ""
    if out is None:
        click.echo(f"wrote the grid {grid} of {min(num, GRID_MAX)} images{note}")
    else:
        click.echo(f"wrote {written} images to {out}" + (f" and the grid {grid}{note}" if grid else ""))
