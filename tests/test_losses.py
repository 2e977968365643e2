"""Every GAN loss on toy logits against hand-computed values, the penalties on linear critics,
and a tiny optimisation in which each loss separates real from fake logits."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from dcgan import config as config_module
from dcgan.errors import ConfigError
from dcgan.losses import LOSSES, GANLoss, get_loss, r1_penalty

REAL = torch.tensor([2.0, -0.5, 0.3])
FAKE = torch.tensor([-1.5, 0.8, 1.2, -0.1])


def sigmoid(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs)


class Linear(nn.Module):
    """D(x) = sum(w * x) per sample: its gradient is w everywhere."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x * self.w).flatten(1).sum(1)


def test_registry_matches_the_config_choices() -> None:
    assert tuple(LOSSES) == config_module.LOSSES
    assert all(isinstance(v, GANLoss) and v.name == k for k, v in LOSSES.items())
    assert [k for k, v in LOSSES.items() if v.needs_gradient_penalty] == ["wgan-gp"]
    with pytest.raises(ConfigError, match="--loss: unknown loss 'nope'") as e:
        get_loss("nope")
    assert str(e.value) == "--loss: unknown loss 'nope'; choose one of bce, hinge, lsgan, wgan-gp"


def test_get_loss_reads_the_registry_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    assert all(get_loss(name) is loss for name, loss in LOSSES.items())
    # Tests swap a loss into the registry to poison training; get_loss must hand out the swapped one.
    swapped = GANLoss()
    monkeypatch.setitem(LOSSES, "bce", swapped)
    assert get_loss("bce") is swapped


def test_only_wgan_gp_has_a_gradient_penalty() -> None:
    real, fake = torch.zeros(2, 1, 2, 2), torch.ones(2, 1, 2, 2)
    for name in ("bce", "hinge", "lsgan"):
        with pytest.raises(NotImplementedError, match=f"the {name} loss has no gradient penalty"):
            LOSSES[name].gradient_penalty(nn.Flatten(0), real, fake)


def test_bce_matches_hand_computation_with_label_smoothing() -> None:
    for label in (1.0, 0.9):
        real, fake = LOSSES["bce"].d_loss(REAL, FAKE, label)
        want_real = mean(
            -(label * math.log(sigmoid(r)) + (1 - label) * math.log(1 - sigmoid(r))) for r in REAL.tolist()
        )
        want_fake = mean(-math.log(1 - sigmoid(f)) for f in FAKE.tolist())
        assert real.item() == pytest.approx(want_real, rel=1e-5)
        assert fake.item() == pytest.approx(want_fake, rel=1e-5)
    # Non-saturating G loss: -log sigmoid(f).
    want_g = mean(-math.log(sigmoid(f)) for f in FAKE.tolist())
    assert LOSSES["bce"].g_loss(FAKE).item() == pytest.approx(want_g, rel=1e-5)


def test_hinge_matches_hand_computation() -> None:
    real, fake = LOSSES["hinge"].d_loss(REAL, FAKE)
    assert real.item() == pytest.approx(mean(max(0.0, 1 - r) for r in REAL.tolist()), rel=1e-6)
    assert fake.item() == pytest.approx(mean(max(0.0, 1 + f) for f in FAKE.tolist()), rel=1e-6)
    assert LOSSES["hinge"].g_loss(FAKE).item() == pytest.approx(-mean(FAKE.tolist()), rel=1e-6)
    # The margins by hand: relu(1 - [2, -0.5, 0.3]) = [0, 1.5, 0.7]; relu(1 + [-1.5, .8, 1.2, -.1]) = [0, 1.8, 2.2, .9].
    assert real.item() == pytest.approx(2.2 / 3) and fake.item() == pytest.approx(4.9 / 4)


def test_lsgan_matches_hand_computation_and_uses_real_label() -> None:
    for label in (1.0, 0.9):
        real, fake = LOSSES["lsgan"].d_loss(REAL, FAKE, label)
        assert real.item() == pytest.approx(0.5 * mean((r - label) ** 2 for r in REAL.tolist()), rel=1e-6)
        assert fake.item() == pytest.approx(0.5 * mean(f**2 for f in FAKE.tolist()), rel=1e-6)
    assert LOSSES["lsgan"].g_loss(FAKE).item() == pytest.approx(
        0.5 * mean((f - 1) ** 2 for f in FAKE.tolist()), rel=1e-6
    )


def test_wgan_matches_hand_computation() -> None:
    real, fake = LOSSES["wgan-gp"].d_loss(REAL, FAKE, 0.9)  # real_label has no meaning here
    assert real.item() == pytest.approx(-mean(REAL.tolist()), rel=1e-6)
    assert fake.item() == pytest.approx(mean(FAKE.tolist()), rel=1e-6)
    assert LOSSES["wgan-gp"].g_loss(FAKE).item() == pytest.approx(-mean(FAKE.tolist()), rel=1e-6)


