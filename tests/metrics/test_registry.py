"""The metric registry: names, their validation, and the one dispatch to the metric functions."""

from __future__ import annotations

import subprocess
import sys

import pytest

from dcgan.metrics.registry import (
    DEFAULT_METRICS,
    METRICS,
    SELECTION_METRICS,
    compute_metrics,
    parse_eval_metrics,
    parse_metrics,
    selection_metric,
)


def test_parse_metrics_orders_and_deduplicates() -> None:
    assert parse_metrics(" KID, fid ,kid,") == ("fid", "kid")
    assert parse_metrics(["pr", "fid_fashion", "disc"]) == ("pr", "disc", "fid_fashion")
    assert set(DEFAULT_METRICS) <= set(METRICS) and set(SELECTION_METRICS) <= set(METRICS)
    with pytest.raises(ValueError, match="^no metric given; choose from fid, kid, pr, disc, fid_fashion$"):
        parse_metrics(" , ")
    with pytest.raises(ValueError, match=r"^unknown metric 'isc'; choose from fid, kid, pr, disc, fid_fashion \("):
        parse_metrics("fid,isc")


def test_eval_metrics_start_with_a_selection_metric() -> None:
    assert parse_eval_metrics("fid_fashion,pr") == ("pr", "fid_fashion")
    assert selection_metric(" KID ,fid") == "kid"
    with pytest.raises(ValueError, match="^unknown metric 'fd'"):
        parse_eval_metrics("fd,fid")
    with pytest.raises(ValueError, match="^the first metric picks the best checkpoint; start with one of fid, fid_fa"):
        parse_eval_metrics("pr,fid")


def test_every_metric_reports_its_keys(make_store, cheap_networks) -> None:
    import torch

    from dcgan.metrics.context import MetricContext

    store = make_store(n=30)
    ctx = MetricContext(store, 10, fake_images=torch.zeros(10, 1, 8, 8, dtype=torch.uint8), progress=False)
    names = ("fid", "kid", "pr", "fid_fashion")
    values = compute_metrics(ctx, names)
    for name in names:
        assert set(METRICS[name].keys) <= set(values), name
    assert values["kid_subsets"] == 100 and values["kid_subset_size"] == 10 and values["pr_k"] == 3


def test_importing_the_registry_does_not_import_torch() -> None:
    code = "import sys, dcgan.metrics.registry; assert 'torch' not in sys.modules and 'numpy' not in sys.modules"
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
