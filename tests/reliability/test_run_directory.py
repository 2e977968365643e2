"""A run directory is never mixed, overwritten, orphaned or fed other data: each guarantee through the
installed `dcgan` command, with real processes, files and signals."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgan.checkpoint import list_checkpoints, read_checkpoint

TINY = ["--g-channels", "8", "--d-channels", "8", "--batch-size", "16", "--log-every", "1", "--sample-grid", "4"]
SYNTH = ["--data", "synthetic", "--size", "28", "--limit", "48", *TINY, "--no-progress"]


def dcgan(*args: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dcgan", *args], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    last = [line for line in proc.stderr.strip().splitlines() if line.strip()][-1]
    assert last.startswith("error: "), proc.stderr
    for needle in needles:
        assert needle in last, last
    return last


def faces(folder: Path, n: int, seed: int = 0, size: int = 40) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(folder / f"{i:03d}.png")
    return folder


def test_two_trainings_into_one_folder_one_is_refused_at_once(tmp_path: Path) -> None:
    out = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "dcgan", "train", *SYNTH, "--epochs", "100000", "--out", str(out)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not (out / "metrics.jsonl").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        for extra in ([], ["--resume"], ["--seed", "9"]):  # the same command, a requeue, another recipe
            second = dcgan("train", *SYNTH, "--epochs", "100000", "--out", str(out), *extra)
            one_line_error(second, "another training", f"pid {first.pid}", "is writing this run directory")
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=120)
    assert first.returncode == 0
    steps = [json.loads(line)["step"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [s for s, r in zip(steps, (out / "metrics.jsonl").read_text().splitlines(), strict=True) if "loss_d" in r]
    assert len(steps) == len(set(steps))  # nothing logged twice
    # Once the first has finished, the lock is free again.
    again = dcgan("train", *SYNTH, "--epochs", "100000", "--max-steps", "20", "--out", str(out), "--resume")
    assert again.returncode == 0, again.stderr


def test_resume_refuses_other_images_and_accepts_any_spelling_of_the_same(tmp_path: Path) -> None:
    data = faces(tmp_path / "faces", 32)
    run = tmp_path / "run"
    args = ["--size", "32", *TINY, "--no-progress", "--out", str(run)]
    assert dcgan("train", "--data", "faces", "--epochs", "1", *args, cwd=tmp_path).returncode == 0
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["data"] == str(data.resolve())  # stored resolved: resumable from anywhere
    # Same data, spelled another way, from another working directory: continues.
    other = dcgan("train", "--data", str(data / ".." / "faces"), "--epochs", "2", "--resume", *args, cwd=Path("/"))
    assert other.returncode == 0, other.stderr
    assert read_checkpoint(list_checkpoints(run)[-1]).meta["epoch"] == 2
    # No --data at all: the stored path.
    assert dcgan("train", "--epochs", "3", "--resume", *args, cwd=Path("/")).returncode == 0
    # Images deleted: refused with one line naming both, and the run is left as it was.
    for p in sorted(data.glob("*.png"))[:10]:
        p.unlink()
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    gone = dcgan("train", "--epochs", "4", "--resume", *args)
    one_line_error(gone, "not the images this run was trained on", "22 images", "32 images")
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before
    # Another folder altogether: refused too.
    elsewhere = faces(tmp_path / "other", 32, seed=5)
    one_line_error(dcgan("train", "--data", str(elsewhere), "--epochs", "4", "--resume", *args), str(elsewhere))


def test_out_inside_data_is_refused(tmp_path: Path) -> None:
    data = faces(tmp_path / "faces", 16)
    proc = dcgan("train", "--data", str(data), "--out", str(data / "runs" / "a"), *TINY, "--no-progress")
    one_line_error(proc, "is inside --data", "choose an --out outside it")
    assert not (data / "runs" / "a" / "config.json").exists()


def test_an_existing_folder_of_other_files_is_never_written_into(tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "config.json").write_text('{"my": "settings"}')
    (mine / "report.html").write_text("<p>my report</p>")
    for extra in ([], ["--resume"]):
        proc = dcgan("train", *SYNTH, "--epochs", "1", "--out", str(mine), *extra)
        one_line_error(proc, "this folder holds other files", "config.json")
    assert (mine / "config.json").read_text() == '{"my": "settings"}'
    assert sorted(p.name for p in mine.iterdir()) == ["config.json", "report.html"]
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    one_line_error(dcgan("train", *SYNTH, "--out", str(a_file)), "is a file")
    # An empty folder is fine.
    empty = tmp_path / "empty"
    empty.mkdir()
    assert dcgan("train", *SYNTH, "--epochs", "1", "--out", str(empty)).returncode == 0


def test_a_run_without_a_checkpoint_starts_again_with_resume(tmp_path: Path) -> None:
    out = tmp_path / "run"
    # --resume on a folder that does not exist yet: a new run (requeue loops always pass --resume).
    first = dcgan("train", *SYNTH, "--epochs", "1", "--out", str(out), "--resume")
    assert first.returncode == 0, first.stderr
    # A run killed before its first checkpoint: config.json and metrics, no checkpoint.
    shutil.rmtree(out / "checkpoints")
    saved = json.loads((out / "config.json").read_text())
    plain = dcgan("train", *SYNTH, "--epochs", "1", "--out", str(out))
    one_line_error(plain, "already holds a run", "--resume")
    again = dcgan("train", "--out", str(out), "--resume", "--no-progress")  # no recipe flags: config.json's
    assert again.returncode == 0, again.stderr
    assert "no checkpoint yet; starting the run from step 0" in again.stderr
    ck = read_checkpoint(list_checkpoints(out)[-1])
    assert ck.config.g_channels == saved["g_channels"] == 8 and ck.config.limit == 48
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss_d" in r] == [1, 2, 3]  # the old attempt's lines are gone


def test_time_based_checkpoints_save_mid_epoch_and_resume_exactly(tmp_path: Path) -> None:
    """--checkpoint-minutes saves inside an epoch; a kill after such a save resumes from it, mid-epoch,
    and ends with the same generator as a run never interrupted."""
    from dcgan.generator import load_generator

    args = ["--data", "synthetic", "--size", "28", "--limit", "480", *TINY, "--no-progress", "--epochs", "1"]
    straight = tmp_path / "straight"
    assert dcgan("train", *args, "--out", str(straight), "--checkpoint-minutes", "0").returncode == 0
    run = tmp_path / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dcgan", "train", *args, "--out", str(run), "--checkpoint-minutes", "0.002"],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
        read_checkpoint(p).meta["extra"]["batch_index"] > 0 for p in list_checkpoints(run)
    ):
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    mid = [read_checkpoint(p) for p in list_checkpoints(run)]
    assert any(0 < ck.meta["extra"]["batch_index"] < 30 for ck in mid)  # inside the 30-step epoch
    assert dcgan("train", *args, "--out", str(run), "--resume").returncode == 0
    a, b = load_generator(straight), load_generator(run)
    assert a.step == b.step == 30
    for (k, x), (_, y) in zip(a.generator.state_dict().items(), b.generator.state_dict().items(), strict=True):
        assert np.array_equal(x.numpy(), y.numpy()), k


def test_a_folder_without_preset_trains_in_its_own_channels_at_64_px(tmp_path: Path) -> None:
    data = faces(tmp_path / "faces", 8)
    proc = dcgan("train", "--data", str(data), "--out", str(tmp_path / "r"), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads(proc.stdout)
    assert cfg["size"] == 64 and cfg["channels"] is None
    assert "without --preset: training with --size 64 and its own channels" in proc.stderr
    # A preset or flags still decide; Fashion-MNIST keeps the default preset's 28 px gray.
    sized = json.loads(dcgan("train", "--data", str(data), "--size", "32", "--out", "x", "--dry-run").stdout)
    assert sized["size"] == 32
    fashion = json.loads(dcgan("train", "--out", "x", "--dry-run").stdout)
    assert (fashion["size"], fashion["channels"]) == (28, 1)


def test_a_full_disk_while_writing_grids_is_one_line_and_leaves_no_temp_files(tmp_path: Path, cli, monkeypatch) -> None:
    import dcgan.fsutil as fsutil

    real_replace = os.replace

    def replace(src, dst):  # the disk fills when the first sample grid is written
        if str(dst).endswith("epoch_0001.png"):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(fsutil.os, "replace", replace)
    out = tmp_path / "run"
    code, _, err = cli("train", *SYNTH, "--epochs", "2", "--snapshot-every", "1", "--out", str(out))
    assert code == 2
    assert "the disk is full while writing the sample grid" in err and "ckpt-000000003.safetensors is intact" in err
    assert not [p for p in out.rglob("*") if ".tmp-" in p.name]
    monkeypatch.setattr(fsutil.os, "replace", real_replace)
    code, _, err = cli("train", *SYNTH, "--epochs", "2", "--out", str(out), "--resume")
    assert code == 0, err


def test_stale_temp_files_from_kills_are_removed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert dcgan("train", *SYNTH, "--epochs", "1", "--out", str(out)).returncode == 0
    stale = out / "checkpoints" / ".ckpt-000000009.safetensors.tmp-99999"
    stale.write_bytes(b"\0" * 1000)
    assert dcgan("train", *SYNTH, "--epochs", "2", "--out", str(out), "--resume").returncode == 0
    assert not stale.exists()


def test_resume_records_its_changes_in_config_json(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert dcgan("train", *SYNTH, "--epochs", "1", "--out", str(out)).returncode == 0
    assert (
        dcgan("train", *SYNTH, "--epochs", "2", "--keep-checkpoints", "1", "--out", str(out), "--resume").returncode
        == 0
    )
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["epochs"] == 2 and cfg["keep_checkpoints"] == 1
    assert cfg["extra"]["resumes"] == [{"step": 3, "changed": {"epochs": [1, 2], "keep_checkpoints": [3, 1]}}]


@pytest.mark.slow
def test_sigterm_stops_an_evaluation_inside_training_at_once(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dcgan",
            "train",
            *SYNTH,
            "--epochs",
            "5",
            "--eval-every",
            "3",
            "--eval-num",
            "2048",
            "--eval-metrics",
            "fid",
            "--out",
            str(out),
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(15)  # inside the first evaluation: 2,048 Inception embeddings take minutes on a CPU
    sent = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert time.monotonic() - sent < 30
    assert "resume with: dcgan train" in err and list_checkpoints(out)
