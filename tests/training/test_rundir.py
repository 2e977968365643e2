"""RunDir and MetricsLog (dcgan.training.rundir): a run's file names, refuse-or-resume, metrics rewind."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dcgan.errors import CheckpointError, DcganError
from dcgan.training.rundir import MetricsLog, RunDir


def test_a_new_folder_starts_and_an_existing_run_is_refused_unless_resumed(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "run")
    assert run.prepare(resume=False) is None  # nothing there: a new run
    assert run.prepare(resume=True) is None  # nothing to resume: a new run too (requeue loops pass --resume)
    run.check_writable()
    run.metrics_jsonl.write_text('{"step": 1}\n')
    assert run.is_run()
    with pytest.raises(DcganError, match="already holds a run; pass --resume"):
        run.prepare(resume=False)
    (run.path / "checkpoints").mkdir()
    (run.path / "checkpoints" / "ckpt-000000001.safetensors").write_bytes(b"torn")
    with pytest.raises(CheckpointError, match="no readable checkpoint"):
        run.prepare(resume=True)
    assert run.sample_grid(3) == tmp_path / "run" / "samples" / "epoch_0003.png"
    assert run.report.name == "report.html" and run.real_vs_fake.name == "real_vs_fake.png"


def test_metrics_log_appends_rewinds_and_skips_a_torn_last_line(tmp_path: Path) -> None:
    log = MetricsLog(tmp_path / "metrics.jsonl")
    for step, fid in ((1, None), (2, 30.0), (3, None), (4, 20.0), (5, None)):
        log.append({"step": step, **({"fid": fid} if fid else {})})
    assert log.best("fid") == {"step": 4, "fid": 20.0} and log.best("kid") is None
    with open(log.path, "a") as f:
        f.write('{"step": 6, "loss')  # a kill in the middle of a line
    assert [r["step"] for r in MetricsLog.read(log.path)] == [1, 2, 3, 4, 5]
    log.rewind(3)  # what a checkpoint at step 3 has seen
    assert [r["step"] for r in log.records] == [1, 2, 3]
    assert [json.loads(line)["step"] for line in log.path.read_text().splitlines()] == [1, 2, 3]
    assert log.best("fid") == {"step": 2, "fid": 30.0}


def test_every_file_a_run_writes_is_one_a_run_may_hold(tmp_path: Path) -> None:
    """RUN_ENTRIES decides what is a run (and never written into otherwise): it must name every path RunDir has."""
    from dcgan.training.rundir import RUN_ENTRIES

    run = RunDir(tmp_path / "run")
    paths = [v for v in vars(run).values() if isinstance(v, Path) and v != run.path]
    assert paths and {p.relative_to(run.path).parts[0] for p in paths} <= RUN_ENTRIES


def test_a_start_refused_on_bad_data_leaves_the_folder_usable(tmp_path: Path, cli) -> None:
    """A start that fails after taking the lock (here: conditioning a folder without class sub-folders)
    leaves only the lock file; the same --out then takes a corrected command, not 'holds other files'."""
    from PIL import Image

    images = tmp_path / "flat"
    images.mkdir()
    for i in range(8):
        Image.new("RGB", (16, 16), (i * 30, 0, 0)).save(images / f"{i}.png")
    out = tmp_path / "run"
    base = ["train", "--data", str(images), "--size", "16", "--g-channels", "4", "--d-channels", "4"]
    base += ["--batch-size", "4", "--epochs", "1", "--no-progress", "--out", str(out)]
    code, _, err = cli(*base, "--conditional")
    assert code == 2 and "class" in err.strip().splitlines()[-1]
    assert RunDir(out).entries() == [] and not RunDir(out).is_run()
    code, _, err = cli(*base)
    assert code == 0, err
    assert RunDir(out).is_run() and RunDir(out).checkpoints()
