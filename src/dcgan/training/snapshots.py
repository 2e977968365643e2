"""What a run shows while and after it trains: fixed-noise grids, the mode-collapse signal, plots,
real beside fake, and the summary in report.html. Nothing here changes the training state."""

from __future__ import annotations

import contextlib
import errno
import math
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import torch
from PIL import Image

from ..device import device_name, precision_summary
from ..errors import DcganError
from ..io import atomic_save_png, make_grid, save_grid, side_by_side
from ..latent.animation import progress_frames, save_animation
from ..pixels import to_float
from ..sample import sample_latents
from .distributed import is_main
from .plots import plot_training
from .report import write_report

if TYPE_CHECKING:  # pragma: no cover
    from ..config import TrainConfig
    from ..data.batches import DeviceBatches
    from ..labels import Condition
    from .rundir import MetricsLog, RunDir
    from .state import TrainState

COLLAPSE_WARNING = 0.2  # fixed-noise samples less varied than this fraction of real images: warn


class Snapshots:
    """The fixed noise batch and everything drawn from it, for one run."""

    def __init__(self, run: RunDir, state: TrainState, data: DeviceBatches) -> None:
        config = state.config
        self.run, self.state, self.data = run, state, data
        self.nrow = int(math.sqrt(config.sample_grid))
        self.fixed_z = sample_latents(
            config, config.sample_grid, torch.Generator().manual_seed(config.seed + 7), state.device
        )
        self.fixed_y: torch.Tensor | None = None  # a conditional run: one grid row per label (labels.grid_labels)
        if data.condition is not None:
            self.fixed_z, self.fixed_y, self.nrow = conditional_grid(config, data.condition, state.device)

    @torch.no_grad()
    def fixed_samples(self) -> torch.Tensor:
        """The sampling generator (eval mode) on the fixed noise: floats in [-1, 1], (sample_grid, C, H, W)."""
        g = self.state.sampler
        was = g.training
        g.eval()
        fake = (g(self.fixed_z) if self.fixed_y is None else g(self.fixed_z, self.fixed_y)).float()
        g.train(was)
        return fake

    def epoch_end(self, log: MetricsLog) -> None:
        """A checkpoint, the fixed-noise grid, the diversity signal and plots (S1's per-epoch outputs)."""
        if not is_main():  # under torchrun, rank 0 writes them
            return
        c = self.state.counters
        self.state.checkpoint(self.run.path, self.data_identity())  # first: what matters most when the disk fills
        fake = self.fixed_samples()
        meta = {"Software": "dcgan", "dcgan:synthetic": "true", "dcgan:step": str(c.step)}
        with self.writing("the sample grid"):
            save_grid(fake, self.run.sample_grid(c.epoch), nrow=self.nrow, metadata=meta)
            if log.mirror is not None:  # --log tensorboard
                log.mirror.image("samples/fixed_noise", make_grid(fake, nrow=self.nrow), c.step)
        real = to_float(self.data.images[: min(len(fake), self.data.num_images)])
        diversity = sample_diversity(fake, real)
        log.append({"step": c.step, "epoch": c.epoch, "sample_diversity": diversity})
        if diversity < COLLAPSE_WARNING:
            print(
                f"warning: epoch {c.epoch}: fixed-noise samples are {diversity:.2f}x as varied as real "
                "images: possible mode collapse (see samples/)",
                file=sys.stderr,
            )
        self.plot(log)

    @contextlib.contextmanager
    def writing(self, what: str) -> Iterator[None]:
        """A failed write of a grid, plot or the report (a full disk) ends the run in one line that says
        what is safe: the newest checkpoint. The atomic write has left no temp file behind."""
        try:
            yield
        except OSError as e:
            cks = self.run.checkpoints()
            safe = f"the checkpoint {cks[-1].name} is intact; " if cks else ""
            why = "the disk is full" if e.errno == errno.ENOSPC else f"cannot write ({e.strerror or e})"
            raise DcganError(
                f"{self.run.path}: {why} while writing {what}; {safe}free space and resume with: "
                f"dcgan train --out {self.run.path} --resume"
            ) from e

    def plot(self, log: MetricsLog) -> None:
        if not is_main():  # under torchrun, rank 0 writes them
            return
        with self.writing("the plots"):
            plot_training(log.records, self.run.plots)

    def data_identity(self) -> dict[str, Any]:
        """What a checkpoint records about the training data."""
        return {
            "num_images": self.data.num_images,
            "data_checksum": self.data.store.manifest.get("checksum"),
            "images_sha256": self.data.images_sha256,
            **({"labels": self.data.condition.to_meta()} if self.data.condition is not None else {}),
        }

    def finish(self, log: MetricsLog, best_key: str) -> None:
        """Plots, real beside fake, and report.html with the run's summary."""
        if not is_main():  # under torchrun, rank 0 writes them
            return
        self.plot(log)
        store, config = self.data.store, self.state.config
        real_grid = make_grid(store.images[: min(config.sample_grid, self.data.num_images)], nrow=self.nrow)
        both = side_by_side(real_grid, make_grid(self.fixed_samples(), nrow=self.nrow))
        image = Image.fromarray(both[:, :, 0] if both.shape[2] == 1 else both)
        with self.writing("real_vs_fake.png, the progress animation and the report"):
            atomic_save_png(image, self.run.real_vs_fake, {"Software": "dcgan", "dcgan:synthetic": "right half"})
            if len(list(self.run.samples.glob("epoch_*.png"))) >= 2:  # S1's progression, as `dcgan animate` makes it
                save_animation(
                    progress_frames(self.run.path, scale=2 if config.size <= 32 else 1), self.run.progress, 4
                )
            write_report(self.run, config.to_dict(), self.summary(log, best_key))
        if log.mirror is not None:
            log.mirror.close()

    def summary(self, log: MetricsLog, best_key: str) -> dict[str, Any]:
        c, config, store = self.state.counters, self.state.config, self.data.store
        summary: dict[str, Any] = {
            "data": f"{config.data} ({store.manifest.get('kind')}, {self.data.num_images} images, split {config.split})",
            "device": device_name(self.state.device),
            "precision": precision_summary(self.state.dtype, self.state.memory_format, self.state.device),
            "steps": c.step,
            "epochs completed": f"{c.epoch} of {config.epochs}",
            "images seen": c.images_seen,
            "training time": f"{c.train_seconds:.1f} s",
            "images/s": f"{c.images_seen / c.train_seconds:.0f}" if c.train_seconds > 0 else "-",
        }
        last = next((r for r in reversed(log.records) if "loss_d" in r), None)
        if last:
            summary.update(
                {
                    "last Loss_D": f"{last['loss_d']:.4f}",
                    "last Loss_G": f"{last['loss_g']:.4f}",
                    "last D(x)": f"{last['d_real_mean']:.4f}",
                    "last D(G(z))": f"{last['d_fake_mean_after']:.4f}",
                }
            )
        best = log.best(best_key)
        if best:
            summary[f"best {best_key}"] = f"{best[best_key]:.4g} at step {best['step']} (checkpoints/best.safetensors)"
        return summary


def conditional_grid(
    config: TrainConfig, condition: Condition, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(z, y, images per row) of a conditional run's fixed-noise grid: one row per class or attribute
    setting (`Condition.grid_labels`), one fixed latent per column, the same in every row."""
    rows, _ = condition.grid_labels()
    columns = max(1, int(math.sqrt(config.sample_grid)))
    z = sample_latents(config, columns, torch.Generator().manual_seed(config.seed + 7), device)
    y = rows.repeat_interleave(columns, dim=0)
    return z.repeat(len(rows), 1), condition.as_tensor(y).to(device), columns


@torch.no_grad()
def sample_diversity(fake: torch.Tensor, real: torch.Tensor) -> float:
    """Mean pairwise distance between generated images over the same for real ones (1 ~ as varied)."""

    def spread(x: torch.Tensor) -> float:
        flat = x.float().flatten(1)
        if len(flat) < 2:
            return 0.0
        return float(torch.pdist(flat).mean())

    r = spread(real)
    return spread(fake) / r if r > 0 else 0.0
