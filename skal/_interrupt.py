"""Let a Ctrl-C during training reach the caller, whatever the training loop does with it.

skorch's ``partial_fit`` (hence every skorch net's ``fit``) catches
``KeyboardInterrupt`` and returns a half-trained net as if training had
finished. Interactive users like that; an active-learning loop does not: the
half-trained model would be queried with, or recorded as a finished round of
a campaign that promises to resume with nothing lost. Rather than copying
skorch's loop without its ``except``, skal wraps the call: a SIGINT seen
while the block runs is noted, and raised again once the block returns.
"""

from __future__ import annotations

import contextlib
import signal
import threading

__all__ = ["propagate_interrupt"]


@contextlib.contextmanager
def propagate_interrupt():
    """Re-raise, when the block ends, a Ctrl-C that code inside it swallowed.

    The previous SIGINT handler still runs (so the training loop sees its
    ``KeyboardInterrupt`` and stops as it normally would); the context
    manager only remembers that the signal came. Outside the main thread,
    where Python cannot install signal handlers, and where SIGINT is
    ignored (a background job), the block runs unchanged.

    Examples
    --------
    >>> from skal._interrupt import propagate_interrupt
    >>> with propagate_interrupt():
    ...     total = sum(range(10))
    >>> total
    45
    """
    previous = signal.getsignal(signal.SIGINT)
    if threading.current_thread() is not threading.main_thread() or not callable(previous):
        yield
        return
    seen = []

    def note(signum, frame):
        seen.append(signum)
        previous(signum, frame)

    signal.signal(signal.SIGINT, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if seen:
        raise KeyboardInterrupt
