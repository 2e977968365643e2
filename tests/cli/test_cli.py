"""The real `dcgan` command, end to end, including every bad-input case (one line, exit 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.checkpoint import list_checkpoints

TINY = [
    "--g-channels",
    "8",
    "--d-channels",
    "8",
    "--batch-size",
    "16",
    "--log-every",
    "1",
    "--snapshot-every",
    "1",
    "--sample-grid",
    "16",
    "--no-progress",
]


def dcgan(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dcgan.cli", *args], capture_output=True, text=True, cwd=cwd, timeout=300
    )


def one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [l for l in proc.stderr.strip().splitlines() if l.strip()]
    last = lines[-1]
    assert last.startswith("error: "), proc.stderr
    for n in needles:
        assert n in last, (n, last)


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "run"
    proc = dcgan(
        "train",
        "--data",
        "synthetic",
        "--preset",
        "celeba-dcgan",
        "--size",
        "32",
        "--limit",
        "32",
        "--epochs",
        "1",
        "--out",
        str(out),
        *TINY,
    )
    assert proc.returncode == 0, proc.stderr
    assert "run finished" in proc.stdout
    return out


def test_help_is_fast_and_lists_commands() -> None:
    proc = dcgan("--help")
    assert proc.returncode == 0
    for cmd in ("train", "generate", "prepare", "presets"):
        assert cmd in proc.stdout


def test_help_does_not_import_torch() -> None:
    code = "import sys; from dcgan import cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
    assert out == "False"


def test_presets_lists_the_published_systems() -> None:
    proc = dcgan("presets")
    for name in ("celeba-dcgan", "faces-96", "celeba-variant", "fashion-mlp"):
        assert f"{name} (published)" in proc.stdout
    assert "fashion-dcgan (default)" in proc.stdout
    for name in ("fashion-best", "faces-64-best", "small-faces", "fashion-cond"):
        assert f"{name} (recommended)" in proc.stdout
    # Each of our presets says what backs it, and those carried over without measurement say so.
    lines = {line.split(" ", 1)[0]: line for line in proc.stdout.splitlines()}
    assert "measured" in lines["fashion-best"] and "carried over" in lines["faces-64-best"]
    assert "carried over" in lines["small-faces"] and "71.5%" in lines["fashion-cond"]


def test_dry_run_prints_the_resolved_config() -> None:
    proc = dcgan("train", "--out", "unused", "--preset", "celeba-variant", "--epochs", "3", "--dry-run")
    cfg = json.loads(proc.stdout)
    assert cfg["arch"] == "dcgan-fc" and cfg["real_label"] == 0.9 and cfg["epochs"] == 3 and cfg["z_dist"] == "uniform"


def test_generate_writes_tagged_deterministic_pngs(trained_run: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    p = dcgan(
        "generate", str(trained_run), "--num", "5", "--out", str(a), "--grid", str(tmp_path / "grid.png"), "--seed", "3"
    )
    assert p.returncode == 0, p.stderr
    dcgan("generate", str(trained_run), "--num", "5", "--out", str(b), "--seed", "3")
    files = sorted(a.glob("*.png"))
    assert len(files) == 5
    img = Image.open(files[0])
    assert img.size == (32, 32) and img.mode == "RGB"
    assert img.text["dcgan:synthetic"] == "true" and img.text["dcgan:seed"] == "3"
    assert "ckpt-" in img.text["dcgan:model"]
    for fa, fb in zip(files, sorted(b.glob("*.png"))):
        assert np.array_equal(np.asarray(Image.open(fa)), np.asarray(Image.open(fb)))
    assert (tmp_path / "grid.png").is_file()
    # A checkpoint file works as well as the run directory; another seed gives other images.
    c = tmp_path / "c"
    dcgan("generate", str(list_checkpoints(trained_run)[-1]), "--num", "5", "--out", str(c), "--seed", "4")
    assert not np.array_equal(np.asarray(Image.open(files[0])), np.asarray(Image.open(sorted(c.glob("*.png"))[0])))


def test_resume_through_the_cli(trained_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    p = dcgan("train", "--out", str(run), "--resume", "--epochs", "2", "--no-progress")
    assert p.returncode == 0, p.stderr
    assert list_checkpoints(run)[-1].name == "ckpt-000000004.safetensors"


def test_resume_accepts_the_original_command_line(trained_run: Path, tmp_path: Path) -> None:
    """Re-running the same command with --resume (what scripts and job schedulers do) just continues."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    p = dcgan(
        "train",
        "--data",
        "synthetic",
        "--preset",
        "celeba-dcgan",
        "--size",
        "32",
        "--limit",
        "32",
        "--epochs",
        "2",
        "--out",
        str(run),
        *TINY,
        "--resume",
        "--keep-checkpoints",
        "1",
        "--device",
        "cpu",
    )
    assert p.returncode == 0, p.stderr
    # Run-control settings may change on resume and take effect (here: keep only the newest).
    assert [c.name for c in list_checkpoints(run)] == ["ckpt-000000004.safetensors"]


