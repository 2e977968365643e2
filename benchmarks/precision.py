"""Precision on the CPU: does the bf16 + channels-last default train as well as fp32, and how much faster?

Trains the main job's preset (`fashion-dcgan`, all 60,000 Fashion-MNIST images) twice in one run, for
the same number of epochs and the same seed: once as the CPU ran before (`--amp off --channels-last
off`: fp32, contiguous) and once with today's defaults (`auto`: bf16 autocast + channels-last on a CPU
with native bf16). Reports each run's training seconds and wall seconds, the speed ratio, and the
quality of the final generator against the Fashion-MNIST test split: FID and KID on `--num-inception`
images (TF-Inception, slow on a CPU), the domain FID on `--num-domain` images. Prints a table, writes JSON.

    python benchmarks/precision.py --epochs 5 --json benchmarks/results/precision-cpu.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = (("fp32, contiguous (before)", "off", "off"), ("default (auto, auto)", "auto", "auto"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="fashion-dcgan")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--num-inception", type=int, default=1000, help="images per set for FID/KID")
    ap.add_argument("--num-domain", type=int, default=10000, help="images per set for the domain FID")
    ap.add_argument("--out", default=None, help="where the two runs go (default: a temp dir)")
    ap.add_argument("--json", default="benchmarks/results/precision-cpu.json")
    args = ap.parse_args()

    import torch

    from dcgan import load_generator, resolve_config, train
    from dcgan.device import amp_dtype, cpu_has_native_bf16

    sys.path.insert(0, str(Path(__file__).parent))
    from fid_sanity import measure, open_fashion_splits

    out = Path(args.out or tempfile.mkdtemp(prefix="dcgan-precision-"))
    test_store, _ = open_fashion_splits()
    rows = []
    for label, amp, channels_last in VARIANTS:
        config = resolve_config(
            args.preset,
            epochs=args.epochs,
            seed=args.seed,
            amp=amp,
            channels_last=channels_last,
            device="cpu",
            eval_every=0,  # wall-clock of training alone
        )
        run = out / amp
        started = time.perf_counter()
        train(config, run, progress=False)
        wall = time.perf_counter() - started
        records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        train_seconds = max(r["elapsed"] for r in records if "elapsed" in r)
        G = load_generator(run)
        n = max(args.num_inception, args.num_domain)
        quality = measure(test_store, G.sample(n, seed=1).numpy(), args.num_inception, args.num_domain, "cpu")
        rows.append(
            {
                "variant": label,
                "amp": amp,
                "channels_last": channels_last,
                "steps": G.step,
                "wall_seconds": wall,
                "train_seconds": train_seconds,
                **quality,
            }
        )
        print(f"  {label}: {train_seconds:.0f} s training, {wall:.0f} s wall, {quality}", file=sys.stderr)

    base = rows[0]["train_seconds"]
    print(
        f"\nCPU: {platform.processor() or 'cpu'}, {os.cpu_count()} cores, torch {torch.__version__}, native bf16: "
        f"{cpu_has_native_bf16()} (auto picks {amp_dtype('auto', torch.device('cpu'))}); preset {args.preset}, "
        f"{args.epochs} epochs, seed {args.seed}; FID/KID on {args.num_inception}, domain FID on {args.num_domain} "
        "generated vs test images"
    )
    print(f"{'variant':<28}{'steps':>7}{'train s':>9}{'wall s':>8}{'speed':>7}{'FID':>8}{'KID':>9}{'dom. FID':>10}")
    for r in rows:
        print(
            f"{r['variant']:<28}{r['steps']:>7}{r['train_seconds']:>9.0f}{r['wall_seconds']:>8.0f}"
            f"{base / r['train_seconds']:>6.2f}x{r['fid']:>8.1f}{r['kid']:>9.4f}{r['fid_fashion']:>10.3f}"
        )
    result = {
        "preset": args.preset,
        "epochs": args.epochs,
        "seed": args.seed,
        "torch": torch.__version__,
        "cpu": platform.processor(),
        "native_bf16": cpu_has_native_bf16(),
        "rows": rows,
        "command": " ".join(sys.argv),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
