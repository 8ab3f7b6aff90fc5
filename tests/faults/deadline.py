"""A deadline for fault tests that could hang (pytest-timeout is not installed)."""

from __future__ import annotations

import signal
from contextlib import contextmanager


@contextmanager
def deadline(seconds: int, what: str):
    """Raise TimeoutError naming ``what`` when the block runs longer than ``seconds`` (SIGALRM:
    main thread only; a blocking open() or read() is interrupted too)."""

    def _expired(signum, frame):
        raise TimeoutError(f"{what} did not finish within {seconds} s (hang?)")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
