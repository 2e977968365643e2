"""A run directory: every file name in it, config.json, metrics.jsonl, and the refuse-or-resume rule.

config.json                      the resolved config (reproduces the run)
metrics.jsonl                    one JSON line per logged step, evaluation and event
samples/epoch_NNNN.png           the fixed-noise grid after each snapshot epoch
plots/losses.png, d_outputs.png, fid.png
real_vs_fake.png                 real images beside generated ones
checkpoints/ckpt-<step>.safetensors, checkpoints/best.safetensors (names: dcgan.checkpoint)
report.html                      one self-contained page
tensorboard/                     with --log tensorboard: metrics.jsonl and the grids mirrored (training.loggers)
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import checkpoint as ckpt
from ..config import TrainConfig
from ..errors import CheckpointError, DataError, DcganError
from ..fsutil import atomic_write
from .distributed import is_main

if TYPE_CHECKING:  # pragma: no cover
    from .loggers import Mirror

BEST_CHECKPOINT = "best.safetensors"
#: What a run directory may hold; a folder with anything else is not a run (and is never written into).
RUN_ENTRIES = frozenset(
    {
        "config.json",
        "metrics.jsonl",
        "samples",
        "plots",
        "real_vs_fake.png",
        "report.html",
        "progress.gif",
        "tensorboard",
        ckpt.CHECKPOINTS_DIR,
        ".lock",
        ".write-test",
    }
)


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
        self.progress = self.path / "progress.gif"
        self.tensorboard = self.path / "tensorboard"
        self.lock_file = self.path / ".lock"

    def __str__(self) -> str:
        return str(self.path)

    def sample_grid(self, epoch: int) -> Path:
        """The fixed-noise grid written after `epoch` (1-based)."""
        return self.samples / f"epoch_{epoch:04d}.png"

    def checkpoints(self) -> list[Path]:
        """Complete checkpoint files, oldest first."""
        return ckpt.list_checkpoints(self.path)

    def entries(self) -> list[str]:
        """What the folder holds, less the temp files of interrupted writes (`.NAME.tmp-PID`) and the lock and
        write-test files a start leaves (a start refused on bad data leaves only those: the folder stays empty)."""
        if not self.path.is_dir():
            return []
        return sorted(
            e.name
            for e in self.path.iterdir()
            if not (e.name.startswith(".") and ".tmp-" in e.name) and e.name not in (".lock", ".write-test")
        )

    def read_config(self) -> TrainConfig | None:
        """The run's config.json as a TrainConfig; None when there is none or it is not one of ours."""
        try:
            return TrainConfig.from_dict(
                json.loads(self.config_json.read_text(encoding="utf-8")), str(self.config_json)
            )
        except (OSError, ValueError, TypeError, DcganError):
            return None

    def saved_config(self) -> TrainConfig | None:
        """The recipe a resume continues: the newest readable checkpoint's config, else config.json."""
        for path in reversed(self.checkpoints()):
            try:
                return ckpt.read_checkpoint(path, prefixes=()).config  # the header only: no tensors
            except CheckpointError:
                continue
        return self.read_config()

    def is_run(self) -> bool:
        """Whether the folder holds a dcgan run (or what is left of one): only our files, and our config.json."""
        names = self.entries()
        return (
            bool(names)
            and set(names) <= RUN_ENTRIES
            and (self.read_config() is not None or bool(self.checkpoints()) or self.metrics_jsonl.exists())
        )

    def check_folder(self) -> None:
        """--out must be a new or empty folder, or a dcgan run: never a file, never someone else's files."""
        if self.path.exists() and not self.path.is_dir():
            raise DcganError(f"--out {self.path}: this is a file; give a folder for the run (a new one)")
        names = self.entries()
        if names and not self.is_run():
            shown = ", ".join(repr(n) for n in names[:3]) + (", ..." if len(names) > 3 else "")
            raise DcganError(
                f"--out {self.path}: this folder holds other files ({shown}); a run is written only into a new or "
                "empty folder (or continued in its own): choose another --out"
            )

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One writer per run directory: an exclusive lock on `.lock` for as long as training runs (the
        kernel releases it when the process ends, however it ends)."""
        import fcntl

        try:
            self.path.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise DcganError(
                f"--out {self.path}: cannot write there ({e.strerror or e}); choose a writable folder"
            ) from e
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "another process"
                raise DcganError(
                    f"--out {self.path}: another training ({holder}) is writing this run directory; wait for it to "
                    "finish or choose another --out"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
            yield
        finally:
            os.close(fd)  # releases the lock

    def check_unlocked(self) -> None:
        """Refuse early, before reading anything, when another training holds the run (`locked` is the real guard)."""
        if self.lock_file.exists():
            with self.locked():
                pass

    def remove_stale_temp_files(self) -> list[Path]:
        """Temp files of writes that a kill interrupted (each can be as large as a checkpoint). Call it with
        the lock held: then no other writer can own them."""
        stale = [
            p
            for d in (self.path, self.path / ckpt.CHECKPOINTS_DIR, self.samples, self.plots)
            if d.is_dir()
            for p in d.iterdir()
            if p.name.startswith(".") and ".tmp-" in p.name
        ]
        for p in stale:
            p.unlink(missing_ok=True)
        return stale

    def prepare(self, resume: bool) -> ckpt.Checkpoint | None:
        """Refuse to overwrite a run; with `resume`, the newest checkpoint that reads, or None when the run
        has none yet (it then starts from step 0: what a job scheduler's requeue with --resume needs)."""
        existing = self.checkpoints()
        if resume:
            for path in reversed(existing):  # newest complete file that reads
                try:
                    return ckpt.read_checkpoint(path)
                except CheckpointError as e:
                    print(f"warning: skipping unreadable checkpoint {path.name}: {e}", file=sys.stderr)
            if existing:
                raise CheckpointError(f"--resume: no readable checkpoint in {self.path / ckpt.CHECKPOINTS_DIR}")
            if self.is_run():
                print(
                    f"note: --resume: {self.path} has no checkpoint yet; starting the run from step 0", file=sys.stderr
                )
            return None
        if self.is_run():
            raise DcganError(
                f"--out {self.path}: this run directory already holds a run; pass --resume to continue it "
                "(or to start it again when it has no checkpoint yet) or choose a new --out"
            )
        return None

    def clear_outputs(self) -> None:
        """Before a run starts from step 0: drop what an earlier attempt without a checkpoint left behind."""
        if not is_main():  # under torchrun, rank 0 writes the run
            return
        self.metrics_jsonl.unlink(missing_ok=True)
        shutil.rmtree(self.tensorboard, ignore_errors=True)  # the --log tensorboard mirror of those lines
        for folder in (self.samples, self.plots):
            for p in folder.glob("*.png") if folder.is_dir() else []:
                p.unlink()

    def check_outside(self, data: str) -> None:
        """--out inside a --data folder would make the run's own grids and plots training images."""
        source = Path(data).expanduser()
        if source.is_dir() and self.path.resolve().is_relative_to(source.resolve()):
            raise DataError(
                f"--out {self.path} is inside --data {data}: the run's own images would become training data; "
                "choose an --out outside it"
            )

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
        if not is_main():  # under torchrun, rank 0 writes the run
            return
        atomic_write(self.config_json, config.to_json() + "\n")


class MetricsLog:
    """metrics.jsonl and its records in memory: appended line by line, rewound on resume and rollback.
    mirror: a `training.loggers` mirror (--log tensorboard) that repeats every line and rewind."""

    def __init__(self, path: Path, mirror: Mirror | None = None) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = []
        self.mirror = mirror

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def append(self, record: dict[str, Any]) -> None:
        self.records.append(record)
        if not is_main():  # under torchrun, rank 0 writes metrics.jsonl (and its mirror)
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        if self.mirror is not None:
            self.mirror.record(record)

    def rewind(self, step: int) -> None:
        """Keep only the lines up to `step` (those a checkpoint at `step` has seen), in memory and on disk."""
        if not is_main():  # under torchrun, rank 0 writes metrics.jsonl; the other ranks keep it in memory
            self.records = [r for r in self.records if r.get("step", 0) <= step]
            return
        self.records = [r for r in self.read(self.path) if r.get("step", 0) <= step]
        atomic_write(self.path, "".join(json.dumps(r) + "\n" for r in self.records))
        if self.mirror is not None:
            self.mirror.rewind(step)

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
