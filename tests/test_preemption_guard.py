"""PreemptionGuard in-process: which signal stops a run, which requeues it, and what happens during set-up."""

import os
import signal

import pytest

from dcft.checkpoint import PreemptionGuard


@pytest.fixture
def previous_term_handler():
    """A SIGTERM handler that was there before the run (submitit installs one) and a record of its calls."""
    calls = []
    before = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(signum))
    yield calls
    signal.signal(signal.SIGTERM, before)


def test_usr1_during_set_up_is_kept_for_the_first_step_and_asks_for_a_requeue(previous_term_handler):
    guard = PreemptionGuard()
    try:
        os.kill(os.getpid(), signal.SIGUSR1)  # its default action would end this process
        assert guard.requested and guard.requeue and guard.signal_name == "SIGUSR1"
    finally:
        guard.restore()
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_sigterm_during_set_up_goes_where_it_went_before(previous_term_handler):
    guard = PreemptionGuard()
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        assert previous_term_handler == [signal.SIGTERM] and not guard.requested  # nothing to checkpoint yet
    finally:
        guard.restore()


def test_sigterm_while_training_stops_without_a_requeue(previous_term_handler):
    guard = PreemptionGuard()
    guard.arm()
    try:
        os.kill(os.getpid(), signal.SIGTERM)  # scancel, preemption, the time limit: SLURM decides what comes back
        assert guard.requested and not guard.requeue and guard.signal_name == "SIGTERM"
        assert previous_term_handler == []
    finally:
        guard.restore()
    os.kill(os.getpid(), signal.SIGTERM)
    assert previous_term_handler == [signal.SIGTERM]  # restored
