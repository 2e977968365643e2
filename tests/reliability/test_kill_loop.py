"""The kill loop: at least 30 SIGKILLs at random moments (before the first save, during mid-epoch
time-based saves, at epoch ends), each followed by the same command line plus --resume, end in a run
whose generator is bit-identical to an uninterrupted run's, with nothing left behind but the kept
checkpoints. Slow (about two minutes on 2 cores): `python3 -m pytest -m slow tests/reliability/test_kill_loop.py`."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dcgan.checkpoint import list_checkpoints, read_checkpoint
from dcgan.generator import load_generator

KILLS = 30
# 480 synthetic images, 16 per step: 30 steps an epoch, 200 epochs; a time-based checkpoint every ~0.3 s.
ARGS = [
    "--data",
    "synthetic",
    "--size",
    "28",
    "--limit",
    "480",
    "--epochs",
    "200",
    "--batch-size",
    "16",
    "--g-channels",
    "8",
    "--d-channels",
    "8",
    "--log-every",
    "5",
    "--sample-grid",
    "4",
    "--snapshot-every",
    "4",
    "--checkpoint-minutes",
    "0.005",
    "--keep-checkpoints",
    "2",
    "--seed",
    "7",
    "--no-progress",
]


def command(out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "dcgan", "train", *ARGS, "--out", str(out), *extra]


@pytest.mark.slow
def test_thirty_random_kills_end_in_the_uninterrupted_run(tmp_path: Path) -> None:
    straight = tmp_path / "straight"
    subprocess.run(command(straight), check=True, capture_output=True)
    run = tmp_path / "run"
    rng = random.Random(0)
    kills, finished, seen_mid_epoch, started = 0, False, False, time.monotonic()
    while not finished:
        proc = subprocess.Popen(command(run, "--resume"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if kills < KILLS:
            try:
                proc.wait(timeout=rng.uniform(1.0, 4.0))
            except subprocess.TimeoutExpired:
                proc.kill()
                kills += 1
        _, err = proc.communicate()
        finished = proc.returncode == 0
        assert finished or proc.returncode == -9, err.decode()
        for path in list_checkpoints(run):
            try:
                seen_mid_epoch |= read_checkpoint(path).meta["extra"]["batch_index"] > 0
            except Exception:  # a checkpoint rotated away between listing and reading
                pass
    elapsed = time.monotonic() - started
    print(f"\n{kills} kills, {elapsed:.0f} s")
    assert kills >= KILLS and seen_mid_epoch
    a, b = load_generator(straight), load_generator(run)
    assert a.step == b.step == 6000
    for (name, x), (_, y) in zip(a.generator.state_dict().items(), b.generator.state_dict().items(), strict=True):
        assert torch.equal(x, y), name
    # Nothing left behind but the kept checkpoints: no temp files anywhere in the run.
    assert not [p for p in run.rglob("*") if ".tmp-" in p.name]
    assert [p.name for p in list_checkpoints(run)][-1] == "ckpt-000006000.safetensors"
    assert len(list_checkpoints(run)) <= 2
