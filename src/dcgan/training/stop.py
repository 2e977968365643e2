"""When training stops early: SIGINT/SIGTERM, or a `should_stop` callback from a Python caller.

The signal handler only sets a flag; the loop checks it at step boundaries, saves a checkpoint and
leaves cleanly. A second Ctrl+C leaves at once. Notebooks pass `should_stop` instead of sending
themselves a signal; `--max-minutes` (`TimeBudget`) ends a run after that much training time.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from types import FrameType, TracebackType
from typing import Any


class Interrupted(Exception):
    """Raised by the signal handler inside `StopRequest.interruptible()` (a long evaluation)."""


_TAKEN = [0]  # SIGINT/SIGTERM taken by StopRequest's handlers in this process


def signals_taken() -> int:
    """How many SIGINT/SIGTERM the training loop's handlers have taken in this process: a caller that runs
    several trainings (`dcgan study`) compares it before and after one, since a signal that arrives as a run
    ends (its budget reached, its last files being written) leaves no other trace."""
    return _TAKEN[0]


class TimeBudget:
    """`--max-minutes`: spent once the run has trained `seconds` (None: never). `trained()` gives the run's
    training seconds so far: steps only (not packing, evaluations or snapshots), across resumes, as
    metrics.jsonl's `elapsed` counts them."""

    def __init__(self, seconds: float | None, trained: Callable[[], float]) -> None:
        self.seconds = seconds
        self.trained = trained
        self.was_spent = False  # latched: the run ends on its budget (under torchrun, as all ranks agree)

    def spent(self) -> bool:
        self.was_spent = self.was_spent or (self.seconds is not None and self.trained() >= self.seconds)
        return self.was_spent


class StopRequest:
    """A context manager that installs the signal handlers; `requested()` is checked once per step.
    should_stop: a caller's callback; budget: the run's time budget (either True stops training)."""

    def __init__(self, should_stop: Callable[[], bool] | None = None, budget: TimeBudget | None = None) -> None:
        self.should_stop = should_stop
        self.budget = budget
        self.signalled = False
        self.count = 0
        self._previous: dict[int, Any] = {}
        self._interruptible = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        _TAKEN[0] += 1
        self.count += 1
        if self.count > 1:  # a second Ctrl+C leaves at once
            raise KeyboardInterrupt
        self.signalled = True
        print(
            f"\n{signal.Signals(signum).name}: finishing this step and saving a checkpoint "
            "(press Ctrl+C again to quit at once)",
            file=sys.stderr,
        )
        if self._interruptible:
            raise Interrupted

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        """Inside: a signal raises Interrupted at once, instead of waiting for the next step boundary."""
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False

    def requested(self) -> bool:
        if self.signalled or (self.should_stop is not None and bool(self.should_stop())):
            return True
        return self.budget is not None and self.budget.spent()

    def __enter__(self) -> StopRequest:
        for s in (signal.SIGINT, signal.SIGTERM):
            try:
                self._previous[s] = signal.signal(s, self._handler)
            except ValueError:  # not the main thread: only should_stop works there
                pass
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous.clear()
