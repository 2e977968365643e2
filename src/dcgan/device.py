"""Where and how the networks run: the device, mixed precision and the memory format.

CPU and GPU run the same code; these switches are the only difference between them.
"""

from __future__ import annotations

import contextlib
import os

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
    """On a CPU, one intra-op thread per core (torch's default can be fewer)."""
    if device.type == "cpu":
        torch.set_num_threads(max(1, os.cpu_count() or 1))


def amp_dtype(mode: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for --amp (None: full precision). auto: bf16 on CUDA GPUs that have it."""
    if mode == "off" or (mode == "auto" and device.type != "cuda"):
        return None
    if mode == "fp16":
        return torch.float16
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16


def autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """torch.autocast for `dtype`, or a no-op context when it is None."""
    return torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None)


def memory_format(mode: str, device: torch.device, convolutional: bool = True) -> torch.memory_format:
    """channels_last for convolutional networks when --channels-last `mode` is on (auto: on CUDA)."""
    on = convolutional and (mode == "on" or (mode == "auto" and device.type == "cuda"))
    return torch.channels_last if on else torch.contiguous_format


def device_name(device: torch.device) -> str:
    """'cpu', or 'cuda:0 (NVIDIA H100 ...)' for the report."""
    return str(device) + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "")
