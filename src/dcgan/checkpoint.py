"""Checkpoints: one safetensors file per save, written atomically, never unpickled.

A checkpoint file `checkpoints/ckpt-<step>.safetensors` holds every tensor of the training state
under a prefix (`G.`, `D.`, `optG.`, `optD.`, `rng.`) and, in the safetensors metadata, JSON for
the config, counters and optimiser hyper-parameters. A file is only ever seen complete: it is
written to a temp file in the same folder, flushed, fsynced and renamed.
"""

from __future__ import annotations

import errno
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import TrainConfig
from .errors import CheckpointError
from .fsutil import atomic_write

FORMAT = "dcgan-checkpoint-v1"
CHECKPOINTS_DIR = "checkpoints"  # inside a run directory
CKPT_RE = re.compile(r"^ckpt-(\d{9})\.safetensors$")


def checkpoint_name(step: int) -> str:
    return f"ckpt-{step:09d}.safetensors"


def list_checkpoints(run_dir: str | Path) -> list[Path]:
    """Complete checkpoint files of a run, oldest first."""
    d = Path(run_dir) / CHECKPOINTS_DIR
    if not d.is_dir():
        return []
    return sorted(p for p in d.iterdir() if CKPT_RE.match(p.name))


# Optimiser state: tensors go to safetensors, the rest (step counts as floats, param groups) to JSON.
def _flatten_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    sd = opt.state_dict()
    scalars: dict[str, Any] = {}
    for pid, st in sd["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"{prefix}.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    return {"param_groups": sd["param_groups"], "scalars": scalars}


def _unflatten_optimizer(prefix: str, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    state: dict[int, dict[str, Any]] = {}
    for key, v in tensors.items():
        if key.startswith(prefix + "."):
            pid, name = key[len(prefix) + 1 :].split(".", 1)
            state.setdefault(int(pid), {})[name] = v
    for key, v in meta["scalars"].items():
        pid, name = key.split(".", 1)
        state.setdefault(int(pid), {})[name] = v
    return {"state": state, "param_groups": meta["param_groups"]}


def write_checkpoint_file(path: Path, data: bytes) -> None:
    """Write a checkpoint atomically (see fsutil.atomic_write); on any error the old file is intact."""
    try:
        atomic_write(path, data)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise CheckpointError(
                f"{path}: the disk is full; free space and resume with --resume (the previous checkpoint is intact)"
            ) from e
        if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise CheckpointError(f"{path.parent}: cannot write here ({e.strerror}); choose another --out") from e
        raise CheckpointError(
            f"{path}: could not write checkpoint ({e.strerror or e}); the previous one is intact"
        ) from e


def save_checkpoint(
    run_dir: str | Path,
    *,
    config: TrainConfig,
    generator: nn.Module,
    discriminator: nn.Module,
    opt_g: torch.optim.Optimizer,
    opt_d: torch.optim.Optimizer,
    step: int,
    epoch: int,
    images_seen: int,
    rng: dict[str, torch.Tensor],
    extra: dict[str, Any] | None = None,
    keep: int = 3,
    ema: nn.Module | None = None,
    name: str | None = None,
) -> Path:
    """Write the whole training state for `step` and drop all but the newest `keep` checkpoints.

    ema: the averaged generator, saved under `G_ema.` (sampling uses it). name: write this file
    instead of `ckpt-<step>` (e.g. best.safetensors), outside the rotation."""
    from safetensors.torch import save

    tensors: dict[str, torch.Tensor] = {}
    modules = [("G", generator), ("D", discriminator)] + ([("G_ema", ema)] if ema is not None else [])
    for prefix, module in modules:
        for k, v in module.state_dict().items():
            tensors[f"{prefix}.{k}"] = v.detach().cpu().contiguous()
    meta = {
        "format": FORMAT,
        "step": step,
        "epoch": epoch,
        "images_seen": images_seen,
        "optG": _flatten_optimizer("optG", opt_g, tensors),
        "optD": _flatten_optimizer("optD", opt_d, tensors),
        "extra": extra or {},
    }
    for k, v in rng.items():
        tensors[f"rng.{k}"] = v.detach().cpu().contiguous()
    for k in list(tensors):
        if not tensors[k].is_floating_point() or tensors[k].numel() == 0:
            continue
        if not torch.isfinite(tensors[k]).all():
            raise CheckpointError(f"refusing to write a checkpoint at step {step}: {k} has non-finite values")
    blob = save(tensors, metadata={"dcgan": json.dumps(meta), "config": config.to_json()})
    ckdir = Path(run_dir) / CHECKPOINTS_DIR
    ckdir.mkdir(parents=True, exist_ok=True)
    path = ckdir / (name or checkpoint_name(step))
    write_checkpoint_file(path, blob)
    if name:
        return path
    for old in list_checkpoints(run_dir)[:-keep]:
        try:
            old.unlink()
        except OSError:
            pass
    return path


@dataclass
class Checkpoint:
    path: Path
    config: TrainConfig
    tensors: dict[str, torch.Tensor]
    meta: dict[str, Any]

    @property
    def step(self) -> int:
        return int(self.meta["step"])

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        p = prefix + "."
        return {k[len(p) :]: v for k, v in self.tensors.items() if k.startswith(p)}

    def optimizer_state(self, prefix: str) -> dict[str, Any]:
        return _unflatten_optimizer(prefix, self.meta[prefix], self.tensors)


def resolve_checkpoint_path(path: str | Path) -> Path:
    """A run directory (its newest checkpoint) or a checkpoint file."""
    p = Path(path)
    if not p.exists():
        raise CheckpointError(f"{p}: no such run directory or checkpoint file")
    if p.is_dir():
        cks = list_checkpoints(p)
        if not cks:
            raise CheckpointError(f"{p}: no checkpoints in {p / CHECKPOINTS_DIR}; train first (dcgan train --out {p})")
        return cks[-1]
    if p.suffix in (".pt", ".pth", ".pkl", ".ckpt", ".bin"):
        raise CheckpointError(
            f"{p}: pickle-based checkpoints are refused (they can execute code); use a dcgan .safetensors checkpoint"
        )
    return p


def read_checkpoint(path: str | Path) -> Checkpoint:
    from safetensors import SafetensorError
    from safetensors.torch import load

    p = resolve_checkpoint_path(path)
    try:
        data = p.read_bytes()
        tensors = load(data)
        from safetensors import safe_open  # metadata lives in the header

        with safe_open(str(p), framework="pt") as f:
            header = f.metadata() or {}
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(
            f"{p}: not a readable dcgan checkpoint ({str(e).splitlines()[0][:120]}); use another file from checkpoints/"
        ) from e
    if "dcgan" not in header or "config" not in header:
        raise CheckpointError(f"{p}: a safetensors file, but not a dcgan checkpoint (no dcgan metadata)")
    try:
        meta = json.loads(header["dcgan"])
        config = TrainConfig.from_dict(json.loads(header["config"]))
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{p}: damaged checkpoint metadata ({e})") from e
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{p}: unsupported checkpoint format {meta.get('format')!r}")
    return Checkpoint(p, config, tensors, meta)


def load_state(module: nn.Module, state: dict[str, torch.Tensor], what: str, path: Path) -> None:
    """Load weights, turning a shape or key mismatch into one clear line."""
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = [k for k in own if k in state and tuple(own[k].shape) != tuple(state[k].shape)]
    if missing or unexpected or wrong:
        detail = (
            f"missing {missing[:2]}"
            if missing
            else f"unexpected {unexpected[:2]}"
            if unexpected
            else f"{wrong[0]} has shape {tuple(state[wrong[0]].shape)}, model needs {tuple(own[wrong[0]].shape)}"
        )
        raise CheckpointError(
            f"{path}: the {what} in this checkpoint does not fit the model ({detail}); "
            "it was made with a different architecture, size or width"
        )
    module.load_state_dict(state)
