"""`dcgan generate` at scale: streamed batches (memory bounded by --batch-size), the same pixels as
the Python API, a grid of at most 256 images, provenance without local paths, and every output
problem (a file in the way, a full disk, Ctrl+C) as one line that keeps the images already written."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import dcgan.fsutil as fsutil
from dcgan.checkpoint import list_checkpoints, save_checkpoint
from dcgan.generator import load_generator
from dcgan.models import build_models
from factories import tiny_config


def dcgan(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dcgan", *args], capture_output=True, text=True, timeout=timeout)


def one_line_error(code: int, err: str, *needles: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    last = [line for line in err.strip().splitlines() if line.strip()][-1]
    assert last.startswith("error: "), err
    for needle in needles:
        assert needle in last, (needle, last)
    return last


def pixels(folder: Path, seed: int = 0) -> np.ndarray:
    """Every PNG of `folder` in index order as (N, C, H, W) uint8."""
    files = sorted(folder.glob(f"seed{seed}_*.png"))
    arrays = [np.asarray(Image.open(f)) for f in files]
    return np.stack([a[None] if a.ndim == 2 else a.transpose(2, 0, 1) for a in arrays])


def no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if ".tmp-" in p.name]


@pytest.fixture(scope="module")
def large_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run whose checkpoint makes 256 px RGB images from a narrow network: many bytes per image, little compute."""
    config = tiny_config("celeba-dcgan", size=256, g_channels=2, d_channels=2)
    torch.manual_seed(0)
    g, d = build_models(config, 3)
    run = tmp_path_factory.mktemp("large") / "large"
    save_checkpoint(
        run,
        config=config,
        generator=g,
        discriminator=d,
        opt_g=torch.optim.Adam(g.parameters()),
        opt_d=torch.optim.Adam(d.parameters()),
        step=1,
        epoch=0,
        images_seen=16,
        rng={"z": torch.Generator().get_state()},
        extra={"channels": 3},
    )
    return run


