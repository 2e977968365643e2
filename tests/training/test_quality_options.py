"""Every quality option trains through the real trainer, changes what it should, and round-trips.

For each option: a few real training steps; the checkpoint holds what the option adds (EMA
weights, spectral-norm parameters); the run resumed from a mid-run checkpoint ends with exactly
the weights of an uninterrupted run (so the option's state survives the checkpoint); and
`load_generator` rebuilds a generator that samples.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import pytest
import torch

from dcgan.checkpoint import list_checkpoints, read_checkpoint
from dcgan.generator import load_generator
from dcgan.training.trainer import train
from factories import tiny_config

OPTIONS = {
    "bce-smoothing": dict(loss="bce", real_label=0.9),
    "hinge": dict(loss="hinge"),
    "lsgan": dict(loss="lsgan"),
    "wgan-gp": dict(loss="wgan-gp", d_batchnorm=False),
    "spectral-norm": dict(spectral_norm=True, loss="hinge", d_batchnorm=False),
    "ttur": dict(lr_g=1e-4, lr_d=4e-4),
    "ema": dict(ema_half_life=64),
    "diffaugment": dict(augment="color,translation,cutout"),
    "r1": dict(r1_gamma=1.0),
}


tiny = functools.partial(tiny_config, sample_grid=4)


def losses(run: Path) -> list[tuple[float, float]]:
    return [
        (r["loss_d"], r["loss_g"])
        for r in map(json.loads, (run / "metrics.jsonl").read_text().splitlines())
        if "loss_d" in r
    ]


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train(tiny(), tmp_path_factory.mktemp("base") / "run", progress=False)


@pytest.mark.parametrize("name", list(OPTIONS))
def test_option_trains_changes_and_round_trips(name: str, tmp_path: Path, baseline: Path) -> None:
    opts = OPTIONS[name]
    straight = train(tiny(**opts), tmp_path / "straight", progress=False)
    ck = read_checkpoint(list_checkpoints(straight)[-1])
    assert ck.step == 6
    for k, v in opts.items():
        assert getattr(ck.config, k) == v, k
    # It changes training: other weights than the plain recipe from the same seed (EMA instead
    # leaves training alone and keeps a separate average, checked below).
    ours, base = losses(straight), losses(baseline)
    assert len(ours) == len(base) == 6 and all(torch.isfinite(torch.tensor(ours)).flatten())
    base_ck = read_checkpoint(list_checkpoints(baseline)[-1])
    same_g = torch.equal(ck.tensors["G.main.0.weight"], base_ck.tensors["G.main.0.weight"])
    assert same_g == ("ema_half_life" in opts)
    # What the option adds is in the checkpoint.
    if "ema_half_life" in opts:
        ema_keys = [k for k in ck.tensors if k.startswith("G_ema.")]
        assert ema_keys and not torch.equal(ck.tensors["G_ema.main.0.weight"], ck.tensors["G.main.0.weight"])
    if opts.get("spectral_norm"):
        assert any("parametrizations.weight.original" in k for k in ck.tensors if k.startswith("D."))
    # Round trip: stop after 3 steps, resume, and end bit-identical to the uninterrupted run.
    part = train(tiny(**opts), tmp_path / "part", progress=False, max_steps=3)
    train(tiny(**opts), part, resume=True, progress=False)
    a, b = read_checkpoint(list_checkpoints(straight)[-1]).tensors, read_checkpoint(list_checkpoints(part)[-1]).tensors
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # And the loaded model samples (the EMA generator when there is one; no augmentation leaks in).
    model = load_generator(straight)
    z = torch.randn(3, model.config.z_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        x1, x2 = model.generator(z), model.generator(z)
    assert x1.shape == (3, 1, 28, 28) and torch.equal(x1, x2)
    if "ema_half_life" in opts:
        assert torch.equal(model.generator.state_dict()["main.0.weight"], ck.tensors["G_ema.main.0.weight"])
    with torch.no_grad():
        d_out = model.discriminator(x1)
    assert torch.isfinite(d_out).all()
