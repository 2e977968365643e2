"""Where and how the networks run: the device, mixed precision and the memory format.

CPU and GPU run the same code; these switches are the only difference between them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from pathlib import Path

import torch

from .errors import ConfigError


def resolve_device(name: str | torch.device) -> torch.device:
    """auto (CUDA when visible, else CPU), cpu, cuda or cuda:N; a clear error when CUDA is missing."""
    if isinstance(name, torch.device):
        return name
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {name}: no CUDA device is visible; use --device cpu or auto")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ConfigError(f"--device {name}: unknown device; use auto, cpu, cuda or cuda:N")


def use_all_cores(device: torch.device) -> None:
    """On a CPU, one intra-op thread per core (torch's default can be fewer), unless OMP_NUM_THREADS says
    how many (then torch already uses that many: a user's choice, e.g. for several runs side by side)."""
    if device.type == "cpu" and not os.environ.get("OMP_NUM_THREADS", "").strip():
        torch.set_num_threads(max(1, os.cpu_count() or 1))


@functools.cache
def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX-512 BF16 or AMX), where bf16 autocast is about
    twice as fast as fp32 (benchmarks/RESULTS.md); elsewhere bf16 would be emulated, and slower."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:  # not Linux: no way to tell cheaply, so stay in fp32
        return False
    return re.search(r"\b(avx512_bf16|amx_bf16)\b", cpuinfo) is not None


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for --amp (None: full precision). auto: bf16 on CUDA GPUs that have it (else
    fp16) and on CPUs with native bf16 (else fp32)."""
    if mode == "off":
        return None
    if mode == "fp16":
        return torch.float16
    if mode == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """torch.autocast for `dtype`, or a no-op context when it is None."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def memory_format(mode: str, device: torch.device, convolutional: bool = True) -> torch.memory_format:
    """channels_last for convolutional networks when --channels-last `mode` is on. auto: on for CUDA
    and for CPUs (oneDNN's convolutions are faster in it, in fp32 and bf16 alike: benchmarks/RESULTS.md)."""
    on = convolutional and (mode == "on" or (mode == "auto" and device.type in ("cuda", "cpu")))
    return torch.channels_last if on else torch.contiguous_format


def precision_summary(dtype: torch.dtype | None, fmt: torch.memory_format, device: torch.device) -> str:
    """What the run computes in, for the summary and the report: e.g. 'bf16 autocast, channels-last'."""
    why = " (CPU with native bf16)" if device.type == "cpu" and dtype == torch.bfloat16 else ""
    precision = (
        f"{str(dtype).removeprefix('torch.').replace('bfloat16', 'bf16').replace('float16', 'fp16')} autocast{why}"
    )
    return f"{precision if dtype else 'fp32'}, {'channels-last' if fmt == torch.channels_last else 'contiguous'}"


def device_name(device: torch.device) -> str:
    """'cpu', or 'cuda:0 (NVIDIA H100 ...)' for the report."""
    return str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
