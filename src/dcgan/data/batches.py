"""Training batches: the packed store held in memory (on a GPU, in device memory), sliced by index.

There is no DataLoader and no per-step host work: each epoch's order is a permutation that is a
pure function of (seed, epoch), kept on the device, and a batch is one index gather followed by
the one uint8 -> [-1, 1] conversion (`dcgan.pixels.to_float`).
"""

from __future__ import annotations

import functools
import hashlib
import math
import warnings
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import DataError
from ..pixels import to_float

if TYPE_CHECKING:  # pragma: no cover
    from ..labels import Condition
    from .store import PackedStore


class DeviceBatches:
    """`store`'s images on `device`, served as batches of `batch_size` (the last one of an epoch may be smaller)."""

    def __init__(
        self, store: PackedStore, device: torch.device, batch_size: int, seed: int, rank: int = 0, world: int = 1
    ) -> None:
        """rank, world: under torchrun, this process serves rows `share(n, rank, world)` of every batch of n."""
        self.store = store
        self.device = device
        with warnings.catch_warnings():
            # The store is a read-only memory map; training only reads it, so no copy is made on CPU.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
            self.images = torch.from_numpy(np.ascontiguousarray(store.images)).to(device)  # uint8 (N, C, H, W)
        self.num_images = len(store)
        self.channels = int(self.images.shape[1])
        self.batch_size = min(batch_size, self.num_images)
        self.steps_per_epoch = math.ceil(self.num_images / self.batch_size)
        self.seed = seed
        self.rank, self.world = rank, world
        if world > 1 and (self.num_images < world or 0 < self.num_images % self.batch_size < world):
            raise DataError(
                f"{self.num_images} images in batches of {self.batch_size}: the last batch of an epoch would leave "
                f"some of the {world} processes without images; choose another --batch-size or --limit"
            )
        self._order: torch.Tensor | None = None
        self._order_epoch = -1

    @functools.cached_property
    def images_sha256(self) -> str:
        """sha256 of the training images' bytes (a prefix view or a store packed for --limit alike): what a
        checkpoint records, so that a resume can tell the same images from other ones."""
        h = hashlib.sha256()
        images = self.store.images
        for start in range(0, len(images), 4096):
            h.update(np.ascontiguousarray(images[start : start + 4096]).data)
        return h.hexdigest()

    def epoch_order(self, epoch: int) -> torch.Tensor:
        """The permutation of the images for `epoch` (0-based): the same for a seed on every device."""
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + epoch)
        return torch.randperm(self.num_images, generator=g).to(self.device)

    def batch(self, epoch: int, index: int, memory_format: torch.memory_format) -> torch.Tensor:
        """Batch `index` of `epoch` as floats in [-1, 1], (n, C, H, W) in `memory_format`."""
        idx = self.batch_indices(epoch, index)
        if self.world > 1:  # under torchrun: this process's rows of the global batch
            idx = idx[share(len(idx), self.rank, self.world)]
        return to_float(self.images[idx]).contiguous(memory_format=memory_format)

    def step_images(self, index: int) -> int:
        """Images in batch `index` of an epoch, over all processes (the global batch)."""
        return min(self.batch_size, self.num_images - index * self.batch_size)

    def batch_indices(self, epoch: int, index: int) -> torch.Tensor:
        """The rows of the store in batch `index` of `epoch` (on the device)."""
        if self._order_epoch != epoch:
            self._order, self._order_epoch = self.epoch_order(epoch), epoch
        assert self._order is not None
        if not 0 <= index < self.steps_per_epoch:  # an empty batch would train on nothing and give NaN
            raise ValueError(f"batch {index} of an epoch of {self.steps_per_epoch} batches")
        return self._order[index * self.batch_size : (index + 1) * self.batch_size]

    # Labels, for a conditional run (`dcgan.labels.attach_labels`); None otherwise.
    labels: torch.Tensor | None = None  # int64 (N,) class indices or float32 (N, A) in {-1, 1}, on the device
    condition: Condition | None = None

    def use_labels(self, labels: torch.Tensor, condition: Condition) -> None:
        """Serve `labels` (one per image, in store order) with the batches."""
        if len(labels) != self.num_images:
            raise ValueError(f"{len(labels)} labels for {self.num_images} images")
        self.labels, self.condition = labels.to(self.device), condition

    def batch_labels(self, epoch: int, index: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(labels of batch `index` of `epoch`, labels for as many fakes) or None without labels. The fakes'
        labels are those of training images drawn at random with `rng` (the run's z stream, on the CPU):
        the data's own label distribution."""
        if self.labels is None:
            return None
        idx = self.batch_indices(epoch, index)
        # Drawn for the whole global batch (so the stream advances alike for any number of processes and
        # every process gets other fake labels), then, like the real ones, this process's rows.
        drawn = torch.randint(self.num_images, (len(idx),), generator=rng).to(self.device)
        if self.world > 1:  # the rows `batch` gives this process
            mine = share(len(idx), self.rank, self.world)
            idx, drawn = idx[mine], drawn[mine]
        return self.labels[idx], self.labels[drawn]

    def forget_order(self) -> None:
        """Recompute the epoch order at the next batch (after a rollback changed the epoch)."""
        self._order_epoch = -1


def share(n: int, rank: int, world: int) -> slice:
    """The rows of a batch of `n` that process `rank` of `world` takes: [rank*n/world, (rank+1)*n/world)."""
    return slice(rank * n // world, (rank + 1) * n // world)
