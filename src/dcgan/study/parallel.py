"""`dcgan study --jobs N`: N runs side by side, each in its own process with 1/N of the CPU's threads.

A small model does not use two cores well (on the project's 2-core CPU, `fashion-best` at batch 32 on 100
images trained 24 steps/s alone with both threads, and 28 steps/s with one thread while another run trained
beside it: benchmarks/RESULTS.md, small data at 12,000 steps), so a study of many
small runs finishes sooner with its runs side by side than one after another. Each worker is a fresh
(spawned) process that trains one run and evaluates it, exactly as the sequential study does; only the
parent writes study.json, as each run finishes.

Signals: the workers are in their own process group, so a Ctrl+C at the terminal (or a SIGTERM) reaches the
parent alone; it forwards one SIGTERM to each worker, whose trainer saves a checkpoint and stops (an
evaluation stops at once), records what finished, and stops the study. Rerunning the command continues it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import DcganError


def worker_threads(jobs: int) -> int:
    """Threads per worker: OMP_NUM_THREADS when the user set it, else an equal share of the cores."""
    text = os.environ.get("OMP_NUM_THREADS", "").strip()
    if text.isdigit() and int(text) > 0:
        return int(text)
    return max(1, (os.cpu_count() or 1) // jobs)


def _start_worker(threads: int) -> None:
    """In each worker, before torch is loaded: its own process group (terminal signals reach the parent
    only), SIGINT and SIGTERM ignored between runs (the trainer takes them while it trains), its threads."""
    os.setpgrp()
    _end_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _end_with_parent() -> None:
    """Linux: SIGTERM this worker when the parent dies (killed outright), so its trainer saves and stops."""
    import ctypes
    import ctypes.util

    with contextlib.suppress(OSError, AttributeError, TypeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """SIGINT and SIGTERM raise KeyboardInterrupt inside (the handlers before are restored after)."""
    previous = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def train_and_evaluate(study: Any, run: Any) -> dict[str, Any] | None:
    """In a worker: train `run` to its budget and evaluate it; None when a signal stopped it."""
    try:
        study.train(run)  # KeyboardInterrupt when the trainer took a signal
        trained = study.trained(run)
        with _signals_interrupt():
            result = study.evaluate(run)
    except KeyboardInterrupt:
        return None
    return {"trained": trained, "result": result}


def run_side_by_side(study: Any, worker_study: Any, say: Callable[[str], None], jobs: int) -> None:
    """Study.run_all with up to `jobs` runs at once, each trained by `worker_study` (Study.detached) in a
    worker; KeyboardInterrupt once a signal stopped the study (after the runs in progress saved their
    checkpoints and what finished is recorded)."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    todo = study.to_do(say)
    if not todo:
        return
    threads, workers = worker_threads(jobs), min(jobs, len(todo))
    say(f"study: {len(todo)} runs to go, {workers} at a time, {threads} CPU thread(s) each")
    pending: dict[Future[Any], tuple[str, Any, float]] = {}
    stops = 0
    with _signals_interrupt():
        pool = ProcessPoolExecutor(
            workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker, initargs=(threads,)
        )
        try:
            while todo or pending:
                try:
                    while todo and len(pending) < workers and not stops:
                        head, run = todo.pop(0)
                        study.begin(run)
                        pending[pool.submit(train_and_evaluate, worker_study, run)] = (head, run, time.perf_counter())
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        head, run, started = pending.pop(future)
                        if not _record(study, head, run, _outcome(future, run.name), started, say):
                            raise KeyboardInterrupt  # a worker was stopped by a signal of its own: stop them all
                except KeyboardInterrupt:
                    stops += 1
                    todo.clear()
                    for future in [f for f in pending if f.cancel()]:
                        pending.pop(future)
                    _stop_workers(say, study.out, first=stops == 1)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    if stops:
        raise KeyboardInterrupt


def _record(
    study: Any, head: str, run: Any, outcome: dict[str, Any] | None, started: float, say: Callable[[str], None]
) -> bool:
    """Record a finished run as done and say so under `head`; False when a signal stopped it (None)."""
    from .plan import describe

    if outcome is None:
        return False
    say(f"{head}: {describe(study.finish(run, outcome['trained'], outcome['result'], started))}")
    return True


def _outcome(future: Any, name: str) -> dict[str, Any] | None:
    """A worker's result; a worker that died (killed, out of memory) is a one-line error naming the run."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return future.result()
    except KeyboardInterrupt:
        return None
    except BrokenProcessPool:
        raise DcganError(
            f"study: the process training {name} ended abruptly (killed, or out of memory?); what finished is "
            "kept: rerun the same command to continue, with fewer --jobs if memory is short"
        ) from None


def _stop_workers(say: Callable[[str], None], out: Path, first: bool) -> None:
    """Forward one SIGTERM to every worker: each saves a checkpoint and stops (a second one: at once)."""
    import multiprocessing

    if first:
        say(f"study: stopping the runs in progress in {out} (each saves a checkpoint; Ctrl+C again: at once)")
    for child in multiprocessing.active_children():
        with contextlib.suppress(ProcessLookupError, TypeError):
            os.kill(child.pid, signal.SIGTERM)  # type: ignore[arg-type]
