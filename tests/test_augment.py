"""DiffAugment: shapes, gradients, reproducibility, what each policy does, and its error text."""

from __future__ import annotations

import pytest
import torch

from dcgan.augment import (
    AUGMENTS,
    contrast,
    cutout,
    diff_augment,
    parse_policy,
    saturation,
    translation,
)
from dcgan.errors import ConfigError


def gen(seed: int, device: str = "cpu") -> torch.Generator:
    return torch.Generator(device=device).manual_seed(seed)


@pytest.mark.parametrize("shape", [(4, 3, 32, 32), (3, 1, 28, 28), (2, 3, 24, 40), (1, 1, 12, 12)])
@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
def test_shape_is_preserved(shape: tuple[int, ...], policy: str) -> None:
    x = torch.rand(shape) * 2 - 1
    y = diff_augment(x, policy, gen(0))
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()


@pytest.mark.parametrize("policy", ["color", "translation", "cutout", "color,translation,cutout"])
@pytest.mark.parametrize("channels", [1, 3])
def test_gradient_flows_to_the_input(policy: str, channels: int) -> None:
    x = (torch.rand(4, channels, 16, 16) * 2 - 1).requires_grad_(True)
    diff_augment(x, policy, gen(1)).pow(2).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_same_seed_same_output_and_other_seed_other_output() -> None:
    x = torch.rand(8, 3, 16, 16) * 2 - 1
    a = diff_augment(x, generator=gen(7))
    b = diff_augment(x, generator=gen(7))
    c = diff_augment(x, generator=gen(8))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # Without a generator it is torch's global stream, also reproducible by seed.
    torch.manual_seed(3)
    d = diff_augment(x)
    torch.manual_seed(3)
    assert torch.equal(d, diff_augment(x))


def test_generator_state_carries_over_like_a_checkpoint() -> None:
    x = torch.rand(4, 3, 16, 16)
    g = gen(5)
    diff_augment(x, generator=g)
    saved = g.get_state()
    want = diff_augment(x, generator=g)
    resumed = torch.Generator().set_state(saved)
    assert torch.equal(diff_augment(x, generator=resumed), want)


def test_translation_moves_content_by_at_most_an_eighth() -> None:
    n, size = 64, 32
    x = torch.zeros(n, 1, size, size)
    x[:, :, 16, 16] = 1.0  # one lit pixel, far enough from the borders to survive any shift
    y = translation(x, gen(0))
    assert torch.equal(y.flatten(1).sum(1), torch.ones(n))  # content moves, nothing is lost or made
    pos = y.flatten(1).argmax(1)
    dy, dx = pos // size - 16, pos % size - 16
    assert dy.abs().max() <= size // 8 and dx.abs().max() <= size // 8
    assert (dy != 0).any() and (dx != 0).any()
    assert len(set(dy.tolist())) > 3  # several shifts drawn


def test_translation_fills_with_zeros() -> None:
    x = torch.ones(32, 3, 16, 16)
    y = translation(x, gen(0))
    assert set(y.unique().tolist()) <= {0.0, 1.0}
    moved = (y == 0).flatten(1).any(1)
    assert moved.any()
    # A shifted image of ones has zero rows or columns only at its borders.
    assert torch.equal(y[:, :, 6:10, 6:10], torch.ones(32, 3, 4, 4))


def test_cutout_zeros_one_square_of_half_the_side() -> None:
    n, h, w = 64, 16, 20
    x = torch.ones(n, 3, h, w)
    y = cutout(x, gen(0))
    assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 0], y[:, 2])  # same hole in every channel
    full = 0
    for img in y[:, 0]:
        zero = img == 0
        rows = zero.any(1).nonzero().flatten()
        cols = zero.any(0).nonzero().flatten()
        assert len(rows) and len(cols)
        # The zeros fill exactly their bounding box: one rectangle, clipped at the borders.
        box = zero[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert box.all() and zero.sum() == box.numel()
        assert len(rows) <= h // 2 and len(cols) <= w // 2
        if 0 < rows.min() and rows.max() < h - 1 and 0 < cols.min() and cols.max() < w - 1:
            assert (len(rows), len(cols)) == (h // 2, w // 2)  # not clipped: the full square
            full += 1
    assert full > 0


def test_color_on_one_channel_skips_saturation_and_changes_values() -> None:
    x = torch.rand(4, 1, 8, 8)
    assert torch.equal(saturation(x, gen(0)), x)
    y = diff_augment(x, "color", gen(0))
    assert not torch.equal(y, x)
    # Contrast keeps each image's mean.
    assert torch.allclose(contrast(x, gen(0)).mean((1, 2, 3)), x.mean((1, 2, 3)), atol=1e-6)


def test_parse_policy_and_the_unknown_policy_error() -> None:
    assert parse_policy("") == []
    assert parse_policy("color, translation,cutout") == ["color", "translation", "cutout"]
    assert list(AUGMENTS) == ["color", "translation", "cutout"]
    with pytest.raises(ConfigError) as e:
        parse_policy("color,x")
    assert str(e.value) == "--augment: unknown policy 'x'; choose from color, translation, cutout"
    with pytest.raises(ConfigError):
        diff_augment(torch.zeros(1, 1, 8, 8), "flip")
    assert torch.equal(diff_augment(torch.ones(1, 1, 8, 8), ""), torch.ones(1, 1, 8, 8))


def test_bf16_images_draw_the_same_stream() -> None:
    x = torch.rand(4, 3, 16, 16)
    a = diff_augment(x, "translation,cutout", gen(2))
    b = diff_augment(x.bfloat16(), "translation,cutout", gen(2))
    assert b.dtype == torch.bfloat16
    assert torch.equal(a.bfloat16(), b)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_with_a_device_generator() -> None:
    x = (torch.rand(4, 3, 16, 16, device="cuda") * 2 - 1).requires_grad_(True)
    a = diff_augment(x, generator=gen(0, "cuda"))
    b = diff_augment(x, generator=gen(0, "cuda"))
    assert a.device.type == "cuda" and torch.equal(a, b)
    a.sum().backward()
    assert x.grad is not None
