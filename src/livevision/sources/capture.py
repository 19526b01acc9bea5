"""A capture thread per source.

Policies (chosen by the source's nature, never silently):
- LATEST, for cameras and streams: only the newest frame is kept; a frame not read in
  time is replaced and counted as dropped, so latency never builds up.
- QUEUE, for files and images: frames wait in a small bounded queue and the reader
  thread blocks when it is full, so none is lost.
Errors in the thread are re-raised in the consumer; `stop()` always unblocks both sides.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable

from ..threads import join_all
from ..types import Frame, ValueEnum
from .base import FrameSource

log = logging.getLogger(__name__)

_END = object()  # poison pill: the source ended (or failed)


class CapturePolicy(ValueEnum):
    LATEST = "latest"
    QUEUE = "queue"

    @classmethod
    def for_source(cls, source: FrameSource) -> "CapturePolicy":
        return cls.LATEST if source.info.is_live else cls.QUEUE


class CaptureThread:
    """Reads `source` on its own thread. `read()` returns the next frame, or None at the end."""

    def __init__(self, source: FrameSource, policy: CapturePolicy | None = None, *, queue_size: int = 4,
                 stop_event: threading.Event | None = None,
                 on_frame: Callable[[Frame], None] | None = None, on_drop: Callable[[], None] | None = None):
        self.source = source
        self.policy = policy or CapturePolicy.for_source(source)
        self.stop_event = stop_event or threading.Event()
        self.frames_read = 0
        self.frames_dropped = 0
        self._on_frame = on_frame
        self._on_drop = on_drop
        self._error: BaseException | None = None
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._latest: Frame | None = None
        self._ended = False
        self._latest_cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"capture:{source.info.name}", daemon=True)

    def start(self) -> "CaptureThread":
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            for frame in self.source.frames():
                if self.stop_event.is_set():
                    break
                self.frames_read += 1
                if self._on_frame is not None:
                    self._on_frame(frame)
                self._deliver(frame)
        except BaseException as exc:  # handed to the consumer, never swallowed
            self._error = exc
        finally:
            self._deliver(_END)

    def _deliver(self, item: object) -> None:
        if self.policy is CapturePolicy.LATEST:
            with self._latest_cond:
                if item is _END:
                    self._ended = True  # the unread newest frame, if any, is still delivered
                else:
                    if self._latest is not None:
                        self.frames_dropped += 1
                        if self._on_drop is not None:
                            self._on_drop()
                    self._latest = item
                self._latest_cond.notify_all()
            return
        while True:  # QUEUE: block while full, but give up when stopped
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                if self.stop_event.is_set():
                    return

    def read(self, timeout: float | None = None) -> Frame | None:
        """The next frame (LATEST: the newest one), None at the end of the source.
        Raises the source's error, or TimeoutError after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        if self.policy is CapturePolicy.LATEST:
            with self._latest_cond:
                while self._latest is None and not self._ended:
                    if self.stop_event.is_set():
                        return None
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        raise TimeoutError("no frame from the source in time")
                    self._latest_cond.wait(0.1 if remaining is None else min(0.1, remaining))
                item = self._latest if self._latest is not None else _END
                self._latest = None
        else:
            while True:
                try:
                    item = self._queue.get(timeout=0.1)
                    break
                except queue.Empty:
                    if self.stop_event.is_set() and not self._thread.is_alive():
                        return None
                    if deadline is not None and time.monotonic() > deadline:
                        raise TimeoutError("no frame from the source in time")
            if item is _END:
                self._queue.put_nowait(_END)  # later reads see the end too
        if item is _END:
            if self._error is not None:
                raise self._error
            return None
        return item

    def stop(self) -> None:
        """Stop reading, unblock the thread, release the source, and return once the thread has ended."""
        self.stop_event.set()
        self.source.close()
        while True:  # drain, so a producer blocked on a full queue can see the stop
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        if self._thread.ident is not None:
            join_all([self._thread], f"reading {self.source.info.name}")
