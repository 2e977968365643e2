"""The statistics of S1's log line, summed on the device and read by the host once per interval."""

from __future__ import annotations

import math
import time

import torch

#: What each training step reports, in this order (means over the logging interval).
STATS = ("loss_d", "loss_g", "d_real_mean", "d_fake_mean_before", "d_fake_mean_after")


class IntervalMeter:
    """Sums of STATS over the steps since the last read, kept on the device, plus the wall clock."""

    def __init__(self, device: torch.device) -> None:
        self.sums = torch.zeros(len(STATS), device=device)
        self.steps = 0
        self.images = 0
        self.started = time.perf_counter()

    def add(self, stats: torch.Tensor, images: int) -> None:
        """Fold one step's STATS (a (5,) tensor on the device) in; no host sync."""
        with torch.no_grad():
            self.sums += stats
        self.steps += 1
        self.images += images

    def read(self, extra: dict[str, torch.Tensor] | None = None) -> tuple[dict[str, float], int, float]:
        """(mean of each STAT, images, seconds) since the last read: one host sync; starts a new interval.
        extra: 0-d device tensors read in the same sync, added to the means by name as they are now
        (--augment ada's p)."""
        values = self.sums / self.steps
        if extra:
            values = torch.cat([values, torch.stack([v.detach().float().reshape(()) for v in extra.values()])])
        means = dict(zip((*STATS, *(extra or {})), values.tolist(), strict=True))
        seconds = time.perf_counter() - self.started
        images = self.images
        self.sums.zero_()
        self.steps, self.images = 0, 0
        return means, images, seconds

    def running(self) -> float:
        """Seconds since the interval's clock started (training time not yet read)."""
        return time.perf_counter() - self.started

    def restart_clock(self) -> None:
        """Start timing now (after work that is not training: snapshots, evaluation, a rollback)."""
        self.started = time.perf_counter()


def all_finite(values: dict[str, float]) -> bool:
    return all(math.isfinite(v) for v in values.values())


@torch.no_grad()
def weights_finite(modules: list[torch.nn.Module]) -> torch.Tensor:
    """A 0-d bool tensor on the device: every parameter of `modules` is finite (read it with the stats)."""
    params = [p for m in modules for p in m.parameters()]
    return torch.stack([p.detach().float().abs().sum() for p in params]).sum().isfinite()
