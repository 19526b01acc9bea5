"""Ctrl-C and SIGTERM: the first one stops processing cleanly, a second one exits at once.

Outside a processing loop the first signal raises KeyboardInterrupt (SIGINT) or
Terminated (SIGTERM) at once, as Python does. Inside `deferred()` (the frame loop and the
closing of its outputs) it raises nothing: an exception thrown at an arbitrary point can
leave a lock or a queue half-updated and hang the clean-up. It sets a flag and calls the
given stop callback; the loop ends at its next frame boundary, every output is finalized
(the video up to its last frame, the results file on a complete line, the stats written)
and `raise_if_requested()` then raises the same exception.

A second signal ends the process without waiting for the clean-up: it runs each open block's
`on_abort` (quick things that leave every output readable and no child process behind: the
video's ffmpeg told to write what it holds and waited for, the stats written), then restores the
default action and ends the process by the same signal (exit status 130 / 143 in a shell). A
third signal while `on_abort` runs ends it at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
from typing import Callable, Iterator

EXIT_SIGINT = 130  # 128 + SIGINT, as shells report it
EXIT_SIGTERM = 143  # 128 + SIGTERM


class Terminated(BaseException):
    """SIGTERM arrived. A BaseException, like KeyboardInterrupt, so `except Exception` lets it pass."""


_state = {"requested": None}
_on_request: list[Callable[[], None]] = []  # one per deferred() block now open (`livevision batch` runs several)
_on_abort: list[Callable[[], None]] = []  # the same blocks' on_abort, run at a second signal

log = logging.getLogger(__name__)


def _exception_for(signum: int) -> BaseException:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _first_signal(signum, frame) -> None:
    signal.signal(signal.SIGINT, _second_signal)
    signal.signal(signal.SIGTERM, _second_signal)
    _state["requested"] = signum
    if not _on_request:
        raise _exception_for(signum)
    for on_request in list(_on_request):
        on_request()


def _second_signal(signum, frame) -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for on_abort in list(_on_abort):
        try:
            on_abort()
        except Exception as exc:  # the process ends anyway: the other outputs still get their turn
            log.error("quitting: %s", exc)
    os.kill(os.getpid(), signum)  # the default action now: the process ends here, by this signal
    os._exit(128 + signum)  # not reached


@contextlib.contextmanager
def graceful_interrupts() -> Iterator[None]:
    """Install the handlers for the duration of the block (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    _state["requested"] = None
    for sig in previous:
        signal.signal(sig, _first_signal)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _state["requested"] = None  # handled: a later run in this process starts afresh


@contextlib.contextmanager
def deferred(on_request: Callable[[], None], on_abort: Callable[[], None] | None = None) -> Iterator[None]:
    """Within the block a first signal calls `on_request()` instead of raising, and a second one calls
    `on_abort()` before it ends the process. Blocks may be open in several threads at once (runs side by
    side): a signal calls every open block's callback. on_abort runs in the main thread, between two of its
    Python steps: it must take no lock the interrupted code may hold."""
    _on_request.append(on_request)
    if on_abort is not None:
        _on_abort.append(on_abort)
    try:
        if _state["requested"] is not None:  # it came before the block started
            on_request()
        yield
    finally:
        _on_request.remove(on_request)
        if on_abort is not None:
            _on_abort.remove(on_abort)


def request(signum: int = signal.SIGINT) -> None:
    """As if the first signal came, for a process told to stop another way (a `livevision batch` Ray
    worker): the open deferred() blocks stop at their next frame and then raise."""
    _state["requested"] = signum
    for on_request in list(_on_request):
        on_request()


def requested() -> bool:
    return _state["requested"] is not None


def raise_if_requested() -> None:
    signum = _state["requested"]
    if signum is not None:
        raise _exception_for(signum)
