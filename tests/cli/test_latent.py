"""`dcgan animate`, `dcgan interpolate`, `dcgan arithmetic` through the real command group on a tiny
trained run: files written, frame counts and sizes, walk ends equal to the seeds' samples pixel for
pixel, the arithmetic cell equal to a - b + c decoded by hand, and every user error as one line, exit 2."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageSequence

import dcgan.latent.walks as walks_module
from dcgan.cli import main
from dcgan.cli.latent import animate, arithmetic, interpolate
from dcgan.generator import load_generator
from dcgan.latent.arithmetic import cell_origin, figure_label_width
from dcgan.pixels import to_uint8
from factories import varied_checkpoint

COMMANDS = (animate, interpolate, arithmetic)


@pytest.fixture(autouse=True)
def registered():
    """The commands in the group for this test (kept when the group already registers them)."""
    added = [c for c in COMMANDS if c.name not in main.commands]
    for command in added:
        main.add_command(command)
    yield
    for command in added:
        main.commands.pop(command.name, None)


@pytest.fixture(scope="module")
def varied(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A checkpoint file: tiny_run's networks with G's output layer x300, so samples differ between seeds."""
    return varied_checkpoint(tiny_run, tmp_path_factory.mktemp("varied") / "run")


def one_line_error(outcome: tuple[int, str, str], *needles: str) -> str:
    code, _, err = outcome
    assert code == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def gif_frames(path: Path) -> tuple[int, list[np.ndarray]]:
    """(frames the animation shows, counting merged identical frames by duration; the distinct frames)."""
    with Image.open(path) as im:
        frames = [(np.asarray(f.convert("L")), f.info["duration"]) for f in ImageSequence.Iterator(im)]
    unit = min(d for _, d in frames)
    return sum(d // unit for _, d in frames), [f for f, _ in frames]


def strip_cell(strip: np.ndarray, index: int, side: int = 32, pad: int = 2) -> np.ndarray:
    """Image `index` of a one-row strip (dcgan.io.make_grid layout) as (1, side, side)."""
    x = pad + index * (side + pad)
    return strip[pad : pad + side, x : x + side][None]


def test_interpolate_strip_ends_are_the_seeds_own_samples(cli, varied: Path, tmp_path: Path) -> None:
    out = tmp_path / "strip.png"
    code, stdout, stderr = cli("interpolate", str(varied), "--seeds", "3,17,42", "--steps", "4", "--out", str(out))
    assert code == 0, stderr
    assert "7 frames" in stdout and "slerp" in stdout
    assert "7/7" in stderr  # the progress bar
    strip = np.asarray(Image.open(out))
    assert strip.shape == (2 + 32 + 2, 2 + 7 * 34)
    G = load_generator(varied)
    for index, seed in ((0, 3), (3, 17), (6, 42)):
        assert np.array_equal(strip_cell(strip, index), G.sample(1, seed)[0].numpy()), seed
    assert not np.array_equal(strip_cell(strip, 1), strip_cell(strip, 0))
    assert Image.open(out).text["dcgan:model"] == "run/" + varied.name  # provenance, no absolute path


def test_interpolate_gif_has_every_frame_at_the_scale(cli, tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "walk.gif"
    args = ("--seeds", "1,2", "--steps", "6", "--fps", "10", "--scale", "2", "--no-progress", "--out", str(out))
    code, _, stderr = cli("interpolate", str(tiny_run), *args)
    assert code == 0 and stderr == "", stderr
    shown, frames = gif_frames(out)
    assert shown == 6 and frames[0].shape == (64, 64)
    assert Image.open(out).info["duration"] in (100, *range(100, 700, 100))
    G = load_generator(tiny_run)
    first = np.kron(G.sample(1, 1)[0, 0].numpy(), np.ones((2, 2), np.uint8))
    assert np.array_equal(frames[0], first)  # gray GIFs keep every pixel


def test_interpolate_grid_png_has_the_corners_and_webp_walks_it(cli, varied: Path, tmp_path: Path) -> None:
    out = tmp_path / "grid.png"
    code, stdout, stderr = cli("interpolate", str(varied), "--seeds", "1,2,3,4", "--grid", "3", "--out", str(out))
    assert code == 0, stderr
    grid = np.asarray(Image.open(out))
    assert grid.shape == (2 + 3 * 34, 2 + 3 * 34)
    G = load_generator(varied)
    for (row, col), seed in zip(((0, 0), (0, 2), (2, 0), (2, 2)), (1, 2, 3, 4)):
        y, x = 2 + row * 34, 2 + col * 34
        assert np.array_equal(grid[y : y + 32, x : x + 32], G.sample(1, seed)[0, 0].numpy()), seed
    webp = tmp_path / "grid.webp"
    assert cli("interpolate", str(varied), "--seeds", "1,2,3,4", "--grid", "3", "--out", str(webp))[0] == 0
    with Image.open(webp) as im:
        assert im.n_frames == 9 and im.size == (32, 32)


def test_animate_shows_each_epoch_grid_with_its_epoch_written(cli, tiny_run: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    grid = np.asarray(Image.open(run / "samples" / "epoch_0001.png"))
    for epoch, shift in ((2, 60), (10, 120)):  # three different grids, epochs out of name order
        Image.fromarray((grid.astype(int) + shift).clip(0, 255).astype(np.uint8)).save(
            run / "samples" / f"epoch_{epoch:04d}.png"
        )
    out = tmp_path / "progress.gif"
    code, stdout, stderr = cli("animate", str(run), "--out", str(out), "--fps", "10", "--scale", "2")
    assert code == 0, stderr
    assert "3 epochs" in stdout and "3/3" in stderr
    shown, frames = gif_frames(out)
    assert shown == 3 and len(frames) == 3
    h, w = grid.shape[0] * 2, grid.shape[1] * 2
    assert frames[0].shape[1] == w and frames[0].shape[0] > h  # a label band above the grid
    band = frames[0].shape[0] - h
    assert np.array_equal(frames[0][band:], np.kron(grid, np.ones((2, 2), np.uint8)))
    assert (frames[0][:band] < 128).any()  # text in the band
    assert not np.array_equal(frames[1][:band], frames[2][:band])  # epoch 2 and epoch 10 labelled differently
    webp = tmp_path / "progress.webp"
    assert cli("animate", str(run), "--out", str(webp), "--no-progress")[0] == 0
    with Image.open(webp) as im:
        assert im.n_frames == 3


def test_arithmetic_figure_holds_a_minus_b_plus_c_decoded(cli, varied: Path, tmp_path: Path) -> None:
    out = tmp_path / "figure.png"
    args = ("--a", "1,2,3", "--b", "4,5,6", "--c", "7,8,9", "--num", "3", "--out", str(out))
    code, stdout, stderr = cli("arithmetic", str(varied), *args)
    assert code == 0, stderr
    figure = np.asarray(Image.open(out))
    G = load_generator(varied)
    mean = lambda seeds: torch.cat([G.latents(1, s) for s in seeds]).mean(0)  # noqa: E731
    by_hand = to_uint8(G.generator((mean([1, 2, 3]) - mean([4, 5, 6]) + mean([7, 8, 9]))[None]))

    def cell(row: int, col: int) -> np.ndarray:
        x, y = cell_origin(row, col, 32, label_width=figure_label_width())
        return figure[y : y + 32, x : x + 32]

    cols = 4  # three members and the mean
    assert figure.shape[0] == 2 + 4 * 34 and figure.shape[1] == figure_label_width() + 2 + cols * 34
    assert np.array_equal(cell(3, 0), by_hand[0, 0].numpy())
    assert np.array_equal(cell(1, 2), G.sample(1, 6)[0, 0].numpy())  # group b's third member
    assert np.array_equal(cell(2, 3), to_uint8(G.generator(mean([7, 8, 9])[None]))[0, 0].numpy())
    assert not np.array_equal(cell(3, 1), cell(3, 0)) and not np.array_equal(cell(3, 2), cell(3, 1))
    assert "folder of images that are projected" in " ".join(cli("arithmetic", "--help")[1].split())


def test_arithmetic_groups_can_be_folders_of_images_projected_first(cli, varied: Path, tmp_path: Path) -> None:
    """A group given as a folder of real images: each is projected, and the group's mean latent is theirs."""
    G = load_generator(varied)
    folder = tmp_path / "group_a"
    folder.mkdir()
    for seed in (1, 2):  # images the generator can make: projection can find them
        Image.fromarray(G.sample(1, seed)[0, 0].numpy()).save(folder / f"seed{seed}.png")
    out = tmp_path / "figure.png"
    code, stdout, stderr = cli(
        "arithmetic", str(varied), "--a", str(folder), "--b", "4", "--c", "7", "--project-steps", "5", "--out", str(out)
    )
    assert code == 0, stderr
    assert "--a: projected 2 image(s)" in stderr and str(folder) in stdout
    figure = np.asarray(Image.open(out))
    assert figure.shape[0] == 2 + 4 * 34  # rows a, b, c and the result


def test_ctrl_c_writes_nothing(cli, tiny_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def stop(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(walks_module, "decode", stop)
    out = tmp_path / "walk.gif"
    code, _, stderr = cli("interpolate", str(tiny_run), "--seeds", "1,2", "--out", str(out), "--no-progress")
    assert code == 130 and "interrupted" in stderr and "Traceback" not in stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_user_errors_are_one_line_exit_2(cli, tiny_run: Path, tmp_path: Path) -> None:
    gif, png = str(tmp_path / "w.gif"), str(tmp_path / "f.png")
    run = str(tiny_run)
    missing = str(tmp_path / "nope")
    one_line_error(cli("interpolate", missing, "--seeds", "1,2", "--out", gif), "nope")
    one_line_error(cli("animate", missing, "--out", gif), "no such run")
    one_line_error(cli("arithmetic", missing, "--a", "1", "--b", "2", "--c", "3", "--out", png), "nope")
    for seeds in ("1,x", "", "1,,2", "-1", "7", str(2**64)):
        one_line_error(cli("interpolate", run, "--seeds", seeds, "--out", gif), "--seeds")
    one_line_error(cli("arithmetic", run, "--a", "1", "--b", "x", "--c", "3", "--out", png), "--b")
    one_line_error(cli("arithmetic", run, "--a", "1", "--b", "2", "--c", "3", "--noise", "nan", "--out", png), "noise")
    bare = tmp_path / "bare"
    shutil.copytree(tiny_run, bare, ignore=shutil.ignore_patterns("samples"))
    one_line_error(cli("animate", str(bare), "--out", gif), "no fixed-noise grids")
    one_line_error(cli("animate", run, "--out", str(tmp_path / "p.png")), ".gif or .webp")
    one_line_error(cli("interpolate", run, "--seeds", "1,2", "--steps", "1", "--out", gif), "--steps")
    one_line_error(cli("interpolate", run, "--seeds", "1,2,3", "--grid", "3", "--out", gif), "exactly 4 seeds")
    one_line_error(cli("interpolate", run, "--seeds", "1,2", "--out", str(tmp_path / "w.jpg")), ".png")
    one_line_error(cli("interpolate", run, "--seeds", "1,2", "--out", str(tmp_path)), "folder")
    one_line_error(cli("interpolate", run, "--seeds", "1,2", "--out", ""), "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bare"]  # nothing written
