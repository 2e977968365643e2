"""Latent walks: are slerp walks more even than lerp walks on a trained generator?

For `--pairs` pairs of seeds (seed 2i to seed 2i + 1), walks `--steps` frames between the two
latents with slerp and with lerp, and measures each walk's smoothness (dcgan.latent.walks.smoothness):
the coefficient of variation (std / mean) of the step between consecutive frames, in the run's
discriminator features (its penultimate activations) and in pixels. Also the latent norm at the
walk's midpoint relative to the ends (lerp between two N(0, I) latents dips to ~0.71 of the norm
the generator was trained on; slerp keeps it). Without --run it first trains the `fashion-dcgan`
preset on Fashion-MNIST for `--train-steps` steps (under a time cap). Prints a table, writes JSON;
`--docs FOLDER` also writes the README's example pictures from the same run.

    python benchmarks/latent_walks.py --json benchmarks/results/latent-walks.json
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default=None, help="a trained run or checkpoint (default: train a tiny one)")
    ap.add_argument("--train-steps", type=int, default=300, help="about this many steps of batch 128")
    ap.add_argument("--train-seconds", type=float, default=100, help="time cap on the training")
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--json", default="benchmarks/results/latent-walks.json")
    ap.add_argument("--docs", default=None, help="also write example pictures into this folder")
    args = ap.parse_args()

    import torch

    from dcgan import load_generator, resolve_config, train
    from dcgan.latent import walks

    torch.manual_seed(0)
    started = time.perf_counter()
    trained = None
    if args.run:
        run = Path(args.run)
    else:
        # 4 short epochs (9,600 images each) rather than a part of one: a grid per epoch for the animation.
        epochs = max(1, round(args.train_steps * 128 / 9600))
        config = resolve_config(
            "fashion-dcgan", data="fashion-mnist", limit=9600, epochs=epochs, snapshot_every=1, seed=0, eval_every=0
        )
        run = train(config, Path(tempfile.mkdtemp(prefix="dcgan-walks-")) / "run", max_seconds=args.train_seconds)
        trained = {"preset": "fashion-dcgan", "limit": 9600, "epochs": epochs, "seconds": time.perf_counter() - started}
    G = load_generator(run, "cpu")
    rows: dict[str, dict[str, list[float]]] = {
        m: {"cv_d": [], "cv_px": [], "step_d": [], "mid_norm": []} for m in walks.MODES
    }
    walk_started = time.perf_counter()
    for i in range(args.pairs):
        seeds = [2 * i, 2 * i + 1]
        for mode in walks.MODES:
            z = walks.walk_latents(G, seeds, args.steps, mode)
            frames = walks.decode(G, z)
            d = walks.smoothness(G, frames, "discriminator")
            p = walks.smoothness(G, frames, "pixel")
            ends = (z[0].norm() + z[-1].norm()) / 2
            rows[mode]["cv_d"].append(d["cv"])
            rows[mode]["cv_px"].append(p["cv"])
            rows[mode]["step_d"].append(d["mean_step"])
            rows[mode]["mid_norm"].append(float(z[len(z) // 2].norm() / ends))
    summary = {
        mode: {k: {"mean": statistics.fmean(v), "stdev": statistics.stdev(v)} for k, v in r.items()}
        for mode, r in rows.items()
    }
    slerp_more_even = sum(a < b for a, b in zip(rows["slerp"]["cv_d"], rows["lerp"]["cv_d"], strict=True))
    print(f"{'mode':6} {'CV (D features)':>16} {'CV (pixels)':>12} {'mean step (D)':>14} {'mid norm':>9}")
    for mode, s in summary.items():
        print(
            f"{mode:6} {s['cv_d']['mean']:16.3f} {s['cv_px']['mean']:12.3f} {s['step_d']['mean']:14.3f} "
            f"{s['mid_norm']['mean']:9.3f}"
        )
    print(f"slerp's D-feature CV below lerp's in {slerp_more_even} of {args.pairs} pairs")
    result = {
        "what": "coefficient of variation of consecutive-frame steps along seed-to-seed walks, slerp vs lerp",
        "features": "run's discriminator penultimate activations (cv_d), pixels in [-1, 1] (cv_px)",
        "run": str(run) if args.run else None,
        "trained": trained,
        "step": G.step,
        "pairs": args.pairs,
        "steps": args.steps,
        "summary": summary,
        "per_pair": rows,
        "slerp_cv_below_lerp_pairs": slerp_more_even,
        "walk_seconds": time.perf_counter() - walk_started,
        "total_seconds": time.perf_counter() - started,
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0], "torch": torch.__version__},
        "threads": torch.get_num_threads(),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json} ({result['total_seconds']:.0f} s)")
    if args.docs:
        write_docs(G, run, Path(args.docs))


def write_docs(G, run: Path, folder: Path) -> None:
    """The README's pictures: a walk strip, a corner grid, an arithmetic figure, the training animation."""
    from PIL import Image

    from dcgan.io import atomic_save_png
    from dcgan.latent import walks
    from dcgan.latent.animation import frames_of, progress_frames, save_animation, save_strip
    from dcgan.latent.arithmetic import arithmetic_figure, latent_arithmetic

    folder.mkdir(parents=True, exist_ok=True)
    save_strip(walks.walk(G, [3, 17, 42], steps=8), folder / "walk.png", scale=2)
    save_animation(frames_of(walks.walk(G, [3, 17, 42, 3], steps=12), scale=3), folder / "walk.gif", fps=12)
    save_strip(walks.grid_walk(G, [1, 2, 3, 4], n=6), folder / "grid.png", nrow=6, scale=2)
    figure = arithmetic_figure(latent_arithmetic(G, [1, 2, 3], [4, 5, 6], [7, 8, 9], num=4), scale=2)
    atomic_save_png(Image.fromarray(figure[:, :, 0] if figure.shape[2] == 1 else figure), folder / "arithmetic.png")
    if Path(run).is_dir() and list((Path(run) / "samples").glob("epoch_*.png")):
        save_animation(progress_frames(run, scale=1), folder / "progress.gif", fps=2)
    print(f"wrote the example pictures to {folder}")


if __name__ == "__main__":
    main()
