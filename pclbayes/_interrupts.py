"""Ctrl-C where an interruption would do harm: deferred for the length of a block."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


@contextlib.contextmanager
def sigint_deferred() -> Iterator[None]:
    """Ignore SIGINT (Ctrl-C) inside the block, in the main thread.

    Used while worker processes are started (a report's fits, a simulation's executors:
    the workers inherit the ignored signal, also across ``exec``, and are stopped by the
    main process instead, so a Ctrl-C at the terminal reaches the main process only) and
    while a report's folders are swapped or removed. A Ctrl-C that arrives inside the
    block is lost; outside the main thread the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
