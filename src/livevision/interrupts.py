"""Ctrl-C and SIGTERM: the first one stops processing cleanly, a second one exits at once.

The first signal raises KeyboardInterrupt (SIGINT) or Terminated (SIGTERM) in the main
thread, so every `with` block unwinds: the video is finalized up to its last frame, the
results file ends on a complete line, the stats are written. It also restores the
default action for both signals, so a second one ends the process immediately, even if
the clean-up is stuck in native code.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

EXIT_SIGINT = 130  # 128 + SIGINT, as shells report it
EXIT_SIGTERM = 143  # 128 + SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so `except Exception` lets it pass."""


def _first_signal(signum, frame) -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


@contextlib.contextmanager
def graceful_interrupts() -> Iterator[None]:
    """Install the handlers for the duration of the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, _first_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
