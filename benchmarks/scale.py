"""Multi-process scaling: training images/s with 1 and 2 processes on this machine's CPU, and the GPU commands.

Trains the main job's preset (`fashion-dcgan`: the 28 px DCGAN on Fashion-MNIST, default precision) for
`--steps` steps at each global batch (64 and 128) with one process (`dcgan train`) and with two
(`torchrun --nproc_per_node 2`, gloo, the global batch split in halves). The rate is the training images/s
after the first logging interval (warm-up), from metrics.jsonl (`images_seen` over `elapsed`: training time
only, not start-up, snapshots or checkpoints). Prints a table and writes JSON.

    python3 benchmarks/scale.py --steps 60 --json benchmarks/results/scale.json

On GPUs the same measurement is the 64 px DCGAN at batch 128 per GPU (global 128 x N) with 1, 2, 4 and 8
processes; `--gpu-commands` prints those commands, and `--report RUN [RUN ...]` turns their run folders into
the table (images/s and scaling efficiency: rate(N) / (N x rate(1)); the goal is >= 90% at 8 GPUs).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

GPU_COUNTS = (1, 2, 4, 8)


def rate(run: Path) -> tuple[float, int, int]:
    """(images/s after the first logged interval, steps, world size) of a finished run folder."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    lines = [r for r in records if "loss_d" in r]
    if len(lines) < 2:
        raise SystemExit(f"{run}: fewer than two logged intervals; train longer (--max-steps) or log more often")
    first, last = lines[0], lines[-1]
    from dcgan.checkpoint import list_checkpoints, read_checkpoint

    world = read_checkpoint(list_checkpoints(run)[-1]).meta["extra"].get("world_size", 1)
    return (last["images_seen"] - first["images_seen"]) / (last["elapsed"] - first["elapsed"]), last["step"], world


def gpu_commands(data: str, steps: int) -> list[str]:
    return [
        f"torchrun --standalone --nproc_per_node {n} -m dcgan train --preset celeba-dcgan --data {data} "
        f"--batch-size {128 * n} --max-steps {steps} --log-every 50 --checkpoint-minutes 0 --no-progress "
        f"--out runs/scale-{n}gpu"
        for n in GPU_COUNTS
    ]


def report(runs: list[Path]) -> list[dict]:
    rows = []
    for run in runs:
        ips, steps, world = rate(run)
        rows.append({"run": str(run), "processes": world, "steps": steps, "images_per_second": ips})
    base = next((r["images_per_second"] for r in rows if r["processes"] == 1), None)
    for r in rows:
        r["efficiency"] = r["images_per_second"] / (r["processes"] * base) if base else None
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=60, help="training steps per measurement")
    ap.add_argument("--batches", default="64,128", help="global batch sizes")
    ap.add_argument("--repeats", type=int, default=2, help="measurements of each row, interleaved; the best is kept")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--json", default="benchmarks/results/scale.json")
    ap.add_argument("--gpu-commands", action="store_true", help="print the GPU commands and exit")
    ap.add_argument("--report", nargs="+", type=Path, default=None, help="run folders of the GPU commands")
    args = ap.parse_args()

    if args.gpu_commands or args.report:
        if args.report:
            for r in report(args.report):
                eff = f"{100 * r['efficiency']:.0f}%" if r["efficiency"] is not None else "-"
                print(f"{r['processes']:>3} processes  {r['images_per_second']:>9.0f} images/s  efficiency {eff}")
        else:
            print("\n".join(gpu_commands("/path/to/celeba", 300)))
        return

    import torch

    from dcgan.device import cpu_has_native_bf16

    out = Path(tempfile.mkdtemp(prefix="dcgan-scale-"))
    torchrun = shutil.which("torchrun") or "torchrun"
    dcgan = shutil.which("dcgan") or "dcgan"
    rows: list[dict] = []
    cases = [(int(b), nproc) for b in args.batches.split(",") for nproc in (1, 2)]
    try:
        for repeat, (batch, nproc) in ((r, c) for r in range(args.repeats) for c in cases):
            run = out / f"b{batch}-p{nproc}-r{repeat}"
            load = os.getloadavg()[0]
            common = ["train", "--preset", "fashion-dcgan", "--data", args.data, "--batch-size", str(batch)]
            common += ["--max-steps", str(args.steps), "--log-every", "10", "--checkpoint-minutes", "0"]
            common += ["--no-progress", "--device", "cpu", "--out", str(run)]
            launcher = [dcgan] if nproc == 1 else [torchrun, "--standalone", "--nproc_per_node=2", "-m", "dcgan"]
            cmd = launcher + common
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            ips, steps, world = rate(run)
            shutil.rmtree(run, ignore_errors=True)
            row = {"global_batch": batch, "processes": nproc, "steps": steps, "images_per_second": round(ips, 1)}
            row["load_average_before"] = round(load, 2)
            row["command"] = " ".join(Path(c).name if c in (dcgan, torchrun) else c for c in cmd)
            print(f"batch {batch:>4}  {nproc} process(es)  {ips:8.1f} images/s  (load {load:.1f})", flush=True)
            best = next((r for r in rows if (r["global_batch"], r["processes"]) == (batch, nproc)), None)
            row["measured"] = [*(best["measured"] if best else []), row["images_per_second"]]
            if best is None:
                rows.append(row)
            elif ips > best["images_per_second"]:
                rows[rows.index(best)] = row
            else:
                best["measured"] = row["measured"]
    finally:
        shutil.rmtree(out, ignore_errors=True)
    for r in rows:
        one = next(x for x in rows if x["global_batch"] == r["global_batch"] and x["processes"] == 1)
        r["speedup_vs_1"] = round(r["images_per_second"] / one["images_per_second"], 3)

    print("\n| global batch | processes | images/s | vs 1 process |\n|---|---|---|---|")
    for r in rows:
        print(f"| {r['global_batch']} | {r['processes']} | {r['images_per_second']:.0f} | {r['speedup_vs_1']:.2f}x |")
    print("\nGPU commands (unmeasured here; then: python3 benchmarks/scale.py --report runs/scale-*gpu):")
    print("\n".join(gpu_commands("/path/to/celeba", 300)))
    result = {
        "what": "training images/s, 28 px DCGAN (fashion-dcgan), 1 vs 2 processes (torchrun, gloo) on the CPU",
        "torch": torch.__version__,
        "cpu_count": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "native_bf16": cpu_has_native_bf16(),
        "steps": args.steps,
        "rows": rows,
        "gpu_commands_unmeasured": gpu_commands("/path/to/celeba", 300),
        "command": "python3 benchmarks/scale.py " + " ".join(sys.argv[1:]),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
