"""Device policy (dcgan.device): which precision and memory format `auto` picks, and what the run says."""

from __future__ import annotations

import os

import pytest
import torch

from dcgan import device as dev
from dcgan.errors import ConfigError

CPU = torch.device("cpu")


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_on_a_cpu_is_bf16_only_where_the_cpu_has_it(native: bool, monkeypatch) -> None:
    monkeypatch.setattr(dev, "cpu_has_native_bf16", lambda: native)
    assert dev.amp_dtype("auto", CPU) == (torch.bfloat16 if native else None)
    # Explicit choices are taken as they are.
    assert dev.amp_dtype("off", CPU) is None
    assert dev.amp_dtype("bf16", CPU) == torch.bfloat16 and dev.amp_dtype("fp16", CPU) == torch.float16


def test_native_bf16_is_read_from_the_cpu_flags() -> None:
    dev.cpu_has_native_bf16.cache_clear()
    flags = open("/proc/cpuinfo").read()
    assert dev.cpu_has_native_bf16() == ("avx512_bf16" in flags or "amx_bf16" in flags)


def test_channels_last_auto_is_on_for_convolutional_models_on_cpu_and_cuda() -> None:
    assert dev.memory_format("auto", CPU) == torch.channels_last
    assert dev.memory_format("auto", CPU, convolutional=False) == torch.contiguous_format
    assert dev.memory_format("off", CPU) == torch.contiguous_format
    assert dev.memory_format("on", CPU) == torch.channels_last


def test_the_run_says_what_it_computes_in() -> None:
    assert dev.precision_summary(torch.bfloat16, torch.channels_last, CPU) == (
        "bf16 autocast (CPU with native bf16), channels-last"
    )
    assert dev.precision_summary(None, torch.contiguous_format, CPU) == "fp32, contiguous"


def test_autocast_in_bf16_on_the_cpu_really_computes_in_bf16() -> None:
    conv = torch.nn.Conv2d(1, 2, 3).to(memory_format=torch.channels_last)
    x = torch.rand(1, 1, 8, 8).contiguous(memory_format=torch.channels_last)
    with dev.autocast(CPU, torch.bfloat16):
        assert conv(x).dtype == torch.bfloat16
    with dev.autocast(CPU, None):
        assert conv(x).dtype == torch.float32


def test_unknown_devices_are_refused_naming_the_flag() -> None:
    with pytest.raises(ConfigError, match="--device tpu: unknown device"):
        dev.resolve_device("tpu")
    assert dev.resolve_device("cpu") == CPU


def test_a_cpu_run_uses_every_core_unless_omp_num_threads_says_otherwise(monkeypatch) -> None:
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        dev.use_all_cores(CPU)
        assert torch.get_num_threads() == 1  # the user's choice stands
        monkeypatch.delenv("OMP_NUM_THREADS")
        dev.use_all_cores(torch.device("meta"))
        assert torch.get_num_threads() == 1  # not a CPU: threads untouched
        dev.use_all_cores(CPU)
        assert torch.get_num_threads() == max(1, os.cpu_count() or 1)
    finally:
        torch.set_num_threads(before)
