"""Checkpoints: one safetensors file per save, written atomically, never unpickled.

A checkpoint file `checkpoints/ckpt-<step>.safetensors` holds every tensor of the training state
under a prefix (`G.`, `D.`, `optG.`, `optD.`, `rng.`) and, in the safetensors metadata, JSON for
the config, counters and optimiser hyper-parameters. A file is only ever seen complete: it is
written to a temp file in the same folder, flushed, fsynced and renamed.

Reading treats the file as untrusted: the header's JSON must be objects of the expected types, the
config must validate, and every failure is one CheckpointError naming the file (never a KeyError
or an unpickling). `dcgan.generator` then checks the networks the config describes against the
tensors in the file before it allocates them.
"""

from __future__ import annotations

import errno
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .config import TrainConfig
from .errors import CheckpointError, ConfigError
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


def _what_is_safe(path: Path) -> str:
    """What a failed write leaves: the newest complete checkpoint beside `path`, or that there is none yet."""
    try:
        older = sorted(p for p in path.parent.iterdir() if CKPT_RE.match(p.name) or p == path)
    except OSError:
        older = []
    if older:
        newest = max((p for p in older if CKPT_RE.match(p.name)), default=older[-1])
        return f"the previous checkpoint {newest.name} is intact"
    return "no checkpoint was written yet"


def write_checkpoint_file(path: Path, data: bytes) -> None:
    """Write a checkpoint atomically (see fsutil.atomic_write); on any error the old file is intact."""
    try:
        atomic_write(path, data)
    except OSError as e:
        if e.errno == errno.ENOSPC:
            raise CheckpointError(
                f"{path}: the disk is full ({_what_is_safe(path)}); free space and resume with --resume"
            ) from e
        if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise CheckpointError(f"{path.parent}: cannot write here ({e.strerror}); choose another --out") from e
        raise CheckpointError(f"{path}: could not write checkpoint ({e.strerror or e}); {_what_is_safe(path)}") from e


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
    config: TrainConfig  # validated
    tensors: dict[str, torch.Tensor]  # all of the file's, or those under the prefixes read_checkpoint was given
    meta: dict[str, Any]  # the header's "dcgan" object, its fields type-checked (see META_FIELDS)

    @property
    def step(self) -> int:
        return int(self.meta["step"])

    @property
    def channels(self) -> int:
        """The image channels the networks were built for: the trainer records them; else the config's."""
        value = self.meta["extra"].get("channels", self.config.channels)
        if value is None:
            raise CheckpointError(f"{self.path}: damaged checkpoint metadata (no image channel count)")
        if value not in (1, 3) or isinstance(value, bool):
            raise CheckpointError(f"{self.path}: damaged checkpoint metadata (image channels {value!r}, not 1 or 3)")
        return int(value)

    def state(self, prefix: str) -> dict[str, torch.Tensor]:
        p = prefix + "."
        return {k[len(p) :]: v for k, v in self.tensors.items() if k.startswith(p)}

    def optimizer_state(self, prefix: str) -> dict[str, Any]:
        if prefix not in self.meta:
            raise CheckpointError(f"{self.path}: damaged checkpoint metadata (no {prefix} optimiser state)")
        try:
            return _unflatten_optimizer(prefix, self.meta[prefix], self.tensors)
        except (ValueError, TypeError, AttributeError) as e:  # keys that are not "<param id>.<name>"
            raise CheckpointError(f"{self.path}: damaged {prefix} optimiser state ({e})") from e


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


def checkpoint_label(path: str | Path) -> str:
    """The model's name for provenance tags: `<run>/<file>` for a run's checkpoint, else the file name;
    never an absolute path (it would leak the user's folders into every image)."""
    p = Path(path).resolve()
    if p.parent.name == CHECKPOINTS_DIR:
        run = p.parent.parent
        if run.name and run != Path.home().resolve():
            return f"{run.name}/{p.name}"
    return p.name


# The header's "dcgan" object: required fields and their types (ints are counts: whole and >= 0).
META_FIELDS: dict[str, type] = {"format": str, "step": int, "epoch": int, "images_seen": int, "extra": dict}
# `extra` entries the readers use, checked when present (None: the trainer may record no value).
EXTRA_FIELDS: dict[str, tuple[type, ...]] = {
    "channels": (int,),
    "batch_index": (int,),
    "rollbacks": (int,),
    "num_images": (int,),
    "train_seconds": (int, float),
    "final": (bool,),
    "best": (bool,),
    "images_sha256": (str, type(None)),
    "data_checksum": (str, type(None)),
}

KIND_NAMES = {str: "a string", int: "a count", float: "a number", bool: "true or false", dict: "an object"}
KIND_NAMES[type(None)] = "null"


def _type_problem(value: Any, types: tuple[type, ...]) -> str | None:
    """Why `value` is not one of `types` (bool is no number here; an int is a count, so >= 0), or None."""
    if isinstance(value, bool) and bool not in types:
        return f"got {value!r}"
    if not isinstance(value, types):
        return f"got {type(value).__name__} {str(value)[:40]!r}"
    if isinstance(value, int) and not isinstance(value, bool) and value < 0:
        return f"got {value}"
    return None


