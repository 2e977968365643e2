"""Multi-process training under torchrun: the process group, who writes, and what the processes agree on.

`torchrun --nproc_per_node N -m dcgan train ...` (or `dcgan train --nproc N`, which runs torchrun's launcher in
this process: `training.launch`) starts N copies of the command; each trains on its share of every batch and
DistributedDataParallel averages the gradients. The trainer calls the hooks below; without a torchrun
environment (no WORLD_SIZE, or WORLD_SIZE=1) nothing is initialised and every hook leaves one-process
training exactly as it is. The rules (README, "Multi-process training"):

- device and backend: on CUDA, NCCL, and process LOCAL_RANK uses cuda:LOCAL_RANK; on the CPU, gloo. Small
  decisions (rank 0's checks of the run folder, errors, the end of an evaluation) travel as Python objects
  over a gloo group, on the CPU either way.
- batches: --batch-size is the global batch. Rank r takes rows [r*n/W, (r+1)*n/W) of each batch of n images of
  the epoch permutation (`data.batches.share`) and the same rows of the step's latents: every process draws
  the whole step's z from the one z stream, so data order and latents are those of one process at the same
  global batch, whatever W (a conditional run's labels are shared out in `DeviceBatches.batch_labels`).
- augmentation (and the gradient penalty's mixing weights): one stream per rank, re-derived from
  (seed, rank, step) at every logging boundary and at every restore, so that a resumed run continues exactly
  and a resume with another W starts each rank's stream cleanly; one process keeps its one saved stream.
- writing: rank 0 alone writes metrics, grids, plots, the report and checkpoints, holding the run's lock;
  the other ranks' print() is silenced.
- decisions that end or change training are collective: the logged means, the finite flag (divergence
  rollback) and the stop request (Ctrl+C, SIGTERM, should_stop) are all-reduced once per logging interval.
- failures: a process that dies ends the job through torchrun's agent (it stops the others); a process that
  hangs ends it after the process group's timeout ($DCGAN_DIST_TIMEOUT seconds, default 1800: rank 0's
  evaluation with --eval-every may take minutes while the others wait for it).
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import datetime
import gc
import inspect
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import torch
import torch.distributed as tdist
from torch import nn

from ..checkpoint import read_checkpoint
from ..config import TrainConfig
from ..data.batches import share
from ..device import resolve_device, use_all_cores
from ..errors import ConfigError, DcganError

if TYPE_CHECKING:  # pragma: no cover
    from ..checkpoint import Checkpoint
    from .meter import IntervalMeter
    from .rundir import RunDir
    from .state import TrainState
    from .stop import StopRequest

T = TypeVar("T")
TIMEOUT_ENV = "DCGAN_DIST_TIMEOUT"  # seconds a collective may wait for the slowest process
DEFAULT_TIMEOUT_S = 1800.0


class RankError(DcganError):
    """An error all ranks raise together. `echo`: this rank only repeats it (rank 0 prints it)."""

    def __init__(self, message: str, exit_code: int, echo: bool) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.echo = echo


def echo(error: DcganError) -> DcganError:
    """Mark an error that every rank raises together after a collective decision: rank 0 prints it, the
    other ranks exit with its status quietly (`quiet_echoes`)."""
    error.echo = not is_main()  # type: ignore[attr-defined]
    return error


@dataclasses.dataclass
class Dist:
    """This process's place in the job; the default is one process alone."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1
    device: torch.device | None = None
    group: Any = None  # the gloo group for Python objects (None: the default group, when it is gloo)
    owns_group: bool = False  # init_process_group was ours (a caller may have initialised it)

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def resolve_device(self, name: str) -> torch.device:
        """The device this process trains on: --device alone, or this rank's GPU under torchrun."""
        return self.device if self.enabled and self.device is not None else resolve_device(name)

    def use_cores(self, device: torch.device) -> None:
        """Threads: every core for one process; the machine's cores shared out among its processes."""
        if not self.enabled:
            use_all_cores(device)
        elif device.type == "cpu":
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // self.local_world))

    # --- agreeing: every rank learns every rank's outcome --------------------------------------------------------

    def _settle(self, error: DcganError | None) -> None:
        """Exchange outcomes (a collective): if any rank failed, every rank raises; rank 0 says the first
        failure (with its rank), the other ranks raise it as an echo."""
        outcomes: list[Any] = [None] * self.world
        tdist.all_gather_object(outcomes, None if error is None else (str(error), error.exit_code), group=self.group)
        failed = [(r, o) for r, o in enumerate(outcomes) if o is not None]
        if not failed:
            return
        if self.is_main and error is not None:
            raise error
        r, (message, code) = failed[0]
        raise RankError(message if r == 0 else f"rank {r}: {message}", code, echo=not self.is_main)

    def agree(self, fn: Callable[[], T]) -> T:
        """fn() on every rank; a DcganError on any of them is raised on all (printed once, by rank 0)."""
        if not self.enabled:
            return fn()
        try:
            result = fn()
        except DcganError as e:
            self._settle(e)
            raise
        self._settle(None)
        return result

    def from_main(self, fn: Callable[[], T]) -> T:
        """fn() on rank 0 while the others wait for it (a barrier); every rank gets its result (a picklable
        value) or raises its error."""
        if not self.enabled:
            return fn()
        box = [self.agree(lambda: fn() if self.is_main else None)]
        tdist.broadcast_object_list(box, src=0, group=self.group)
        return box[0]

    @contextlib.contextmanager
    def main_holds(self, run: RunDir) -> Iterator[None]:
        """Rank 0 checks --out and holds the run's lock for the whole training; the others wait for it."""
        with contextlib.ExitStack() as stack:

            def check() -> None:
                run.check_folder()
                stack.enter_context(run.locked())

            self.from_main(check)
            yield

    def open_run(
        self, check: Callable[[], tuple[TrainConfig, Checkpoint | None]]
    ) -> tuple[TrainConfig, Checkpoint | None]:
        """Rank 0's checks of the run folder (`check`: new, resumed or refused, and the settled config); the
        others wait for them, take rank 0's config and read the same checkpoint."""
        if not self.enabled:
            config, ck = check()
            return self.note_world_size(config, ck), ck
        kept: list[Checkpoint | None] = []

        def on_main() -> tuple[dict[str, Any], str | None]:
            config, ck = check()
            config = self.note_world_size(config, ck)
            self.check_config(config)
            kept.append(ck)
            return config.to_dict(), None if ck is None else str(ck.path)

        values, path = self.from_main(on_main)
        ck = self.agree(lambda: kept[0] if self.is_main else (read_checkpoint(path) if path else None))
        return TrainConfig.from_dict(values), ck

    @contextlib.contextmanager
    def local_main_first(self) -> Iterator[None]:
        """The body runs on each machine's first process (LOCAL_RANK 0: it packs the data store into the
        machine's cache), then on the others (they read that store). An error in either round is everyone's."""
        if not self.enabled:
            yield
            return
        first = self.local_rank == 0
        if not first:
            self._settle(None)  # round 1: wait for the first processes
        try:
            yield
        except DcganError as e:
            self._settle(e)  # the round this process is in; raises
            raise
        if first:
            self._settle(None)  # round 1 done
        self._settle(None)  # round 2: the others done

    def check_config(self, config: TrainConfig) -> None:
        """What a multi-process run needs of its config (checked by rank 0 with the run folder)."""
        if config.batch_size % self.world:
            up = -(-config.batch_size // self.world) * self.world
            raise ConfigError(
                f"--batch-size {config.batch_size}: the global batch is shared by {self.world} processes and must "
                f"divide evenly among them; use a multiple of {self.world} (e.g. {up})"
            )
        if config.sync_bn and (self.device is None or self.device.type != "cuda"):
            raise ConfigError(
                "--sync-bn: PyTorch's SyncBatchNorm runs on CUDA GPUs only; on CPUs each process keeps its own "
                "BatchNorm statistics: drop --sync-bn"
            )

    def note_world_size(self, config: TrainConfig, ck: Checkpoint | None) -> TrainConfig:
        """A resume with another number of processes is fine (the global batch stays): say so on stderr and
        in config.json's resume record ("world_size": [before, after])."""
        if ck is None:
            return config
        before = ck.meta["extra"].get("world_size", 1)
        if before == self.world:
            return config
        print(
            f"note: resuming a run trained by {before} process(es) with {self.world}: the global batch stays "
            f"{config.batch_size}; BatchNorm statistics and augmentation streams are per process",
            file=sys.stderr,
        )
        resumes = list(config.extra.get("resumes", [{"step": ck.step, "changed": {}}]))
        resumes[-1] = dict(resumes[-1], world_size=[before, self.world])
        return dataclasses.replace(config, extra=dict(config.extra, resumes=resumes))

    def checkpoint_extra(self) -> dict[str, Any]:
        """What a checkpoint records about the job (nothing for one process: its files stay as they were)."""
        return {"world_size": self.world} if self.enabled else {}

    # --- the training step ------------------------------------------------------------------------------------

    def wrap(self, state: TrainState) -> None:
        """DistributedDataParallel wrappers for the training step (state.g_train, state.d_train); --sync-bn
        turns BatchNorm into SyncBatchNorm first (the same parameters and buffers, so optimisers, EMA and
        checkpoints are unchanged). Checkpoints, EMA and sampling keep using the plain modules."""
        if not self.enabled:
            return
        from torch.nn.parallel import DistributedDataParallel

        if state.config.sync_bn:
            state.generator = nn.SyncBatchNorm.convert_sync_batchnorm(state.generator)
            state.discriminator = nn.SyncBatchNorm.convert_sync_batchnorm(state.discriminator)
        ids = [self.device.index] if self.device is not None and self.device.type == "cuda" else None
        # broadcast_buffers=False (spelt forward_sync_buffers=False since torch 2.13): D judges the real and the
        # fake batch in separate passes (per-batch BatchNorm statistics, as in S1). With the default, every
        # forward would copy rank 0's BatchNorm running statistics over this rank's between those passes (and
        # the in-place copy can break autograd's saved tensors). Each rank keeps its own running statistics
        # (they start equal: DDP copies rank 0's at construction); rank 0's are the ones saved.
        # A gray D's first convolution has one input channel: its channels-last weight and its gradient differ in
        # the stride of that size-1 dimension only, which DDP reports (and copies around, for a tiny tensor).
        warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
        new = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
        no_sync: dict[str, Any] = {"forward_sync_buffers" if new else "broadcast_buffers": False}
        state.g_train = DistributedDataParallel(state.generator, device_ids=ids, **no_sync)
        state.d_train = DistributedDataParallel(state.discriminator, device_ids=ids, **no_sync)

    def shard(self, x: T) -> T:
        """This rank's rows of something drawn for the whole step (the latents, a conditional run's labels):
        the rows it takes of the batch. A tuple of tensors, or None, alike."""
        if not self.enabled or x is None:
            return x
        if isinstance(x, tuple):
            return tuple(self.shard(t) for t in x)  # type: ignore[return-value]
        return x[share(len(x), self.rank, self.world)]  # type: ignore[index]

    def stop_requested(self, stop: StopRequest) -> bool:
        """One process: whether to stop after this step. Several: False here; they agree at the next logging
        boundary (`end_interval`), so that all of them stop after the same step."""
        return False if self.enabled else stop.requested()

    def end_interval(
        self, state: TrainState, meter: IntervalMeter, ok: torch.Tensor, stop: StopRequest, stopping: bool
    ) -> tuple[torch.Tensor | bool, bool]:
        """At a logging boundary: (weights finite, stop now) as all ranks decide them together, the interval's
        sums averaged over the ranks (one all-reduce), and each rank's augmentation stream re-derived."""
        if not self.enabled:
            return ok, stopping
        asked = [float(stop.requested()), float(stop.budget is not None and stop.budget.was_spent)]
        flags = torch.cat([(~ok).float().view(1), torch.tensor(asked, device=ok.device)])
        pending = [state.ada.sign_sum.view(1)] if state.ada is not None else []  # --augment ada's signs, summed
        packed = torch.cat([meter.sums, *pending, flags.to(meter.sums.device)])
        tdist.all_reduce(packed)
        meter.sums.copy_(packed[: len(meter.sums)] / self.world)
        if state.ada is not None:  # all on rank 0, whose checkpoints (at logging boundaries) so hold every rank's
            state.ada.sign_sum.fill_(packed[len(meter.sums)] if self.is_main else 0.0)
        not_finite, stops, budget_spent = packed[-3:].tolist()
        if stop.budget is not None:  # each rank's clock differs a little: the budget is spent when one rank's is
            stop.budget.was_spent = budget_spent > 0
        self.reseed(state)
        return not_finite == 0, stops > 0

    def all_sum(self, x: torch.Tensor) -> torch.Tensor:
        """x summed over the ranks in place (--augment ada's signs at each adjustment of p); one process: x."""
        if self.enabled:
            tdist.all_reduce(x)
        return x

    def reseed(self, state: TrainState) -> None:
        """Under torchrun: this rank's augmentation stream from (seed, rank, step) (at logging boundaries and
        restores, so every checkpoint's step has the streams it would re-derive)."""
        if self.enabled:
            state.aug_rng.manual_seed(stream_seed(state.config.seed, self.rank, state.counters.step))


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[nn.Module]:
    """G's pass through D (gan_step's G update): D's parameters stop requiring grad, so loss_g's backward
    computes no D weight gradients (it only needs D's input gradients), and a DistributedDataParallel D runs
    in no_sync, so its reducer neither waits for nor all-reduces D gradients from that backward: D's gradients
    come from loss_d alone and are all-reduced once per step. The alternatives cost more: D's gradients
    computed twice and discarded, or a second all-reduce of them per step. One process: the same numbers,
    since loss_g's D gradients were never used (opt_d.zero_grad drops them before the next D update)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    no_sync = module.no_sync() if isinstance(module, nn.parallel.DistributedDataParallel) else contextlib.nullcontext()
    try:
        with no_sync:
            yield module
    finally:
        for p in params:
            p.requires_grad_(True)


_current = Dist()


def current() -> Dist:
    """The job this process is part of (one process alone unless `session` started a process group)."""
    return _current


def is_main() -> bool:
    """Whether this process writes the run (rank 0, or the only process)."""
    return _current.is_main


def env_rank() -> int:
    """This process's rank from torchrun's environment (0 outside torchrun), before any process group exists."""
    return int(os.environ.get("RANK", "0") or 0)


def stream_seed(seed: int, rank: int, step: int) -> int:
    """A 64-bit seed for (seed, rank, step) from numpy's SeedSequence (independent, well-mixed streams)."""
    import numpy as np

    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, np.uint64)[0])


