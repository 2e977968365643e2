"""StopRequest (dcgan.training.stop): signals set a flag, should_stop is asked, handlers are restored."""

from __future__ import annotations

import os
import signal

import pytest

from dcgan.training.stop import StopRequest


def test_sigterm_only_sets_the_flag_and_the_handlers_come_back() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with StopRequest() as stop:
        assert not stop.requested()
        os.kill(os.getpid(), signal.SIGTERM)  # the handler runs before kill returns in the main thread
        assert stop.requested()
        with pytest.raises(KeyboardInterrupt):  # a second signal leaves at once
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGTERM) is before


def test_should_stop_is_asked_each_time() -> None:
    answers = iter([False, False, True])
    with StopRequest(lambda: next(answers)) as stop:
        assert [stop.requested() for _ in range(3)] == [False, False, True]


def test_a_spent_time_budget_stops_and_an_absent_one_never_does() -> None:
    from dcgan.training.stop import TimeBudget

    trained = [0.0]
    budget = TimeBudget(10.0, lambda: trained[0])
    with StopRequest(None, budget) as stop:
        assert not stop.requested()
        trained[0] = 9.99
        assert not stop.requested()
        trained[0] = 10.0
        assert stop.requested() and budget.spent()
    assert not TimeBudget(None, lambda: 1e9).spent()
