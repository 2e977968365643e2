"""The Python API a notebook uses (README, "Python API"): the same code paths as the command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from PIL import Image

import dcgan
from dcgan import TrainedGenerator, load_generator, train
from factories import tiny_config


def test_import_dcgan_is_light_and_names_resolve_on_use() -> None:
    code = "import sys, dcgan; assert 'torch' not in sys.modules; dcgan.TrainConfig; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
    assert set(dcgan.__all__) >= {"train", "TrainConfig", "resolve_config", "load_generator"}


def test_train_load_and_sample_from_python_like_the_command(tmp_path: Path, cli) -> None:
    run = train(tiny_config(epochs=3), tmp_path / "run", progress=False)
    G = load_generator(run)
    assert isinstance(G, TrainedGenerator) and G.size == 28 and G.channels == 1 and G.step == 9
    images = G.sample(5, seed=3)
    assert images.dtype == torch.uint8 and images.shape == (5, 1, 28, 28)
    assert torch.equal(images, G.sample(5, seed=3)) and not torch.equal(images, G.sample(5, seed=4))
    # G(z) on the seed's latents is the same picture in [-1, 1].
    again = ((G(G.latents(5, seed=3)).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    assert torch.equal(again, images)
    # `dcgan generate` writes the same pixels.
    code, _, err = cli("generate", str(run), "--num", "5", "--seed", "3", "--out", str(tmp_path / "png"))
    assert code == 0, err
    first = np.asarray(Image.open(sorted((tmp_path / "png").glob("*.png"))[0]))
    assert np.array_equal(first, images[0, 0].numpy())


def test_should_stop_ends_training_cleanly_at_a_step_boundary(tmp_path: Path) -> None:
    steps = []

    def budget() -> bool:  # a caller's own stop rule, e.g. a time budget in a benchmark
        steps.append(1)
        return len(steps) >= 4

    run = train(tiny_config(epochs=3), tmp_path / "run", progress=False, should_stop=budget)
    G = load_generator(run)
    assert G.step == 4  # stopped after the 4th step, with a checkpoint there
    assert (run / "report.html").is_file()
    # The run resumes from there to the end.
    train(tiny_config(epochs=3), run, resume=True, progress=False)
    assert load_generator(run).step == 9
