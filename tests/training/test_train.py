"""Training end to end on tiny models: run directory contents, every preset, resume, determinism."""

from __future__ import annotations

import json
from html import unescape
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.checkpoint import list_checkpoints, read_checkpoint
from dcgan.config import PRESETS
from dcgan.generator import load_generator
from dcgan.training.trainer import train
from factories import tiny_config

tiny = tiny_config


def tensors(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path).tensors


def test_run_directory_has_everything_the_published_systems_show(tmp_path: Path) -> None:
    run = train(tiny(), tmp_path / "run", progress=False)
    # metrics.jsonl: one line per logged step with the S1 statistics.
    records = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines()]
    lines = [r for r in records if "loss_d" in r]
    # Once per epoch a record of the fixed-noise grid's diversity (the mode-collapse indicator).
    diversity = [r for r in records if "sample_diversity" in r]
    assert [r["epoch"] for r in diversity] == [1, 2] and all(r["sample_diversity"] >= 0 for r in diversity)
    assert [r["step"] for r in lines] == list(range(1, 7))  # 48 images / 16 per step x 2 epochs
    keys = {
        "step",
        "epoch",
        "loss_d",
        "loss_g",
        "d_real_mean",
        "d_fake_mean_before",
        "d_fake_mean_after",
        "images_per_second",
        "elapsed",
    }
    assert keys <= set(lines[0])
    for r in lines:
        assert 0 < r["d_real_mean"] < 1 and 0 < r["d_fake_mean_after"] < 1 and r["loss_d"] > 0
        assert r["images_per_second"] > 0
    assert [r["epoch"] for r in lines] == [1, 1, 1, 2, 2, 2]
    # Fixed-noise grids after every epoch, real vs fake, plots, report, config.
    for name in (
        "samples/epoch_0001.png",
        "samples/epoch_0002.png",
        "real_vs_fake.png",
        "plots/losses.png",
        "plots/d_outputs.png",
        "report.html",
        "config.json",
    ):
        assert (run / name).is_file() and (run / name).stat().st_size > 0, name
    grid = Image.open(run / "samples/epoch_0001.png")
    assert grid.size == (4 * 30 + 2, 4 * 30 + 2)  # 16 images of 28 px, 4 per row, 2 px padding
    assert grid.mode == "L"  # grayscale data, grayscale grid
    html = unescape((run / "report.html").read_text())
    assert html.count("data:image/png;base64,") >= 5 and "Loss_D" in html and '"size": 28' in html
    # S1's progression: the per-epoch grids as an animation, shown in the report.
    with Image.open(run / "progress.gif") as gif:
        assert gif.n_frames == 2 and gif.size[0] == 2 * (4 * 30 + 2)  # scaled x2 at 28 px
    assert "data:image/gif;base64," in html
    assert json.loads((run / "config.json").read_text())["size"] == 28
    # Checkpoints: safetensors with G, D, both optimisers, RNG and counters.
    cks = list_checkpoints(run)
    assert cks and cks[-1].name == "ckpt-000000006.safetensors"
    ck = read_checkpoint(cks[-1])
    assert ck.meta["step"] == 6 and ck.meta["epoch"] == 2 and ck.meta["images_seen"] == 96
    prefixes = {k.split(".")[0] for k in ck.tensors}
    assert {"G", "D", "optG", "optD", "rng"} <= prefixes


def test_images_change_and_losses_move_while_training(tmp_path: Path) -> None:
    run = train(tiny(epochs=3, limit=256, lr_g=1e-3, lr_d=1e-3), tmp_path / "run", progress=False)
    a = np.asarray(Image.open(run / "samples/epoch_0001.png"), dtype=np.float64)
    b = np.asarray(Image.open(run / "samples/epoch_0003.png"), dtype=np.float64)
    assert np.abs(a - b).mean() > 3.0  # the fixed-noise grid changed by more than 3 grey levels on average
    diversity = [
        json.loads(l)["sample_diversity"]
        for l in (run / "metrics.jsonl").read_text().splitlines()
        if "sample_diversity" in l
    ]
    assert diversity[0] < diversity[1] < diversity[2]  # from a near-constant start, the samples spread out
    losses = [json.loads(l)["loss_g"] for l in (run / "metrics.jsonl").read_text().splitlines() if "loss_g" in l]
    assert len(set(losses)) == len(losses) and np.isfinite(losses).all()


