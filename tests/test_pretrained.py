"""The pretrained generator shipped in the package: `dcgan generate --pretrained`, load_pretrained, and its
card with the measured FID (10,000 generated vs the 10,000 Fashion-MNIST test images)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan import load_generator, load_pretrained
from dcgan.card import PROVENANCE, model_card
from dcgan.pretrained import PRETRAINED, pretrained_card, pretrained_path

ROOT = Path(__file__).resolve().parents[1]


def test_generate_pretrained_writes_the_grid_and_the_images(cli, tmp_path: Path) -> None:
    grid = tmp_path / "g.png"
    code, stdout, stderr = cli("generate", "--pretrained", "fashion", "--num", "16", "--grid", str(grid))
    assert code == 0, stderr
    assert "wrote the grid" in stdout
    image = Image.open(grid)
    assert image.size == (4 * 30 + 2, 4 * 30 + 2)  # 16 images of 28 px, 4 per row, 2 px padding
    assert image.text["dcgan:synthetic"] == "true" and image.text["dcgan:model"] == "pretrained:fashion"
    code, _, stderr = cli("generate", "--pretrained", "fashion", "--num", "5", "--out", str(tmp_path / "png"))
    assert code == 0, stderr
    files = sorted((tmp_path / "png").glob("*.png"))
    assert len(files) == 5
    expected = load_pretrained("fashion").sample(5, seed=0)
    for i, path in enumerate(files):
        assert np.array_equal(np.asarray(Image.open(path)), expected[i, 0].numpy())


def test_the_shipped_images_vary_and_look_like_clothes_not_noise() -> None:
    images = load_pretrained("fashion").sample(64, seed=1).float()
    assert images.shape == (64, 1, 28, 28)
    assert images.std(0).mean() > 20  # different images for different latents
    border = torch.cat([images[..., 0, :], images[..., -1, :]], -1).mean()
    assert border < images[..., 10:18, 10:18].mean() - 40  # a dark background around a brighter garment


@pytest.mark.parametrize(
    "args",
    [("--pretrained", "fashion", "runs/x"), ()],
    ids=["both", "neither"],
)
def test_run_and_pretrained_are_mutually_exclusive(cli, tmp_path: Path, args: tuple[str, ...]) -> None:
    code, _, stderr = cli("generate", *args, "--grid", str(tmp_path / "g.png"))
    assert code == 2
    assert (
        stderr.strip() == "error: give either RUN (a run directory or checkpoint file) or --pretrained NAME, not both"
    )
    assert not (tmp_path / "g.png").exists()


def test_an_unknown_name_lists_the_models(cli, tmp_path: Path) -> None:
    code, _, stderr = cli("generate", "--pretrained", "faces", "--grid", str(tmp_path / "g.png"))
    assert code == 2
    assert stderr.strip() == "error: --pretrained: unknown model 'faces'; choose one of fashion, fashion-cond"


def test_the_card_holds_the_measured_fid_and_how_it_was_made() -> None:
    from dcgan.card import evaluation_metrics

    card = pretrained_card("fashion")
    stored = json.loads((ROOT / "benchmarks" / "results" / "pretrained_fashion.json").read_text())
    evaluations = [v for k, v in sorted(card["metrics"].items()) if k.startswith("evaluation")]
    assert evaluations == [evaluation_metrics(e) for e in stored["evaluations"]]  # the measured numbers, as measured
    assert all(e["step"] == card["steps"] and e["split"] == "test" for e in evaluations)
    assert all(e["num_fake"] == e["num_real"] for e in evaluations)
    domain = [e for e in evaluations if e["num_fake"] == 10000 and "fid_fashion" in e]
    inception = [e for e in evaluations if "fid" in e and e["feature_network"].startswith("inception")]
    assert domain and inception and all(e["fid"] > 0 for e in inception)
    assert any(e["num_fake"] == 10000 for e in inception)  # the published protocol: 10,000 vs the 10,000 test images
    assert card["command"] == stored["command"]
    assert (
        card["command"] == "dcgan train --preset fashion-best --max-minutes 10 --out runs/pretrained-fashion --seed 0"
    )
    assert card["training"]["seed"] == 0 and card["preset"] == "fashion-best"
    assert len(card["data_sha256"]) == 64 and card["steps"] > 0 and card["train_seconds"] > 0
    assert card["torch_version"] and card["provenance"] == PROVENANCE
    readme = (pretrained_path("fashion") / "README.md").read_text()
    assert f"| fid | {inception[0]['fid']:.4g} |" in readme and card["command"] in readme and PROVENANCE in readme
    # The card of the loaded model (what the web page shows) carries the same stored metrics.
    assert model_card(load_pretrained("fashion"))["metrics"]["evaluation"] == card["metrics"]["evaluation"]


def test_the_files_are_small_generator_only_and_packaged() -> None:
    from safetensors import safe_open

    folder = pretrained_path("fashion")
    weights = folder / "model.safetensors"
    assert weights.stat().st_size < 10 * 2**20
    with safe_open(str(weights), "pt") as f:
        assert {k.split(".")[0] for k in f.keys()} == {"G"}
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["dcgan"]
    package = ROOT / "src" / "dcgan"
    packaged = {p for pattern in patterns for p in package.glob(pattern)}
    for name in PRETRAINED:
        assert set(pretrained_path(name).iterdir()) <= packaged
    assert torch.equal(load_generator(folder).sample(4, seed=2), load_pretrained("fashion").sample(4, seed=2))


def test_the_conditional_model_draws_the_class_asked_for(cli, tmp_path: Path) -> None:
    """fashion-cond: one model per class on request; the project's classifier agrees with the requested class
    for most samples, as its card's measured class consistency says."""
    from dcgan.metrics.fashion import load_classifier, preprocess

    card = pretrained_card("fashion-cond")
    assert card["conditional"] and card["preset"] == "fashion-cond" and card["training"]["seed"] == 0
    measured = card["metrics"]["evaluation"]
    assert measured["num_fake"] == 10000 and 0 < measured["class_consistency"] <= 1
    model = load_pretrained("fashion-cond")
    assert model.class_names[9] == "Ankle boot"
    code, _, stderr = cli("generate", "--pretrained", "fashion-cond", "--class", "ankle boot", "--num", "20",
                          "--out", str(tmp_path / "boots"))  # fmt: skip
    assert code == 0, stderr
    files = sorted((tmp_path / "boots").glob("*.png"))
    assert len(files) == 20 and all(Image.open(p).text["dcgan:label"] == "Ankle boot" for p in files)
    images = torch.from_numpy(np.stack([np.asarray(Image.open(p)) for p in files]))[:, None]
    with torch.no_grad():
        predicted = load_classifier()(preprocess(images)).argmax(1)
    assert float((predicted == 9).float().mean()) >= 0.7
    samples = model.sample(100, seed=3, labels=torch.arange(100) % 10)
    with torch.no_grad():
        agree = float((load_classifier()(preprocess(samples)).argmax(1) == torch.arange(100) % 10).float().mean())
    assert abs(agree - measured["class_consistency"]) < 0.15  # 100 samples against the card's 10,000


@pytest.mark.parametrize("name", ["fashion", "fashion-cond"])
def test_a_card_says_how_to_rebuild_it_from_the_repository(name: str) -> None:
    """The reproduce steps name the command's own folders, never a path on the machine that made the model."""
    card = pretrained_card(name)
    readme = (pretrained_path(name) / "README.md").read_text()
    steps = card["reproduce"].splitlines()
    assert steps[0] == card["command"] and steps[1].startswith("python3 benchmarks/make_pretrained.py --run runs/")
    assert not any(word.startswith(("/", "~")) for step in steps for word in step.split()), card["reproduce"]
    assert card["reproduce"] in readme
