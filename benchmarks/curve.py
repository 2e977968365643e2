"""FID against training seconds: presets trained back to back for the same wall-clock budget, every
epoch's checkpoint kept and scored, so the gain of one recipe over another is a ratio at equal time.

Each preset trains on its data for --seconds of training (the trainer's time budget, `dcgan train
--max-minutes`; evaluations during training off). Every epoch-end checkpoint is kept; each is scored with --metrics
(default fid_fashion, the Fashion-MNIST domain FID: seconds per 10,000 images on a CPU) and the last one also
with --final-metrics (default fid: TF-Inception, about 17 minutes per 10,000 images on a 2-core CPU), all
at --num generated images against as many test images (10,000: the published protocol). Prints a table
and writes JSON.

    python benchmarks/curve.py --seconds 600 --work /tmp/curve        # fashion-best vs fashion-dcgan (S1)
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import train_for_budget  # noqa: E402


def scored_checkpoints(run: Path, metrics: str, final_metrics: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Step, training seconds and metrics of every checkpoint of `run`, oldest first."""
    from dcgan.checkpoint import list_checkpoints, read_checkpoint
    from dcgan.metrics.evaluate import evaluate_run

    paths = list_checkpoints(run)
    points = []
    for i, path in enumerate(paths):
        ck = read_checkpoint(path, prefixes=())
        last = i == len(paths) - 1
        wanted = ",".join(m for m in (metrics, final_metrics if last else "") if m)
        result = evaluate_run(
            path,
            metrics=wanted,
            num=args.num,
            split="test",
            device=args.device,
            seed=args.seed,
            progress=not args.no_progress,
            cache_dir=args.cache_dir,
        )
        point = {
            "checkpoint": path.name,
            "step": ck.step,
            "images_seen": int(ck.meta.get("images_seen", 0)),
            "train_seconds": round(float(ck.meta.get("extra", {}).get("train_seconds") or 0.0), 1),
        }
        point.update({k: result[k] for k in ("fid", "fid_fashion", "kid", "kid_std") if k in result})
        points.append(point)
        shown = ", ".join(f"{k} {point[k]:.4g}" for k in ("fid_fashion", "fid", "kid") if k in point)
        print(f"{run.name} step {ck.step} ({point['train_seconds']:.0f} s): {shown}", file=sys.stderr)
    return points


def cpu_name() -> str:
    """The CPU's model name (/proc/cpuinfo), else what platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def plot_curve(record: dict[str, Any], key: str, path: Path) -> None:
    """`key` against training seconds, one line per preset (Inception FID of the last points as labels)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for preset, r in record["presets"].items():
        points = [p for p in r["points"] if key in p]
        ax.plot([p["train_seconds"] for p in points], [p[key] for p in points], marker="o", label=preset)
        last = r["points"][-1] if r["points"] else {}
        if "fid" in last and key != "fid":
            ax.annotate(
                f"FID {last['fid']:.2f}",
                (last["train_seconds"], last[key]),
                textcoords="offset points",
                xytext=(-60, 8),
                fontsize=8,
            )
    name = {"fid_fashion": "domain FID", "fid": "FID"}.get(key, key)
    ax.set_xlabel("training seconds")
    ax.set_ylabel(name)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend()
    ax.set_title(f"{name}, {record['num']:,} samples vs the test images")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="fashion-best,fashion-dcgan", help="comma-separated presets, in order")
    ap.add_argument("--seconds", type=float, default=600.0, help="training seconds per preset")
    ap.add_argument("--metrics", default="fid_fashion", help="metrics of every checkpoint")
    ap.add_argument("--final-metrics", default="fid", help="metrics of each run's last checkpoint too")
    ap.add_argument("--num", type=int, default=10000, help="generated and test images per evaluation")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--work", required=True, help="folder for the runs (one sub-folder per preset)")
    ap.add_argument("--cache-dir", default=None)
    ap.add_argument("--json", default="benchmarks/results/curve.json")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument(
        "--score-only", action="store_true", help="score the runs already in --work (trained by an earlier call)"
    )
    args = ap.parse_args()

    import torch

    from dcgan.checkpoint import list_checkpoints, read_checkpoint
    from dcgan.config import resolve_config
    from dcgan.metrics.evaluate import write_json

    presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    runs = {}
    for preset in presets:  # training first, back to back, while nothing else runs
        config = resolve_config(
            preset,
            {"seed": args.seed, "epochs": 1000, "device": args.device},
            keep_checkpoints=1000,
            checkpoint_minutes=0.0,
            eval_every=0,
        )
        run, seconds = Path(args.work) / preset, None
        if args.score_only:
            if not list_checkpoints(run):
                raise SystemExit(f"error: --score-only: no checkpoints in {run}; train first (leave --score-only out)")
            config = read_checkpoint(list_checkpoints(run)[-1], prefixes=()).config
        else:
            run, seconds = train_for_budget(config, run, None, args.seconds, args.cache_dir, not args.no_progress)
        runs[preset] = (run, seconds, config)
    record: dict[str, Any] = {"benchmark": "curve", "seconds": args.seconds, "num": args.num, "presets": {}}
    for preset, (run, seconds, config) in runs.items():
        points = scored_checkpoints(run, args.metrics, args.final_metrics, args)
        record["presets"][preset] = {
            "config": config.to_dict(),
            "wall_seconds": seconds and round(seconds, 1),
            "points": points,
        }
    record["machine"] = {
        "platform": platform.platform(),
        "cpu": cpu_name(),
        "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(),
    }
    write_json(record, Path(args.json))
    plot_curve(record, args.metrics.split(",")[0], Path(args.json).with_suffix(".png"))

    keys = [
        k for k in ("fid_fashion", "fid", "kid") if any(k in p for r in record["presets"].values() for p in r["points"])
    ]
    print("| preset | seconds | step | " + " | ".join(keys) + " |")
    print("|---|---|---|" + "---|" * len(keys))
    for preset, r in record["presets"].items():
        for p in r["points"]:
            values = " | ".join(f"{p[k]:.4g}" if k in p else "-" for k in keys)
            print(f"| {preset} | {p['train_seconds']:.0f} | {p['step']} | {values} |")
    finals = {preset: r["points"][-1] for preset, r in record["presets"].items() if r["points"]}
    if len(finals) >= 2:
        first, *others = presets
        for other in others:
            for k in keys:
                if k in finals[first] and k in finals.get(other, {}):
                    ratio = finals[other][k] / finals[first][k]
                    print(f"{k} at the end: {other} / {first} = {ratio:.2f}")
    print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
