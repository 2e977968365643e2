"""Conditional training through the real trainer: every option of an unconditional run also trains with
labels, resumes bit for bit, rolls back on divergence, and the batches carry the right labels."""

from __future__ import annotations

import dataclasses
import functools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from dcgan.checkpoint import list_checkpoints, read_checkpoint
from dcgan.data import open_store
from dcgan.data.batches import DeviceBatches
from dcgan.generator import load_generator
from dcgan.labels import attach_labels
from dcgan.training.trainer import train
from factories import tiny_config
from label_fixtures import celeba_root

tiny = functools.partial(tiny_config, sample_grid=4, conditional=True)

OPTIONS = {
    "bce": dict(),
    "bce-smoothing": dict(real_label=0.9),
    "hinge-spectral-norm": dict(loss="hinge", spectral_norm=True, d_batchnorm=False),
    "lsgan": dict(loss="lsgan"),
    "wgan-gp": dict(loss="wgan-gp", d_batchnorm=False),
    "r1": dict(r1_gamma=1.0),
    "ema": dict(ema_half_life=64),
    "diffaugment": dict(augment="color,translation,cutout"),
    "ttur": dict(lr_g=1e-4, lr_d=4e-4),
    "dcgan-fc": dict(arch="dcgan-fc", size=32, d_batchnorm=False, real_label=0.9, z_dist="uniform"),
    "mlp": dict(arch="mlp", init="keras"),
    "bf16": dict(amp="bf16"),
    "class-loss": dict(class_loss=1.0),
    "class-loss-hinge-spectral-norm": dict(class_loss=0.5, loss="hinge", spectral_norm=True, d_batchnorm=False),
    "class-loss-dcgan-fc": dict(class_loss=1.0, arch="dcgan-fc", size=32, d_batchnorm=False),
}


def tensors(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path).tensors


@pytest.mark.parametrize("option", list(OPTIONS))
def test_every_option_trains_with_labels_and_samples_each_class(option: str, tmp_path: Path) -> None:
    run = train(tiny(**OPTIONS[option]), tmp_path / option, progress=False, max_steps=3)
    losses = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "loss_d" in line]
    assert len(losses) == 3 and all(np.isfinite([r["loss_d"], r["loss_g"]]).all() for r in losses)
    ck = read_checkpoint(list_checkpoints(run)[-1])
    assert ck.meta["extra"]["labels"]["names"] == ["circle", "square", "triangle"]
    model = load_generator(run)
    assert model.conditional and model.class_names == ["circle", "square", "triangle"]
    assert model.sample(3, seed=1).shape == (3, 1, ck.config.size, ck.config.size)
    z = model.latents(3, seed=1)
    a, b = model(z, torch.tensor([0, 1, 2])), model(z, torch.tensor([2, 2, 2]))
    assert torch.allclose(a[2], b[2], atol=1e-6) and not torch.equal(a[0], b[0])  # the label decides


@pytest.mark.parametrize(
    "option",
    [
        "bce",
        "ema",
        "class-loss",
        pytest.param("wgan-gp", marks=pytest.mark.slow),
        pytest.param("diffaugment", marks=pytest.mark.slow),
    ],
)
def test_a_conditional_resume_ends_bit_identical(option: str, tmp_path: Path) -> None:
    config = tiny(epochs=3, amp="off", channels_last="off", **OPTIONS[option])
    straight = train(config, tmp_path / "straight", progress=False)
    part = train(config, tmp_path / "part", progress=False, max_steps=4)
    train(config, part, resume=True, progress=False)
    a, b = tensors(list_checkpoints(straight)[-1]), tensors(list_checkpoints(part)[-1])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_attribute_conditioning_trains_on_every_architecture(tmp_path: Path) -> None:
    celeba_attr_root = celeba_root(tmp_path / "celeba")
    for arch, extra in (("dcgan", {"class_loss": 1.0}), ("dcgan-fc", {"d_batchnorm": False}), ("mlp", {})):
        config = tiny_config(
            "celeba-dcgan",
            data=str(celeba_attr_root),
            size=32,
            limit=None,
            attributes="Smiling,Male",
            arch=arch,
            **extra,
        )
        run = train(config, tmp_path / arch, progress=False, max_steps=2)
        model = load_generator(run)
        assert model.attribute_names == ["Smiling", "Male"] and model.class_names is None
        images = model.sample(4, labels=model.labels_for(attributes={"Smiling": 1, "Male": 0}, num=4))
        assert images.shape == (4, 3, 32, 32)


