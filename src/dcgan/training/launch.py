"""How `dcgan train` processes start and end under torchrun: `--nproc N` runs torchrun's launcher in this
process (`launch`), errors that every rank shares are said once (`quiet_echoes`), and a worker whose run
is written leaves without the interpreter's teardown (`leave_worker`). Training itself: `distributed`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Iterator

import torch
import torch.distributed as tdist

from ..device import resolve_device
from ..errors import ConfigError, DcganError
from .distributed import RankError, env_rank

#: What gloo and NCCL say when another process of the job died (seen in their errors).
PEER_LOST = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "remote worker", "NCCL")
LAUNCHED_ENV = "DCGAN_NPROC"  # set by `launch` for its processes: it reports a lost process itself


class LaunchError(DcganError):
    """A process of `dcgan train --nproc` failed without saying why itself (killed, crashed)."""

    exit_code = 1


def leave_worker(code: int = 0) -> None:
    """End a `dcgan train` process that torchrun started, once its run is written: flush, then exit at once,
    without the interpreter's teardown (where a gloo process group's threads can still abort a finished
    process and make torchrun stop the job as failed). No-op outside torchrun."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
        return
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


@contextlib.contextmanager
def quiet_echoes() -> Iterator[None]:
    """Around training in the `dcgan train` command: a rank that only echoes rank 0's error exits with its
    status in silence; a rank that lost contact with another one says so in one line (unless `launch`
    started it: the launcher names the process that failed)."""
    try:
        yield
    except DcganError as e:
        if getattr(e, "echo", False):
            sys.exit(e.exit_code)
        raise
    except (tdist.DistError, RuntimeError) as e:
        if not lost_peer(e):
            raise
        if not os.environ.get(LAUNCHED_ENV):
            first = (str(e).strip().splitlines() or [type(e).__name__])[0]
            print(
                f"error: rank {env_rank()}: lost contact with another process of this job ({first}); the last "
                "checkpoint is intact: resume with --resume",
                file=sys.stderr,
            )
        sys.exit(1)


def lost_peer(error: BaseException) -> bool:
    """Whether `error` says another process of the job went away (gloo and NCCL raise these from a
    collective, often as a plain RuntimeError), rather than a failure of this process's own."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) <= 1:
        return False
    text = str(error)
    return isinstance(error, tdist.DistNetworkError) or any(m in text for m in PEER_LOST)


def launch(nproc: int, args: list[str], device: str) -> None:
    """`dcgan train --nproc N ARGS`: torchrun's launcher (torch.distributed.run), in this process, starts
    `python -m dcgan train ARGS` N times on this machine (a standalone rendezvous on a free local port) and
    waits for them. A process that fails ends the job: one line names it (a process that printed its own
    `error:` line is not repeated) and the exit status is that process's."""
    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:
        raise ConfigError("--nproc: this command already runs under torchrun; drop --nproc")
    if resolve_device(device).type == "cuda" and nproc > torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ConfigError(f"--nproc {nproc}: only {count} CUDA device(s) are visible; use --nproc {count} at most")
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser, run

    for name in ("torch.distributed.elastic", "torch.distributed.run", "torch.distributed.launcher"):
        quiet = logging.getLogger(name)  # the agent's own log lines: the outcome is said below, in one line
        quiet.addHandler(logging.NullHandler())
        quiet.propagate = False
    parsed = get_args_parser().parse_args(
        ["--standalone", f"--nproc-per-node={nproc}", "--module", "dcgan", "train", *args]
    )
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    os.environ[LAUNCHED_ENV] = str(nproc)
    try:
        run(parsed)
    except ChildFailedError as e:
        failures = e.failures
        said = [f.exitcode for f in failures.values() if f.exitcode in (2, 3)]  # a DcganError, printed by it
        if said:
            raise RankError("", said[0], echo=True) from None
        # The first to fail (the agent stops the others with SIGTERM after it); on a tie, a signal other than
        # the agent's SIGTERM, then any signal, then rank 0.
        rank, failure = min(
            failures.items(),
            key=lambda kv: (kv[1].timestamp, kv[1].exitcode >= 0, kv[1].exitcode == -signal.SIGTERM, kv[0]),
        )
        code = failure.exitcode
        why = f"failed with exit status {code}"
        if code < 0:
            why = f"was killed by {signal.Signals(-code).name if -code in signal.valid_signals() else -code}"
        raise LaunchError(
            f"--nproc {nproc}: process {rank} {why}, so the job was stopped; the run's last checkpoint is intact: "
            "continue with the same command and --resume"
        ) from None
    finally:
        os.environ.pop(LAUNCHED_ENV, None)
        for s, h in handlers.items():
            signal.signal(s, h)
