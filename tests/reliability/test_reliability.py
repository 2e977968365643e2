"""What we guarantee, proved with real processes and files: nothing lost, nothing trusted that should not be."""

from __future__ import annotations

import errno
import functools
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dcgan import checkpoint as ckpt
from dcgan.checkpoint import list_checkpoints, read_checkpoint
from dcgan.errors import CheckpointError, DcganError, DivergenceError
from dcgan.generator import load_generator
from dcgan.training.trainer import train
from factories import tiny_config

TINY = [
    "--data",
    "synthetic",
    "--size",
    "28",
    "--limit",
    "64",
    "--g-channels",
    "8",
    "--d-channels",
    "8",
    "--snapshot-every",
    "1",
    "--batch-size",
    "16",
    "--log-every",
    "1",
    "--sample-grid",
    "4",
    "--no-progress",
]


tiny = functools.partial(tiny_config, epochs=3, sample_grid=4)


def start(out: Path, *extra: str, log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "dcgan.cli", "train", "--out", str(out), *extra],
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),
        env=env,
    )


def newest_step(run: Path) -> int:
    cks = list_checkpoints(run)
    return read_checkpoint(cks[-1]).step if cks else -1


def _peek_step(run: Path) -> int:
    """newest_step while a trainer is writing: the newest file may be replaced as we read it."""
    try:
        return newest_step(run)
    except Exception:
        return -1


