"""GPU path: run with `python -m pytest -m gpu tests/gpu` on a CUDA machine (skipped elsewhere)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from dcgan.checkpoint import list_checkpoints, read_checkpoint
from dcgan.config import resolve_config
from dcgan.generator import load_generator
from dcgan.training.trainer import train

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


def cfg(**kw):
    values = dict(
        data="synthetic",
        size=32,
        limit=256,
        g_channels=16,
        d_channels=16,
        batch_size=64,
        log_every=2,
        sample_grid=16,
        epochs=2,
        device="cuda",
    )
    values.update(kw)
    return resolve_config("celeba-dcgan", values)


@pytest.mark.parametrize("amp,channels_last", [("auto", "auto"), ("off", "off"), ("fp16", "on"), ("bf16", "off")])
def test_trains_on_gpu_with_every_precision(amp: str, channels_last: str, tmp_path: Path) -> None:
    run = train(cfg(amp=amp, channels_last=channels_last), tmp_path / "run", progress=False)
    recs = [json.loads(l) for l in (run / "metrics.jsonl").read_text().splitlines() if '"loss_d"' in l]
    assert recs and all(0 < r["d_real_mean"] < 1 for r in recs)
    model = load_generator(run, "cuda")
    imgs = model.sample(8)
    assert imgs.shape == (8, 3, 32, 32) and imgs.dtype == torch.uint8


def test_gpu_checkpoint_resumes_on_cpu(tmp_path: Path) -> None:
    run = train(cfg(epochs=1), tmp_path / "run", progress=False)
    train(cfg(epochs=2, device="cpu"), run, resume=True, progress=False)
    assert read_checkpoint(list_checkpoints(run)[-1]).meta["epoch"] == 2


def test_gpu_resume_equals_uninterrupted_run_closely(tmp_path: Path) -> None:
    a = train(cfg(amp="off", channels_last="off", epochs=2), tmp_path / "a", progress=False)
    b = train(cfg(amp="off", channels_last="off", epochs=2), tmp_path / "b", progress=False, max_steps=5)
    train(cfg(amp="off", channels_last="off", epochs=2), b, resume=True, progress=False)
    ta = read_checkpoint(list_checkpoints(a)[-1]).state("G")
    tb = read_checkpoint(list_checkpoints(b)[-1]).state("G")
    for k in ta:  # cuDNN may pick non-deterministic kernels: close, not bit-equal
        assert torch.allclose(ta[k].float(), tb[k].float(), atol=1e-3), k