@pytest.mark.parametrize("preset", list(PRESETS))
def test_every_preset_trains_a_few_steps(preset: str, tmp_path: Path) -> None:
    size = 32 if PRESETS[preset].get("size", 64) == 64 else PRESETS[preset].get("size", 64)
    cfg = tiny(preset, size=size, limit=32)
    run = train(cfg, tmp_path / preset, progress=False, max_steps=2)
    ck = read_checkpoint(list_checkpoints(run)[-1])
    assert ck.step == 2 and ck.config.arch == PRESETS[preset].get("arch", "dcgan")
    model = load_generator(run)
    z = torch.randn(2, cfg.z_dim)
    assert model.generator(z).shape == (2, cfg.channels, size, size)


def test_resume_ends_with_the_same_weights_as_an_uninterrupted_run(tmp_path: Path) -> None:
    straight = train(tiny(epochs=3), tmp_path / "straight", progress=False)
    # Stop mid-epoch (step 4 of 9), then resume to the end.
    part = train(tiny(epochs=3), tmp_path / "parts", progress=False, max_steps=4)
    assert list_checkpoints(part)[-1].name == "ckpt-000000004.safetensors"
    train(tiny(epochs=3), part, resume=True, progress=False)
    a, b = tensors(list_checkpoints(straight)[-1]), tensors(list_checkpoints(part)[-1])
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # The metrics log is continuous, without duplicated steps.
    records = [json.loads(l) for l in (part / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if "loss_d" in r] == list(range(1, 10))
    assert [r["epoch"] for r in records if "sample_diversity" in r] == [1, 2, 3]


def test_resume_can_extend_the_number_of_epochs(tmp_path: Path) -> None:
    run = train(tiny(epochs=1), tmp_path / "run", progress=False)
    train(tiny(epochs=2), run, resume=True, progress=False)
    assert read_checkpoint(list_checkpoints(run)[-1]).meta["epoch"] == 2


def test_same_seed_same_weights(tmp_path: Path) -> None:
    a = train(tiny(epochs=1), tmp_path / "a", progress=False)
    b = train(tiny(epochs=1), tmp_path / "b", progress=False)
    c = train(tiny(epochs=1, seed=1), tmp_path / "c", progress=False)
    ta, tb, tc = (tensors(list_checkpoints(r)[-1]) for r in (a, b, c))
    assert all(torch.equal(ta[k], tb[k]) for k in ta)
    assert not torch.equal(ta["G.main.0.weight"], tc["G.main.0.weight"])


def test_checkpoint_rotation_keeps_the_newest(tmp_path: Path) -> None:
    run = train(tiny(epochs=4, keep_checkpoints=2), tmp_path / "run", progress=False)
    assert [p.name for p in list_checkpoints(run)] == ["ckpt-000000009.safetensors", "ckpt-000000012.safetensors"]


@pytest.mark.parametrize("rule,factor", [("none", 1.0), ("sqrt", 2.0), ("linear", 4.0)])
def test_large_batch_learning_rate_rule(rule: str, factor: float, tmp_path: Path) -> None:
    cfg = tiny(batch_size=512, limit=512, lr_scaling=rule, lr_g=1e-4, lr_d=3e-4)
    assert cfg.effective_lrs() == pytest.approx((1e-4 * factor, 3e-4 * factor))
    run = train(cfg, tmp_path / "run", progress=False, max_steps=1)
    ck = read_checkpoint(list_checkpoints(run)[-1])
    assert ck.optimizer_state("optG")["param_groups"][0]["lr"] == pytest.approx(1e-4 * factor)
    assert ck.optimizer_state("optD")["param_groups"][0]["lr"] == pytest.approx(3e-4 * factor)


def test_eval_every_records_fid_plots_it_and_keeps_the_best_checkpoint(tmp_path: Path) -> None:
    """--eval-every on real Fashion-MNIST with the fast domain FID: records, plot, best checkpoint, report."""
    cfg = tiny(
        data="fashion-mnist",
        limit=96,
        epochs=2,
        eval_every=2,
        eval_num=48,
        eval_metrics="fid_fashion",
        keep_checkpoints=1,
    )
    run = train(cfg, tmp_path / "run", progress=False)
    evals = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if '"fid_fashion"' in l]
    assert [r["step"] for r in evals] == [2, 4, 6, 8, 10, 12]
    assert all(r["fid_fashion"] > 0 for r in evals) and evals[0]["num_fake"] == 48
    best = min(evals, key=lambda r: r["fid_fashion"])
    ck = read_checkpoint(run / "checkpoints" / "best.safetensors")
    assert ck.step == best["step"]
    # The best checkpoint survives rotation (keep 1) and loads like any other.
    assert [p.name for p in list_checkpoints(run)] == ["ckpt-000000012.safetensors"]
    assert load_generator(run / "checkpoints" / "best.safetensors").step == best["step"]
    assert (run / "plots" / "fid.png").stat().st_size > 0
    assert f"at step {best['step']}" in unescape((run / "report.html").read_text())


