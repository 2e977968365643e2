"""Training speed: the conventional pipeline against dcgan's default path, on one machine, in one run.

Conventional = what the PyTorch DCGAN example does: per-image JPEG decode + resize + crop in
DataLoader workers, eager fp32, host sync every step (loss.item()). dcgan = `dcgan.training.trainer`
with its defaults: the packed uint8 store in (device) memory, batches sampled on the device, one
host read per logging interval, bf16 + channels-last + fused Adam on CUDA.

Measures images/s, seconds per CelebA-sized epoch (202,599 images at 64x64) and the one-time
packing cost of a folder of synthetic CelebA-sized JPEGs (178x218). Prints a table, writes JSON.

    python benchmarks/speed.py                        # CPU-sized defaults (a few minutes on 2 cores)
    python benchmarks/speed.py --step-table --steps 40        # CPU: the training step, fp32 vs bf16 x formats
    python benchmarks/speed.py --images 202599 --steps 300 --large-batch 1024 --workers 16   # GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

CELEBA_IMAGES = 202_599


def _write_jpegs(args: tuple[str, int, int, int]) -> None:
    from PIL import Image

    folder, start, stop, seed = args
    rng = np.random.default_rng(seed + start)
    for i in range(start, stop):
        # Smooth random colour fields compress like photos (not like white noise).
        small = rng.integers(0, 256, (14, 12, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((178, 218), Image.BICUBIC)
        img.save(os.path.join(folder, f"{i + 1:06d}.jpg"), quality=90)


def make_celeba_like(folder: Path, n: int, workers: int) -> float:
    folder.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    chunk = max(1, n // (workers * 4))
    jobs = [(str(folder), s, min(n, s + chunk), 0) for s in range(0, n, chunk)]
    with ProcessPoolExecutor(workers) as ex:
        list(ex.map(_write_jpegs, jobs))
    return time.perf_counter() - t


class JpegFolder(torch.utils.data.Dataset):
    """The reference pipeline's dataset: decode, resize, center-crop, normalise per image."""

    def __init__(self, folder: Path, size: int) -> None:
        self.files = sorted(folder.glob("*.jpg"))
        self.size = size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> torch.Tensor:
        from PIL import Image

        img = Image.open(self.files[i]).convert("RGB")
        w, h = img.size
        s = self.size / min(w, h)
        img = img.resize((max(self.size, round(w * s)), max(self.size, round(h * s))), Image.BILINEAR)
        w, h = img.size
        left, top = (w - self.size) // 2, (h - self.size) // 2
        img = img.crop((left, top, left + self.size, top + self.size))
        x = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1).float().div(127.5).sub(1)
        return x


def conventional(folder: Path, device: torch.device, batch: int, steps: int, workers: int, warmup: int) -> float:
    from dcgan.config import resolve_config
    from dcgan.models import build_models

    cfg = resolve_config("celeba-dcgan", {"data": str(folder)})
    g, d = build_models(cfg, 3)
    g.to(device), d.to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = torch.utils.data.DataLoader(
        JpegFolder(folder, 64),
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        drop_last=True,
        persistent_workers=workers > 0,
    )
    bce = torch.nn.BCEWithLogitsLoss()
    done, t0, seen = 0, None, 0
    while done < warmup + steps:
        for real in loader:
            if done == warmup:
                if device.type == "cuda":
                    torch.cuda.synchronize()
                t0, seen = time.perf_counter(), 0
            real = real.to(device)
            n = real.shape[0]
            z = torch.randn(n, 100, 1, 1, device=device)
            fake = g(z)
            errd = bce(d(real), torch.ones(n, device=device)) + bce(d(fake.detach()), torch.zeros(n, device=device))
            opt_d.zero_grad()
            errd.backward()
            opt_d.step()
            errg = bce(d(fake), torch.ones(n, device=device))
            opt_g.zero_grad()
            errg.backward()
            opt_g.step()
            errd.item(), errg.item()  # the reference prints these every step: a host sync
            done += 1
            seen += n
            if done >= warmup + steps:
                break
    if device.type == "cuda":
        torch.cuda.synchronize()
    return seen / (time.perf_counter() - t0)


