"""IntervalMeter (dcgan.training.meter): named means over an interval, one read, then a fresh interval."""

from __future__ import annotations

import math

import torch
from torch import nn

from dcgan.training.meter import STATS, IntervalMeter, all_finite, weights_finite


def test_means_over_the_interval_by_name_and_a_fresh_interval_after_reading() -> None:
    meter = IntervalMeter(torch.device("cpu"))
    meter.add(torch.tensor([1.0, 2.0, 0.5, 0.25, 0.125]), 16)
    meter.add(torch.tensor([3.0, 4.0, 0.5, 0.75, 0.375]), 8)
    means, images, seconds = meter.read()
    assert list(means) == list(STATS)
    assert means == {
        "loss_d": 2.0,
        "loss_g": 3.0,
        "d_real_mean": 0.5,
        "d_fake_mean_before": 0.5,
        "d_fake_mean_after": 0.25,
    }
    assert images == 24 and seconds >= 0
    meter.add(torch.tensor([5.0, 5.0, 5.0, 5.0, 5.0]), 4)
    assert meter.read()[0]["loss_d"] == 5.0 and meter.images == 0


def test_non_finite_values_and_weights_are_seen() -> None:
    assert all_finite({"a": 1.0}) and not all_finite({"a": math.nan}) and not all_finite({"a": math.inf})
    net = nn.Linear(2, 2)
    assert bool(weights_finite([net]))
    with torch.no_grad():
        net.weight[0, 0] = math.nan
    assert not bool(weights_finite([net]))
