"""dcgan.latent.inverse from Python: D's features for every architecture, projection recovers an image G
can make, uniform z stays in its support, the contextual weights, masks and both blends (known pixels
exact outside the band, the hole from the generator)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import dcgan.latent.inverse as inverse
from dcgan.errors import DcganError
from dcgan.generator import TrainedGenerator
from dcgan.models import build_models
from dcgan.pixels import to_float
from factories import tiny_config


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: on a shared 2-core machine a second thread costs more than it gives."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def trained(preset: str = "fashion-dcgan", **overrides) -> TrainedGenerator:
    """A freshly initialised (untrained) G and D wrapped as a TrainedGenerator, in eval mode."""
    config = tiny_config(preset, **overrides)
    torch.manual_seed(0)
    g, d = build_models(config, 1 if config.size == 28 else 3)
    return TrainedGenerator(
        g.eval(), d.eval(), config, 1 if config.size == 28 else 3, 0, Path("x"), torch.device("cpu")
    )


@pytest.mark.parametrize("preset", ["fashion-dcgan", "fashion-mlp", "celeba-variant"])
def test_discriminator_features_are_the_input_of_the_last_layer(preset: str):
    model = trained(preset, size=32) if preset == "celeba-variant" else trained(preset)
    x = to_float(model.sample(3, seed=1))
    logits, features = inverse.DiscriminatorFeatures(model.discriminator)(x)
    with torch.no_grad():
        assert torch.allclose(logits, model.discriminator(x).float())
    assert features.shape[0] == 3 and features.ndim == 2 and features.shape[1] > 1
    last = [m for m in model.discriminator.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))][-1]
    # The features, fed through the last layer alone, give the logits back.
    if isinstance(last, torch.nn.Linear):
        assert torch.allclose(last(features).view(-1), logits, atol=1e-5)


def test_projection_finds_an_image_the_generator_can_make():
    model = trained()
    target = model.sample(2, seed=7)  # reachable: G made it from latents the search does not start from
    p = inverse.project(model, target, steps=60, restarts=2, lr=0.1, seed=0)
    assert p.latents.shape == (2, model.config.z_dim) and p.images.shape == target.shape
    assert (p.loss_after < 0.5 * p.loss_before).all()
    err_before = (to_float(model.sample(2, seed=0)) - to_float(target)).abs().mean()
    assert (to_float(p.images) - to_float(target)).abs().mean() < err_before


def test_uniform_latents_stay_in_their_support():
    model = trained("celeba-variant", size=32)
    assert model.config.z_dist == "uniform"
    p = inverse.project(model, model.sample(1, seed=3), steps=10, restarts=2, lr=1.0)  # big steps leave the cube
    assert p.latents.abs().max() <= 1.0


def test_context_weights_favour_known_pixels_next_to_the_hole():
    hole = torch.zeros(1, 16, 16, dtype=torch.bool)
    hole[0, 6:10, 6:10] = True
    w = inverse.context_weights(hole, window=5)[0, 0]
    assert (w[6:10, 6:10] == 0).all()
    assert w[5, 7] > w[0, 0] > 0  # next to the hole > far away > 0
    assert torch.isclose(w[~hole[0]].mean(), torch.tensor(1.0))


def test_masks_are_converted_like_the_image_and_checked():
    hole = np.zeros((40, 60), bool)
    hole[:, :10] = True  # cropped away: the 60 px wide image loses 10 px on each side
    with pytest.raises(DcganError, match="empty"):
        inverse.check_mask(inverse.convert_mask(hole, 20), "--mask m.png")
    hole[:, 10:30] = True
    m = inverse.convert_mask(hole, 20)
    assert m[:, :10].all() and not m[:, 10:].any()
    with pytest.raises(DcganError, match="whole image"):
        inverse.check_mask(np.ones((4, 4), bool), "--box")
    s = inverse.side_mask(28, "bottom", 0.25)
    assert s[21:].all() and not s[:21].any()


@pytest.mark.parametrize("method", ["feather", "poisson"])
@pytest.mark.parametrize("channels", [1, 3])
def test_blends_keep_known_pixels_outside_the_seam_band(method: str, channels: int):
    if method == "poisson" and not inverse.opencv_available():
        pytest.skip("OpenCV is not installed")
    rng = np.random.default_rng(0)
    known = rng.integers(0, 256, (channels, 28, 28), dtype=np.uint8)
    generated = rng.integers(0, 256, (channels, 28, 28), dtype=np.uint8)
    for hole in (inverse.side_mask(28, "left", 0.5), np.pad(np.ones((8, 8), bool), 10)):  # at the border, inside
        out = inverse.blend(known, generated, hole, method)
        band = inverse.dilate(hole, inverse.seam_band(28))
        assert out.shape == known.shape and out.dtype == np.uint8
        assert np.array_equal(out[:, ~band], known[:, ~band])
        if method == "feather":
            assert np.array_equal(out[:, hole], generated[:, hole])  # alpha 1 in the hole
        else:
            assert not np.array_equal(out[:, hole], known[:, hole])  # the hole was filled


def test_inpaint_returns_candidates_best_first():
    model = trained()
    images = model.sample(2, seed=4)
    holes = np.stack([inverse.side_mask(28, "top", 0.5)] * 2)
    c = inverse.inpaint(model, images, holes, steps=5, candidates=3, blend_method="feather")
    assert c.images.shape == (2, 3, 1, 28, 28) and c.latents.shape == (2, 3, model.config.z_dim)
    assert (np.diff(c.losses, axis=1) >= 0).all()
    assert c.blend == "feather"


def test_the_holes_own_pixels_never_reach_the_output():
    model = trained()
    images = model.sample(2, seed=4)
    hole = np.stack([np.pad(np.ones((10, 10), bool), 9)] * 2)
    other = images.clone()
    other[:, :, torch.from_numpy(hole[0])] = 255 - other[:, :, torch.from_numpy(hole[0])]  # change only the hole
    for method in ["feather"] + (["poisson"] if inverse.opencv_available() else []):
        a = inverse.inpaint(model, images, hole, steps=3, candidates=2, blend_method=method)
        b = inverse.inpaint(model, other, hole, steps=3, candidates=2, blend_method=method)
        assert torch.equal(a.images, b.images) and np.array_equal(a.losses, b.losses)