@pytest.mark.parametrize("name", list(LOSSES))
def test_g_loss_asks_for_higher_fake_logits(name: str) -> None:
    # Below 1, LSGAN's target for G (above it LSGAN pulls the logit back down to c = 1).
    f = torch.tensor([-1.5, -0.2, 0.5, 0.9], requires_grad=True)
    LOSSES[name].g_loss(f).backward()
    assert (f.grad < 0).all(), f"{name}: G's gradient should push every fake logit up"


def test_gradient_penalty_is_zero_for_a_1_lipschitz_linear_critic() -> None:
    torch.manual_seed(0)
    real, fake = torch.randn(8, 3, 4, 4), torch.randn(8, 3, 4, 4)
    w = torch.randn(3, 4, 4)
    gp = LOSSES["wgan-gp"].gradient_penalty(Linear(w / w.norm()), real, fake)
    assert gp.item() == pytest.approx(0.0, abs=1e-10)
    # ||w|| = 2: the penalty is weight * (2 - 1)^2 whatever the interpolates.
    critic = Linear(2 * w / w.norm())
    gp = LOSSES["wgan-gp"].gradient_penalty(critic, real, fake, weight=10.0)
    assert gp.item() == pytest.approx(10.0, rel=1e-5)
    # create_graph: the penalty trains the critic, d/dw 10 (||w|| - 1)^2 = 20 (||w|| - 1) w / ||w||.
    gp.backward()
    assert torch.allclose(critic.w.grad, 20 * (2 - 1) * w / w.norm(), atol=1e-5)


def test_gradient_penalty_draws_from_the_given_generator() -> None:
    real, fake = torch.zeros(4, 1, 2, 2), torch.ones(4, 1, 2, 2)

    class Square(nn.Module):  # grad differs along the line, so alpha matters
        def forward(self, x):
            return x.pow(2).flatten(1).sum(1)

    loss = LOSSES["wgan-gp"]
    global_state = torch.get_rng_state()
    a = loss.gradient_penalty(Square(), real, fake, generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.get_rng_state(), global_state)  # the global stream is untouched
    b = loss.gradient_penalty(Square(), real, fake, generator=torch.Generator().manual_seed(3))
    c = loss.gradient_penalty(Square(), real, fake, generator=torch.Generator().manual_seed(4))
    assert a.item() == b.item() != c.item()
    torch.manual_seed(5)
    d = loss.gradient_penalty(Square(), real, fake)
    torch.manual_seed(5)
    assert loss.gradient_penalty(Square(), real, fake).item() == d.item()


def test_r1_is_half_gamma_times_squared_gradient_norm() -> None:
    torch.manual_seed(0)
    w = torch.randn(3, 5, 5)
    real = torch.randn(6, 3, 5, 5)
    d = Linear(w)
    r1 = r1_penalty(d, real, gamma=4.0)
    assert r1.item() == pytest.approx(4.0 / 2 * w.pow(2).sum().item(), rel=1e-5)
    assert not real.requires_grad  # the caller's tensor is left alone
    r1.backward()  # trains D: d/dw gamma/2 ||w||^2 = gamma w
    assert torch.allclose(d.w.grad, 4.0 * w, atol=1e-5)


@pytest.mark.parametrize("name", list(LOSSES))
def test_a_few_steps_of_each_loss_push_real_logits_up_and_fake_down(name: str) -> None:
    torch.manual_seed(0)
    loss = LOSSES[name]
    real = torch.randn(64, 2) * 0.3 + torch.tensor([1.0, 1.0])
    fake = torch.randn(64, 2) * 0.3 - torch.tensor([1.0, 1.0])
    d = nn.Sequential(nn.Linear(2, 16), nn.LeakyReLU(0.2), nn.Linear(16, 1), nn.Flatten(0))
    with torch.no_grad():  # every logit starts near 0.5, between LSGAN's targets 0 (fake) and 1 (real)
        d[2].weight.mul_(0.1)
        d[2].bias.fill_(0.5)
    opt = torch.optim.Adam(d.parameters(), lr=1e-2)
    with torch.no_grad():
        real0, fake0 = d(real).mean().item(), d(fake).mean().item()
    for _ in range(20):
        loss_real, loss_fake = loss.d_loss(d(real), d(fake), 1.0)
        total = loss_real + loss_fake
        if loss.needs_gradient_penalty:
            total = total + loss.gradient_penalty(d, real, fake, 10.0)
        opt.zero_grad()
        total.backward()
        opt.step()
    with torch.no_grad():
        real1, fake1 = d(real).mean().item(), d(fake).mean().item()
    assert real1 > real0 and fake1 < fake0, (name, real0, real1, fake0, fake1)
    assert real1 > fake1
