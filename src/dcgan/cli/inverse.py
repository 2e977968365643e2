"""`dcgan project`, `dcgan inpaint`, `dcgan outpaint`: a trained generator run backwards on real images.

`project` finds the latent whose image is closest to each input image and writes NAME.latent.npy,
NAME.reconstruction.png and NAME.target.png (the input as the run sees it). `inpaint` and `outpaint`
fill a hole (a mask, a box, or a side of the image) and write NAME.candidate-K.png, best (lowest loss)
first, with NAME.target.png, NAME.mask.png, NAME.latent.npy (K, z_dim) and NAME.json (losses, blend).
The method is in `dcgan.latent.inverse`. Inputs are converted to the run's size and channels (a note
says how); every image of a batch is written before the next batch starts, so Ctrl+C keeps them.
"""

from __future__ import annotations

import json
import math
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .generate import check_writable, write_failed


def finite(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """Refuse nan and inf, which click's FloatRange lets through and which would turn every latent into nan."""
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value}: must be a finite number")
    return value


def not_empty(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse an empty path: it would mean the working directory."""
    if not value.strip():
        raise click.BadParameter("give a path (an empty one would mean the working directory)")
    return value


# Options every command shares.
_COMMON = [
    click.argument("run", type=click.Path()),
    click.option(
        "--image", required=True, callback=not_empty, help="An image file, or a folder of images (each is processed)."
    ),
    click.option(
        "--out", type=click.Path(file_okay=False), required=True, callback=not_empty, help="Folder for the results."
    ),
    click.option(
        "--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True, help="Seed of the starting latents."
    ),
    click.option(
        "--lr",
        type=click.FloatRange(min=0, min_open=True),
        callback=finite,
        default=0.05,
        show_default=True,
        help="Adam's step size on z.",
    ),
    click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."),
    click.option(
        "--batch-size", type=click.IntRange(min=1), default=64, show_default=True, help="Images optimised at a time."
    ),
    click.option("--no-progress", is_flag=True, help="No progress bar on stderr."),
]


def common(steps: int) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def wrap(f: Callable[..., Any]) -> Callable[..., Any]:
        f = click.option(
            "--steps", type=click.IntRange(1, 100_000), default=steps, show_default=True, help="Adam steps."
        )(f)
        for decorator in reversed(_COMMON):
            f = decorator(f)
        return f

    return wrap


def _start(run: str, image: str, out: str, device: str) -> tuple[Any, list[Any]]:
    """The run's generator and the converted input images; notes about conversions on stderr."""
    check_writable(Path(out), "--out", folder=True)
    from ..device import resolve_device
    from ..generator import load_generator
    from ..latent.inverse import image_files, load_images

    image_files(image)  # a missing path or an empty folder fails before the run is loaded
    model = load_generator(run, resolve_device(device))
    images = load_images(image, model.size, model.channels)
    stems = Counter(im.name for im in images)
    for i, im in enumerate(images):
        if stems[im.name] > 1:  # a.png and a.jpg in one folder: their results must not overwrite each other
            im.name = f"{im.name}-{i}"
        if im.note:
            click.echo(f"note: {im.note}", err=True)
    Path(out).mkdir(parents=True, exist_ok=True)
    return model, images


def _save_png(pixels: Any, path: Path) -> None:
    """uint8 (C, S, S) as a PNG, written atomically."""
    from PIL import Image

    from ..io import atomic_save_png

    atomic_save_png(Image.fromarray(pixels[0] if len(pixels) == 1 else pixels.transpose(1, 2, 0)), path)


def _batches(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _run_batches(
    items: list[Any], batch_size: int, steps: int, desc: str, no_progress: bool, out: str, work: Callable[..., None]
) -> int:
    """work(batch, progress) for each batch under one progress bar; Ctrl+C keeps the finished images."""
    from tqdm import tqdm

    done = 0
    try:
        with tqdm(total=len(items) * steps, unit="img-step", desc=desc, file=sys.stderr, disable=no_progress) as bar:
            for batch in _batches(items, batch_size):
                work(batch, lambda n, k=len(batch): bar.update(n * k))
                done += len(batch)
    except OSError as e:  # a full disk, a folder made read-only meanwhile: one line, the finished images stay
        raise write_failed(e, f"--out {out}", done, out) from e
    except KeyboardInterrupt:
        click.echo(f"interrupted: the results of {done} of {len(items)} images are in {out}", err=True)
        sys.exit(130)  # as the command group does for Ctrl+C
    return done


@click.command()
@common(steps=200)
@click.option(
    "--restarts",
    type=click.IntRange(1, 64),
    default=4,
    show_default=True,
    help="Random starts per image; the best is kept.",
)
@click.option(
    "--feature-weight",
    type=click.FloatRange(min=0),
    callback=finite,
    default=1.0,
    show_default=True,
    help="Weight of the discriminator-feature loss (0: pixels only).",
)
def project(
    run: str,
    image: str,
    out: str,
    seed: int,
    lr: float,
    device: str,
    batch_size: int,
    no_progress: bool,
    steps: int,
    restarts: int,
    feature_weight: float,
) -> None:
    """Find the latents of RUN whose images are closest to the --image file(s)."""
    model, images = _start(run, image, out, device)
    import numpy as np
    import torch

    from ..fsutil import atomic_write
    from ..latent.inverse import project as project_images

    def work(batch: list[Any], progress: Callable[[int], None]) -> None:
        x = torch.from_numpy(np.stack([im.pixels for im in batch]))
        p = project_images(
            model, x, steps=steps, restarts=restarts, lr=lr, feature_weight=feature_weight, seed=seed, progress=progress
        )
        for i, im in enumerate(batch):
            base = Path(out) / im.name
            atomic_write(f"{base}.latent.npy", lambda f, z=p.latents[i].numpy(): np.save(f, z))
            _save_png(p.images[i].numpy(), Path(f"{base}.reconstruction.png"))
            _save_png(im.pixels, Path(f"{base}.target.png"))
            click.echo(f"{im.name}: loss {p.loss_before[i]:.6g} -> {p.loss_after[i]:.6g}")

    n = _run_batches(images, batch_size, steps, "project", no_progress, out, work)
    click.echo(f"projected {n} images into {out} ({restarts} restarts, {steps} steps)")


def _complete(model: Any, images: list[Any], holes: list[Any], opts: dict[str, Any]) -> None:
    """Inpaint / outpaint `images` with their (S, S) bool `holes` and write the candidates."""
    import numpy as np
    import torch

    from ..fsutil import atomic_write
    from ..latent.inverse import inpaint, opencv_available

    out, steps = opts["out"], opts["steps"]
    method = "poisson" if opencv_available() else "feather"
    click.echo(
        "blend: "
        + ("Poisson (OpenCV seamlessClone)" if method == "poisson" else "feathered alpha (OpenCV is not installed)"),
        err=True,
    )
    pairs = list(zip(images, holes))

    def work(batch: list[Any], progress: Callable[[int], None]) -> None:
        x = torch.from_numpy(np.stack([im.pixels for im, _ in batch]))
        h = np.stack([hole for _, hole in batch])
        c = inpaint(
            model,
            x,
            h,
            steps=steps,
            candidates=opts["candidates"],
            lr=opts["lr"],
            prior_weight=opts["prior_weight"],
            seed=opts["seed"],
            blend_method=method,
            progress=progress,
        )
        for i, (im, hole) in enumerate(batch):
            base = Path(out) / im.name
            _save_png(im.pixels, Path(f"{base}.target.png"))
            _save_png(hole[None].astype(np.uint8) * 255, Path(f"{base}.mask.png"))
            for k in range(c.images.shape[1]):
                _save_png(c.images[i, k].numpy(), Path(f"{base}.candidate-{k}.png"))
            atomic_write(f"{base}.latent.npy", lambda f, z=c.latents[i].numpy(): np.save(f, z))
            summary = {
                "losses": [float(v) for v in c.losses[i]],
                "blend": c.blend,
                "changed_pixels": int(c.changed[i].sum()),
                "hole_pixels": int(hole.sum()),
            }
            atomic_write(f"{base}.json", json.dumps(summary, indent=2).encode())
            click.echo(
                f"{im.name}: {len(c.losses[i])} candidates, loss {c.losses[i][0]:.6g} (best) .. {c.losses[i][-1]:.6g}"
            )

    n = _run_batches(pairs, opts["batch_size"], steps, opts["desc"], opts["no_progress"], out, work)
    click.echo(f"completed {n} images into {out} (candidate-0 is the best; blend: {method})")


def _parse_box(value: str | None) -> tuple[int, int, int, int] | None:
    if value is None:
        return None
    try:
        x, y, w, h = (int(v) for v in value.split(","))
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected x,y,w,h (four integers)", param_hint="--box") from None
    return x, y, w, h


_COMPLETION = [
    click.option(
        "--candidates",
        type=click.IntRange(1, 64),
        default=4,
        show_default=True,
        help="Completions per image, best first.",
    ),
    click.option(
        "--prior-weight",
        type=click.FloatRange(min=0),
        callback=finite,
        default=0.01,
        show_default=True,
        help="Weight of the prior loss -log D(G(z)) (Yeh et al.'s lambda).",
    ),
]


def completion(f: Callable[..., Any]) -> Callable[..., Any]:
    for decorator in reversed(_COMPLETION):
        f = decorator(f)
    return common(steps=300)(f)


@click.command()
@completion
@click.option(
    "--mask", type=click.Path(dir_okay=False), default=None, help="PNG of the image's size: white = hole to fill."
)
@click.option("--box", default=None, help="The hole as x,y,w,h in the image's pixels.")
def inpaint(run: str, image: str, mask: str | None, box: str | None, **opts: Any) -> None:
    """Fill a hole (--mask or --box) in the --image file(s) with RUN's generator (Yeh et al. 2017)."""
    parsed = _parse_box(box)
    if (mask is None) == (parsed is None):
        raise click.UsageError("give exactly one of --mask and --box")
    model, images = _start(run, image, opts["out"], opts["device"])
    from ..latent.inverse import box_mask, check_mask, mask_from_file

    holes = []
    for im in images:
        hole = mask_from_file(mask, im) if mask is not None else box_mask(parsed, im)  # type: ignore[arg-type]
        check_mask(hole, f"--mask {mask}" if mask is not None else f"--box {box}")
        holes.append(hole)
    _complete(model, images, holes, dict(opts, desc="inpaint"))


@click.command()
@completion
@click.option(
    "--side", type=click.Choice(["left", "right", "top", "bottom"]), required=True, help="Which side to extend."
)
@click.option(
    "--fraction",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.5,
    show_default=True,
    help="Share of the image to generate on that side.",
)
def outpaint(run: str, image: str, side: str, fraction: float, **opts: Any) -> None:
    """Generate the --side of the --image file(s) (the given fraction) from the rest, with RUN's generator."""
    model, images = _start(run, image, opts["out"], opts["device"])
    from ..latent.inverse import check_mask, side_mask

    hole = side_mask(model.size, side, fraction)
    check_mask(hole, f"--side {side} --fraction {fraction}")
    _complete(model, images, [hole] * len(images), dict(opts, desc="outpaint"))
