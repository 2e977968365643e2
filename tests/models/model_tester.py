"""The tests every architecture must pass, as a mixin: a test class names a config, the mixin checks it.

A subclass sets `preset` and `overrides` (resolved by `dcgan.config.resolve_config`, built by
`dcgan.models.build_models`), what the built networks must contain (`g_batchnorm`,
`d_batchnorm`, `d_spectral_norm`) and, for a conditional config, the `condition` (classes or attributes)
its networks take; `PublishedCountsMixin` adds `param_counts` (G, D) where the
architecture has published counts. Keep the widths tiny (8): these run for every architecture and size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from dcgan.checkpoint import load_state, read_checkpoint, save_checkpoint
from dcgan.config import TrainConfig, resolve_config
from dcgan.labels import Condition
from dcgan.models import build_models
from dcgan.models.spectral import SPECTRAL_LAYERS


def has_batchnorm(module: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def spectral_normalised(module: nn.Module) -> list[bool]:
    """For each weight layer of `module`: whether its weight is parametrized (spectral norm)."""
    return [parametrize.is_parametrized(m, "weight") for m in module.modules() if isinstance(m, SPECTRAL_LAYERS)]


def buffers(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in module.named_buffers()}


def same_tensors(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return list(a) == list(b) and all(torch.equal(a[k], b[k]) for k in a)


class ModelTesterMixin:
    preset: str = "fashion-dcgan"
    overrides: dict[str, Any] = {}
    g_batchnorm: bool = True
    d_batchnorm: bool = True
    d_spectral_norm: bool = False
    batch_size: int = 4
    condition: Condition | None = None  # a conditional config's labels (G and D then take them)

    # -- helpers ------------------------------------------------------------------------------

    def config(self) -> TrainConfig:
        return resolve_config(self.preset, self.overrides)

    def build(self, seed: int = 0) -> tuple[nn.Module, nn.Module]:
        """(G, D) built from the config with torch's global generator seeded to `seed`."""
        config = self.config()
        torch.manual_seed(seed)
        return build_models(config, config.channels, self.condition)

    def labels(self, n: int) -> torch.Tensor | None:
        """The labels of a batch of n for a conditional config (a prefix of a longer batch's), else None."""
        return None if self.condition is None else self.condition.default_labels(n, seed=3)

    def G(self, g: nn.Module, z: torch.Tensor) -> torch.Tensor:
        """G on z (with the batch's labels when conditional)."""
        return g(z) if self.condition is None else g(z, self.labels(len(z)))

    def D(self, d: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """D on x (with the batch's labels when conditional)."""
        return d(x) if self.condition is None else d(x, self.labels(len(x)))

    def latents(self, n: int | None = None, seed: int = 1) -> torch.Tensor:
        """z (n, z_dim), N(0, 1), from a private generator."""
        n = n or self.batch_size
        return torch.randn(n, self.config().z_dim, generator=torch.Generator().manual_seed(seed))

    def images(self, n: int | None = None, seed: int = 2) -> torch.Tensor:
        """Images (n, C, size, size) uniform in [-1, 1), as the loop feeds D."""
        cfg = self.config()
        n = n or self.batch_size
        gen = torch.Generator().manual_seed(seed)
        return torch.rand(n, cfg.channels, cfg.size, cfg.size, generator=gen) * 2 - 1

    # -- construction -------------------------------------------------------------------------

    def test_builds_from_the_config_as_specified(self) -> None:
        cfg = self.config()
        g, d = self.build()
        assert isinstance(g, nn.Module) and isinstance(d, nn.Module)
        assert g.training and d.training  # built for training; loaders call .eval()
        for p in list(g.parameters()) + list(d.parameters()):
            assert p.dtype == torch.float32 and p.device.type == "cpu" and p.requires_grad
        assert has_batchnorm(g) == self.g_batchnorm
        assert has_batchnorm(d) == self.d_batchnorm == (cfg.d_batchnorm and cfg.arch != "mlp")
        # Spectral norm wraps every weight layer of D and none of G, and only when the config asks.
        assert spectral_normalised(d) and set(spectral_normalised(d)) == {self.d_spectral_norm}
        assert cfg.spectral_norm == self.d_spectral_norm
        assert not any(spectral_normalised(g))

    # -- forward ------------------------------------------------------------------------------

    @pytest.mark.parametrize("mode", ["train", "eval"])
    def test_generator_maps_latents_to_images_in_range(self, mode: str) -> None:
        cfg = self.config()
        g, _ = self.build()
        g.train(mode == "train")
        with torch.no_grad():
            x = self.G(g, self.latents())
        assert x.shape == (self.batch_size, cfg.channels, cfg.size, cfg.size)
        assert x.dtype == torch.float32 and torch.isfinite(x).all()
        assert x.min() >= -1 and x.max() <= 1  # tanh output

    @pytest.mark.parametrize("mode", ["train", "eval"])
    def test_discriminator_gives_one_logit_per_image(self, mode: str) -> None:
        g, d = self.build()
        d.train(mode == "train")
        with torch.no_grad():
            out = self.D(d, self.images())
            assert self.D(d, self.G(g, self.latents())).shape == (self.batch_size,)
        assert out.shape == (self.batch_size,) and out.dtype == torch.float32 and torch.isfinite(out).all()

    def test_gradients_reach_every_parameter(self) -> None:
        g, d = self.build()
        self.D(d, self.G(g, self.latents())).sum().backward()
        for name, p in list(g.named_parameters()) + list(d.named_parameters()):
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert all(p.grad.abs().sum() > 0 for p in g.parameters())

    # -- determinism --------------------------------------------------------------------------

    def test_same_seed_same_weights_and_outputs(self) -> None:
        g1, d1 = self.build(seed=5)
        g2, d2 = self.build(seed=5)
        assert same_tensors(g1.state_dict(), g2.state_dict())
        assert same_tensors(d1.state_dict(), d2.state_dict())
        z, x = self.latents(), self.images()
        with torch.no_grad():
            assert torch.equal(self.G(g1, z), self.G(g2, z)) and torch.equal(self.D(d1, x), self.D(d2, x))
        g3, d3 = self.build(seed=6)
        assert not same_tensors(g1.state_dict(), g3.state_dict())
        assert not same_tensors(d1.state_dict(), d3.state_dict())

    # -- train / eval -------------------------------------------------------------------------

    def test_only_training_mode_updates_the_buffers(self) -> None:
        """BatchNorm running statistics and spectral norm's u, v move in training mode only."""
        g, d = self.build()
        z, x = self.latents(), self.images()
        before_g, before_d = buffers(g), buffers(d)
        with torch.no_grad():
            self.G(g.eval(), z)
            self.D(d.eval(), x)
        assert same_tensors(buffers(g), before_g) and same_tensors(buffers(d), before_d)
        with torch.no_grad():
            self.G(g.train(), z)
            self.D(d.train(), x)
        assert same_tensors(buffers(g), before_g) == (not self.g_batchnorm)
        assert same_tensors(buffers(d), before_d) == (not (self.d_batchnorm or self.d_spectral_norm))

    def test_eval_mode_treats_every_sample_on_its_own(self) -> None:
        g, d = self.build()
        g.eval()
        d.eval()
        z, x = self.latents(), self.images()
        with torch.no_grad():
            assert torch.allclose(self.G(g, z)[:1], self.G(g, z[:1]), atol=1e-6)
            assert torch.allclose(self.D(d, x)[:1], self.D(d, x[:1]), atol=1e-5)
            # And the same input gives the same output every time.
            assert torch.equal(self.G(g, z), self.G(g, z)) and torch.equal(self.D(d, x), self.D(d, x))

    def test_training_mode_normalises_over_the_batch_where_there_is_batchnorm(self) -> None:
        g, d = self.build()
        z, x = self.latents(), self.images()
        with torch.no_grad():
            g_whole, g_part = self.G(g.train(), z)[:1], self.G(g, z[:1])
            d_whole, d_part = self.D(d.train(), x)[:1], self.D(d, x[:1])
        assert torch.allclose(g_whole, g_part, atol=1e-6) == (not self.g_batchnorm)
        if not self.d_spectral_norm:  # spectral norm's power iteration changes D between calls
            assert torch.allclose(d_whole, d_part, atol=1e-5) == (not self.d_batchnorm)

    # -- checkpoint round trip ----------------------------------------------------------------

    def test_checkpoint_round_trip_gives_identical_outputs(self, tmp_path: Path) -> None:
        cfg = self.config()
        g, d = self.build(seed=0)
        with torch.no_grad():  # move BatchNorm statistics and spectral norm's u, v off their start
            for seed in range(3):
                self.D(d, self.G(g, self.latents(seed=seed)))
                self.D(d, self.images(seed=seed))
        opt_g, opt_d = torch.optim.Adam(g.parameters()), torch.optim.Adam(d.parameters())
        path = save_checkpoint(
            tmp_path,
            config=cfg,
            generator=g,
            discriminator=d,
            opt_g=opt_g,
            opt_d=opt_d,
            step=3,
            epoch=0,
            images_seen=3 * self.batch_size,
            rng={"cpu": torch.get_rng_state()},
            extra={"channels": cfg.channels},
        )
        ck = read_checkpoint(path)
        assert ck.config == cfg
        # A fresh build from the stored config (another seed: other weights) takes the stored state.
        torch.manual_seed(1)
        g2, d2 = build_models(ck.config, cfg.channels, self.condition)
        assert not same_tensors(g2.state_dict(), g.state_dict())
        load_state(g2, ck.state("G"), "generator", ck.path)
        load_state(d2, ck.state("D"), "discriminator", ck.path)
        assert same_tensors(g2.state_dict(), g.state_dict())
        assert same_tensors(d2.state_dict(), d.state_dict())
        z, x = self.latents(seed=9), self.images(seed=9)
        with torch.no_grad():
            assert torch.equal(self.G(g2.eval(), z), self.G(g.eval(), z))
            assert torch.equal(self.D(d2.eval(), x), self.D(d.eval(), x))
            # Training mode (batch statistics, one power iteration from the loaded u, v) agrees too.
            assert torch.equal(self.G(g2.train(), z), self.G(g.train(), z))
            assert torch.equal(self.D(d2.train(), x), self.D(d.train(), x))


class PublishedCountsMixin:
    """For architectures with published parameter counts: `param_counts` = (G, D)."""

    param_counts: tuple[int, int]

    def test_parameter_counts_match_the_published_network(self) -> None:
        g, d = self.build()  # type: ignore[attr-defined]
        assert sum(p.numel() for p in g.parameters()) == self.param_counts[0]
        assert sum(p.numel() for p in d.parameters()) == self.param_counts[1]
