"""`dcgan train --max-minutes M`: a time budget of training, through the installed command.

The run ends after the step at which its training time (metrics.jsonl's `elapsed`) reaches M minutes,
with a final checkpoint and report; `--resume` with a larger M trains on from there, and with the same M
trains nothing more. Bad values are one-line errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from dcgan.checkpoint import list_checkpoints, read_checkpoint

TINY = [
    *("--data", "synthetic", "--size", "32", "--limit", "480", "--batch-size", "16"),
    *("--g-channels", "8", "--d-channels", "8", "--epochs", "100000", "--snapshot-every", "1000"),
    *("--log-every", "1", "--sample-grid", "16", "--no-progress"),
]
BUDGET_MINUTES = 0.03  # 1.8 s of training: tens of tiny steps


def dcgan(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dcgan.cli", *args], capture_output=True, text=True, timeout=300)


def elapsed(run: Path) -> list[tuple[int, float]]:
    """(step, elapsed training seconds) of every training line of metrics.jsonl."""
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["elapsed"]) for r in lines if "loss_d" in r]


def test_the_run_ends_when_its_training_time_is_spent_and_a_larger_budget_trains_on(tmp_path: Path) -> None:
    run = tmp_path / "run"
    proc = dcgan("train", *TINY, "--max-minutes", str(BUDGET_MINUTES), "--out", str(run))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--max-minutes: time budget spent" in proc.stderr and "--resume --max-minutes" in proc.stderr
    budget = BUDGET_MINUTES * 60
    (last_step, last), (_, before) = elapsed(run)[-1], elapsed(run)[-2]
    assert last >= budget > before - 0.25, (before, last)  # stopped at the first step past the budget
    assert last_step < 30 * 100000  # far from the epochs' end
    final = read_checkpoint(list_checkpoints(run)[-1], prefixes=())
    assert final.step == last_step  # the last step is saved, and the run is complete (report written)
    assert (run / "report.html").is_file()

    # A larger budget trains on from there, to the new total.
    proc = dcgan("train", "--out", str(run), "--resume", "--max-minutes", str(2 * BUDGET_MINUTES))
    assert proc.returncode == 0, proc.stderr[-2000:]
    steps = elapsed(run)
    assert steps[-1][0] > last_step and steps[-1][1] >= 2 * budget > steps[-2][1] - 0.25
    assert [s for s, _ in steps] == list(range(1, steps[-1][0] + 1))  # one line per step, none lost or repeated

    # The same budget again: nothing left to train; nothing changes.
    checkpoints = {p.name: p.read_bytes() for p in list_checkpoints(run)}
    proc = dcgan("train", "--out", str(run), "--resume", "--max-minutes", str(2 * BUDGET_MINUTES))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "time budget spent" in proc.stderr
    assert elapsed(run) == steps
    assert {p.name: p.read_bytes() for p in list_checkpoints(run)} == checkpoints


def test_a_budget_that_is_not_positive_is_a_one_line_error(tmp_path: Path) -> None:
    for bad in ("0", "-1", "ten", "nan", "inf"):
        proc = dcgan("train", *TINY, "--max-minutes", bad, "--out", str(tmp_path / "run"))
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode == 2 and len(lines) == 1 and "--max-minutes" in lines[0], (bad, proc.stderr)
        assert "Traceback" not in proc.stderr
    assert not (tmp_path / "run").exists()


def test_without_epochs_the_budget_ends_a_new_run_and_given_epochs_still_end_it_first(tmp_path: Path) -> None:
    """The preset's 5 epochs are 10 steps of 32 images at batch 16: far fewer than the budget's steps."""
    few = [a for a in TINY if a not in ("--epochs", "100000")]
    few[few.index("--limit") + 1] = "32"
    proc = dcgan("train", *few, "--max-minutes", str(BUDGET_MINUTES), "--out", str(tmp_path / "budget"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "time budget spent" in proc.stderr
    assert elapsed(tmp_path / "budget")[-1][0] > 10
    assert json.loads((tmp_path / "budget" / "config.json").read_text())["epochs"] == 1_000_000
    before = {p.name: p.read_bytes() for p in list_checkpoints(tmp_path / "budget")}
    proc = dcgan("train", "--out", str(tmp_path / "budget"), "--resume")  # no budget: it would never end
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2 and len(lines) == 1 and "give --max-minutes M" in lines[0], proc.stderr
    assert {p.name: p.read_bytes() for p in list_checkpoints(tmp_path / "budget")} == before
    proc = dcgan("train", *few, "--epochs", "3", "--max-minutes", "5", "--out", str(tmp_path / "epochs"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "time budget spent" not in proc.stderr
    assert elapsed(tmp_path / "epochs")[-1][0] == 6