def test_sigkill_at_random_moments_never_loses_the_last_checkpoint(tmp_path: Path) -> None:
    """Kill -9 the trainer again and again; each restart resumes from the newest complete checkpoint."""
    run = tmp_path / "run"
    rng = random.Random(1234)
    deadline = time.monotonic() + 120
    kills, resumed_from = 0, []
    args = [*TINY, "--epochs", "500"]
    while kills < 6 and time.monotonic() < deadline:
        resume = ["--resume"] if list_checkpoints(run) else []
        if not resume and run.exists():
            # Killed before the first checkpoint: a run directory without checkpoints cannot resume.
            import shutil

            shutil.rmtree(run)
        before = newest_step(run)
        log = tmp_path / f"log{kills}.txt"
        proc = start(run, *args, *resume, log=log)
        # Wait until this process has trained and saved at least once (start-up time varies with
        # machine load), then kill it at a random moment: epochs are 4 steps, so saves are frequent
        # and some kills land in the middle of one.
        started = time.monotonic()
        while _peek_step(run) <= before and proc.poll() is None and time.monotonic() - started < 60:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 1.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        text = log.read_text()
        m = re.search(r"resuming .* from step (\d+)", text)
        if resume and m:
            resumed_from.append(int(m.group(1)))
            assert int(m.group(1)) == before, text  # continued from the newest complete checkpoint
        # Whatever moment the kill hit, every checkpoint file present is complete and loads.
        for p in list_checkpoints(run):
            read_checkpoint(p)
        assert newest_step(run) >= before
    assert kills >= 3 and resumed_from, "the loop must have killed and resumed at least once"
    # Finally let it finish: resume with a short length.
    done_epoch = read_checkpoint(list_checkpoints(run)[-1]).meta["epoch"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dcgan.cli",
            "train",
            "--out",
            str(run),
            "--resume",
            "--epochs",
            str(done_epoch + 1),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert read_checkpoint(list_checkpoints(run)[-1]).meta["epoch"] == done_epoch + 1
    steps = [json.loads(l)["step"] for l in (run / "metrics.jsonl").read_text().splitlines() if '"loss_d"' in l]
    assert steps == sorted(set(steps)), "metrics.jsonl has no duplicated or reordered steps after resumes"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sigint_and_sigterm_save_and_exit_cleanly(sig: signal.Signals, tmp_path: Path) -> None:
    run = tmp_path / "run"
    log = tmp_path / "log.txt"
    proc = start(run, *TINY, "--epochs", "500", log=log)
    deadline = time.monotonic() + 60
    while not (run / "metrics.jsonl").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    proc.send_signal(sig)
    assert proc.wait(timeout=60) == 0, log.read_text()
    text = log.read_text()
    assert "resume with: dcgan train --out" in text and "Traceback" not in text
    step = newest_step(run)
    last_logged = max(json.loads(l)["step"] for l in (run / "metrics.jsonl").read_text().splitlines())
    assert step == last_logged > 0  # the checkpoint is the step the run stopped at
    # And it resumes from there.
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dcgan.cli",
            "train",
            "--out",
            str(run),
            "--resume",
            "--epochs",
            str(read_checkpoint(list_checkpoints(run)[-1]).meta["epoch"] + 1),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and f"from step {step}" in proc.stderr, proc.stderr


def _nan_at(step_to_break: int, monkeypatch: pytest.MonkeyPatch) -> dict:
    """Make the D loss NaN once, at a given call, through the real loss registry."""
    from dcgan import losses

    calls = {"n": 0}
    real_loss = losses.LOSSES["bce"]

    class Poisoned:
        needs_gradient_penalty = False

        def d_loss(self, r, f, real_label=1.0):
            calls["n"] += 1
            a, b = real_loss.d_loss(r, f, real_label)
            if calls["n"] == step_to_break:
                a = a * float("nan")
            return a, b

        def g_loss(self, f):
            return real_loss.g_loss(f)

    monkeypatch.setitem(losses.LOSSES, "bce", Poisoned())
    return calls


def test_nan_rolls_back_to_the_last_checkpoint_with_lower_learning_rates(tmp_path: Path, monkeypatch) -> None:
    _nan_at(5, monkeypatch)  # epoch 2 (3 steps per epoch); the epoch-1 checkpoint is at step 3
    run = train(tiny(epochs=3), tmp_path / "run", progress=False)
    recs = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    events = [r for r in recs if r.get("event") == "rollback"]
    assert len(events) == 1 and events[0]["step"] == 3 and events[0]["diverged_at"] == 5
    assert events[0]["lr_d"] == pytest.approx(1e-4) and events[0]["lr_g"] == pytest.approx(1e-4)
    ck = read_checkpoint(list_checkpoints(run)[-1])
    assert ck.meta["epoch"] == 3 and ck.meta["extra"]["rollbacks"] == 1
    assert ck.optimizer_state("optD")["param_groups"][0]["lr"] == pytest.approx(1e-4)
    for t in ck.tensors.values():
        if t.is_floating_point():
            assert torch.isfinite(t).all()


def test_nan_with_stop_policy_stops_with_a_distinct_exit_code(tmp_path: Path, monkeypatch) -> None:
    _nan_at(5, monkeypatch)
    with pytest.raises(DivergenceError, match="diverged at step 5") as e:
        train(tiny(epochs=3, on_divergence="stop"), tmp_path / "run", progress=False)
    assert e.value.exit_code == 3
    # The last good checkpoint is intact and holds no NaN.
    assert newest_step(tmp_path / "run") == 3


def test_full_disk_during_save_keeps_the_old_checkpoint(tmp_path: Path, monkeypatch) -> None:
    run = train(tiny(epochs=1), tmp_path / "run", progress=False)
    old = list_checkpoints(run)[-1]
    old_bytes = old.read_bytes()
    real_fsync = os.fsync

    def full(fd):
        # The disk fills up while a checkpoint is written (the run's write probe passed earlier).
        if "checkpoints" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_fsync(fd)

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(CheckpointError, match="disk is full"):
        train(tiny(epochs=2), run, resume=True, progress=False)
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert list_checkpoints(run)[-1] == old and old.read_bytes() == old_bytes
    assert not [p for p in (run / "checkpoints").iterdir() if ".tmp" in p.name]
    train(tiny(epochs=2), run, resume=True, progress=False)  # and training goes on once there is space
    assert newest_step(run) == 6


def test_unwritable_output_fails_before_training(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(DcganError, match="--out"):
        train(tiny(), blocker / "run", progress=False)


def test_read_only_folder_fails_before_training(tmp_path: Path, monkeypatch) -> None:
    real_open = open

    def ro_open(path, *a, **k):
        if str(path).endswith(".write-test"):
            raise OSError(errno.EROFS, "Read-only file system")
        return real_open(path, *a, **k)

    monkeypatch.setattr("builtins.open", ro_open)
    with pytest.raises(DcganError, match="cannot write there"):
        train(tiny(), tmp_path / "run", progress=False)
    assert not list_checkpoints(tmp_path / "run")


def test_checkpoint_with_non_finite_weights_is_never_written(tmp_path: Path) -> None:
    g = torch.nn.Linear(2, 2)
    with torch.no_grad():
        g.weight[0, 0] = float("nan")
    opt = torch.optim.Adam(g.parameters())
    with pytest.raises(CheckpointError, match="non-finite"):
        ckpt.save_checkpoint(
            tmp_path,
            config=tiny(),
            generator=g,
            discriminator=g,
            opt_g=opt,
            opt_d=opt,
            step=1,
            epoch=0,
            images_seen=0,
            rng={},
        )
    assert not list_checkpoints(tmp_path)


def test_a_torn_checkpoint_is_skipped_on_resume(tmp_path: Path) -> None:
    run = train(tiny(epochs=2), tmp_path / "run", progress=False)
    newest = list_checkpoints(run)[-1]
    newest.write_bytes(newest.read_bytes()[:1000])  # as if cut off by a crash outside our writer
    train(tiny(epochs=3), run, resume=True, progress=False)
    assert newest_step(run) == 9


def test_pickles_are_never_executed(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {sentinel}",))

    for name in ("x.pt", "x.pth", "x.ckpt"):
        torch.save({"G": Evil()}, tmp_path / name)
        with pytest.raises(CheckpointError, match="pickle"):
            load_generator(tmp_path / name)
    # A pickle renamed to .safetensors is not a safetensors file: refused, never unpickled.
    (tmp_path / "x.safetensors").write_bytes((tmp_path / "x.pt").read_bytes())
    with pytest.raises(CheckpointError):
        load_generator(tmp_path / "x.safetensors")
    assert not sentinel.exists()


def test_determinism_bit_identical_after_n_steps(tmp_path: Path) -> None:
    a = train(tiny(epochs=2), tmp_path / "a", progress=False)
    b = train(tiny(epochs=2), tmp_path / "b", progress=False)
    ta = read_checkpoint(list_checkpoints(a)[-1]).tensors
    tb = read_checkpoint(list_checkpoints(b)[-1]).tensors
    assert ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)
    assert (a / "samples/epoch_0002.png").read_bytes() == (b / "samples/epoch_0002.png").read_bytes()
