"""`--log tensorboard`: metrics.jsonl mirrored as TensorBoard scalars and the epoch grids as images, read
back with TensorBoard's own EventAccumulator; a resume that rewinds metrics.jsonl shows each step once."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from dcgan.config import RESUME_MAY_CHANGE, TrainConfig
from dcgan.training.loggers import scalars
from dcgan.training.rundir import RUN_ENTRIES, MetricsLog, RunDir
from dcgan.training.trainer import train
from factories import tiny_config

TINY_ARGS = ("--data", "synthetic", "--limit", "48", "--g-channels", "8", "--d-channels", "8", "--batch-size", "16")
TINY_ARGS += ("--log-every", "1", "--snapshot-every", "1", "--sample-grid", "16", "--no-progress")


def events(run: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def expected_scalars(run: Path) -> dict[str, list[tuple[int, float]]]:
    """What metrics.jsonl says TensorBoard must show: tag -> [(step, value)] in file order."""
    out: dict[str, list[tuple[int, float]]] = {}
    for record in MetricsLog.read(run / "metrics.jsonl"):
        for tag, value in scalars(record).items():
            out.setdefault(tag, []).append((record["step"], value))
    return out


def assert_mirrors_metrics_jsonl(run: Path) -> EventAccumulator:
    acc = events(run)
    expected = expected_scalars(run)
    assert set(acc.Tags()["scalars"]) == set(expected)
    for tag, points in expected.items():
        got = [(e.step, e.value) for e in acc.Scalars(tag)]
        assert [s for s, _ in got] == [s for s, _ in points], tag  # each step once, in order
        assert np.array_equal(np.float32([v for _, v in got]), np.float32([v for _, v in points])), tag
    return acc


def test_scalars_and_epoch_grids_equal_metrics_jsonl(cli, tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, _, stderr = cli("train", *TINY_ARGS, "--epochs", "2", "--out", str(run), "--log", "tensorboard")
    assert code == 0, stderr
    assert "tensorboard" in RUN_ENTRIES and RunDir(run).is_run()
    acc = assert_mirrors_metrics_jsonl(run)
    assert {"train/loss_d", "train/loss_g", "train/d_real_mean", "train/sample_diversity"} <= set(acc.Tags()["scalars"])
    losses = [r for r in MetricsLog.read(run / "metrics.jsonl") if "loss_d" in r]
    assert len(acc.Scalars("train/loss_d")) == len(losses) == 6
    grids = acc.Images("samples/fixed_noise")
    assert [g.step for g in grids] == [3, 6]  # one per epoch, at the epoch's last step
    side = 4 * (28 + 2) + 2  # 16 images of 28 px, 4 per row, 2 px padding
    assert (grids[0].width, grids[0].height) == (side, side)
    import io

    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(grids[-1].encoded_image_string)).convert("L"))
    on_disk = np.asarray(Image.open(run / "samples" / "epoch_0002.png").convert("L"))
    assert np.array_equal(pixels, on_disk)


def test_eval_metrics_are_the_fid_curve(tmp_path: Path) -> None:
    config = tiny_config(log="tensorboard", eval_every=3, eval_num=8, eval_metrics="fid_fashion")
    run = train(config, tmp_path / "run", progress=False)
    acc = assert_mirrors_metrics_jsonl(run)
    curve = [(e.step, e.value) for e in acc.Scalars("eval/fid_fashion")]
    evals = [r for r in MetricsLog.read(run / "metrics.jsonl") if "fid_fashion" in r]
    assert [s for s, _ in curve] == [3, 6] == [r["step"] for r in evals]
    assert np.allclose([v for _, v in curve], [r["fid_fashion"] for r in evals], rtol=1e-6)


def test_a_resume_after_lost_lines_shows_each_step_once(cli, tmp_path: Path) -> None:
    run = tmp_path / "run"
    code, _, stderr = cli("train", *TINY_ARGS, "--epochs", "2", "--out", str(run), "--log", "tensorboard")
    assert code == 0, stderr
    # As if killed after step 6 was logged but before its checkpoint landed: resume rewinds to step 3.
    (run / "checkpoints" / "ckpt-000000006.safetensors").unlink()
    before = len(events(run).Scalars("train/loss_d"))
    assert before == 6
    code, _, stderr = cli("train", *TINY_ARGS, "--epochs", "3", "--out", str(run), "--resume", "--log", "tensorboard")
    assert code == 0, stderr
    assert "resuming" in stderr and "from step 3" in stderr
    acc = assert_mirrors_metrics_jsonl(run)  # steps 4..6 shown once although they were written twice
    assert [e.step for e in acc.Scalars("train/loss_d")] == list(range(1, 10))
    assert [g.step for g in acc.Images("samples/fixed_noise")] == [3, 6, 9]
    assert len(list((run / "tensorboard").glob("events.out.tfevents.*"))) >= 2


def test_log_may_change_on_resume_and_none_writes_nothing(tmp_path: Path) -> None:
    assert "log" in RESUME_MAY_CHANGE
    run = train(tiny_config(epochs=1), tmp_path / "run", progress=False)
    assert not (run / "tensorboard").exists()
    config = json.loads((run / "config.json").read_text())
    assert TrainConfig.from_dict(config).log == "none"
    train(tiny_config(epochs=2, log="tensorboard"), run, resume=True, progress=False)
    assert [e.step for e in events(run).Scalars("train/loss_d")] == [4, 5, 6]


def test_missing_tensorboard_is_one_line_before_training(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # import fails as if not installed
    code, _, stderr = cli("train", *TINY_ARGS, "--out", str(tmp_path / "run"), "--log", "tensorboard")
    assert code == 2
    assert (
        stderr.strip().splitlines()[-1]
        == "error: --log tensorboard needs the tensorboard package: pip install tensorboard"
    )
    assert not (tmp_path / "run" / "checkpoints").exists()


def test_an_unknown_logger_is_refused(cli, tmp_path: Path) -> None:
    code, _, stderr = cli("train", *TINY_ARGS, "--out", str(tmp_path / "run"), "--log", "wandb")
    assert code == 2 and stderr.strip().splitlines()[-1].startswith("error: ")
    assert "wandb" in stderr and "tensorboard" in stderr