def timeout() -> datetime.timedelta:
    raw = os.environ.get(TIMEOUT_ENV, "")
    try:
        seconds = float(raw) if raw else DEFAULT_TIMEOUT_S
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 1e7:
        raise ConfigError(f"${TIMEOUT_ENV}={raw!r}: give the seconds a process may wait for the others (e.g. 1800)")
    return datetime.timedelta(seconds=seconds)


def rank_device(name: str, local_rank: int) -> torch.device:
    """--device for process LOCAL_RANK: its own GPU on CUDA, the CPU otherwise."""
    device = resolve_device(name)
    if device.type != "cuda":
        return device
    if name not in ("auto", "cuda"):
        raise ConfigError(
            f"--device {name}: under torchrun each process uses the GPU of its LOCAL_RANK; pass --device cuda (or auto)"
        )
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise ConfigError(
            f"LOCAL_RANK {local_rank}: only {count} CUDA device(s) are visible here; start at most {count} "
            "processes per machine (--nproc_per_node)"
        )
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


@contextlib.contextmanager
def session(device: str) -> Iterator[Dist]:
    """The process group for one training, when torchrun started this process with WORLD_SIZE > 1 (NCCL on
    CUDA, gloo on the CPU, a bounded timeout); otherwise nothing. Rank > 0's print() is silenced inside."""
    global _current
    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
        _current = Dist()
        yield _current
        return
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    dev = rank_device(device, local_rank)
    owns = not tdist.is_initialized()
    if owns:
        backend = "nccl" if dev.type == "cuda" else "gloo"
        tdist.init_process_group(backend, timeout=timeout(), **({"device_id": dev} if dev.type == "cuda" else {}))
    group = None if tdist.get_backend() == "gloo" else tdist.new_group(backend="gloo", timeout=timeout())
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    _current = Dist(tdist.get_rank(), tdist.get_world_size(), local_rank, local_world, dev, group, owns)
    shown = builtins.print
    if not _current.is_main:
        builtins.print = lambda *args, **kw: None
    try:
        yield _current
        if owns:
            # Every rank leaves together: a rank that tore its gloo group down while rank 0 was still writing
            # the run's last files aborted now and then ("terminate called without an active exception").
            tdist.barrier(group=_current.group)
    finally:
        builtins.print = shown
        done, _current = _current, Dist()
        if done.owns_group:  # after an error too: a gloo group left to the interpreter's exit aborts it
            # DDP's wrappers (in reference cycles) hold the group and its pending work: free them first, or the
            # group's C++ side outlives destroy_process_group and is torn down at the interpreter's exit,
            # where gloo's threads now and then abort the process ("terminate called without an active
            # exception") after a run that finished.
            gc.collect()
            tdist.destroy_process_group()
