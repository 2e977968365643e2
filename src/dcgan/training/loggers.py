"""Mirrors of metrics.jsonl for experiment trackers: `--log tensorboard` writes RUN/tensorboard/.

metrics.jsonl stays the source of truth; a mirror only repeats what it holds:

- every record's numbers as scalars at the record's step (the global step): `train/<key>` for the logged
  losses, D outputs, speed and the mode-collapse signal, `eval/<key>` for the `--eval-every` lines (the
  FID curve), `event/<key>` for rollbacks;
- each snapshot epoch's fixed-noise grid as the image `samples/fixed_noise` at its step.

Resume and rollback: metrics.jsonl drops the lines after the checkpoint step (`MetricsLog.rewind`); the
mirror then closes its writer and opens the next one with `purge_step` = that step + 1, so TensorBoard
discards the events at and after it that the earlier writer had written, and the repeated steps show once.
The writer is opened lazily, at the first write, so a process that never writes a metrics line (a
multi-process run's other ranks) creates no file. wandb and mlflow are not mirrored: they need accounts or
servers, and the run directory plus TensorBoard's local files cover the same ground offline.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..config import LOGGERS  # the values of --log
from ..errors import DcganError

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

TENSORBOARD_DIR = "tensorboard"  # inside the run directory
EVAL_KEYS = ("fid", "kid", "fid_fashion", "precision", "recall")  # a record holding one is an evaluation


class Mirror(Protocol):
    """What MetricsLog and Snapshots call on a mirror."""

    def record(self, record: dict[str, Any]) -> None: ...
    def image(self, tag: str, grid: np.ndarray, step: int) -> None: ...
    def rewind(self, step: int) -> None: ...
    def close(self) -> None: ...


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """A metrics.jsonl record as TensorBoard scalars: every number but the step, under its group's tag."""
    group = "eval" if any(k in record for k in EVAL_KEYS) else "event" if "event" in record else "train"
    return {
        f"{group}/{key}": float(value)
        for key, value in record.items()
        if key != "step" and isinstance(value, (int, float)) and not isinstance(value, bool)
    }


class TensorBoardMirror:
    """metrics.jsonl and the epoch grids as TensorBoard event files in `folder`."""

    def __init__(self, folder: Path) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise DcganError("--log tensorboard needs the tensorboard package: pip install tensorboard") from None
        self.folder = folder
        self._writer_class = SummaryWriter
        self._writer: Any = None
        self._purge_step: int | None = None

    @property
    def writer(self) -> Any:
        if self._writer is None:
            self._writer = self._writer_class(str(self.folder), purge_step=self._purge_step, flush_secs=30)
            self._purge_step = None
        return self._writer

    def record(self, record: dict[str, Any]) -> None:
        step = int(record.get("step", 0))
        for tag, value in scalars(record).items():
            self.writer.add_scalar(tag, value, step)
        if "event" in record:
            self.writer.add_text("event", str(record["event"]), step)
        self.writer.flush()

    def image(self, tag: str, grid: np.ndarray, step: int) -> None:
        """An HWC uint8 grid (as make_grid returns it)."""
        self.writer.add_image(tag, grid, step, dataformats="HWC")
        self.writer.flush()

    def rewind(self, step: int) -> None:
        """Lines after `step` were dropped from metrics.jsonl: the next writer purges them here too."""
        self.close()
        self._purge_step = step + 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def open_mirror(log: str, run_path: Path) -> Mirror | None:
    """The mirror that `--log` names for a run directory (None for 'none'); fails at once, in one line,
    when its package is missing."""
    if log == "tensorboard":
        return TensorBoardMirror(run_path / TENSORBOARD_DIR)
    if log != "none":
        raise DcganError(f"--log: unknown logger {log!r}; choose one of {', '.join(LOGGERS)}")
    return None