def ours(folder: Path, device: torch.device, batch: int, steps: int, warmup: int, cache: Path) -> float:
    from dcgan.config import resolve_config
    from dcgan.training.trainer import train

    cfg = resolve_config(
        "celeba-dcgan",
        {
            "data": str(folder),
            "batch_size": batch,
            "device": str(device),
            "log_every": steps,
            "epochs": 10_000,
            "sample_grid": 16,
        },
    )
    with tempfile.TemporaryDirectory() as tmp:
        # Warm-up interval first (allocator, cuDNN autotuning), then one timed interval of `steps`.
        cfg.log_every = warmup
        run = train(cfg, Path(tmp) / "warm", progress=False, max_steps=warmup, cache_dir=cache)
        del run
        cfg.log_every = steps
        run = train(cfg, Path(tmp) / "run", progress=False, max_steps=steps + 1, cache_dir=cache)
        recs = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
        timed = [r for r in recs if "images_per_second" in r and r["step"] == steps]
        return float(timed[0]["images_per_second"])


#: The training-step variants of the CPU table: (label, --amp, --channels-last).
STEP_VARIANTS = (
    ("fp32, contiguous (CPU default before)", "off", "off"),
    ("fp32, channels-last", "off", "on"),
    ("bf16 autocast", "bf16", "off"),
    ("bf16 autocast + channels-last", "bf16", "on"),
    ("dcgan default now (auto, auto)", "auto", "auto"),
)
#: The shapes of the CPU table: (label, size, channels, batch).
STEP_SHAPES = (("28 px gray, batch 64", 28, 1, 64), ("64 px RGB, batch 128", 64, 3, 128))


def step_rate(size: int, channels: int, batch: int, amp: str, channels_last: str, steps: int, warmup: int) -> float:
    """Images/s of the project's own training step (`gan_step`, S1 recipe) on the CPU, data already in memory."""
    from dcgan.augment import make_augment
    from dcgan.config import resolve_config
    from dcgan.losses import get_loss
    from dcgan.sample import sample_latents
    from dcgan.training.state import TrainState
    from dcgan.training.trainer import gan_step

    cpu = torch.device("cpu")
    cfg = resolve_config(
        "fashion-dcgan", size=size, channels=channels, batch_size=batch, amp=amp, channels_last=channels_last
    )
    state = TrainState(cfg, channels, cpu)
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    loss, augment = get_loss(cfg.loss), make_augment(cfg.augment)
    real = (torch.rand(batch, channels, size, size) * 2 - 1).contiguous(memory_format=state.memory_format)
    for i in range(warmup + steps):
        if i == warmup:
            t = time.perf_counter()
        stats = gan_step(state, real, sample_latents(cfg, batch, state.z_rng, cpu), loss, augment, state.dtype, scaler)
    stats.tolist()  # wait for the last step, as the trainer's logging does
    return batch * steps / (time.perf_counter() - t)


