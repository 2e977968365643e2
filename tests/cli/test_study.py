"""`dcgan study` through the real command group: a tiny data-size study on a miniature Fashion-MNIST,
checked by its numbers and files; rerun, resume, refusal of another study, and bad flags."""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import statistics
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dcgan.augment import DEFAULT_POLICY

# 8-channel networks, batch 8, 3 steps a run; fid_fashion (the project's small classifier) on 16 images.
TINY = ["--set", "g_channels=8", "--set", "d_channels=8", "--set", "batch_size=8", "--set", "amp=off"]
TINY += ["--set", "sample_grid=4", "--steps", "3", "--metrics", "fid_fashion", "--num", "16", "--no-progress"]
STUDY = ["--limits", "32,16", "--augment", "none,fixed", "--seeds", "2", *TINY]


def invoke(*args: str) -> tuple[int, str, str]:
    """The installed `dcgan` command group, in process (as the `cli` fixture; usable from module fixtures)."""
    from click.testing import CliRunner

    from dcgan.cli import main

    try:
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    except SystemExit as e:
        return int(e.code or 0), "", ""
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def fashion(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from label_fixtures import mini_fashion

    return mini_fashion(tmp_path_factory.mktemp("study-data") / "fashion", train=60, test=40)


@pytest.fixture(scope="module")
def study(fashion: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The tiny study, made once: (its folder, the command's stderr)."""
    out = tmp_path_factory.mktemp("study") / "s"
    code, _, err = invoke("study", "--data", str(fashion), *STUDY, "--out", str(out))
    assert code == 0, err
    return out, err


def one_error_line(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert lines[-1].startswith("error: ") and sum(line.startswith("error:") for line in lines) == 1, err
    return lines[-1]


def checkpoints(out: Path) -> dict[str, int]:
    return {str(p.relative_to(out)): p.stat().st_mtime_ns for p in sorted(out.glob("runs/*/checkpoints/*"))}


def test_a_study_has_one_run_per_limit_mode_and_seed_and_the_means_over_seeds(study: tuple[Path, str]) -> None:
    out, err = study
    state = json.loads((out / "study.json").read_text())
    runs = state["runs"]
    assert [(r["limit"], r["augment"], r["seed"]) for r in runs] == [
        (limit, mode, seed) for limit in (16, 32) for mode in ("none", "fixed") for seed in (0, 1)
    ]
    assert state["data_size"] == 60 and state["settings"]["limits"] == [16, 32]
    for r in runs:
        assert r["status"] == "done" and r["images"] == r["limit"] == r["images_trained_on"]
        assert r["step"] == 3 and r["images_seen"] == 24 and r["train_seconds"] >= 0
        assert set(r["metrics"]) == {"fid_fashion"} and math.isfinite(r["metrics"]["fid_fashion"])
        assert r["evaluation"]["num_fake"] == 16 and r["evaluation"]["split"] == "test"
        # An ordinary run directory, trained with the cell's settings.
        config = json.loads((out / r["folder"] / "config.json").read_text())
        assert config["limit"] == r["limit"] and config["seed"] == r["seed"]
        assert config["augment"] == {"none": "", "fixed": DEFAULT_POLICY}[r["augment"]]
        assert len(list((out / r["folder"] / "checkpoints").glob("ckpt-*.safetensors"))) == 1
    assert len(state["summary"]) == 4
    for row in state["summary"]:
        values = [
            r["metrics"]["fid_fashion"] for r in runs if (r["limit"], r["augment"]) == (row["limit"], row["augment"])
        ]
        stats = row["metrics"]["fid_fashion"]
        assert row["seeds"] == [0, 1] and stats["values"] == values and stats["n"] == 2
        assert stats["mean"] == pytest.approx(statistics.fmean(values), rel=1e-12)
        assert stats["std"] == pytest.approx(statistics.stdev(values), rel=1e-12)
    # One progress line per run, with its steps and metrics.
    lines = [line for line in err.splitlines() if line.startswith("study [")]
    assert len(lines) == 8 and all("3 steps" in line and "fid_fashion" in line for line in lines), err


def test_the_table_plot_and_grids_show_every_cell(study: tuple[Path, str]) -> None:
    out, _ = study
    state = json.loads((out / "study.json").read_text())
    table = (out / "study.md").read_text()
    assert "| images | none: fid_fashion | fixed: fid_fashion |" in table
    for limit in (16, 32):
        cells = [r for r in state["summary"] if r["limit"] == limit]
        shown = " | ".join(
            f"{c['metrics']['fid_fashion']['mean']:.3f} ± {c['metrics']['fid_fashion']['std']:.3f}" for c in cells
        )
        assert f"| {limit} | {shown} |" in table, table
    assert "not finished" not in table and state["command"] in table
    # Each mode against none, per limit: the relative change of the means over the seeds.
    assert "Against no augmentation" in table
    for limit in (16, 32):
        none, fixed = (
            next(r for r in state["summary"] if (r["limit"], r["augment"]) == (limit, mode))
            for mode in ("none", "fixed")
        )
        change = fixed["metrics"]["fid_fashion"]["mean"] / none["metrics"]["fid_fashion"]["mean"] - 1
        assert fixed["vs_none"] == {"fid_fashion": pytest.approx(change, rel=1e-12)} and "vs_none" not in none
        assert f"| {limit} | {change:+.1%} |" in table, table
    assert state["plot"]["panels"] == ["fid_fashion"]
    with Image.open(out / "study.png") as im:
        assert im.format == "PNG" and im.width > im.height > 100
    grids = state["grids"]
    assert grids["rows"] == ["none", "fixed"] and grids["columns"] == [16, 32]
    with Image.open(out / "grids.png") as im:
        assert list(im.size) == grids["size"]
        pixels = np.asarray(im.convert("RGB"))
    assert len(grids["cells"]) == 4
    for cell in grids["cells"]:
        assert cell["run"] == f"{cell['limit']}-{cell['augment']}-seed0"
        x0, y0, x1, y1 = cell["box"]
        assert [y1 - y0, x1 - x0] == grids["tile"]
        assert (pixels[y0:y1, x0:x1] != 255).any()  # a grid of samples, not the white page


def test_a_rerun_skips_finished_runs_and_resumes_an_interrupted_one(study: tuple[Path, str], tmp_path: Path) -> None:
    out = tmp_path / "copy"
    shutil.copytree(study[0], out)
    state = json.loads((out / "study.json").read_text())
    # As if interrupted after one of its three steps: the last run's record says "training" and its folder
    # holds a checkpoint at step 1 (trained by `dcgan train` with the run's own config).
    last = out / "runs" / "32-fixed-seed1"
    partial = tmp_path / "partial"
    code, _, err = invoke("train", "--config", str(last / "config.json"), "--out", str(partial), "--max-steps", "1")
    assert code == 0, err
    shutil.rmtree(last)
    shutil.move(partial, last)
    record = state["runs"][-1]
    state["runs"][-1] = {k: record[k] for k in ("name", "limit", "augment", "seed", "images", "folder")}
    state["runs"][-1]["status"] = "training"
    (out / "study.json").write_text(json.dumps(state))
    before = {k: v for k, v in checkpoints(out).items() if "32-fixed-seed1" not in k}

    code, _, err = invoke("study", "--data", state["settings"]["data"], *STUDY, "--out", str(out))
    assert code == 0, err
    assert err.count("done before, skipped") == 7, err
    assert f"resuming {last} from step 1" in err and "study [8/8] 32-fixed-seed1: 3 steps" in err, err
    assert {k: v for k, v in checkpoints(out).items() if "32-fixed-seed1" not in k} == before  # not retrained
    rebuilt = json.loads((out / "study.json").read_text())
    assert rebuilt["runs"][-1]["status"] == "done" and rebuilt["runs"][-1]["step"] == 3
    assert math.isfinite(rebuilt["runs"][-1]["metrics"]["fid_fashion"]) and len(rebuilt["summary"]) == 4


def test_a_signal_as_a_run_ends_stops_the_study(fashion: Path, tmp_path: Path, monkeypatch) -> None:
    """SIGTERM (or Ctrl+C) that reaches a run as it ends, its budget spent and its last files being written,
    stops the study like one mid-run: the next run is not started, and the same command continues."""
    import signal

    from dcgan.training import trainer
    from dcgan.training.stop import StopRequest

    real = trainer.train

    def train_then_signal(*args, **kwargs):
        run = real(*args, **kwargs)
        with StopRequest():  # the trainer's handlers, as while it writes its last files
            os.kill(os.getpid(), signal.SIGTERM)
        return run

    monkeypatch.setattr(trainer, "train", train_then_signal)
    out = tmp_path / "s"
    args = ["study", "--data", str(fashion), "--limits", "16", "--seeds", "2", *TINY, "--out", str(out)]
    code, _, err = invoke(*args)
    assert code == 130 and "study interrupted" in err, err
    state = json.loads((out / "study.json").read_text())
    assert [(r["name"], r["status"]) for r in state["runs"]] == [("16-none-seed0", "training")]  # seed 1 not begun
    assert not (out / "runs" / "16-none-seed1").exists()

    monkeypatch.setattr(trainer, "train", real)
    code, _, err = invoke(*args)
    assert code == 0, err
    runs = json.loads((out / "study.json").read_text())["runs"]
    assert [(r["name"], r["status"], r["step"]) for r in runs] == [
        ("16-none-seed0", "done", 3),
        ("16-none-seed1", "done", 3),
    ]


def test_another_study_in_the_same_folder_is_refused_in_one_line(study: tuple[Path, str]) -> None:
    out, _ = study
    saved = (out / "study.json").read_bytes()
    args = [a if a != "2" else "3" for a in STUDY]  # --seeds 3
    code, _, err = invoke("study", "--data", json.loads(saved)["settings"]["data"], *args, "--out", str(out))
    line = one_error_line(code, err)
    assert f"--out {out} holds another study" in line and "--seeds: 2 there, 3 now" in line and "another --out" in line
    assert (out / "study.json").read_bytes() == saved


@pytest.mark.parametrize(
    ("change", "flag"),
    [
        (["--limits", "0"], "--limits 0: "),
        (["--limits", "abc"], "--limits abc: "),
        (["--limits", "16,100"], "--limits 16,100: "),  # more than the 60 training images
        (["--augment", "sideways"], "--augment sideways: "),
        (["--seconds", "5", "--epochs", "2"], "--seconds and --epochs: "),
        (["--set", "limit=5"], "--set limit=5: "),
        (["--set", "g_channels=many"], "--set g_channels=many: "),
    ],
)
def test_bad_flags_are_one_line_errors_and_write_nothing(
    fashion: Path, tmp_path: Path, change: list[str], flag: str
) -> None:
    args = ["--limits", "16", *change] if change[0] != "--limits" else change
    budget = [] if "--seconds" in change else ["--steps", "3"]
    out = tmp_path / "s"
    code, _, err = invoke("study", "--data", str(fashion), *args, *budget, "--out", str(out))
    assert one_error_line(code, err).startswith(f"error: {flag}"), err
    assert not out.exists()


def test_a_study_with_adaptive_augmentation(fashion: Path, tmp_path: Path) -> None:
    from dcgan.study.runner import mode_problem

    problem = mode_problem("ada")
    if problem is not None:
        pytest.skip(f"this version has no adaptive augmentation yet (the config refuses augment='ada': {problem})")
    out = tmp_path / "s"
    code, _, err = invoke(
        "study", "--data", str(fashion), "--limits", "16", "--augment", "none,ada", *TINY, "--out", str(out)
    )
    assert code == 0, err
    state = json.loads((out / "study.json").read_text())
    assert [(r["augment"], r["status"], r["step"]) for r in state["runs"]] == [("none", "done", 3), ("ada", "done", 3)]
    assert json.loads((out / "runs" / "16-ada-seed0" / "config.json").read_text())["augment"] == "ada"
    assert all(math.isfinite(r["metrics"]["fid_fashion"]) for r in state["runs"])
    assert state["grids"]["rows"] == ["none", "ada"]


def test_a_time_budget_trains_each_run_for_its_seconds(fashion: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    args = [a for a in TINY if a not in ("--steps", "3")]
    code, _, err = invoke(
        "study", "--data", str(fashion), "--limits", "all", *args, "--seconds", "1.5", "--out", str(out)
    )
    assert code == 0, err
    state = json.loads((out / "study.json").read_text())
    (run,) = state["runs"]
    assert state["settings"]["budget"] == {"seconds": 1.5} and run["images"] == 60 and run["limit"] == "all"
    # the trainer's time budget stops it (no step bound) at the first step past 1.5 s of training
    assert run["step"] >= 1 and run["train_seconds"] >= 1.5
    assert "| all (60) |" in (out / "study.md").read_text()


def test_inception_metrics_on_synthetic_data(tmp_path: Path) -> None:
    """The default metrics (FID, KID) of one tiny run on the drawn shapes, with a handful of images."""
    out = tmp_path / "s"
    args = [a for a in TINY if a not in ("--metrics", "fid_fashion", "--num", "16")]
    code, _, err = invoke(
        "study", "--data", "synthetic", "--limits", "16", *args, "--set", "size=32", "--num", "6", "--out", str(out),
        "--cache-dir", str(tmp_path / "cache"),  # its own: the session's cache would then hold these reference stats
    )  # fmt: skip
    assert code == 0, err
    state = json.loads((out / "study.json").read_text())
    (run,) = state["runs"]
    assert set(run["metrics"]) == {"fid", "kid", "kid_std"} and all(math.isfinite(v) for v in run["metrics"].values())
    assert state["plot"]["panels"] == ["fid", "kid"] and os.path.isfile(out / "grids.png")
    assert "| images | none: fid | none: kid |" in (out / "study.md").read_text()


def test_a_dry_run_lists_the_runs_and_writes_nothing(fashion: Path, tmp_path: Path) -> None:
    out = tmp_path / "planned"
    code, _, err = invoke("study", "--data", str(fashion), "--limits", "all,16", "--augment", "none,fixed",
                          "--seeds", "2", "--steps", "3", "--out", str(out), "--dry-run", "--no-progress")  # fmt: skip
    assert code == 0, err
    lines = err.strip().splitlines()
    assert "dry run: 8 runs on 60 images" in lines[-9] and lines[-8:] == [
        f"  {limit}-{mode}-seed{seed}: {images} images"
        for limit, images in (("16", 16), ("all", 60))
        for mode in ("none", "fixed")
        for seed in (0, 1)
    ]
    assert not out.exists()
    code, _, err = invoke("study", "--data", str(fashion), "--limits", "16", "--out", str(out), "--dry-run",
                          "--device", "bogus")  # fmt: skip
    assert "--device bogus: unknown device" in one_error_line(code, err) and not out.exists()


def test_jobs_trains_runs_side_by_side_to_the_same_numbers(
    study: tuple[Path, str], fashion: Path, tmp_path: Path
) -> None:
    """--jobs 2: the same runs, each trained and evaluated in a worker process, give the sequential study's
    steps and metrics, and the same tables."""
    one_by_one, _ = study
    out = tmp_path / "s"
    code, _, err = invoke("study", "--data", str(fashion), *STUDY, "--jobs", "2", "--out", str(out))
    assert code == 0, err
    assert "study: 8 runs to go, 2 at a time, " in err and err.count("study [") == 8, err
    side, seq = (json.loads((d / "study.json").read_text()) for d in (out, one_by_one))
    assert [r["name"] for r in side["runs"]] == [r["name"] for r in seq["runs"]]
    for a, b in zip(side["runs"], seq["runs"], strict=True):
        assert (a["status"], a["step"], a["images"]) == ("done", b["step"], b["images"]), a
        assert a["metrics"]["fid_fashion"] == pytest.approx(b["metrics"]["fid_fashion"], rel=1e-4), (a, b)
    assert len(side["summary"]) == len(seq["summary"]) == 4
    assert (out / "study.png").is_file() and (out / "grids.png").is_file()
    assert sorted(p.name for p in (out / "runs").iterdir()) == sorted(p.name for p in (one_by_one / "runs").iterdir())


def test_a_signal_stops_runs_side_by_side_and_the_same_command_continues(fashion: Path, tmp_path: Path) -> None:
    """SIGTERM to `dcgan study --jobs 2` (the workers are in their own process group): every run in progress
    saves a checkpoint and stops, the study exits 130 with both runs recorded as training; the same command
    resumes both and finishes them."""
    import signal
    import subprocess
    import sys
    import time

    from dcgan.study.runner import last_checkpoint

    out = tmp_path / "s"
    args = [a for a in TINY if a not in ("--steps", "3")]
    cmd = [sys.executable, "-m", "dcgan.cli", "study", "--data", str(fashion), "--limits", "16,32", *args,
           "--seconds", "6", "--jobs", "2", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    logs = [out / "runs" / name / "metrics.jsonl" for name in ("16-none-seed0", "32-none-seed0")]
    deadline = time.monotonic() + 120
    while not all(p.is_file() and p.stat().st_size > 0 for p in logs) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "study interrupted" in err and "Traceback" not in err, err
    state = json.loads((out / "study.json").read_text())
    assert [(r["name"], r["status"]) for r in state["runs"]] == [
        ("16-none-seed0", "training"),
        ("32-none-seed0", "training"),
    ]
    stopped = {}
    for name in ("16-none-seed0", "32-none-seed0"):  # each saved a checkpoint as it stopped, short of its budget
        ck = last_checkpoint(out / "runs" / name)
        assert ck is not None and 1 <= ck["step"] and ck["train_seconds"] < 6, (name, ck)
        stopped[name] = ck["step"]

    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("resuming ") == 2, done.stderr
    runs = json.loads((out / "study.json").read_text())["runs"]
    assert [(r["name"], r["status"]) for r in runs] == [("16-none-seed0", "done"), ("32-none-seed0", "done")]
    assert all(r["train_seconds"] >= 6 and math.isfinite(r["metrics"]["fid_fashion"]) for r in runs), runs
    assert all(r["step"] > stopped[r["name"]] for r in runs), (runs, stopped)


def test_jobs_in_a_dry_run_and_out_of_range(fashion: Path, tmp_path: Path) -> None:
    out = tmp_path / "s"
    code, _, err = invoke("study", "--data", str(fashion), "--limits", "16,32", "--steps", "3", "--jobs", "2",
                          "--out", str(out), "--dry-run", "--no-progress")  # fmt: skip
    assert code == 0 and "dry run: 2 runs, 2 at a time, on 60 images" in err, err
    code, _, err = invoke("study", "--data", str(fashion), "--limits", "16", "--steps", "3", "--jobs", "0",
                          "--out", str(out))  # fmt: skip
    assert code == 2 and "--jobs" in err and not out.exists(), err


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc: Linux)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
    return found


def test_a_worker_killed_outright_is_a_one_line_error_naming_its_run(fashion: Path, tmp_path: Path) -> None:
    """kill -9 of one `--jobs` worker (as the kernel's out-of-memory killer does): the study ends with one
    line naming the run, and what it wrote stays readable for the rerun."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "s"
    args = [a for a in TINY if a not in ("--steps", "3")]
    cmd = [sys.executable, "-m", "dcgan.cli", "study", "--data", str(fashion), "--limits", "16,32", *args,
           "--seconds", "5", "--jobs", "2", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "runs" / "16-none-seed0" / "metrics.jsonl"
    deadline = time.monotonic() + 120
    while not (log.is_file() and log.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.2)
    trainer = [
        pid for pid in children(proc.pid) if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    ]
    assert trainer, children(proc.pid)
    os.kill(trainer[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=180)
    assert proc.returncode == 2 and "Traceback" not in err, err
    last = [line for line in err.strip().splitlines() if line.strip()][-1]
    assert last.startswith("error: study: the process training ") and "ended abruptly" in last, err
    state = json.loads((out / "study.json").read_text())
    assert {r["name"] for r in state["runs"]} == {"16-none-seed0", "32-none-seed0"}
