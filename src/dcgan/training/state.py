"""Everything a checkpoint holds, in one object: networks, optimisers, EMA, random streams, counters.

`TrainState(config, channels, device)` builds it for a fresh run; `checkpoint()` is the one way a
checkpoint is written (periodic, final and best alike) and `restore()` the one way it is read back
(resume and divergence rollback), so a resumed run continues bit for bit.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import checkpoint as ckpt
from ..augment import AdaptiveAugment, make_adaptive
from ..config import TrainConfig, split_augment
from ..device import amp_dtype, memory_format
from ..ema import EMA
from ..errors import CheckpointError
from ..labels import Condition
from ..models import build_models
from . import distributed


@dataclass
class Counters:
    """Where training is: saved in every checkpoint's metadata."""

    step: int = 0  # optimisation steps done
    epoch: int = 0  # epochs completed (0-based index of the current one)
    batch_index: int = 0  # batches done in the current epoch (resume continues mid-epoch)
    images_seen: int = 0
    rollbacks: int = 0  # divergence rollbacks so far
    train_seconds: float = 0.0  # time spent in training steps (not snapshots or evaluation)


class TrainState:
    """The whole training state of a run on `device`."""

    def __init__(
        self, config: TrainConfig, channels: int, device: torch.device, condition: Condition | None = None
    ) -> None:
        """condition: the labels of a conditional run (its networks take them); None: unconditional."""
        self.config, self.channels, self.device = config, channels, device
        self.memory_format = memory_format(config.channels_last, device, convolutional=config.arch != "mlp")
        self.dtype = amp_dtype(config.amp, device)  # autocast dtype, None: fp32
        # Weights are initialised from the global generator seeded here (S1 seeds it the same way).
        torch.manual_seed(config.seed)
        self.generator, self.discriminator = build_models(config, channels, condition)
        self.generator.to(device, memory_format=self.memory_format).train()
        self.discriminator.to(device, memory_format=self.memory_format).train()
        self.ema = EMA(self.generator, config.ema_half_life) if config.ema_half_life > 0 else None
        adam: dict[str, Any] = dict(betas=(config.beta1, config.beta2))
        if device.type == "cuda":
            adam["fused"] = True
        lr_g, lr_d = config.effective_lrs()
        if config.lr_scaling != "none":
            print(
                f"note: --lr-scaling {config.lr_scaling} at batch {config.batch_size}: lr_g {lr_g:.3g}, lr_d {lr_d:.3g}",
                file=sys.stderr,
            )
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=lr_g, **adam)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=lr_d, **adam)
        # Random streams, each saved in checkpoints: z on the CPU (the same z on every device) and
        # augmentation on the device; the epoch order is a pure function of (seed, epoch).
        self.z_rng = torch.Generator().manual_seed(config.seed)
        self.aug_rng = torch.Generator(device=device).manual_seed(config.seed + 11)
        self.counters = Counters()
        # --augment ada: the augmentation probability p and what adjusts it (saved in checkpoints); None otherwise.
        policy, adaptive = split_augment(config.augment)
        self.ada: AdaptiveAugment | None = None
        if adaptive:
            self.ada = make_adaptive(policy, config.ada_target, config.ada_speed, config.loss, device)
        # What the training step calls: the networks, or their DistributedDataParallel wrappers under torchrun.
        self.g_train, self.d_train = self.generator, self.discriminator

    @property
    def sampler(self) -> nn.Module:
        """The generator that samples: G_ema when there is one, else G."""
        return self.ema.module if self.ema is not None else self.generator

    def networks(self) -> list[nn.Module]:
        return [self.generator, self.discriminator]

    def halve_learning_rates(self) -> tuple[float, float]:
        for opt in (self.opt_g, self.opt_d):
            for group in opt.param_groups:
                group["lr"] *= 0.5
        return self.opt_g.param_groups[0]["lr"], self.opt_d.param_groups[0]["lr"]

    def checkpoint(self, run_dir: Path, data: dict[str, Any], *, final: bool = False, name: str | None = None) -> Path:
        """Write the whole state into `run_dir`/checkpoints (rotated; `name` writes that file outside the
        rotation, e.g. the best checkpoint). data: what identifies the training data (num_images, data_checksum)."""
        if not distributed.is_main():  # under torchrun, rank 0 writes the checkpoints
            return run_dir
        c = self.counters
        aug_key = "aug_cuda" if self.device.type == "cuda" else "aug"
        rng = {"z": self.z_rng.get_state(), "torch": torch.get_rng_state(), aug_key: self.aug_rng.get_state()}
        extra = {
            "batch_index": c.batch_index,
            "channels": self.channels,
            "train_seconds": c.train_seconds,
            **data,
            "final": final,
            "rollbacks": c.rollbacks,
            **distributed.current().checkpoint_extra(),
        }
        if self.ada is not None:  # p and the signs since its last adjustment (made whole over the processes)
            extra["ada"] = self.ada.state_dict()
        if name is not None:
            extra["best"] = True
        return ckpt.save_checkpoint(
            run_dir,
            config=self.config,
            generator=self.generator,
            discriminator=self.discriminator,
            opt_g=self.opt_g,
            opt_d=self.opt_d,
            ema=self.ema.module if self.ema is not None else None,
            step=c.step,
            epoch=c.epoch,
            images_seen=c.images_seen,
            rng=rng,
            keep=self.config.keep_checkpoints,
            extra=extra,
            name=name,
        )

    def restore(self, ck: ckpt.Checkpoint) -> None:
        """Load the whole training state of a checkpoint (resume and divergence rollback)."""
        ckpt.load_state(self.generator, ck.state("G"), "generator", ck.path)
        ckpt.load_state(self.discriminator, ck.state("D"), "discriminator", ck.path)
        if self.ema is not None:
            self.ema.load_state_dict(ck.state("G_ema") or ck.state("G"))
        rng = ck.state("rng")
        if "z" not in rng or "torch" not in rng:
            raise CheckpointError(f"{ck.path}: damaged checkpoint (no random-stream state); use another checkpoint")
        try:
            self.opt_g.load_state_dict(ck.optimizer_state("optG"))
            self.opt_d.load_state_dict(ck.optimizer_state("optD"))
            self.z_rng.set_state(rng["z"])
            torch.set_rng_state(rng["torch"])
            aug_key = "aug_cuda" if self.device.type == "cuda" else "aug"
            if aug_key in rng:
                self.aug_rng.set_state(rng[aug_key])
            if self.ada is not None:
                ada = ck.meta["extra"].get("ada")
                if not isinstance(ada, dict):
                    raise ValueError("no adaptive augmentation state")
                # Under torchrun rank 0 alone takes the pending sign sum: the ranks' sums are added at adjustments.
                self.ada.load_state_dict(ada, pending=distributed.is_main())
        except (ValueError, KeyError, RuntimeError, TypeError) as e:
            raise CheckpointError(
                f"{ck.path}: damaged optimiser or random-stream state ({e}); use another checkpoint"
            ) from e
        m = ck.meta
        restored = Counters(
            step=m["step"],
            epoch=m["epoch"],
            batch_index=m["extra"].get("batch_index", 0),
            images_seen=m["images_seen"],
            rollbacks=m["extra"].get("rollbacks", 0),
            train_seconds=float(m["extra"].get("train_seconds", 0.0)),
        )
        # In place: the loop holds a reference to the counters.
        for f in dataclasses.fields(Counters):
            setattr(self.counters, f.name, getattr(restored, f.name))
        distributed.current().reseed(self)  # under torchrun: each rank's augmentation stream at this step
