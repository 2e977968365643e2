"""Conditional generation through the `dcgan` command: train on a class folder, a zip and CelebA attributes,
generate by class name, index and attributes, evaluate per class, and every refusal in one line."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from label_fixtures import celeba_root, class_folder, class_zip, mini_fashion

TINY = ["--g-channels", "8", "--d-channels", "8", "--batch-size", "8", "--seed", "0", "--no-progress"]
TINY += ["--size", "16", "--sample-grid", "4", "--epochs", "1", "--amp", "off"]


def train(cli, data: Path | str, out: Path, *extra: str) -> tuple[int, str, str]:
    return cli("train", "--data", str(data), "--out", str(out), *TINY, *extra)


def error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), err
    return lines[-1]


@pytest.fixture(scope="module")
def class_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from click.testing import CliRunner

    from dcgan.cli import main

    base = tmp_path_factory.mktemp("classes")
    folder = class_folder(base / "clothes")
    args = ["train", "--data", str(folder), "--out", str(base / "run"), "--conditional", *TINY]
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    return base / "run"


@pytest.mark.parametrize("kind", ["folder", "zip"])
def test_a_class_folder_or_zip_trains_a_conditional_run_with_a_row_per_class(cli, tmp_path: Path, kind: str) -> None:
    data = class_folder(tmp_path / "clothes") if kind == "folder" else class_zip(tmp_path / "clothes.zip")
    code, _, err = train(cli, data, tmp_path / "run", "--conditional")
    assert code == 0, err
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["conditional"] is True
    from dcgan import load_generator

    model = load_generator(tmp_path / "run")
    assert model.class_names == ["Blue shoes", "green", "red"] and model.attribute_names is None
    grid = Image.open(tmp_path / "run" / "samples" / "epoch_0001.png")
    assert grid.size == (2 * 18 + 2, 3 * 18 + 2)  # 2 columns (sqrt 4) x one row per class, 16 px + padding


def test_generate_by_name_and_index_gives_that_class(cli, class_run: Path, tmp_path: Path) -> None:
    code, out, err = cli("generate", str(class_run), "--class", "RED", "--num", "3", "--out", str(tmp_path / "red"))
    assert code == 0, err
    code, _, err = cli("generate", str(class_run), "--class", "0", "--num", "3", "--out", str(tmp_path / "blue"))
    assert code == 0, err
    red = sorted((tmp_path / "red").glob("*.png"))
    blue = sorted((tmp_path / "blue").glob("*.png"))
    assert len(red) == len(blue) == 3
    assert Image.open(red[0]).text["dcgan:label"] == "red" and Image.open(blue[0]).text["dcgan:label"] == "Blue shoes"
    assert "label red" in Image.open(red[1]).text["Comment"]
    # Same seed, same latents: the class alone makes the images differ.
    assert not np.array_equal(np.asarray(Image.open(red[0])), np.asarray(Image.open(blue[0])))
    code, _, _ = cli("generate", str(class_run), "--class", "red", "--num", "3", "--out", str(tmp_path / "again"))
    assert np.array_equal(np.asarray(Image.open(red[0])), np.asarray(Image.open(tmp_path / "again" / red[0].name)))


def test_without_class_the_classes_take_turns_one_grid_column_each(cli, class_run: Path, tmp_path: Path) -> None:
    grid = tmp_path / "grid.png"
    code, _, err = cli("generate", str(class_run), "--num", "6", "--out", str(tmp_path / "all"), "--grid", str(grid))
    assert code == 0, err
    labels = [Image.open(p).text["dcgan:label"] for p in sorted((tmp_path / "all").glob("*.png"))]
    assert labels == ["Blue shoes", "green", "red"] * 2
    assert Image.open(grid).size == (3 * 18 + 2, 2 * 18 + 2)  # a column per class


def test_class_typos_and_labels_on_the_wrong_model_are_one_line(cli, class_run: Path, tmp_path: Path) -> None:
    code, _, err = cli("generate", str(class_run), "--class", "blu", "--out", str(tmp_path / "x"))
    assert code == 2 and "'blu': no such class" in error_line(err) and "0 'Blue shoes'" in err
    code, _, err = cli("generate", str(class_run), "--class", "7", "--out", str(tmp_path / "x"))
    assert code == 2 and "index out of range; choose 0..2" in error_line(err)
    code, _, err = cli("generate", str(class_run), "--attributes", "Smiling=1", "--out", str(tmp_path / "x"))
    assert code == 2 and "conditioned on classes, not attributes" in error_line(err)
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_an_unconditional_run_refuses_labels(cli, tiny_run: Path, tmp_path: Path) -> None:
    for flag, value in (("--class", "1"), ("--attributes", "Smiling=1")):
        code, _, err = cli("generate", str(tiny_run), flag, value, "--out", str(tmp_path / "x"))
        assert code == 2 and f"{flag}: " in error_line(err) and "unconditional model" in err


def test_sources_without_classes_are_refused_saying_how_to_lay_them_out(cli, tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    flat.mkdir()
    for i, p in enumerate(sorted(class_folder(tmp_path / "tmp").rglob("*.png"))):
        shutil.copy(p, flat / f"{i}.png")
    code, _, err = train(cli, flat, tmp_path / "run1", "--conditional")
    line = error_line(err)
    assert code == 2 and "--conditional: " in line and "has no class labels" in line and "has no sub-folders" in line
    assert "flat/<class>/<image>" in line
    mixed = class_folder(tmp_path / "mixed", loose=2)
    code, _, err = train(cli, mixed, tmp_path / "run2", "--conditional")
    line = error_line(err)
    assert code == 2 and "2 images lie directly in" in line and "'loose0.png'" in line
    code, _, err = train(cli, mixed, tmp_path / "run3", "--attributes", "Smiling")
    assert code == 2 and "has no attributes; only CelebA" in error_line(err)
    assert not list((tmp_path / "run2").glob("checkpoints/*"))


def test_celeba_attributes_train_and_generate(cli, tmp_path: Path) -> None:
    root = celeba_root(tmp_path / "celeba")
    code, _, err = train(cli, root, tmp_path / "run", "--attributes", "Smiling,Male,Eyeglasses")
    assert code == 0, err
    grid = Image.open(tmp_path / "run" / "samples" / "epoch_0001.png")
    assert grid.size == (2 * 18 + 2, 8 * 18 + 2)  # the 2^3 attribute settings, a row each
    out = tmp_path / "smiling"
    code, _, err = cli("generate", str(tmp_path / "run"), "--attributes", "smiling=1,Eyeglasses=0", "--num", "4",
                       "--out", str(out))  # fmt: skip
    assert code == 0, err
    tags = [Image.open(p).text["dcgan:label"] for p in sorted(out.glob("*.png"))]
    assert len(tags) == 4 and all(t.startswith("Smiling=1,Male=") and t.endswith(",Eyeglasses=0") for t in tags)
    code, _, err = cli("generate", str(tmp_path / "run"), "--attributes", "Smilng=1", "--out", str(out))
    assert code == 2 and "unknown attribute 'Smilng'; this model has Smiling, Male, Eyeglasses" in error_line(err)
    code, _, err = cli("generate", str(tmp_path / "run"), "--class", "0", "--out", str(out))
    assert code == 2 and "conditioned on attributes" in error_line(err)


def test_celeba_attribute_errors_name_what_is_wrong(cli, tmp_path: Path) -> None:
    root = celeba_root(tmp_path / "celeba")
    code, _, err = train(cli, root, tmp_path / "run", "--attributes", "Smiling,Eyeglases")
    line = error_line(err)
    assert code == 2 and "--attributes: unknown attribute 'Eyeglases'" in line and "Eyeglasses" in line
    code, _, err = train(cli, root, tmp_path / "run2", "--conditional")
    assert code == 2 and "CelebA has attributes, not classes" in error_line(err)
    missing = celeba_root(tmp_path / "celeba2", drop_attribute_rows=2)
    code, _, err = train(cli, missing, tmp_path / "run3", "--attributes", "Smiling", "--split", "all")
    line = error_line(err)
    assert code == 2 and "no attributes for 2 images" in line and "000011.jpg" in line


def test_resume_refuses_changed_labels_naming_both(cli, tmp_path: Path) -> None:
    data = class_folder(tmp_path / "clothes")
    code, _, err = train(cli, data, tmp_path / "run", "--conditional", "--max-steps", "2")
    assert code == 0, err
    os.rename(data / "red", data / "rouge")  # the same images in the same order, another class name
    code, _, err = train(cli, data, tmp_path / "run", "--conditional", "--resume")
    line = error_line(err)
    assert code == 2 and "the labels differ from those this run was trained on" in line
    assert "rouge" in line and "'red'" not in line or ("red" in line and "rouge" in line)


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from click.testing import CliRunner

    from dcgan.cli import main

    base = tmp_path_factory.mktemp("fashion")
    data = mini_fashion(base / "fmnist")
    args = ["train", "--data", str(data), "--preset", "fashion-cond", "--out", str(base / "run"), "--max-steps", "3"]
    result = CliRunner().invoke(main, [*args, "--g-channels", "8", "--d-channels", "8", "--no-progress"])
    assert result.exit_code == 0, result.stderr
    return base / "run"


def test_evaluate_a_conditional_fashion_run_prints_class_consistency_and_intra_class_fid(
    cli, fashion_run: Path, tmp_path: Path
) -> None:
    code, out, err = cli("evaluate", str(fashion_run), "--metrics", "fid_fashion", "--num", "40", "--no-progress",
                         "--json", str(tmp_path / "e.json"))  # fmt: skip
    assert code == 0, err
    assert "per class:" in out and "class_consistency" in out and "fid_fashion_intra" in out and "Ankle boot" in out
    result = json.loads((tmp_path / "e.json").read_text())
    per_class = result["class_consistency_per_class"]
    assert len(per_class) == 10 and all(0 <= v <= 1 for v in per_class.values())
    assert result["class_consistency"] == pytest.approx(np.mean(list(per_class.values())))
    assert result["num_real_per_class"] == {n: 4 for n in result["classes"]}  # 40 test images, 4 per class
    intra = result["fid_fashion_intra_per_class"]
    assert all(v is not None and v >= 0 for v in intra.values())
    assert result["fid_fashion_intra"] == pytest.approx(np.mean(list(intra.values())))


@pytest.mark.slow
def test_evaluate_a_conditional_run_with_inception_intra_class_fid(cli, fashion_run: Path, tmp_path: Path) -> None:
    code, out, err = cli("evaluate", str(fashion_run), "--metrics", "fid", "--num", "20", "--no-progress",
                         "--json", str(tmp_path / "e.json"))  # fmt: skip
    assert code == 0, err
    result = json.loads((tmp_path / "e.json").read_text())
    assert "fid_intra" in out and result["fid_intra"] is not None and result["fid"] > 0
    assert all(v is not None and v >= 0 for v in result["fid_intra_per_class"].values())


def test_the_class_loss_is_refused_where_it_cannot_work(cli, tmp_path: Path) -> None:
    data = class_folder(tmp_path / "clothes")
    code, _, err = train(cli, data, tmp_path / "run", "--class-loss", "1")
    assert code == 2 and "--class-loss: needs a conditional run; add --conditional" in error_line(err)
    code, _, err = train(cli, data, tmp_path / "run", "--conditional", "--class-loss", "1", "--arch", "mlp")
    assert code == 2 and "--class-loss: the mlp architecture's D reads the label" in error_line(err)
    code, _, err = train(cli, data, tmp_path / "run", "--conditional", "--class-loss", "-1")
    assert code == 2 and "--class-loss" in error_line(err)
    code, _, err = train(cli, data, tmp_path / "run", "--conditional", "--class-loss-g", "0.5")
    assert code == 2 and "--class-loss-g: weighs the class loss in G's update; add --class-loss W" in error_line(err)
    assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())
    code, _, err = train(cli, data, tmp_path / "run", "--conditional", "--class-loss", "1")
    assert code == 0, err
    assert json.loads((tmp_path / "run" / "config.json").read_text())["class_loss"] == 1.0
