"""dcgan.latent from Python: slerp/lerp geometry, walks whose ends are the seeds' own samples, corner
grids, latent arithmetic equal to a - b + c done by hand, and the smoothness measure.

The tiny run's generator makes nearly flat grey images after two steps, so pixel equalities on it
prove little; `varied` is the same checkpoint with G's last layer scaled up, whose images differ
from seed to seed (intensities ~70..180)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from dcgan.errors import DcganError
from dcgan.generator import load_generator
from dcgan.latent import walks
from dcgan.latent.arithmetic import latent_arithmetic
from dcgan.pixels import to_uint8
from factories import varied_checkpoint


@pytest.fixture(scope="module")
def G(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory):
    G = load_generator(varied_checkpoint(tiny_run, tmp_path_factory.mktemp("varied") / "run"))
    assert G.sample(1, 1).float().std() > 5  # really varied
    return G


def test_slerp_keeps_ends_exact_turns_evenly_and_stays_on_the_sphere() -> None:
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(100, generator=g), torch.randn(100, generator=g) * 1.5
    z = walks.interpolate(z0, z1, 11, "slerp")
    assert z.shape == (11, 100)
    assert torch.equal(z[0], z0) and torch.equal(z[-1], z1)
    unit = z / z.norm(dim=1, keepdim=True)
    angles = torch.arccos((unit[1:] * unit[:-1]).sum(1).clamp(-1, 1))
    assert torch.allclose(angles, angles.mean().expand(10), rtol=1e-3)  # equal angular steps
    assert torch.allclose(z.norm(dim=1), torch.linspace(z0.norm(), z1.norm(), 11), rtol=1e-5)  # norm: linear
    on_sphere = walks.interpolate(z0, z0.norm() * z1 / z1.norm(), 11, "slerp")
    assert torch.allclose(on_sphere.norm(dim=1), z0.norm().expand(11), rtol=1e-5)  # stays on the sphere
    assert torch.allclose(walks.interpolate(z0, z1, 11, "lerp")[5], (z0 + z1) / 2, atol=1e-6)
    # parallel vectors: no great circle, the straight line
    assert torch.allclose(walks.slerp(z0, 2 * z0, torch.tensor([0.5])), 1.5 * z0[None], atol=1e-5)
    with pytest.raises(DcganError, match="at least 2"):
        walks.interpolate(z0, z1, 1)


def test_a_walk_passes_through_every_seed_sample_pixel_for_pixel(G) -> None:
    frames = walks.walk(G, [3, 17, 42], steps=5)
    assert frames.shape == (9, 1, 32, 32) and frames.dtype == torch.uint8
    for index, seed in ((0, 3), (4, 17), (8, 42)):
        assert torch.equal(frames[index : index + 1], G.sample(1, seed)), seed
    assert not torch.equal(frames[2], frames[0]) and not torch.equal(frames[2], frames[4])  # it moves
    z = walks.walk_latents(G, [3, 17, 42], steps=5)
    assert torch.equal(z[4], G.latents(1, 17)[0])
    with pytest.raises(DcganError, match="at least 2 seeds"):
        walks.walk_latents(G, [3], 5)


def test_uniform_z_walks_straight_by_default(G) -> None:
    U = dataclasses.replace(G, config=dataclasses.replace(G.config, z_dist="uniform"))
    assert walks.default_mode(U) == "lerp" and walks.default_mode(G) == "slerp"
    z = walks.walk_latents(U, [1, 2], steps=3)
    a, b = U.latents(1, 1)[0], U.latents(1, 2)[0]
    assert a.abs().max() <= 1 and torch.allclose(z[1], (a + b) / 2, atol=1e-6)


def test_a_corner_grid_has_the_seeds_at_its_corners_and_bilinear_insides(G) -> None:
    images = walks.grid_walk(G, [1, 2, 3, 4], n=3, mode="lerp")
    assert images.shape == (9, 1, 32, 32)
    for index, seed in zip((0, 2, 6, 8), (1, 2, 3, 4)):
        assert torch.equal(images[index : index + 1], G.sample(1, seed))
    z = walks.grid_latents(G, [1, 2, 3, 4], n=3, mode="lerp")
    corners = walks.seed_latents(G, [1, 2, 3, 4])
    assert torch.allclose(z[4], corners.mean(0), atol=1e-6)  # the centre of a bilinear grid
    assert walks.snake(3) == [0, 1, 2, 5, 4, 3, 6, 7, 8]
    with pytest.raises(DcganError, match="exactly 4 seeds"):
        walks.grid_latents(G, [1, 2, 3], n=3)


def test_arithmetic_is_a_minus_b_plus_c_of_the_group_means_decoded(G) -> None:
    r = latent_arithmetic(G, [1, 2, 3], [4, 5], [6], num=3, noise=0.25, seed=7)
    mean = lambda seeds: torch.cat([G.latents(1, s) for s in seeds]).mean(0)  # noqa: E731
    by_hand = mean([1, 2, 3]) - mean([4, 5]) + mean([6])
    assert torch.equal(r.result, by_hand)
    assert torch.equal(r.images[:1], to_uint8(G.generator(by_hand[None])))
    assert torch.equal(r.member_images[1], torch.cat([G.sample(1, 4), G.sample(1, 5)]))
    assert torch.equal(r.mean_images[2:], G.sample(1, 6))  # the mean of one seed is that seed
    offsets = r.latents[1:] - by_hand
    assert 0.15 < offsets.std() < 0.35  # N(0, 0.25^2) perturbations
    assert not torch.equal(r.images[1], r.images[0])
    exact = latent_arithmetic(G, [1], [2], [3], num=2, noise=0.0)
    assert torch.equal(exact.latents[0], exact.latents[1])
    with pytest.raises(DcganError, match="--noise"):
        latent_arithmetic(G, [1], [2], [3], noise=math.nan)


def test_smoothness_measures_even_steps_as_zero_variation(G) -> None:
    ramp = torch.stack([torch.full((1, 32, 32), 10 * i, dtype=torch.uint8) for i in range(6)])
    s = walks.smoothness(G, ramp, feature="pixel")
    assert s["frames"] == 6 and s["cv"] == pytest.approx(0, abs=1e-9)
    assert s["mean_step"] == pytest.approx(10 / 127.5 * 32, rel=1e-6)  # 10 levels on 1024 pixels, L2
    uneven = torch.stack([torch.full((1, 32, 32), v, dtype=torch.uint8) for v in (0, 10, 50, 60)])
    assert walks.smoothness(G, uneven, feature="pixel")["cv"] == pytest.approx(math.sqrt(2) / 2, rel=1e-6)
    features = walks.discriminator_features(G, ramp)
    assert features.shape[0] == 6 and features.shape[1] > 1
    d = walks.smoothness(G, walks.walk(G, [1, 2], steps=6))
    assert d["feature"] == "discriminator" and d["mean_step"] > 0 and math.isfinite(d["cv"])


def test_seed_lists_are_parsed_or_refused_in_one_line() -> None:
    assert walks.parse_seeds("3, 17,42") == [3, 17, 42]
    for bad in ("", "3,,4", "3,x", "-1", "1.5", str(2**63), "a\nb", ",".join(["1"] * 65)):
        with pytest.raises(DcganError) as e:
            walks.parse_seeds(bad)
        assert "\n" not in str(e.value).replace("\\n", "")