def test_fashion_mnist_runs_are_scored_by_the_domain_fid_without_asking(cli, tmp_path: Path) -> None:
    """Left out, --eval-every on Fashion-MNIST measures the domain FID at every sample grid (the quality
    number of every run, seconds on a CPU), keeps best.safetensors by it and shows it; --eval-every 0 turns
    it off; other data is evaluated only when asked (its default metrics take minutes on a CPU)."""
    args = ["train", "--data", "fashion-mnist", "--limit", "96", "--batch-size", "16", "--epochs", "3"]
    args += ["--g-channels", "8", "--d-channels", "8", "--snapshot-every", "1", "--eval-num", "48", "--no-progress"]
    code, out, err = cli(*args, "--out", str(tmp_path / "auto"))
    assert code == 0, err
    run = tmp_path / "auto"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    evals = [r for r in records if "fid_fashion" in r]
    assert [(r["step"], r["epoch"]) for r in evals] == [(6, 1), (12, 2), (18, 3)]  # 96 images / 16 a step
    assert all(r["fid_fashion"] > 0 and r["num_fake"] == 48 and "fid" not in r for r in evals)
    assert "step 6: fid_fashion" in out + err
    best = min(evals, key=lambda r: r["fid_fashion"])
    assert read_checkpoint(run / "checkpoints" / "best.safetensors").step == best["step"]
    assert (run / "plots" / "fid.png").stat().st_size > 0
    assert f"{best['fid_fashion']:.4g} at step {best['step']}" in unescape((run / "report.html").read_text())
    assert json.loads((run / "config.json").read_text())["eval_every"] is None  # the data decides, on resume too

    code, _, err = cli(*args, "--eval-every", "0", "--out", str(tmp_path / "off"))
    assert code == 0, err
    assert '"fid_fashion"' not in (tmp_path / "off" / "metrics.jsonl").read_text()
    assert not (tmp_path / "off" / "checkpoints" / "best.safetensors").exists()
    # Evaluating does not change the training: the same weights with and without (a card's command that
    # leaves --eval-every out reproduces a run trained with evaluations off).
    auto, off = (read_checkpoint(list_checkpoints(tmp_path / name)[-1]) for name in ("auto", "off"))
    assert auto.step == off.step == 18
    for net in ("G", "D"):
        a, b = auto.state(net), off.state(net)
        assert a and a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), net

    synthetic = [a if a != "fashion-mnist" else "synthetic" for a in args]
    code, _, err = cli(*synthetic, "--size", "16", "--out", str(tmp_path / "synthetic"))
    assert code == 0, err
    assert '"fid' not in (tmp_path / "synthetic" / "metrics.jsonl").read_text()
    assert not (tmp_path / "synthetic" / "checkpoints" / "best.safetensors").exists()


def test_eval_every_with_inception_fid(tmp_path: Path) -> None:
    """The default --eval-metrics fid,kid (TF-Inception) on a few images, once at the end."""
    cfg = tiny(epochs=1, limit=32, eval_every=2, eval_num=8)
    run = train(cfg, tmp_path / "run", progress=False)
    evals = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if '"fid"' in l]
    assert [r["step"] for r in evals] == [2] and evals[0]["fid"] > 0 and "kid" in evals[0]
    assert read_checkpoint(run / "checkpoints" / "best.safetensors").step == 2


def test_snapshots_are_spaced_on_tiny_epochs(tmp_path: Path) -> None:
    """A grid + plots + checkpoint per 3-step epoch would cost more than training: automatic
    spacing covers >= 10,000 images (and the last epoch always gets one); --snapshot-every sets it."""
    auto = train(tiny(snapshot_every=0, epochs=3), tmp_path / "auto", progress=False)
    assert sorted(p.name for p in (auto / "samples").iterdir()) == ["epoch_0003.png"]
    assert [p.name for p in list_checkpoints(auto)] == ["ckpt-000000009.safetensors"]
    every2 = train(tiny(snapshot_every=2, epochs=5, keep_checkpoints=5), tmp_path / "every2", progress=False)
    assert sorted(p.name for p in (every2 / "samples").iterdir()) == [
        "epoch_0002.png",
        "epoch_0004.png",
        "epoch_0005.png",
    ]
    assert [read_checkpoint(p).meta["epoch"] for p in list_checkpoints(every2)] == [2, 4, 5]
    assert tiny(snapshot_every=0).snapshot_epochs(48) == 209 and tiny(snapshot_every=0).snapshot_epochs(60000) == 1
