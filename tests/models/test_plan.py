"""dcgan.models.plan: which sizes each architecture builds for, and how the side is split."""

from __future__ import annotations

import pytest
import torch

from dcgan.config import TrainConfig
from dcgan.errors import ConfigError
from dcgan.models import build_models
from dcgan.models.plan import ARCHS, MAX_SIZE, MIN_SIZE, check_size, conv_plan


@pytest.mark.parametrize("size,plan", [(28, (7, 2)), (32, (4, 3)), (64, (4, 4)), (96, (6, 4)), (128, (4, 5))])
def test_conv_plan(size: int, plan: tuple[int, int]) -> None:
    assert conv_plan(size) == plan
    cfg = TrainConfig(size=size, g_channels=8, d_channels=8).validate()
    g, d = build_models(cfg, 3)
    assert g(torch.randn(2, 100)).shape[-1] == size


@pytest.mark.parametrize("size", [100, 10, 50, 2000])
def test_impossible_sizes_are_refused_naming_the_flag(size: int) -> None:
    with pytest.raises(ConfigError, match=f"--size {size}"):
        check_size("dcgan", size)


def test_each_architecture_has_its_own_size_rule() -> None:
    assert ARCHS == ("dcgan", "dcgan-fc", "mlp")
    check_size("mlp", 50)  # any size in range: the MLP has no convolutions
    check_size("dcgan", 48)
    with pytest.raises(ConfigError, match="--size 40: the dcgan-fc architecture needs a multiple of 16"):
        check_size("dcgan-fc", 40)
    with pytest.raises(ConfigError, match="b\\*2\\^k with b in 3..8"):
        check_size("dcgan", 50)
    for arch in ARCHS:
        with pytest.raises(ConfigError, match=f"--size {MIN_SIZE - 1}: must be between {MIN_SIZE} and {MAX_SIZE}"):
            check_size(arch, MIN_SIZE - 1)
        with pytest.raises(ConfigError, match=f"must be between {MIN_SIZE} and {MAX_SIZE} pixels"):
            check_size(arch, MAX_SIZE + 1)
