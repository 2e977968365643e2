"""MetricContext: features embedded lazily, at most once per network, and the real rows it uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dcgan.metrics.context import MetricContext


def test_context_real_images_match_reference_rows(make_store, cheap_networks) -> None:
    store = make_store(n=50)
    ctx = MetricContext(store, 20, fake_images=torch.zeros(20, 1, 8, 8, dtype=torch.uint8), progress=False)
    ref = ctx.inception_real()
    np.testing.assert_array_equal(ctx.real_images(), store.images[ref.indices])


def test_features_are_embedded_once_and_counted(make_store, cheap_networks) -> None:
    store = make_store(n=30)
    ctx = MetricContext(store, 10, fake_images=torch.zeros(12, 1, 8, 8, dtype=torch.uint8), progress=False)
    assert (ctx.num_real, ctx.num_fake) == (10, 12)
    for _ in range(2):
        ctx.inception_real(), ctx.inception_fake()
    assert cheap_networks["inception"].calls == 2 and cheap_networks["fashion"].calls == 0
    assert ctx.images_embedded == 22 and ctx.reference_cached == {"inception": False}
    assert ctx.inception_fake().shape == (12, 4)


def test_fake_store_instead_of_images(make_store, cheap_networks) -> None:
    real, fake = make_store("real", n=20), make_store("fake", n=15, seed=1)
    ctx = MetricContext(real, 10, fake_store=fake, progress=False)
    assert (ctx.num_real, ctx.num_fake) == (10, 10) and ctx.inception_fake().shape == (10, 4)
    with pytest.raises(ValueError, match="exactly one"):
        MetricContext(real, 10, progress=False)