def step_table(rounds: int, steps_28: int, steps_64: int, warmup: int, json_path: str) -> None:
    """The CPU step table: every variant on every shape, interleaved round by round; medians and ratios."""
    import statistics

    rates: dict[tuple[str, str], list[float]] = {}
    for r in range(rounds):
        for shape, size, channels, batch in STEP_SHAPES:
            steps = steps_28 if size <= 32 else steps_64
            for label, amp, cl in STEP_VARIANTS:
                # A fresh process per measurement: rates drift down when one process builds many models.
                cmd = [
                    sys.executable,
                    __file__,
                    "--one-step",
                    *map(str, (size, channels, batch, amp, cl, steps, warmup)),
                ]
                ips = float(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.split()[-1])
                rates.setdefault((shape, label), []).append(ips)
                print(f"  round {r + 1}: {shape}, {label}: {ips:,.1f} images/s", file=sys.stderr)
    from dcgan.device import amp_dtype, cpu_has_native_bf16

    cpu = torch.device("cpu")
    print(
        f"\nCPU: {platform.processor() or 'cpu'}, {os.cpu_count()} cores, torch {torch.__version__}, "
        f"a fresh process per measurement, native bf16: {cpu_has_native_bf16()}, "
        f"auto picks {amp_dtype('auto', cpu)}; median of {rounds} interleaved rounds"
    )
    header = f"{'step':<40}" + "".join(f"{shape:>26}" for shape, *_ in STEP_SHAPES)
    print(header)
    rows = []
    for label, amp, cl in STEP_VARIANTS:
        cells, row = [], {"variant": label, "amp": amp, "channels_last": cl}
        for shape, *_ in STEP_SHAPES:
            med = statistics.median(rates[(shape, label)])
            base = statistics.median(rates[(shape, STEP_VARIANTS[0][0])])
            cells.append(f"{med:>14,.1f} img/s ({med / base:.2f}x)")
            row[shape] = {"images_per_second": med, "ratio": med / base, "rounds": rates[(shape, label)]}
        rows.append(row)
        print(f"{label:<40}" + "".join(f"{c:>26}" for c in cells))
    out = {
        "cpu": platform.processor(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "native_bf16": cpu_has_native_bf16(),
        "rounds": rounds,
        "rows": rows,
        "command": " ".join(sys.argv),
    }
    Path(json_path).parent.mkdir(parents=True, exist_ok=True)
    Path(json_path).write_text(json.dumps(out, indent=2))
    print(f"wrote {json_path}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=4000, help="synthetic CelebA-sized JPEGs to pack and train on")
    ap.add_argument("--steps", type=int, default=20, help="timed steps per configuration")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--large-batch", type=int, default=512)
    ap.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1), help="DataLoader workers (reference)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--work-dir", default=None, help="where the JPEGs and the store go (default: a temp dir)")
    ap.add_argument("--json", default="benchmarks/results/speed.json")
    ap.add_argument(
        "--step-table",
        action="store_true",
        help="CPU: time the training step's precision/format "
        "variants side by side (today's default vs before) instead of the pipelines",
    )
    ap.add_argument("--rounds", type=int, default=3, help="--step-table: interleaved rounds (median)")
    ap.add_argument("--steps-64", type=int, default=6, help="--step-table: timed steps per variant at 64 px")
    ap.add_argument("--one-step", nargs=7, default=None, help=argparse.SUPPRESS)  # one measurement, in a child
    args = ap.parse_args()
    if args.one_step:
        size, channels, batch, amp, cl, steps, warmup = args.one_step
        print(step_rate(int(size), int(channels), int(batch), amp, cl, int(steps), int(warmup)))
        return
    if args.step_table:
        json_path = (
            args.json if args.json != "benchmarks/results/speed.json" else "benchmarks/results/speed-cpu-step.json"
        )
        step_table(args.rounds, args.steps, args.steps_64, args.warmup, json_path)
        return

    from dcgan.data.store import open_store
    from dcgan.device import resolve_device

    device = resolve_device(args.device)
    work = Path(args.work_dir or tempfile.mkdtemp(prefix="dcgan-speed-"))
    folder, cache = work / "img_align_celeba", work / "cache"
    n_existing = len(list(folder.glob("*.jpg"))) if folder.exists() else 0
    if n_existing != args.images:
        print(f"writing {args.images} synthetic 178x218 JPEGs ...", file=sys.stderr)
        make_celeba_like(folder, args.images, os.cpu_count() or 1)
    t = time.perf_counter()
    open_store(str(folder), 64, 3, cache_dir=cache, rebuild=True, progress=False)
    pack_s = time.perf_counter() - t

    rows = []
    for label, fn in (
        (
            f"conventional, batch {args.batch}",
            lambda: conventional(folder, device, args.batch, args.steps, args.workers, args.warmup),
        ),
        (
            f"dcgan default, batch {args.batch}",
            lambda: ours(folder, device, args.batch, args.steps, args.warmup, cache),
        ),
        (
            f"dcgan default, batch {args.large_batch}",
            lambda: ours(folder, device, args.large_batch, args.steps, args.warmup, cache),
        ),
    ):
        ips = fn()
        rows.append({"pipeline": label, "images_per_second": ips, "seconds_per_celeba_epoch": CELEBA_IMAGES / ips})
        print(f"  {label}: {ips:,.0f} images/s", file=sys.stderr)

    base = rows[0]["images_per_second"]
    device_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    print(f"\ndevice: {device} ({device_name}), torch {torch.__version__}, {os.cpu_count()} CPU cores")
    print(
        f"packing {args.images} JPEGs (178x218 -> 64x64): {pack_s:.1f} s = {args.images / pack_s:,.0f} images/s "
        f"(CelebA-sized: {CELEBA_IMAGES / (args.images / pack_s):.0f} s)"
    )
    print(f"{'pipeline':<32}{'images/s':>12}{'s/CelebA epoch':>16}{'speed-up':>10}")
    for r in rows:
        print(
            f"{r['pipeline']:<32}{r['images_per_second']:>12,.0f}{r['seconds_per_celeba_epoch']:>16,.1f}"
            f"{r['images_per_second'] / base:>9.1f}x"
        )
    out = {
        "device": str(device),
        "device_name": device_name,
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "images": args.images,
        "steps": args.steps,
        "workers": args.workers,
        "pack_seconds": pack_s,
        "pack_images_per_second": args.images / pack_s,
        "rows": rows,
        "command": " ".join(sys.argv),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
