"""Ending worker threads without abandoning them.

A thread left running inside native code (ONNX Runtime's session.run, a decoder) when the interpreter
shuts down crashes the process ("terminate called without an active exception", exit 134). So a
thread asked to stop is waited for until it has really ended, however long its current call takes,
with a message once the wait gets long.
"""

from __future__ import annotations

import logging
import threading
from typing import Iterable

NOTICE_AFTER_S = 5.0  # after this long, say what is being waited for

log = logging.getLogger(__name__)


def join_all(threads: Iterable[threading.Thread], what: str) -> None:
    """Wait until every thread has ended (the caller has asked them to stop). A thread that takes longer
    than NOTICE_AFTER_S is named in a message, then waited for still. A Ctrl-C (KeyboardInterrupt) during
    the wait does not cut it short: it is raised once the threads have ended."""
    interrupted: BaseException | None = None
    for thread in threads:
        if thread is threading.current_thread():
            continue
        told = False
        while thread.is_alive():
            try:
                thread.join(None if told else NOTICE_AFTER_S)
                if thread.is_alive() and not told:
                    told = True
                    log.warning("waiting for %s (%s) to finish its current call", thread.name, what)
            except KeyboardInterrupt as exc:
                if interrupted is None:
                    log.warning("stopping: waiting for %s to finish its current call (it cannot be cut short)",
                                thread.name)
                interrupted, told = exc, True
    if interrupted is not None:
        raise interrupted


def wait_for(event: threading.Event, what: str) -> None:
    """Wait for `event` as join_all waits for a thread: a message once it takes long."""
    if not event.wait(NOTICE_AFTER_S):
        log.warning("waiting for %s", what)
        event.wait()