def _check_meta(p: Path, meta: dict[str, Any]) -> None:
    """Every field a reader uses has its type, so no KeyError or TypeError can come later."""

    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{p}: damaged checkpoint metadata ({what})")

    for name, kind in META_FIELDS.items():
        if name not in meta:
            raise bad(f"no {name}")
        problem = _type_problem(meta[name], (kind,))
        if problem:
            raise bad(f"{name} must be {KIND_NAMES[kind]}, {problem}")
    for name, kinds in EXTRA_FIELDS.items():
        if name in meta["extra"]:
            problem = _type_problem(meta["extra"][name], kinds)
            if problem:
                raise bad(f"extra.{name} must be {' or '.join(KIND_NAMES[k] for k in kinds)}, {problem}")
    for prefix in ("optG", "optD"):  # optional: sampling needs no optimiser
        if prefix not in meta:
            continue
        opt = meta[prefix]
        if (
            not isinstance(opt, dict)
            or not isinstance(opt.get("scalars"), dict)
            or not isinstance(opt.get("param_groups"), list)
            or not all(isinstance(g, dict) for g in opt["param_groups"])
        ):
            raise bad(f"{prefix} must be an object with param_groups (a list of objects) and scalars (an object)")


def _parse_header(p: Path, header: dict[str, str]) -> tuple[dict[str, Any], TrainConfig]:
    """The header's metadata, checked: (meta, validated config), or one CheckpointError naming the file."""
    if "dcgan" not in header or "config" not in header:
        raise CheckpointError(f"{p}: a safetensors file, but not a dcgan checkpoint (no dcgan metadata)")
    try:
        meta = json.loads(header["dcgan"])
        raw_config = json.loads(header["config"])
    except (ValueError, RecursionError) as e:  # RecursionError: absurdly nested JSON
        raise CheckpointError(f"{p}: damaged checkpoint metadata ({str(e)[:120]})") from e
    for name, value in (("dcgan", meta), ("config", raw_config)):
        if not isinstance(value, dict):
            raise CheckpointError(
                f"{p}: damaged checkpoint metadata (the {name} entry is a JSON {type(value).__name__}, not an object)"
            )
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{p}: unsupported checkpoint format {str(meta.get('format'))[:60]!r}")
    _check_meta(p, meta)
    try:
        config = TrainConfig.from_dict(raw_config, where="config").validate()
    except (ConfigError, TypeError, ValueError) as e:
        raise CheckpointError(f"{p}: the config in this checkpoint is invalid ({str(e)[:200]})") from e
    return meta, config


def read_checkpoint(path: str | Path, prefixes: tuple[str, ...] | None = None) -> Checkpoint:
    """Read and check a checkpoint (a run directory: its newest). prefixes: load only the tensors under
    these (e.g. ("G", "G_ema", "D") to sample: no optimiser state in memory); None: all of them."""
    from safetensors import SafetensorError, safe_open

    p = resolve_checkpoint_path(path)
    try:
        # The header is checked before any tensor is read; safetensors itself checks that the
        # tensors' offsets cover the file exactly (a truncated file fails here).
        with safe_open(str(p), framework="pt") as f:
            meta, config = _parse_header(p, f.metadata() or {})
            keys = [k for k in f.keys() if prefixes is None or k.split(".", 1)[0] in prefixes]
            tensors = {k: f.get_tensor(k) for k in keys}
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as e:
        raise CheckpointError(
            f"{p}: not a readable dcgan checkpoint ({str(e).splitlines()[0][:120] if str(e) else type(e).__name__}); "
            "use another file from checkpoints/"
        ) from e
    return Checkpoint(p, config, tensors, meta)


def check_shapes(
    expected: Mapping[str, tuple[int, ...]], state: Mapping[str, torch.Tensor], what: str, path: Path
) -> None:
    """Refuse, in one line, weights whose keys or shapes differ from what the network has."""
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = [k for k in expected if k in state and tuple(expected[k]) != tuple(state[k].shape)]
    if missing or unexpected or wrong:
        detail = (
            f"missing {missing[:2]}"
            if missing
            else f"unexpected {unexpected[:2]}"
            if unexpected
            else f"{wrong[0]} has shape {tuple(state[wrong[0]].shape)}, model needs {tuple(expected[wrong[0]])}"
        )
        raise CheckpointError(
            f"{path}: the {what} in this checkpoint does not fit the model ({detail}); "
            "it was made with a different architecture, size or width"
        )


def load_state(module: nn.Module, state: dict[str, torch.Tensor], what: str, path: Path) -> None:
    """Load weights, turning a shape or key mismatch into one clear line."""
    check_shapes({k: tuple(v.shape) for k, v in module.state_dict().items()}, state, what, path)
    try:
        module.load_state_dict(state)
    except RuntimeError as e:  # shapes fit, values do not (e.g. a dtype that cannot be copied)
        raise CheckpointError(f"{path}: the {what} in this checkpoint cannot be loaded ({str(e)[:120]})") from e