def test_hundreds_of_images_stream_in_small_batches_with_the_api_pixels(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "png"
    p = dcgan("generate", str(tiny_run), "--num", "200", "--batch-size", "7", "--seed", "5", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "wrote 200 images" in p.stdout
    assert "200/200" in p.stderr  # the progress bar, on stderr
    files = sorted(out.iterdir())
    assert [f.name for f in files] == [f"seed5_{i:06d}.png" for i in range(200)]
    G = load_generator(tiny_run)
    expected = G.sample(200, seed=5, batch_size=7).numpy()
    assert np.array_equal(pixels(out, 5), expected)
    # Another --batch-size, the same images; --no-progress prints no bar.
    q = dcgan(
        "generate", str(tiny_run), "--num", "20", "--batch-size", "256", "--seed", "5", "--out", str(tmp_path / "b")
    )
    assert q.returncode == 0, q.stderr
    assert np.array_equal(pixels(tmp_path / "b", 5), expected[:20])
    r = dcgan("generate", str(tiny_run), "--num", "3", "--out", str(tmp_path / "c"), "--no-progress")
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    # The provenance names the run and the checkpoint file, never where they lie on this machine.
    text = Image.open(files[0]).text
    ckpt = list_checkpoints(tiny_run)[-1]
    assert text["dcgan:model"] == f"{tiny_run.name}/{ckpt.name}" and "ckpt-" in text["dcgan:model"]
    assert text["dcgan:synthetic"] == "true" and text["dcgan:seed"] == "5" and text["dcgan:step"] == str(G.step)
    assert text["index"] == "0" and Image.open(files[-1]).text["index"] == "199"
    for value in text.values():
        assert str(tiny_run.parent) not in value and str(Path.home()) + os.sep not in value
    assert ckpt.name in text["Comment"]


def test_the_grid_shows_the_first_256_images(tiny_run: Path, tmp_path: Path, cli) -> None:
    grid = tmp_path / "grid.png"
    code, out, err = cli(
        "generate", str(tiny_run), "--num", "300", "--batch-size", "100", "--out", str(tmp_path / "o"),
        "--grid", str(grid), "--no-progress",
    )  # fmt: skip
    assert code == 0, err
    assert "the first 256 of 300" in out
    image = np.asarray(Image.open(grid))
    side = load_generator(tiny_run).size
    assert image.shape[0] == image.shape[1] == 16 * (side + 2) + 2  # 256 images: 16 x 16
    code, out, err = cli("generate", str(tiny_run), "--num", "9", "--out", str(tmp_path / "p"), "--grid", str(grid))
    assert code == 0 and "(the first" not in out
    assert np.asarray(Image.open(grid)).shape[0] == 3 * (side + 2) + 2


def peak_rss_mib(args: list[str], cwd: Path) -> float:
    """Peak resident memory of `python -m dcgan ARGS` (that child alone), which must succeed."""
    with open(cwd / "stderr.txt", "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "dcgan", *args], stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, (cwd / "stderr.txt").read_text()
    return usage.ru_maxrss / 1024


def test_memory_does_not_grow_with_num(large_images: Path, tmp_path: Path) -> None:
    common = ["generate", str(large_images), "--batch-size", "8", "--no-progress"]
    few = peak_rss_mib([*common, "--num", "16", "--out", str(tmp_path / "few")], tmp_path)
    many = peak_rss_mib([*common, "--num", "300", "--out", str(tmp_path / "many")], tmp_path)
    assert len(list((tmp_path / "many").iterdir())) == 300
    # Holding all 300 images would take 300 x 256 x 256 x 3 bytes = 56 MiB (twice that while concatenated).
    assert many - few < 25, (few, many)


def test_out_or_grid_in_the_way_of_a_file(tiny_run: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "notes.txt"
    blocker.write_text("mine")
    run = str(tiny_run)
    p = dcgan("generate", run, "--num", "2", "--out", str(blocker))
    assert p.returncode == 2 and "--out" in p.stderr and "Traceback" not in p.stderr
    one_line_error(
        *_code_err(dcgan("generate", run, "--num", "2", "--out", str(blocker / "sub"))), "--out", "is a file"
    )
    one_line_error(
        *_code_err(
            dcgan("generate", run, "--num", "2", "--out", str(tmp_path / "o"), "--grid", str(blocker / "g.png"))
        ),
        "--grid",
        "is a file",
    )
    assert blocker.read_text() == "mine" and not (tmp_path / "o").exists()


def _code_err(p: subprocess.CompletedProcess) -> tuple[int, str]:
    return p.returncode, p.stderr


def fail_after(monkeypatch: pytest.MonkeyPatch, n: int, err: int, only: str = "") -> None:
    """The disk fills (or refuses) after `n` atomic renames (of files whose name holds `only`)."""
    real = os.replace
    done = [0]

    def replace(src, dst):
        if only in str(dst):
            if done[0] >= n:
                raise OSError(err, os.strerror(err))
            done[0] += 1
        return real(src, dst)

    monkeypatch.setattr(fsutil.os, "replace", replace)


def test_a_full_disk_while_writing_images_keeps_those_written(tiny_run: Path, tmp_path: Path, cli, monkeypatch) -> None:
    out = tmp_path / "o"
    fail_after(monkeypatch, 10, errno.ENOSPC)
    code, _, err = cli(
        "generate", str(tiny_run), "--num", "40", "--batch-size", "8", "--out", str(out), "--no-progress"
    )
    one_line_error(code, err, "--out", "disk is full", "10 images")
    assert sorted(p.name for p in out.iterdir()) == [f"seed0_{i:06d}.png" for i in range(10)]
    assert no_temp_files(tmp_path)
    expected = load_generator(tiny_run).sample(10).numpy()
    assert np.array_equal(pixels(out), expected)


def test_a_grid_that_cannot_be_written_keeps_the_images(tiny_run: Path, tmp_path: Path, cli, monkeypatch) -> None:
    out, grid = tmp_path / "o", tmp_path / "g" / "grid.png"
    fail_after(monkeypatch, 0, errno.ENOSPC, only="grid.png")
    code, _, err = cli(
        "generate", str(tiny_run), "--num", "12", "--out", str(out), "--grid", str(grid), "--no-progress"
    )
    one_line_error(code, err, "--grid", "disk is full", "12 images")
    assert len(list(out.iterdir())) == 12 and not grid.exists() and no_temp_files(tmp_path)
    fail_after(monkeypatch, 0, errno.EACCES, only="grid.png")
    code, _, err = cli("generate", str(tiny_run), "--num", "3", "--out", str(out), "--grid", str(grid), "--no-progress")
    one_line_error(code, err, "--grid", "cannot write")


def test_ctrl_c_leaves_complete_files(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    args = ["generate", str(tiny_run), "--num", "1000000", "--batch-size", "4", "--out", str(out), "--no-progress"]
    proc = subprocess.Popen([sys.executable, "-m", "dcgan", *args], stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while (not out.is_dir() or len(list(out.glob("*.png"))) < 20) and time.monotonic() < deadline:
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    files = sorted(out.iterdir())
    assert len(files) >= 20 and no_temp_files(out)
    assert f"interrupted: {len(files)} complete images" in err
    assert [f.name for f in files] == [f"seed0_{i:06d}.png" for i in range(len(files))]
    assert np.array_equal(pixels(out), load_generator(tiny_run).sample(len(files)).numpy())
