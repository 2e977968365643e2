"""Serving under load: `dcgan serve` answering concurrent clients on loopback.

Starts the real command (`dcgan serve RUN --port FREE --device cpu`) and, for each client count in
`--clients`, lets that many threads (one httpx client each) POST /api/generate for a 16-image PNG
grid (a new seed each request) for `--seconds`; reports requests/s, images/s, latency p50/p99 and
errors; then the time of one /api/inpaint at the default and at the largest steps and candidates. The server runs the networks one request at a time under a lock (dcgan/serve/engine.py);
`--inference` also measures the alternative in-process, without HTTP: the same grids sampled by one
thread with every core (what the lock does) against two threads with one core each (a pool of two).

    python3 benchmarks/serve_load.py runs/fashion --json benchmarks/results/serve_load.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(run: str | None, pretrained: str | None, port: int) -> subprocess.Popen:
    target = ["--pretrained", pretrained] if pretrained else [run]
    command = [sys.executable, "-m", "dcgan", "serve", *target, "--port", str(port), "--device", "cpu"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"dcgan serve ended: {process.stderr.read() if process.stderr else ''}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/model", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("dcgan serve did not answer within 120 s")


def load(url: str, clients: int, seconds: float, num: int) -> dict:
    """`clients` threads asking for `num`-image grids for `seconds`: latencies and errors."""
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(index: int) -> None:
        rng = random.Random(index)
        with httpx.Client(timeout=120) as http:
            while time.perf_counter() < stop_at:
                started = time.perf_counter()
                try:
                    r = http.post(f"{url}/api/generate", json={"num": num, "seed": rng.randrange(2**31)})
                    ok = r.status_code == 200 and r.headers["content-type"] == "image/png"
                    why = "" if ok else f"{r.status_code} {r.text[:80]}"
                except httpx.HTTPError as e:
                    why = f"{type(e).__name__}: {e}"
                with lock:
                    (errors.append(why) if why else latencies.append(time.perf_counter() - started))

    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - began
    ms = sorted(1000 * v for v in latencies)

    def pct(q: float) -> float:
        return ms[min(len(ms) - 1, round(q * (len(ms) - 1)))] if ms else float("nan")

    return {
        "clients": clients,
        "seconds": round(wall, 2),
        "requests": len(ms),
        "errors": len(errors),
        "error_examples": errors[:3],
        "requests_per_second": round(len(ms) / wall, 2),
        "images_per_second": round(len(ms) * num / wall, 1),
        "latency_ms_p50": round(pct(0.5), 1),
        "latency_ms_p99": round(pct(0.99), 1),
        "latency_ms_mean": round(statistics.fmean(ms), 1) if ms else None,
    }


def inpaint_latency(url: str, size: int, repeats: int = 3) -> list[dict]:
    """Seconds per /api/inpaint (one client, a random image with a centre hole) at the default and the most
    steps and candidates the server allows."""
    import io

    import numpy as np
    from PIL import Image

    from dcgan.serve import limits

    def png(array: np.ndarray) -> bytes:
        buffer = io.BytesIO()
        Image.fromarray(array).save(buffer, "PNG")
        return buffer.getvalue()

    image = png(np.random.default_rng(0).integers(0, 256, (size, size), dtype=np.uint8))
    hole = np.zeros((size, size), np.uint8)
    hole[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = 255
    rows = []
    settings = (
        (limits.INPAINT_STEPS, limits.INPAINT_CANDIDATES),
        (limits.MAX_INPAINT_STEPS, limits.MAX_INPAINT_CANDIDATES),
    )
    for steps, candidates in settings:
        times = []
        for _ in range(repeats):
            files = {"image": ("i.png", image, "image/png"), "mask": ("m.png", png(hole), "image/png")}
            started = time.perf_counter()
            r = httpx.post(
                f"{url}/api/inpaint",
                files=files,
                data={"steps": str(steps), "candidates": str(candidates)},
                timeout=300,
            )
            r.raise_for_status()
            times.append(time.perf_counter() - started)
        rows.append({"steps": steps, "candidates": candidates, "seconds_median": round(statistics.median(times), 2)})
    return rows


def inference(run: str | None, pretrained: str | None, seconds: float, num: int, rounds: int = 5) -> list[dict]:
    """Grids per second without HTTP: one thread with all cores (the lock) vs two threads with one core each
    (a pool of two), in `rounds` interleaved turns of `seconds` / `rounds` each (a shared CPU's load drifts)."""
    import torch

    from dcgan.generator import load_generator
    from dcgan.pretrained import load_pretrained

    model = load_pretrained(pretrained) if pretrained else load_generator(run)
    cores = os.cpu_count() or 1
    designs = ((1, cores), (2, max(1, cores // 2)))
    rates: dict[tuple[int, int], list[float]] = {d: [] for d in designs}
    model.sample(num, seed=0)  # warm-up
    for _ in range(rounds):
        for threads, torch_threads in designs:
            torch.set_num_threads(torch_threads)
            done = [0] * threads
            stop_at = time.perf_counter() + seconds / rounds

            def work(i: int, done: list[int] = done, stop_at: float = stop_at) -> None:
                while time.perf_counter() < stop_at:
                    model.sample(num, seed=done[i] + 1000 * i)
                    done[i] += 1

            began = time.perf_counter()
            pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
            for t in pool:
                t.start()
            for t in pool:
                t.join()
            rates[(threads, torch_threads)].append(sum(done) / (time.perf_counter() - began))
    return [
        {
            "threads": threads,
            "torch_threads": torch_threads,
            "grids_per_second_median": round(statistics.median(r), 2),
            "grids_per_second_rounds": [round(v, 2) for v in r],
        }
        for (threads, torch_threads), r in rates.items()
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", nargs="?", default=None, help="a run directory or checkpoint (or --pretrained NAME)")
    ap.add_argument("--pretrained", default=None)
    ap.add_argument("--clients", default="1,4", help="client counts, one load phase each")
    ap.add_argument("--seconds", type=float, default=20, help="length of each load phase")
    ap.add_argument("--num", type=int, default=16, help="images per grid")
    ap.add_argument("--inference", action="store_true", help="also compare lock vs a pool of two, in-process")
    ap.add_argument("--json", default="benchmarks/results/serve_load.json")
    args = ap.parse_args()
    if (args.run is None) == (args.pretrained is None):
        ap.error("give RUN or --pretrained NAME")

    load_before = os.getloadavg()
    port = free_port()
    process = start(args.run, args.pretrained, port)
    phases = []
    try:
        url = f"http://127.0.0.1:{port}"
        httpx.post(f"{url}/api/generate", json={"num": args.num}, timeout=120)  # warm-up
        model = httpx.get(f"{url}/api/model").json()["accepts"]
        for clients in (int(c) for c in args.clients.split(",")):
            phases.append(load(url, clients, args.seconds, args.num))
        inpainting = inpaint_latency(url, model["size"])
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    result = {
        "what": f"POST /api/generate, {args.num}-image PNG grid, new seed per request, loopback",
        "model": args.pretrained or args.run,
        "image_size": model["size"],
        "channels": model["channels"],
        "phases": phases,
        "inpaint": inpainting,
        "inference": inference(args.run, args.pretrained, args.seconds, args.num) if args.inference else None,
        "cpu_count": os.cpu_count(),
        "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "platform": platform.platform(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d"),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'clients':>7} {'req/s':>7} {'img/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'requests':>8}")
    for p in phases:
        print(
            f"{p['clients']:>7} {p['requests_per_second']:>7} {p['images_per_second']:>7} "
            f"{p['latency_ms_p50']:>8} {p['latency_ms_p99']:>8} {p['errors']:>6} {p['requests']:>8}"
        )
    for row in inpainting:
        print(
            f"inpaint, {row['steps']} steps x {row['candidates']} candidates: {row['seconds_median']} s (median of 3)"
        )
    for row in result["inference"] or []:
        rate, turns = row["grids_per_second_median"], len(row["grids_per_second_rounds"])
        print(
            f"in-process: {row['threads']} thread(s) x {row['torch_threads']} torch threads: {rate} grids/s ({turns} turns)"
        )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