def test_divergence_rolls_back_a_conditional_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dcgan import losses

    calls = {"n": 0}
    real = losses.LOSSES["bce"]

    class Poisoned:
        needs_gradient_penalty = False

        def d_loss(self, r, f, real_label=1.0):
            calls["n"] += 1
            a, b = real.d_loss(r, f, real_label)
            return (a * float("nan") if calls["n"] == 5 else a), b

        def g_loss(self, f):
            return real.g_loss(f)

    monkeypatch.setitem(losses.LOSSES, "bce", Poisoned())
    run = train(tiny(epochs=3), tmp_path / "run", progress=False)
    events = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if "rollback" in line]
    assert len(events) == 1 and events[0]["step"] == 3
    assert read_checkpoint(list_checkpoints(run)[-1]).meta["extra"]["labels"]["kind"] == "class"


def test_batches_carry_the_labels_of_their_images_and_fakes_follow_the_data(tmp_path: Path) -> None:
    config = tiny(limit=48)
    store = open_store("synthetic", 28, 1, limit=48, cache_dir=tmp_path, progress=False)
    data = DeviceBatches(store, torch.device("cpu"), 16, seed=3)
    plain = data.batch(1, 2, torch.contiguous_format)
    condition = attach_labels(config, data)
    assert condition is not None and condition.counts == tuple(np.bincount(store.labels, minlength=3))
    assert torch.equal(data.batch(1, 2, torch.contiguous_format), plain)  # the image path is unchanged
    real, fake = data.batch_labels(1, 2, torch.Generator().manual_seed(0))
    assert torch.equal(real, torch.from_numpy(store.labels)[data.batch_indices(1, 2).cpu()])
    drawn = torch.cat([data.batch_labels(0, 0, torch.Generator().manual_seed(s))[1] for s in range(200)])
    share = torch.bincount(drawn, minlength=3).float() / len(drawn)
    assert torch.allclose(share, torch.tensor(condition.counts, dtype=torch.float) / 48, atol=0.03)


def test_the_fixed_grid_has_one_row_per_class(tmp_path: Path) -> None:
    from PIL import Image

    run = train(tiny(size=32, sample_grid=9), tmp_path / "run", progress=False, max_steps=3)
    grid = Image.open(sorted((run / "samples").glob("*.png"))[-1])
    assert grid.size == (3 * 34 + 2, 3 * 34 + 2)  # 3 columns (sqrt 9) x 3 classes, 32 px + 2 px padding


