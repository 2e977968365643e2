"""Adaptive augmentation through the `dcgan` command: p in every metrics.jsonl line, moving by the stated step
every 4 steps; its plot and report entry; a bit-identical resume; one-line errors; the small-data warning."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from dcgan.checkpoint import checkpoint_name, list_checkpoints, read_checkpoint

TINY = ["--data", "synthetic", "--limit", "48", "--g-channels", "8", "--d-channels", "8", "--batch-size", "16"]
TINY += ["--size", "16", "--sample-grid", "4", "--seed", "0", "--amp", "off", "--channels-last", "off"]
TINY += ["--log-every", "1", "--no-progress", "--device", "cpu"]
# 48 images, 16 a step: 3 steps an epoch; p moves every 4 steps by 64 / 200 = 0.32.
ADA = ["--augment", "ada", "--ada-speed", "200", "--epochs", "3"]


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


@pytest.fixture(scope="module")
def ada_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from click.testing import CliRunner

    from dcgan.cli import main

    run = tmp_path_factory.mktemp("ada") / "run"
    result = CliRunner().invoke(main, ["train", *TINY, *ADA, "--out", str(run)], catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert "warning: only" not in result.stderr  # augmented: no small-data warning
    return run


def test_every_loss_line_carries_p_moving_by_images_over_speed_every_4_steps(ada_run: Path) -> None:
    lines = [r for r in records(ada_run) if "loss_d" in r]
    assert [r["step"] for r in lines] == list(range(1, 10))
    p = [r["augment_p"] for r in lines]
    assert all(0.0 <= v <= 1.0 for v in p)
    assert p[:3] == [0.0, 0.0, 0.0]  # p starts at 0; the first adjustment is after step 4
    for step in range(2, 10):
        moved = abs(p[step - 1] - p[step - 2])
        if step % 4:
            assert moved == 0.0, step
        else:  # by 0.32 (64 images / 200), unless clamped at 0
            assert moved == pytest.approx(0.32, abs=1e-6) or p[step - 1] == p[step - 2] == 0.0, (step, p)
    assert max(p) > 0  # a fresh D calls most real images real (D(x) ~ 0.54 here): above the target 0.6 of signs
    ck = read_checkpoint(list_checkpoints(ada_run)[-1])
    assert ck.meta["extra"]["ada"]["p"] == pytest.approx(p[-1])
    assert ck.meta["extra"]["ada"]["steps"] == 1 and ck.meta["extra"]["ada"]["images"] == 16  # step 9: one pending


def test_p_is_plotted_and_shown_in_the_report(ada_run: Path) -> None:
    plot = ada_run / "plots" / "augment_p.png"
    assert Image.open(plot).format == "PNG" and Image.open(plot).size[0] > 300
    report = (ada_run / "report.html").read_text()
    assert "adaptive augmentation (--augment ada): the probability p over iterations" in report
    config = json.loads((ada_run / "config.json").read_text())
    assert (config["augment"], config["ada_target"], config["ada_speed"]) == ("ada", 0.6, 200)


def test_without_ada_nothing_about_p_and_the_small_data_warning_recommends_ada(cli, tmp_path: Path) -> None:
    code, _, err = cli("train", *TINY, "--epochs", "1", "--out", str(tmp_path / "run"))
    assert code == 0, err
    assert all("augment_p" not in r for r in records(tmp_path / "run"))
    assert not (tmp_path / "run" / "plots" / "augment_p.png").exists()
    warning = next(line for line in err.splitlines() if line.startswith("warning: only 48 training images"))
    assert "add --augment ada (adaptive augmentation" in warning and "--augment color,translation,cutout" in warning


def test_a_resumed_ada_run_ends_bit_identical(cli, tmp_path: Path) -> None:
    every_epoch = [*TINY, *ADA, "--snapshot-every", "1"]  # checkpoints at steps 3, 6 and 9
    code, _, err = cli("train", *every_epoch, "--out", str(tmp_path / "straight"))
    assert code == 0, err
    # Stop at step 5: p moved at step 4, and step 5's signs are pending in the checkpoint.
    code, _, err = cli("train", *every_epoch, "--max-steps", "5", "--out", str(tmp_path / "part"))
    assert code == 0, err
    pending = read_checkpoint(list_checkpoints(tmp_path / "part")[-1]).meta["extra"]["ada"]
    assert pending["steps"] == 1 and pending["images"] == 16 and pending["sign_sum"] != 0
    code, _, err = cli("train", "--out", str(tmp_path / "part"), "--resume", "--no-progress")
    assert code == 0, err
    straight, part = ({c.name: c for c in list_checkpoints(tmp_path / r)} for r in ("straight", "part"))
    assert list(straight) == [checkpoint_name(step) for step in (3, 6, 9)]
    assert list(part) == [checkpoint_name(step) for step in (5, 6, 9)]
    for name in (checkpoint_name(6), checkpoint_name(9)):  # at step 6, the signs of steps 5 and 6 are pending
        a, b = read_checkpoint(straight[name]), read_checkpoint(part[name])
        assert a.meta["extra"]["ada"] == b.meta["extra"]["ada"], name
        assert a.tensors.keys() == b.tensors.keys() and all(torch.equal(a.tensors[k], b.tensors[k]) for k in a.tensors)
    p = [[r["augment_p"] for r in records(tmp_path / run) if "loss_d" in r] for run in ("straight", "part")]
    assert p[0] == p[1] and len(p[0]) == 9


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--augment", "ada:color,flip"], "error: --augment: unknown policy 'flip'; choose from color, translation, "),
        (["--augment", "ada:"], "error: --augment 'ada:': name the policy to adapt after 'ada:'"),
        (["--augment", "bogus"], "error: --augment: unknown policy 'bogus'"),
        (["--augment", "ada", "--ada-target", "1.5"], "error: --ada-target: must be below 1, got 1.5"),
        (["--augment", "ada", "--ada-target", "0"], "error: --ada-target: must be positive, got 0.0"),
        (["--augment", "ada", "--ada-speed", "0"], "error: --ada-speed: must be at least 1, got 0"),
        (["--ada-target", "0.8"], "error: --ada-target: only used with --augment ada; add --augment ada or drop it"),
        (["--augment", "color", "--ada-speed", "10"], "error: --ada-speed: only used with --augment ada"),
    ],
)
def test_bad_augmentation_flags_are_one_line_errors(cli, tmp_path: Path, flags: list[str], message: str) -> None:
    code, _, err = cli("train", *TINY, *flags, "--out", str(tmp_path / "run"))
    assert code == 2 and error_line(err).startswith(message), err
    assert not (tmp_path / "run").exists()