def test_resume_refuses_a_changed_recipe(trained_run: Path, tmp_path: Path) -> None:
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    before = sorted(p.name for p in (run / "checkpoints").iterdir())
    one_line_error(
        dcgan("train", "--out", str(run), "--resume", "--size", "64", "--lr-g", "0.1"), "--size", "--lr-g", "--epochs"
    )
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == before


# ---- bad input: one line naming the problem, exit status 2, nothing lost -------------------------


def test_missing_data_folder(tmp_path: Path) -> None:
    one_line_error(dcgan("train", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r"), *TINY), "nope")


def test_empty_data_folder(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    one_line_error(dcgan("train", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "r"), *TINY), "empty")


def test_zip_without_images(tmp_path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(tmp_path / "d.zip", "w") as z:
        z.writestr("readme.txt", "no images here")
    one_line_error(dcgan("train", "--data", str(tmp_path / "d.zip"), "--out", str(tmp_path / "r"), *TINY), "d.zip")


def test_only_bad_images(tmp_path: Path) -> None:
    d = tmp_path / "bad"
    d.mkdir()
    (d / "a.jpg").write_bytes(b"")
    (d / "b.png").write_text("not an image")
    one_line_error(dcgan("train", "--data", str(d), "--out", str(tmp_path / "r"), *TINY), "bad")


def test_unknown_preset_and_flag_values(tmp_path: Path) -> None:
    one_line_error(dcgan("train", "--preset", "stylegan9", "--out", str(tmp_path / "r")), "--preset")
    one_line_error(dcgan("train", "--arch", "resnet", "--out", str(tmp_path / "r")), "--arch")
    one_line_error(dcgan("train", "--epochs", "zero", "--out", str(tmp_path / "r")), "--epochs")
    one_line_error(dcgan("train", "--device", "tpu", "--data", "synthetic", "--out", str(tmp_path / "r")), "--device")
    one_line_error(dcgan("train", "--bogus-flag", "--out", str(tmp_path / "r")), "--bogus-flag")


def test_size_the_model_cannot_make(tmp_path: Path) -> None:
    one_line_error(dcgan("train", "--size", "100", "--data", "synthetic", "--out", str(tmp_path / "r")), "--size 100")


def test_existing_run_is_never_overwritten(trained_run: Path) -> None:
    before = {p.name: p.read_bytes() for p in list_checkpoints(trained_run)}
    one_line_error(dcgan("train", "--data", "synthetic", "--size", "32", "--out", str(trained_run), *TINY), "--resume")
    assert {p.name: p.read_bytes() for p in list_checkpoints(trained_run)} == before


def test_resume_without_checkpoint_starts_the_run(tmp_path: Path) -> None:
    """--resume on a folder with nothing to resume starts the run (what a scheduler's requeue needs)."""
    proc = dcgan("train", "--out", str(tmp_path / "new"), "--resume", "--data", "synthetic", "--max-steps", "1", *TINY)
    assert proc.returncode == 0, proc.stderr
    assert list_checkpoints(tmp_path / "new")[-1].name == "ckpt-000000001.safetensors"


def test_checkpoint_from_a_different_architecture(trained_run: Path, tmp_path: Path) -> None:
    from safetensors import safe_open
    from safetensors.torch import save_file

    src = list_checkpoints(trained_run)[-1]
    with safe_open(str(src), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    cfg = json.loads(meta["config"])
    cfg["g_channels"] = 16  # claims a wider generator than the weights hold
    meta["config"] = json.dumps(cfg)
    bad = tmp_path / "other.safetensors"
    save_file(tensors, str(bad), metadata=meta)
    one_line_error(dcgan("generate", str(bad), "--num", "2", "--out", str(tmp_path / "o")), "does not fit")


def test_pickle_checkpoints_are_refused(tmp_path: Path) -> None:
    sentinel = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(sentinel), "w"))

    torch.save({"x": Evil()}, tmp_path / "model.pt")
    one_line_error(dcgan("generate", str(tmp_path / "model.pt"), "--num", "1", "--out", str(tmp_path / "o")), "pickle")
    assert not sentinel.exists()


def test_not_a_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "junk.safetensors").write_bytes(b"garbage" * 10)
    one_line_error(
        dcgan("generate", str(tmp_path / "junk.safetensors"), "--num", "1", "--out", str(tmp_path / "o")),
        "junk.safetensors",
    )
    one_line_error(dcgan("generate", str(tmp_path / "missing"), "--num", "1", "--out", str(tmp_path / "o")), "missing")


def test_config_file_then_flags(tmp_path: Path) -> None:
    cfg = tmp_path / "recipe.json"
    cfg.write_text(json.dumps({"preset": "celeba-dcgan", "data": "synthetic", "size": 32, "loss": "hinge"}))
    p = dcgan("train", "--config", str(cfg), "--size", "48", "--out", str(tmp_path / "r"), "--dry-run")
    assert p.returncode == 0, p.stderr
    resolved = json.loads(p.stdout)
    assert resolved["size"] == 48 and resolved["loss"] == "hinge" and resolved["channels"] == 3
    assert resolved["extra"]["preset"] == "celeba-dcgan"
    cfg.write_text(json.dumps({"size": "big"}))
    one_line_error(dcgan("train", "--config", str(cfg), "--out", str(tmp_path / "r"), "--dry-run"), "size", "int")
