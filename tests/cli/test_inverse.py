"""`dcgan project / inpaint / outpaint` on the tiny trained run, with real PNG files in and out: the loss
falls, the files are what they say, known pixels survive exactly outside the seam band, candidates are
ordered by loss, and every bad input is one line with exit status 2."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

import dcgan.latent.inverse as inverse
from dcgan.cli import main
from dcgan.cli.inverse import inpaint, outpaint, project
from dcgan.data.decode import decode_image
from dcgan.generator import load_generator
from dcgan.pixels import to_uint8


@pytest.fixture(autouse=True)
def commands():
    """Register the commands (until the command group does) and use one thread: these networks are tiny,
    and on a shared 2-core machine a second thread costs more in synchronisation than it gives."""
    for command in (project, inpaint, outpaint):
        if command.name not in main.commands:
            main.add_command(command)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def photo(path: Path, size: tuple[int, int] = (48, 40), seed: int = 0) -> Path:
    """A real RGB PNG of another size and mode than the run's 32 px gray: shapes on a background."""
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 80, 3)))
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        x0, y0 = rng.integers(0, size[0] // 2), rng.integers(0, size[1] // 2)
        draw.ellipse(
            (x0, y0, x0 + size[0] // 2, y0 + size[1] // 2), fill=tuple(int(v) for v in rng.integers(80, 255, 3))
        )
    img.save(path)
    return path


def gray(path: Path) -> np.ndarray:
    """A PNG as uint8 (H, W) (the run is gray)."""
    with Image.open(path) as img:
        assert img.mode == "L"
        return np.asarray(img)


def one_line_error(code: int, err: str, *needles: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len([line for line in lines if line.startswith("error:")]) == 1, err
    for needle in needles:
        assert needle in lines[-1], (needle, lines[-1])
    return lines[-1]


def test_project_lowers_the_loss_and_writes_latent_reconstruction_and_target(cli, tiny_run: Path, tmp_path: Path):
    image = photo(tmp_path / "shirt.png")
    out = tmp_path / "out"
    code, stdout, stderr = cli(
        "project", str(tiny_run), "--image", str(image), "--steps", "12", "--restarts", "2", "--out", str(out)
    )
    assert code == 0, stderr
    before, after = map(float, re.search(r"shirt: loss ([\d.e+-]+) -> ([\d.e+-]+)", stdout).groups())
    assert before > after
    assert "center-cropped 48x40 to 40x40, resized to 32x32, converted RGB to L" in stderr  # the conversion note
    assert "12/12" in stderr  # the progress bar
    model = load_generator(tiny_run)
    z = np.load(out / "shirt.latent.npy")
    assert z.shape == (model.config.z_dim,)
    target = gray(out / "shirt.target.png")
    assert np.array_equal(target, decode_image(image.read_bytes(), 32, 1)[0])
    # The reconstruction is G(z) of the written latent, at the run's size.
    recon = gray(out / "shirt.reconstruction.png")
    assert recon.shape == (32, 32)
    assert np.array_equal(recon, to_uint8(model(torch.from_numpy(z)[None]))[0, 0].numpy())


def test_project_a_folder_in_batches(cli, tiny_run: Path, tmp_path: Path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        photo(folder / f"p{i}.png", size=(32, 32), seed=i)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    code, stdout, stderr = cli(
        "project", str(tiny_run), "--image", str(folder), "--steps", "3", "--restarts", "1", "--batch-size", "2",
        "--no-progress", "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    assert "projected 3 images" in stdout
    assert "it/s" not in stderr and "img-step" not in stderr  # --no-progress
    for i in range(3):
        assert (out / f"p{i}.latent.npy").exists() and (out / f"p{i}.reconstruction.png").exists()


@pytest.mark.parametrize("blend", ["feather", "poisson"])
def test_inpaint_keeps_known_pixels_and_orders_candidates_by_loss(
    cli, tiny_run: Path, tmp_path: Path, blend: str, monkeypatch: pytest.MonkeyPatch
):
    if blend == "poisson" and not inverse.opencv_available():
        pytest.skip("OpenCV is not installed (pip install opencv-python-headless)")
    if blend == "feather":
        monkeypatch.setattr(inverse, "opencv_available", lambda: False)
    image = photo(tmp_path / "coat.png", size=(40, 40))
    mask = np.zeros((40, 40), np.uint8)
    mask[10:25, 12:30] = 255
    Image.fromarray(mask).save(tmp_path / "mask.png")
    out = tmp_path / "out"
    code, stdout, stderr = cli(
        "inpaint", str(tiny_run), "--image", str(image), "--mask", str(tmp_path / "mask.png"), "--steps", "10",
        "--candidates", "3", "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    assert ("Poisson" if blend == "poisson" else "feathered") in stderr
    summary = json.loads((out / "coat.json").read_text())
    assert summary["blend"] == blend
    assert len(summary["losses"]) == 3 and summary["losses"] == sorted(summary["losses"])
    target = gray(out / "coat.target.png")
    hole = gray(out / "coat.mask.png") > 0
    assert np.array_equal(hole, inverse.convert_mask(mask > 0, 32))
    changed = inverse.dilate(hole, inverse.seam_band(32))
    assert summary["changed_pixels"] == changed.sum() < 32 * 32
    for k in range(3):
        done = gray(out / f"coat.candidate-{k}.png")
        assert done.shape == (32, 32)  # the input's converted size
        assert np.array_equal(done[~changed], target[~changed])  # known pixels exactly, outside the seam band
    assert np.load(out / "coat.latent.npy").shape == (3, load_generator(tiny_run).config.z_dim)
    # Candidate 0 is the best: its loss is the first (smallest) of the printed range.
    assert f"loss {summary['losses'][0]:.6g} (best)" in stdout


def test_inpaint_with_a_box_and_outpaint_a_side(cli, tiny_run: Path, tmp_path: Path):
    image = photo(tmp_path / "bag.png", size=(32, 32))
    code, _, stderr = cli(
        "inpaint", str(tiny_run), "--image", str(image), "--box", "8,8,16,16", "--steps", "3", "--candidates", "2",
        "--no-progress", "--out", str(tmp_path / "box"),
    )  # fmt: skip
    assert code == 0, stderr
    hole = gray(tmp_path / "box" / "bag.mask.png") > 0
    assert hole.sum() == 16 * 16 and hole[8:24, 8:24].all()
    code, _, stderr = cli(
        "outpaint", str(tiny_run), "--image", str(image), "--side", "left", "--fraction", "0.25", "--steps", "3",
        "--candidates", "2", "--no-progress", "--out", str(tmp_path / "side"),
    )  # fmt: skip
    assert code == 0, stderr
    side = tmp_path / "side"
    hole = gray(side / "bag.mask.png") > 0
    assert hole[:, :8].all() and not hole[:, 8:].any()
    target = gray(side / "bag.target.png")
    band = inverse.seam_band(32)
    for k in range(2):
        done = gray(side / f"bag.candidate-{k}.png")
        assert np.array_equal(done[:, 8 + band :], target[:, 8 + band :])


def test_every_bad_input_is_one_line(cli, tiny_run: Path, tmp_path: Path):
    image = photo(tmp_path / "x.png", size=(40, 40))
    for name, shape, fill in (("small", (20, 20), (5, 5)), ("empty", (40, 40), None), ("full", (40, 40), (40, 40))):
        m = np.zeros(shape, np.uint8)
        if fill:
            m[: fill[0], : fill[1]] = 255
        Image.fromarray(m).save(tmp_path / f"{name}.png")
    (tmp_path / "empty-folder").mkdir()
    (tmp_path / "not-a-run").mkdir()
    (tmp_path / "broken.png").write_bytes(b"not a png")
    run, img, out = str(tiny_run), str(image), str(tmp_path / "out")
    cases = [
        (["inpaint", run, "--image", img, "--mask", str(tmp_path / "small.png")], "is 20x20, the image x is 40x40"),
        (["inpaint", run, "--image", img, "--mask", str(tmp_path / "empty.png")], "the hole is empty"),
        (["inpaint", run, "--image", img, "--mask", str(tmp_path / "full.png")], "covers the whole image"),
        (["inpaint", run, "--image", img, "--box", "30,30,20,5"], "must lie inside the 40x40 image"),
        (["inpaint", run, "--image", img, "--box", "1,2,3"], "expected x,y,w,h"),
        (["inpaint", run, "--image", img], "exactly one of --mask and --box"),
        (["inpaint", run, "--image", img, "--box", "0,0,4,4", "--mask", str(tmp_path / "small.png")], "exactly one"),
        (["inpaint", str(tmp_path / "not-a-run"), "--image", img, "--box", "0,0,4,4"], "no checkpoints"),
        (["project", run, "--image", str(tmp_path / "empty-folder")], "holds no images"),
        (["project", run, "--image", str(tmp_path / "missing.png")], "no such file or folder"),
        (["project", run, "--image", str(tmp_path / "broken.png")], "cannot be used"),
        (["outpaint", run, "--image", img, "--side", "middle"], "--side"),
        (["outpaint", run, "--image", img, "--side", "left", "--fraction", "1"], "--fraction"),
        (["project", run, "--image", img, "--out", str(image)], "is a file"),
    ]
    for args, needle in cases:
        if "--out" not in args:
            args = [*args, "--out", out]
        code, _, stderr = cli(*args)
        one_line_error(code, stderr, needle)


def test_ctrl_c_keeps_the_images_already_written(cli, tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        photo(folder / f"p{i}.png", size=(32, 32), seed=i)
    real, calls = inverse.project, []

    def interrupted_on_the_second_batch(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(inverse, "project", interrupted_on_the_second_batch)
    out = tmp_path / "out"
    code, _, _ = cli(
        "project", str(tiny_run), "--image", str(folder), "--steps", "2", "--batch-size", "1", "--out", str(out)
    )
    assert code == 130
    assert sorted(p.name for p in out.iterdir()) == ["p0.latent.npy", "p0.reconstruction.png", "p0.target.png"]


def test_non_finite_numbers_and_empty_paths_are_refused(cli, tiny_run: Path, tmp_path: Path):
    image = str(photo(tmp_path / "x.png", size=(32, 32)))
    out = str(tmp_path / "out")
    for args, needle in (
        (["project", str(tiny_run), "--image", image, "--lr", "nan", "--out", out], "--lr"),
        (["project", str(tiny_run), "--image", image, "--feature-weight", "inf", "--out", out], "--feature-weight"),
        (["inpaint", str(tiny_run), "--image", image, "--box", "0,0,4,4", "--prior-weight", "nan", "--out", out], "--prior-weight"),
        (["project", str(tiny_run), "--image", "", "--out", out], "--image"),
        (["outpaint", str(tiny_run), "--image", image, "--side", "top", "--out", ""], "--out"),
    ):  # fmt: skip
        code, _, stderr = cli(*args)
        one_line_error(code, stderr, needle)
    assert not (tmp_path / "out").exists()
