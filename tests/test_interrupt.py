"""skal._interrupt: a Ctrl-C that code swallows still reaches the caller."""

import os
import signal
import threading
import time

import pytest

from skal._interrupt import propagate_interrupt


def swallowing_loop():
    """Like skorch's partial_fit: catches KeyboardInterrupt and returns as if done."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(1)
    except KeyboardInterrupt:
        return "stopped early"
    return "finished"


def test_a_swallowed_ctrl_c_is_raised_when_the_block_ends(ctrl_c_delivered):
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        with propagate_interrupt():
            assert swallowing_loop() == "stopped early"  # the loop itself still saw it
    assert signal.getsignal(signal.SIGINT) is before


def test_no_ctrl_c_no_error_and_exceptions_pass_through():
    with propagate_interrupt():
        pass
    with pytest.raises(ZeroDivisionError):
        with propagate_interrupt():
            1 / 0


def test_outside_the_main_thread_the_block_runs_unchanged():
    result = []

    def work():
        with propagate_interrupt():
            result.append(threading.current_thread() is not threading.main_thread())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    assert result == [True]