def test_the_class_loss_teaches_d_to_classify_real_images_and_trains_both_networks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--class-loss (AC-GAN): D's class head, which never sees y, learns the synthetic shapes from the images;
    each step adds the class loss to D's update (real labels) and to G's (the fakes' labels, through G);
    a run without it has no class head at all."""
    from dcgan.losses import classification_loss
    from dcgan.training import trainer

    calls: list[tuple[bool, torch.Tensor]] = []

    def recorded(class_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        generator_params = [p for p in trainer_state["G"].parameters()]
        grads = torch.autograd.grad(class_logits.sum(), generator_params, allow_unused=True, retain_graph=True)
        calls.append((any(g is not None for g in grads), y.clone()))
        return classification_loss(class_logits, y)

    trainer_state: dict[str, torch.nn.Module] = {}
    original_state = trainer.TrainState

    def capture(*args, **kwargs):
        state = original_state(*args, **kwargs)
        trainer_state["G"] = state.generator
        return state

    monkeypatch.setattr(trainer, "TrainState", capture)
    monkeypatch.setattr(trainer, "classification_loss", recorded)
    config = tiny(limit=192, batch_size=32, epochs=1000, amp="off", class_loss=1.0, log_every=10, d_channels=16)
    run = train(dataclasses.replace(config, lr_d=1e-3), tmp_path / "ac", progress=False, max_steps=80)
    assert len(calls) == 160  # D's update, then G's, every step
    assert not any(through_g for through_g, _ in calls[0::2])  # D's class loss is on real images
    assert all(through_g for through_g, _ in calls[1::2])  # G's is on its fakes: it trains G
    monkeypatch.undo()

    model = load_generator(run)
    D = model.discriminator.eval()
    assert any(k.endswith("classifier.weight") for k in tensors(list_checkpoints(run)[-1]))
    store = open_store("synthetic", 28, 1, limit=192, cache_dir=None, progress=False)
    images = torch.from_numpy(store.images[:192]).float().div(127.5).sub(1)
    labels = torch.from_numpy(store.labels[:192]).long()
    with torch.no_grad():
        logits, classes = D(images, classify=True)
        _, classes_other_y = D(images, (labels + 1) % 3, classify=True)
    assert logits.shape == (192,) and classes.shape == (192, 3)
    assert torch.equal(classes, classes_other_y)  # the head reads the image, not the label it is given
    accuracy = float((classes.argmax(1) == labels).float().mean())
    assert accuracy > 0.8, accuracy  # three shapes at random sizes, angles and shades; chance is 1/3
    assert float(classification_loss(classes, labels)) < float(np.log(3))  # better than a uniform guess
    plain = train(tiny(), tmp_path / "plain", progress=False, max_steps=1)
    assert not any("classifier" in k for k in tensors(list_checkpoints(plain)[-1]))
    with pytest.raises(ValueError, match="no class head"):
        load_generator(plain).discriminator(images[:2], classify=True)


@pytest.mark.parametrize("class_loss_g, expected_g", [(None, 2.0), (0.25, 0.25), (0.0, 0.0)])
def test_class_loss_g_weighs_the_class_loss_in_g_update_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, class_loss_g: float | None, expected_g: float
) -> None:
    """--class-loss W weighs D's class loss; --class-loss-g, G's (left out: W too). The gradient that reaches
    each class-loss term from its update's total loss is that weight."""
    from dcgan.losses import classification_loss
    from dcgan.training import trainer

    weights: list[float] = []

    def recorded(class_logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        term = classification_loss(class_logits, y)
        term.register_hook(lambda g: weights.append(float(g)))
        return term

    monkeypatch.setattr(trainer, "classification_loss", recorded)
    config = tiny(amp="off", class_loss=2.0, class_loss_g=class_loss_g)
    train(config, tmp_path / "run", progress=False, max_steps=3)
    assert weights[0::2] == [2.0] * 3  # D's update
    assert weights[1::2] == [expected_g] * 3  # G's update


def test_classification_loss_is_cross_entropy_for_classes_and_per_attribute_bce() -> None:
    from dcgan.losses import classification_loss

    logits = torch.tensor([[2.0, -1.0, 0.5], [0.0, 0.0, 3.0]])
    expected = -(torch.log_softmax(logits, 1)[0, 0] + torch.log_softmax(logits, 1)[1, 2]) / 2
    assert torch.allclose(classification_loss(logits, torch.tensor([0, 2])), expected)
    y = torch.tensor([[1.0, -1.0, 1.0], [-1.0, -1.0, 1.0]])  # attributes in {-1, 1}
    expected = torch.nn.functional.binary_cross_entropy_with_logits(logits, (y + 1) / 2)
    assert torch.allclose(classification_loss(logits, y), expected)
