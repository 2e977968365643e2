"""load_generator and sampling: checked before allocating, the same weights as a plain load, and the
same images for a seed whatever the batch size or the number asked for."""

from __future__ import annotations

from pathlib import Path

import torch

from dcgan.checkpoint import list_checkpoints, load_state, read_checkpoint
from dcgan.config import TrainConfig
from dcgan.generator import load_generator
from dcgan.models import build_models
from dcgan.sample import LATENT_CHUNK, LatentStream


def test_the_checked_load_equals_building_and_loading(tiny_run: Path) -> None:
    G = load_generator(tiny_run)
    ck = read_checkpoint(list_checkpoints(tiny_run)[-1])
    g, d = build_models(ck.config, ck.channels)
    load_state(g, ck.state("G"), "generator", ck.path)
    load_state(d, ck.state("D"), "discriminator", ck.path)
    for mine, plain in ((G.generator, g), (G.discriminator, d)):
        assert not mine.training
        a, b = mine.state_dict(), plain.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    z = G.latents(6, seed=2)
    with torch.no_grad():
        assert torch.equal(G(z), g.eval()(z))
        assert torch.equal(G.discriminator(G(z)), d.eval()(G(z)))


def test_loading_leaves_torch_random_state_alone(tiny_run: Path) -> None:
    torch.manual_seed(123)
    before = torch.get_rng_state()
    load_generator(tiny_run)
    assert torch.equal(torch.get_rng_state(), before)


def test_the_latent_stream_does_not_depend_on_how_it_is_cut() -> None:
    config = TrainConfig(z_dim=5)
    whole = LatentStream(config, 7).take(3 * LATENT_CHUNK + 11)
    stream = LatentStream(config, 7)
    pieces = [stream.take(n) for n in (1, 2, 300, 17, LATENT_CHUNK, 200, 3 * LATENT_CHUNK + 11 - 776)]
    assert torch.equal(torch.cat(pieces), whole)
    assert not torch.equal(LatentStream(config, 8).take(10), whole[:10])
    uniform = TrainConfig(z_dim=5, z_dist="uniform")
    u = LatentStream(uniform, 7).take(300)
    assert u.min() >= -1 and u.max() <= 1 and torch.equal(LatentStream(uniform, 7).take(299), u[:299])


def test_images_do_not_depend_on_batch_size_or_count(tiny_run: Path) -> None:
    G = load_generator(tiny_run)
    images = G.sample(300, seed=5, batch_size=300)
    assert images.shape == (300, G.channels, G.size, G.size) and images.dtype == torch.uint8
    for batch_size in (1, 7, 256):
        assert torch.equal(G.sample(300, seed=5, batch_size=batch_size), images), batch_size
    assert torch.equal(G.sample(5, seed=5), images[:5])  # fewer images: the first ones
    streamed = list(G.batches(300, seed=5, batch_size=64))
    assert [len(b) for b in streamed] == [64, 64, 64, 64, 44]
    assert torch.equal(torch.cat(streamed), images)
    assert not torch.equal(G.sample(5, seed=6), images[:5])


def test_spectral_norm_and_ema_checkpoints_load_exactly(tmp_path: Path) -> None:
    from dcgan.checkpoint import save_checkpoint
    from factories import tiny_config

    config = tiny_config("celeba-variant", size=32, spectral_norm=True, ema_half_life=100)
    torch.manual_seed(1)
    g, d = build_models(config, 3)
    torch.manual_seed(2)
    ema, _ = build_models(config, 3)  # other weights: the sampler must be this one
    save_checkpoint(
        tmp_path,
        config=config,
        generator=g,
        discriminator=d,
        opt_g=torch.optim.Adam(g.parameters()),
        opt_d=torch.optim.Adam(d.parameters()),
        ema=ema,
        step=4,
        epoch=1,
        images_seen=64,
        rng={"z": torch.Generator().get_state()},
        extra={"channels": 3},
    )
    G = load_generator(tmp_path)
    assert G.step == 4 and G.channels == 3
    z = G.latents(4, seed=0)
    with torch.no_grad():
        assert torch.equal(G(z), ema.eval()(z)) and not torch.equal(G(z), g.eval()(z))
        x = G(z)
        assert torch.equal(G.discriminator(x), d.eval()(x))
