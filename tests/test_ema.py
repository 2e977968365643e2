"""G_ema: the half-life rule by hand, buffers copied, no gradients, G's state-dict keys."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dcgan.ema import EMA
from dcgan.models.dcgan import Generator


class Tiny(nn.Module):
    """One weight, one bias, BatchNorm buffers: enough to check averaging against copying."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.bn = nn.BatchNorm1d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.lin(x))


def set_weights(g: Tiny, value: float) -> None:
    with torch.no_grad():
        for p in g.parameters():
            p.fill_(value)
        g.bn.running_mean.fill_(value * 10)
        g.bn.num_batches_tracked.fill_(int(value))


def test_ema_follows_the_half_life_rule_by_hand() -> None:
    g = Tiny()
    set_weights(g, 0.0)
    ema = EMA(g, half_life_images=64)
    batch = 32
    beta = 0.5 ** (batch / 64)
    expected = 0.0
    for value in (1.0, 2.0, 3.0, 5.0):
        set_weights(g, value)
        ema.update(g, batch)
        expected = beta * expected + (1 - beta) * value
        for p in ema.module.parameters():
            assert torch.allclose(p, torch.full_like(p, expected), atol=1e-6)
        # Buffers are copied from the current G, not averaged.
        assert torch.equal(ema.module.bn.running_mean, g.bn.running_mean)
        assert ema.module.bn.num_batches_tracked.item() == int(value)
    # Two batches of 32 images weigh as one of 64: the rate is per image, not per step.
    assert EMA(g, 64).beta(64) == pytest.approx(0.5)
    assert EMA(g, 64).beta(32) ** 2 == pytest.approx(0.5)


def test_the_average_is_a_detached_eval_copy_that_never_gets_gradients() -> None:
    torch.manual_seed(0)
    g = Generator(8, 1, 28, width=4)
    ema = EMA(g, 100)
    assert not ema.module.training and g.training
    assert all(not p.requires_grad for p in ema.module.parameters())
    assert all(p.requires_grad for p in g.parameters())  # G itself is untouched
    assert all(a.data_ptr() != b.data_ptr() for a, b in zip(ema.module.parameters(), g.parameters()))
    opt = torch.optim.SGD(g.parameters(), lr=0.1)
    for _ in range(3):
        g(torch.randn(4, 8)).mean().backward()
        opt.step()
        opt.zero_grad()
        ema.update(g, 4)
    assert all(p.grad is None for p in ema.module.parameters())
    # The EMA's output takes no part in G's graph.
    assert not ema.module(torch.randn(2, 8)).requires_grad


def test_state_dict_has_the_generators_keys_and_round_trips() -> None:
    torch.manual_seed(0)
    g = Generator(8, 1, 28, width=4)
    ema = EMA(g, 100)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(1.0)
    ema.update(g, 50)
    state = ema.state_dict()
    assert list(state) == list(g.state_dict())
    fresh = EMA(Generator(8, 1, 28, width=4), 100)
    fresh.load_state_dict(state)
    for k, v in state.items():
        assert torch.equal(fresh.state_dict()[k], v)
    assert all(not p.requires_grad for p in fresh.module.parameters())
    z = torch.randn(3, 8)
    with torch.no_grad():
        assert torch.equal(fresh.module(z), ema.module(z))
    # A run without G_ema loads G's own weights as the starting average.
    fresh.load_state_dict(g.state_dict())


def test_zero_half_life_is_refused() -> None:
    with pytest.raises(ValueError, match="half-life"):
        EMA(Tiny(), 0)
