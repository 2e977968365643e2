"""Adaptive augmentation (--augment ada): the masked transforms, how p follows D's signs, its state, its
settings; and, through the real trainer, that p rises when D overfits and stays put when it cannot."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dcgan.augment import (
    ADA_INTERVAL,
    AUGMENTS,
    DEFAULT_POLICY,
    TRANSFORMS,
    AdaptiveAugment,
    ada_augment,
    diff_augment,
    make_adaptive,
)
from dcgan.config import ADA_POLICY, AUGMENT_POLICIES, TrainConfig, split_augment
from dcgan.errors import ConfigError
from dcgan.training.meter import STATS, IntervalMeter

POLICIES = ["color", "translation", "cutout", "color,translation,cutout", "translation,cutout"]


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def images(n: int = 16, channels: int = 3, size: int = 16) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=gen(99)) * 2 - 1


# --- the masked transforms -------------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("channels", [1, 3])
def test_p_0_leaves_the_images_exactly_as_they_are(policy: str, channels: int) -> None:
    x = images(channels=channels)
    for p in (0.0, torch.tensor(0.0)):
        assert torch.equal(ada_augment(x, policy, p, gen(1)), x)


@pytest.mark.parametrize("policy", POLICIES)
@pytest.mark.parametrize("channels", [1, 3])
def test_p_1_is_exactly_diffaugment_for_the_same_generator_state(policy: str, channels: int) -> None:
    x = images(channels=channels)
    want = diff_augment(x, policy, gen(5))
    assert not torch.equal(want, x)
    for p in (1.0, torch.tensor(1.0)):
        assert torch.equal(ada_augment(x, policy, p, gen(5)), want)


def test_each_transform_applies_to_each_image_with_probability_p() -> None:
    # Cutout alone on images of ones: an image has zeros exactly when its cutout was applied.
    x = torch.ones(4000, 1, 8, 8)
    for p in (0.2, 0.7):
        y = ada_augment(x, "cutout", p, gen(3))
        changed = (y == 0).flatten(1).any(1).float()
        assert abs(changed.mean().item() - p) < 0.03
        # Every image is either untouched or DiffAugment's cutout of it.
        untouched = (y == 1).flatten(1).all(1)
        assert torch.equal(untouched, changed == 0)
    # Two transforms choose independently: translation then cutout at p = 0.5; per image, whether the cutout
    # (a square of zeros) happened does not depend on whether the shift (a border of zeros) did.
    y = ada_augment(torch.ones(4000, 1, 16, 16), "translation,cutout", 0.5, gen(4))
    zeros = (y == 0).flatten(1).sum(1)
    assert (zeros == 0).float().mean().item() == pytest.approx(0.25, abs=0.03)  # neither: (1 - p)^2


def test_gradients_reach_the_images_through_the_masks() -> None:
    x = images().requires_grad_(True)
    ada_augment(x, DEFAULT_POLICY, 0.5, gen(2)).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    x.grad = None
    ada_augment(x, DEFAULT_POLICY, torch.tensor(0.0), gen(2)).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))  # p = 0: the identity


def test_the_transforms_match_the_policies_and_the_config_knows_their_names() -> None:
    assert list(TRANSFORMS) == list(AUGMENTS) == list(AUGMENT_POLICIES)
    assert [len(TRANSFORMS[k]) for k in TRANSFORMS] == [len(AUGMENTS[k]) for k in AUGMENTS]
    assert ADA_POLICY == DEFAULT_POLICY


# --- how p moves ------------------------------------------------------------------------------------------------


def run_interval(ada: AdaptiveAugment, logits: torch.Tensor, all_sum=None) -> list[float]:
    """ADA_INTERVAL steps, each observing `logits` (one per image); p after each step."""
    seen = []
    for _ in range(ADA_INTERVAL):
        ada.observe(logits)
        ada.step_done(len(logits), all_sum)
        seen.append(float(ada.p))
    return seen


def test_p_rises_when_d_calls_real_images_real_and_falls_when_it_does_not() -> None:
    ada = AdaptiveAugment(DEFAULT_POLICY, target=0.6, speed=1000, device="cpu")
    assert float(ada.p) == 0.0
    step = torch.tensor(16 * ADA_INTERVAL / 1000).item()  # images in the interval / speed, as float32
    # D overfits: every real logit positive, r = 1 > 0.6. p moves once per interval, by images / speed.
    assert run_interval(ada, torch.full((16,), 3.0)) == [0.0, 0.0, 0.0, step]
    assert run_interval(ada, torch.full((16, 1), 0.1))[-1] == torch.tensor(2 * step).item()
    # D calls most real images fake: r = -1 < 0.6, p falls by the same amount.
    assert run_interval(ada, -torch.ones(16))[-1] == pytest.approx(step, abs=1e-7)
    # 9 of 16 positive: r = (9 - 7) / 16 = 0.125 < 0.6, down; 14 of 16: r = 0.75 > 0.6, up.
    assert run_interval(ada, torch.tensor([1.0] * 9 + [-1.0] * 7))[-1] == pytest.approx(0.0, abs=1e-7)
    assert run_interval(ada, torch.tensor([1.0] * 14 + [-1.0] * 2))[-1] == pytest.approx(step, abs=1e-7)
    # Exactly at the target (16 of 20 positive: r = (16 - 4) / 20 = 0.6): p stays.
    before = float(ada.p)
    assert run_interval(ada, torch.tensor([1.0] * 16 + [-1.0] * 4))[-1] == before
    assert ada.sign_sum.item() == 0 and ada.steps == 0 and ada.images == 0  # a fresh interval


def test_p_is_clamped_to_0_and_1() -> None:
    ada = AdaptiveAugment(DEFAULT_POLICY, target=0.6, speed=10, device="cpu")  # one interval: +6.4, clamped
    run_interval(ada, torch.ones(16))
    assert float(ada.p) == 1.0
    run_interval(ada, torch.ones(16))
    assert float(ada.p) == 1.0
    run_interval(ada, -torch.ones(16))
    assert float(ada.p) == 0.0
    run_interval(ada, -torch.ones(16))
    assert float(ada.p) == 0.0


def test_lsgan_compares_its_logits_with_one_half() -> None:
    logits = torch.full((16,), 0.3)  # positive, but nearer lsgan's fake target 0 than its real target 1
    bce, lsgan = (make_adaptive(DEFAULT_POLICY, 0.6, 1000, loss, "cpu") for loss in ("bce", "lsgan"))
    for ada in (bce, lsgan):
        ada.p.fill_(0.5)
        run_interval(ada, logits)
    assert float(bce.p) > 0.5 > float(lsgan.p)


def test_processes_add_their_signs_before_p_moves() -> None:
    # Two processes: this one's D calls its real images real, the other's calls them fake (as many images).
    # The sum over both is 0 = r < 0.6, so p falls on both, whatever each one saw alone.
    calls = []

    def all_sum(x: torch.Tensor) -> torch.Tensor:
        calls.append(x.item())
        return x.add_(-x)  # the other process's signs: the opposite

    ada = AdaptiveAugment(DEFAULT_POLICY, target=0.6, speed=1000, device="cpu")
    ada.p.fill_(0.5)
    for _ in range(ADA_INTERVAL):
        ada.observe(torch.ones(8))
        ada.step_done(16, all_sum)  # the step's images over both processes
    assert calls == [32.0]  # once per interval, with this process's signs
    assert float(ada.p) == pytest.approx(0.5 - 64 / 1000)


def test_the_state_round_trips_and_damage_is_refused() -> None:
    ada = AdaptiveAugment(DEFAULT_POLICY, target=0.6, speed=100, device="cpu")
    run_interval(ada, torch.ones(16))
    ada.observe(torch.tensor([1.0] * 10 + [-1.0] * 6))
    ada.step_done(16)
    state = json.loads(json.dumps(ada.state_dict()))  # as a checkpoint's metadata keeps it
    assert state == {"p": pytest.approx(0.64), "sign_sum": 4.0, "steps": 1, "images": 16}
    back = AdaptiveAugment(DEFAULT_POLICY, target=0.6, speed=100, device="cpu")
    back.load_state_dict(state)
    assert torch.equal(back.p, ada.p) and torch.equal(back.sign_sum, ada.sign_sum)
    assert (back.steps, back.images) == (1, 16)
    other_rank = AdaptiveAugment(DEFAULT_POLICY, target=0.6, speed=100, device="cpu")
    other_rank.load_state_dict(state, pending=False)
    assert torch.equal(other_rank.p, ada.p) and other_rank.sign_sum.item() == 0.0
    for bad in ({**state, "p": 1.5}, {**state, "p": "x"}, {**state, "steps": -1}, {**state, "steps": 4}, {}):
        with pytest.raises(ValueError):
            back.load_state_dict(bad)


def test_the_meter_reads_p_with_the_statistics() -> None:
    meter = IntervalMeter(torch.device("cpu"))
    meter.add(torch.ones(len(STATS)), 16)
    means, images, _ = meter.read({"augment_p": torch.tensor(0.25)})
    assert list(means) == [*STATS, "augment_p"] and means["augment_p"] == 0.25 and images == 16
    meter.add(torch.ones(len(STATS)), 16)
    assert list(meter.read()[0]) == list(STATS)


# --- the settings -----------------------------------------------------------------------------------------------


def test_augment_values_and_their_errors() -> None:
    assert split_augment("ada") == (DEFAULT_POLICY, True)
    assert split_augment(" ada:translation, cutout") == ("translation,cutout", True)
    assert split_augment("color,translation") == ("color,translation", False)
    assert split_augment("") == ("", False)
    with pytest.raises(ConfigError, match=r"^--augment: unknown policy 'flip'; choose from color, translation"):
        split_augment("ada:color,flip")
    with pytest.raises(ConfigError, match=r"^--augment 'ada:': name the policy"):
        split_augment("ada:")
    with pytest.raises(ConfigError, match=r"unknown policy 'a\\nb'"):  # the error stays on one line
        split_augment("a\nb")
    TrainConfig(augment="ada:cutout", ada_target=0.9, ada_speed=500).validate()
    for values, message in (
        (dict(augment="ada", ada_target=1.0), "--ada-target: must be below 1, got 1.0"),
        (dict(augment="ada", ada_target=0.0), "--ada-target: must be positive, got 0.0"),
        (dict(augment="ada", ada_speed=0), "--ada-speed: must be at least 1, got 0"),
        (dict(ada_target=0.5), "--ada-target: only used with --augment ada; add --augment ada or drop it"),
        (
            dict(augment="color", ada_speed=5000),
            "--ada-speed: only used with --augment ada; add --augment ada or drop it",
        ),
    ):
        with pytest.raises(ConfigError) as e:
            TrainConfig(**values).validate()
        assert str(e.value) == message


# --- through the trainer ----------------------------------------------------------------------------------------


def augment_p(run: Path) -> list[float]:
    lines = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["augment_p"] for r in lines if "loss_d" in r]


def test_p_rises_when_d_overfits_a_few_images_and_not_when_d_cannot_learn(tmp_path: Path) -> None:
    from dcgan.training.trainer import train
    from factories import tiny_config

    # 16 images, one step an epoch, 60 steps: a D with a high learning rate learns them and calls nearly every
    # one real, above even a high target (0.9), so p rises (measured: to 0.32 by step 48, then down again as
    # the augmentation makes D unsure); a D that barely learns (lr 1e-7) stays near its random start, where
    # fewer than 90% of its real logits are positive, so p never leaves 0.
    common = dict(limit=16, size=16, epochs=60, augment="ada", ada_target=0.9, ada_speed=2000, snapshot_every=60)
    common |= dict(amp="off", channels_last="off")
    overfit = augment_p(train(tiny_config(**common, lr_d=2e-3), tmp_path / "overfit", progress=False))
    assert len(overfit) == 60 and all(0.0 <= p <= 1.0 for p in overfit)
    assert overfit[:3] == [0.0] * 3  # the first adjustment comes after 4 steps
    assert max(overfit) >= 5 * 64 / 2000 - 1e-6  # at least five of the 15 adjustments (of 64 / 2000) went up
    weak = augment_p(train(tiny_config(**common, lr_d=1e-7), tmp_path / "weak", progress=False))
    assert weak == [0.0] * 60
