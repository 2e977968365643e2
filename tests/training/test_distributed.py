"""Multi-process training with real processes: torchrun (and `dcgan train --nproc`), gloo on the CPU.

Each test starts real worker processes through the installed commands on tiny models and synthetic
data, and checks what a user would: the run directory rank 0 writes (and that nothing else is
written), the weights against one process, a killed rank, resumes across world sizes, a two-node
launch simulated on this machine, and the one-line errors.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from dcgan.checkpoint import list_checkpoints, read_checkpoint

TINY = [
    "--data",
    "synthetic",
    "--limit",
    "48",
    "--batch-size",
    "16",
    "--g-channels",
    "8",
    "--d-channels",
    "8",
    "--log-every",
    "1",
    "--sample-grid",
    "16",
    "--snapshot-every",
    "1",
    "--device",
    "cpu",
    "--no-progress",
]
RUN_FILES = {
    "config.json",
    "metrics.jsonl",
    "samples",
    "plots",
    "checkpoints",
    "real_vs_fake.png",
    "report.html",
    "progress.gif",
    ".lock",
}
TORCHRUN = shutil.which("torchrun") or "torchrun"
DCGAN = shutil.which("dcgan") or "dcgan"


def run_cmd(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def torchrun(nproc: int, *args: str) -> list[str]:
    return [TORCHRUN, "--standalone", f"--nproc_per_node={nproc}", "-m", "dcgan", "train", *args]


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def files_under(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def assert_complete_run(run: Path, steps: int) -> None:
    assert set(os.listdir(run)) == RUN_FILES
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss_d" in r] == list(range(1, steps + 1))  # one writer: no duplicates
    assert sorted(os.listdir(run / "samples")) == ["epoch_0001.png", "epoch_0002.png"]
    ck = read_checkpoint(list_checkpoints(run)[-1])
    assert ck.step == steps and ck.meta["extra"]["world_size"] == 2
    assert ck.meta["images_seen"] == 48 * 2  # the global batch: both ranks' images counted once


def test_torchrun_two_processes_train_and_rank_0_alone_writes(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = run_cmd(torchrun(2, *TINY, "--epochs", "2", "--out", str(tmp_path / "run")), cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_complete_run(tmp_path / "run", steps=6)
    assert files_under(cwd) == set()  # nothing written beside the run (and the shared store cache)
    assert proc.stdout.count("run finished:") == 1  # rank 0 speaks; rank 1's print is silenced
    assert proc.stderr.count("training on cpu") == 1


def test_nproc_shortcut_relaunches_under_torchrun(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    proc = run_cmd([DCGAN, "train", "--nproc", "2", *TINY, "--epochs", "2", "--out", str(tmp_path / "run")], cwd)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_complete_run(tmp_path / "run", steps=6)
    assert files_under(cwd) == set()
    assert proc.stdout.count("run finished:") == 1


@pytest.mark.parametrize("conditional", [[], ["--conditional"]], ids=["unconditional", "conditional"])
def test_two_processes_give_the_weights_of_one_process_at_the_same_global_batch(
    tmp_path: Path, conditional: list[str]
) -> None:
    # The MLP GAN has no BatchNorm (whose statistics are per process without --sync-bn, which needs CUDA), so
    # 2 x 32 and 1 x 64 compute the same gradients up to float rounding: same data rows, same latents (and,
    # conditional, the same real and fake labels: the fakes' are drawn for the global batch, then shared out).
    args = [*TINY, "--preset", "fashion-mlp", "--limit", "128", "--batch-size", "64", "--epochs", "2", *conditional]
    args += ["--amp", "off", "--channels-last", "off", "--mlp-hidden", "32"]
    one = run_cmd([DCGAN, "train", *args, "--out", str(tmp_path / "one")], tmp_path)
    assert one.returncode == 0, one.stderr[-3000:]
    two = run_cmd(torchrun(2, *args, "--out", str(tmp_path / "two")), tmp_path)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = (load_file(str(list_checkpoints(tmp_path / r)[-1])) for r in ("one", "two"))
    early = load_file(str(list_checkpoints(tmp_path / "one")[0]))  # step 2
    weights = [k for k in a if k.startswith(("G.", "D."))]
    assert len(weights) == (10 if conditional else 8)  # + the label embeddings of G and D
    for k in weights:
        assert (a[k] - b[k]).abs().max() < 1e-6, k  # measured: at most 1.5e-8 (summation order)
        assert (a[k] - early[k]).abs().max() > 1e-4, k  # while two steps move each tensor by ~4e-4
    # The logged losses are the global batch's: the ranks' means, averaged.
    logs = [
        [json.loads(line) for line in (tmp_path / r / "metrics.jsonl").read_text().splitlines()] for r in ("one", "two")
    ]
    for x, y in zip(*(([r for r in log if "loss_d" in r]) for log in logs), strict=True):
        assert (
            x["step"] == y["step"] and abs(x["loss_d"] - y["loss_d"]) < 1e-4 and abs(x["loss_g"] - y["loss_g"]) < 1e-4
        )


@pytest.mark.parametrize("world", ["2", "1"])
def test_a_finished_worker_leaves_without_the_interpreter_teardown(world: str) -> None:
    # Under torchrun, a worker whose run is written exits at once (its output flushed): the teardown, where
    # gloo's threads aborted a finished process now and then and torchrun stopped the job as failed, never
    # runs. Outside torchrun, leave_worker does nothing.
    code = (
        "import atexit, sys; from dcgan.training.launch import leave_worker; "
        "atexit.register(lambda: print('teardown')); print('written'); print('said', file=sys.stderr); "
        "leave_worker(0); print('returned')"
    )
    env = {**os.environ, "WORLD_SIZE": world}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0 and proc.stderr == "said\n"
    assert proc.stdout == ("written\n" if world == "2" else "written\nreturned\nteardown\n")


def test_errors_are_one_line(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = str(tmp_path / "run")
    for bad in ("0", "-2", "two", "2000"):
        code, _, err = cli("train", *TINY, "--out", out, "--nproc", bad)
        assert code == 2 and err.strip().startswith("error:") and "--nproc" in err, (bad, err)
    code, _, err = cli("train", *TINY, "--preset", "fashion-mlp", "--sync-bn", "--out", out, "--dry-run")
    assert code == 2 and err.strip() == (
        "error: --sync-bn: the mlp architecture has no BatchNorm layers to synchronise; drop --sync-bn"
    )
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun sets it: --nproc would start processes inside a process
    code, _, err = cli("train", *TINY, "--out", out, "--nproc", "2")
    assert code == 2 and "error: --nproc: this command already runs under torchrun" in err
    assert not (tmp_path / "run").exists()


def test_a_global_batch_that_does_not_divide_is_one_error_from_rank_0(tmp_path: Path) -> None:
    proc = run_cmd(
        [DCGAN, "train", "--nproc", "2", *TINY, "--batch-size", "15", "--out", str(tmp_path / "r")], tmp_path
    )
    assert proc.returncode == 2, proc.stderr
    assert error_lines(proc.stderr) == [
        "error: --batch-size 15: the global batch is shared by 2 processes and must divide evenly among them; "
        "use a multiple of 2 (e.g. 16)"
    ]
    assert "Traceback" not in proc.stderr
    assert not list_checkpoints(tmp_path / "r")
    # The same from torchrun itself (its agent then reports the failed processes its own way).
    proc = run_cmd(torchrun(2, *TINY, "--sync-bn", "--out", str(tmp_path / "s")), tmp_path)
    assert proc.returncode != 0
    assert error_lines(proc.stderr) == [
        "error: --sync-bn: PyTorch's SyncBatchNorm runs on CUDA GPUs only; on CPUs each process keeps its own "
        "BatchNorm statistics: drop --sync-bn"
    ]


@pytest.mark.slow
def test_ema_augmentation_penalties_and_evaluation_work_under_ddp(tmp_path: Path) -> None:
    args = [*TINY, "--epochs", "2", "--loss", "wgan-gp", "--no-d-batchnorm", "--r1-gamma", "0.1", "--spectral-norm"]
    args += ["--ema-half-life", "100", "--augment", "color,translation,cutout", "--eval-every", "3"]
    args += ["--eval-metrics", "fid_fashion", "--eval-num", "32"]
    proc = run_cmd(torchrun(2, *args, "--out", str(tmp_path / "run")), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "fid_fashion" in r] == [3, 6]  # rank 0 evaluated; the others waited
    assert proc.stdout.count("fid_fashion") == 2  # printed once per evaluation, by rank 0
    assert (tmp_path / "run" / "checkpoints" / "best.safetensors").exists()
    ck = read_checkpoint(list_checkpoints(tmp_path / "run")[-1])
    assert any(k.startswith("G_ema.") for k in ck.tensors) and ck.step == 6
    assert all(torch.isfinite(t).all() for k, t in ck.tensors.items() if t.is_floating_point())


def test_a_time_budget_stops_every_rank_after_the_same_step(tmp_path: Path) -> None:
    """--max-minutes under two processes: each rank's clock differs a little; they agree at the logging boundary
    (a rank that stopped alone would leave the other waiting in a collective until the job's timeout)."""
    run = tmp_path / "run"
    args = [*TINY, "--epochs", "100000", "--snapshot-every", "1000", "--max-minutes", "0.03"]
    proc = run_cmd([DCGAN, "train", "--nproc", "2", *args, "--out", str(run)], tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("--max-minutes: time budget spent") == 1  # said once, by rank 0
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss_d" in r]
    # rank 0 logs its own clock, which may read a little short of the rank whose clock ended the run
    assert steps[-1]["elapsed"] >= 1.8 - 0.3 and [r["step"] for r in steps] == list(range(1, len(steps) + 1))
    ck = read_checkpoint(list_checkpoints(run)[-1])
    assert ck.step == steps[-1]["step"] and ck.meta["extra"]["world_size"] == 2


@pytest.mark.slow
def test_conditional_training_works_under_ddp(tmp_path: Path) -> None:
    proc = run_cmd(torchrun(2, *TINY, "--epochs", "2", "--conditional", "--out", str(tmp_path / "run")), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ck = read_checkpoint(list_checkpoints(tmp_path / "run")[-1])
    assert ck.step == 6 and ck.meta["extra"]["world_size"] == 2 and "labels" in ck.meta["extra"]


@pytest.mark.slow
def test_adaptive_augmentation_agrees_across_ranks_and_resumes_bit_identical(tmp_path: Path) -> None:
    # --augment ada: the ranks' signs are summed at each adjustment (p moves by the global batch's 64 images / 200)
    # and gathered on rank 0 at logging boundaries, so a checkpoint holds them all: a resume from step 5 (step 5's
    # signs pending) gives step 6's and 9's checkpoints of the uninterrupted run. A rank that kept its own pending
    # signs on resume, or lost them, would change step 6's sum.
    args = [*TINY, "--epochs", "3", "--augment", "ada", "--ada-speed", "200", "--amp", "off", "--channels-last", "off"]
    proc = run_cmd(torchrun(2, *args, "--out", str(tmp_path / "straight")), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = run_cmd(torchrun(2, *args, "--max-steps", "5", "--out", str(tmp_path / "part")), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pending = read_checkpoint(list_checkpoints(tmp_path / "part")[-1]).meta["extra"]["ada"]
    # Every rank's signs of step 5 (measured: all 16 positive), where rank 0's own 8 images give at most 8.
    assert pending["steps"] == 1 and pending["images"] == 16 and pending["sign_sum"] > 8, pending
    proc = run_cmd(torchrun(2, *TINY, "--out", str(tmp_path / "part"), "--resume"), tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    p = [r["augment_p"] for r in map(json.loads, (tmp_path / "straight" / "metrics.jsonl").open()) if "loss_d" in r]
    assert len(p) == 9 and p[:3] == [0.0] * 3 and all(0 <= v <= 1 for v in p)
    assert all(abs(p[i] - p[i - 1]) in (0.0, pytest.approx(0.32)) for i in range(1, 9))
    for step in (6, 9):
        a, b = (
            read_checkpoint(tmp_path / r / "checkpoints" / f"ckpt-{step:09d}.safetensors") for r in ("straight", "part")
        )
        assert a.meta["extra"]["ada"] == b.meta["extra"]["ada"] and a.meta["extra"]["ada"]["images"] > 0, step
        assert all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors), step


def worker_pids(launcher: int) -> dict[int, int]:
    """{RANK: pid} of the processes a launcher started (its children with RANK in their environment)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            env = (entry / "environ").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        rank = [e for e in env if e.startswith(b"RANK=")]
        if ppid == launcher and rank:
            found[int(rank[0][5:])] = int(entry.name)
    return found


@pytest.mark.slow
def test_killing_one_rank_ends_the_job_and_resume_works_across_world_sizes(tmp_path: Path) -> None:
    run = tmp_path / "run"
    log = open(tmp_path / "stderr.txt", "w")
    job = subprocess.Popen(
        [DCGAN, "train", "--nproc", "2", *TINY, "--epochs", "1000", "--out", str(run)],
        stderr=log,
        stdout=subprocess.DEVNULL,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        deadline = time.monotonic() + 90
        while len(list_checkpoints(run)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        pids = worker_pids(job.pid)
        assert set(pids) == {0, 1}, pids
        killed_at = time.monotonic()
        os.kill(pids[1], signal.SIGKILL)
        code = job.wait(timeout=60)
        took = time.monotonic() - killed_at
    finally:
        if job.poll() is None:
            job.kill()
    stderr = (tmp_path / "stderr.txt").read_text()
    assert code != 0 and took < 30, (code, took)
    assert error_lines(stderr)[-1].startswith("error: --nproc 2: process 1 was killed by SIGKILL")
    assert "Traceback" not in stderr
    last = read_checkpoint(list_checkpoints(run)[-1])  # the last checkpoint is intact and loads
    # 2 -> 1: one process continues the run, and says so.
    proc = run_cmd([DCGAN, "train", "--out", str(run), "--resume", "--max-steps", str(last.step + 3)], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "note: resuming a run trained by 2 process(es) with 1" in proc.stderr
    assert read_checkpoint(list_checkpoints(run)[-1]).step == last.step + 3
    # 1 -> 2.
    proc = run_cmd(
        [DCGAN, "train", "--nproc", "2", "--out", str(run), "--resume", "--max-steps", str(last.step + 6)], tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "note: resuming a run trained by 1 process(es) with 2" in proc.stderr
    resumes = json.loads((run / "config.json").read_text())["extra"]["resumes"]
    assert [r.get("world_size") for r in resumes] == [[2, 1], [1, 2]]
    assert [r["step"] for r in resumes] == [last.step, last.step + 3]
    assert read_checkpoint(list_checkpoints(run)[-1]).step == last.step + 6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_nodes_simulated_on_one_machine(tmp_path: Path) -> None:
    endpoint = f"127.0.0.1:{free_port()}"
    args = [*TINY, "--epochs", "2", "--out", str(tmp_path / "run")]
    nodes = [
        subprocess.Popen(
            [TORCHRUN, "--nnodes", "2", "--node-rank", str(rank), "--nproc_per_node", "1", "--rdzv-backend", "c10d"]
            + ["--rdzv-endpoint", endpoint, "--rdzv-id", "twonodes", "-m", "dcgan", "train", *args],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for rank in (0, 1)
    ]
    outputs = [node.communicate(timeout=240) for node in nodes]
    assert [node.returncode for node in nodes] == [0, 0], [err[-2000:] for _, err in outputs]
    assert_complete_run(tmp_path / "run", steps=6)
    assert sum(out.count("run finished:") for out, _ in outputs) == 1


@pytest.mark.slow
def test_nan_on_one_rank_rolls_back_on_every_rank(tmp_path: Path) -> None:
    # The worker is the real command behind a wrapper that poisons rank 1's D loss once (step 5).
    wrapper = tmp_path / "poisoned.py"
    wrapper.write_text(
        "import os\n"
        "from dcgan import losses\n"
        "real, calls = losses.LOSSES['bce'], [0]\n"
        "class Poisoned(type(real)):\n"
        "    def d_loss(self, r, f, real_label=1.0):\n"
        "        calls[0] += 1\n"
        "        a, b = real.d_loss(r, f, real_label)\n"
        "        return (a * float('nan') if calls[0] == 5 and os.environ['RANK'] == '1' else a), b\n"
        "losses.LOSSES['bce'] = Poisoned()\n"
        "from dcgan.cli import main\n"
        "main()\n"
    )
    cmd = [TORCHRUN, "--standalone", "--nproc_per_node=2", str(wrapper), "train", *TINY, "--epochs", "3"]
    proc = run_cmd([*cmd, "--out", str(tmp_path / "run")], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    records = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    rollbacks = [r for r in records if r.get("event") == "rollback"]
    assert len(rollbacks) == 1 and rollbacks[0]["diverged_at"] == 5 and rollbacks[0]["step"] == 3
    assert proc.stderr.count("warning: non-finite values at step 5: rolled back to step 3") == 1
    assert read_checkpoint(list_checkpoints(tmp_path / "run")[-1]).step == 9  # both ranks went on to the end


def test_the_one_process_path_initialises_nothing(tmp_path: Path) -> None:
    from dcgan.training import distributed
    from dcgan.training.trainer import train
    from factories import tiny_config

    assert "WORLD_SIZE" not in os.environ
    run = train(tiny_config(epochs=1), tmp_path / "run", progress=False)
    assert not torch.distributed.is_initialized() and distributed.current().world == 1
    assert "world_size" not in read_checkpoint(list_checkpoints(run)[-1]).meta["extra"]
    assert sys.modules["dcgan.training.distributed"] is distributed
