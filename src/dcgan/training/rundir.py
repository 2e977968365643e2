"""A run directory: every file name in it, config.json, metrics.jsonl, and the refuse-or-resume rule.

config.json                      the resolved config (reproduces the run)
metrics.jsonl                    one JSON line per logged step, evaluation and event
samples/epoch_NNNN.png           the fixed-noise grid after each snapshot epoch
plots/losses.png, d_outputs.png, fid.png
real_vs_fake.png                 real images beside generated ones
checkpoints/ckpt-<step>.safetensors, checkpoints/best.safetensors (names: dcgan.checkpoint)
report.html                      one self-contained page
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .. import checkpoint as ckpt
from ..config import TrainConfig
from ..errors import CheckpointError, DcganError
from ..fsutil import atomic_write

BEST_CHECKPOINT = "best.safetensors"


class RunDir:
    """The paths of one run directory and the rules for starting or resuming in it."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config_json = self.path / "config.json"
        self.metrics_jsonl = self.path / "metrics.jsonl"
        self.samples = self.path / "samples"
        self.plots = self.path / "plots"
        self.real_vs_fake = self.path / "real_vs_fake.png"
        self.report = self.path / "report.html"

    def __str__(self) -> str:
        return str(self.path)

    def sample_grid(self, epoch: int) -> Path:
        """The fixed-noise grid written after `epoch` (1-based)."""
        return self.samples / f"epoch_{epoch:04d}.png"

    def checkpoints(self) -> list[Path]:
        """Complete checkpoint files, oldest first."""
        return ckpt.list_checkpoints(self.path)

    def prepare(self, resume: bool) -> ckpt.Checkpoint | None:
        """Refuse to overwrite an existing run; with `resume`, the newest checkpoint that reads."""
        existing = self.checkpoints()
        if resume:
            if not existing:
                raise CheckpointError(
                    f"--resume: {self.path} has no checkpoints to resume from; drop --resume to start a new run"
                )
            for path in reversed(existing):
                try:
                    return ckpt.read_checkpoint(path)
                except CheckpointError as e:
                    print(f"warning: skipping unreadable checkpoint {path.name}: {e}", file=sys.stderr)
            raise CheckpointError(f"--resume: no readable checkpoint in {self.path / ckpt.CHECKPOINTS_DIR}")
        if existing or self.metrics_jsonl.exists():
            raise DcganError(
                f"--out {self.path}: this run directory already holds a run; pass --resume to continue it "
                "or choose a new --out"
            )
        return None

    def check_writable(self) -> None:
        """Fail before training, not after an hour, when the run directory cannot be written."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write-test"
            with open(probe, "wb") as f:
                f.write(b"\0" * 4096)
                f.flush()
                os.fsync(f.fileno())
            probe.unlink()
        except OSError as e:
            raise DcganError(
                f"--out {self.path}: cannot write there ({e.strerror or e}); choose a writable folder"
            ) from e

    def write_config(self, config: TrainConfig) -> None:
        atomic_write(self.config_json, config.to_json() + "\n")


class MetricsLog:
    """metrics.jsonl and its records in memory: appended line by line, rewound on resume and rollback."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = []

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def rewind(self, step: int) -> None:
        """Keep only the lines up to `step` (those a checkpoint at `step` has seen), in memory and on disk."""
        self.records = [r for r in self.read(self.path) if r.get("step", 0) <= step]
        atomic_write(self.path, "".join(json.dumps(r) + "\n" for r in self.records))

    def best(self, key: str) -> dict[str, Any] | None:
        """The record with the lowest `key` (an evaluation metric), or None before any evaluation."""
        evals = [r for r in self.records if key in r]
        return min(evals, key=lambda r: r[key]) if evals else None

    @staticmethod
    def read(path: Path) -> list[dict[str, Any]]:
        """Every complete line of a metrics.jsonl (a torn last line from a kill is skipped)."""
        if not path.exists():
            return []
        out = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out
