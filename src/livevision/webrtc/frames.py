"""Frames between aiortc and livevision, newest first both ways.

PushSource: a FrameSource fed from the asyncio loop with each decoded frame a browser sends; it keeps only
the newest, converted to BGR when read (frames overtaken are never converted). ViewTrack: an aiortc video
track that sends the newest view published from livevision's threads; a view overtaken before the encoder
asked for it is never encoded.
"""

from __future__ import annotations

import asyncio
import threading
import time
from fractions import Fraction
from typing import Iterator

import numpy as np
from aiortc import MediaStreamTrack
from aiortc.mediastreams import MediaStreamError
from av import VideoFrame

from ..sources.base import FrameSource, SourceInfo
from ..types import Frame

VIDEO_CLOCK = Fraction(1, 90000)  # RTP's video clock rate
WAIT_S = 0.5  # how often a waiting reader checks whether the source closed


class PushSource(FrameSource):
    """A live source whose frames are pushed (`push(frame)`, any thread; an av.VideoFrame or a BGR array)
    until `close()`. Frames not read before the next one arrives are counted in `overtaken`. `reader()`: a
    FrameSource of its own over the same frames, which a Stream may close without ending this one (a
    visitor who picks other tasks gets a new Stream on the same camera)."""

    def __init__(self, name: str):
        self.info = SourceInfo(name=name, is_live=True)
        self.overtaken = 0
        self.pushed = 0
        self._cond = threading.Condition()
        self._newest: tuple[object, float, float] | None = None  # (frame, source time s, arrival monotonic)
        self._first_time: float | None = None
        self._closed = threading.Event()

    def push(self, frame, time_s: float | None = None) -> None:
        arrived = time.monotonic()
        time_s = getattr(frame, "time", None) if time_s is None else time_s
        with self._cond:
            if self._first_time is None:
                self._first_time = time_s if time_s is not None else arrived
            source_time = (time_s if time_s is not None else arrived) - self._first_time
            if self._newest is not None:
                self.overtaken += 1
            self._newest = (frame, source_time, arrived)
            self.pushed += 1
            self._cond.notify_all()

    def next_frame(self, stop: threading.Event) -> Frame | None:
        """The newest frame not read yet, waiting for one; None once this source or `stop` is closed."""
        with self._cond:
            while self._newest is None and not (self._closed.is_set() or stop.is_set()):
                self._cond.wait(WAIT_S)
            if self._closed.is_set() or stop.is_set():
                return None
            (frame, source_time, arrived), self._newest = self._newest, None
            index = self.pushed - 1
        image = frame.to_ndarray(format="bgr24") if isinstance(frame, VideoFrame) else frame
        return Frame(np.ascontiguousarray(image), index, max(0.0, source_time), arrived, self.info.name)

    def frames(self) -> Iterator[Frame]:
        while (frame := self.next_frame(self._closed)) is not None:
            yield frame

    def reader(self) -> "FrameSource":
        return _Reader(self)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()

    def close(self) -> None:
        self._closed.set()
        self.wake()


class _Reader(FrameSource):
    """PushSource.reader(): the same frames, closed on its own."""

    def __init__(self, pushed: PushSource):
        self.info, self._pushed, self._closed = pushed.info, pushed, threading.Event()

    def frames(self) -> Iterator[Frame]:
        while (frame := self._pushed.next_frame(self._closed)) is not None:
            yield frame

    def close(self) -> None:
        self._closed.set()
        self._pushed.wake()


class ViewTrack(MediaStreamTrack):
    """The video a peer receives: `publish(view, time_s)` from any thread makes `view` (BGR uint8) the
    next frame sent. time_s: its presentation time (the source frame's, so the browser paces by the
    camera's clock); None: the time it was published."""

    kind = "video"

    def __init__(self, loop: asyncio.AbstractEventLoop):
        super().__init__()
        self._loop = loop
        self._lock = threading.Lock()
        self._view: tuple[np.ndarray, float] | None = None
        self._ready = asyncio.Event()
        self._started = time.monotonic()
        self._last_pts = -1
        self.sent = 0
        self.overtaken = 0

    def publish(self, view: np.ndarray, time_s: float | None = None) -> None:
        with self._lock:
            if self._view is not None:
                self.overtaken += 1
            self._view = (view, time.monotonic() - self._started if time_s is None else time_s)
        try:
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:  # the loop has closed: nobody is sending any more
            pass

    def stop(self) -> None:
        super().stop()
        try:  # wakes a recv() waiting for a view: it ends at once
            self._loop.call_soon_threadsafe(self._ready.set)
        except RuntimeError:  # the loop has closed already
            pass

    async def recv(self) -> VideoFrame:
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            # A plain wait, woken by publish() or stop(): Python 3.11's wait_for() with a timeout can swallow a
            # cancellation that lands as it times out, and aiortc's sender.stop() then waits for ever for its
            # sending task (pc.close() hung once that way in CI).
            await self._ready.wait()
            self._ready.clear()
            with self._lock:
                taken, self._view = self._view, None
            if taken is not None:
                break
        view, time_s = taken
        frame = VideoFrame.from_ndarray(view, format="bgr24")
        # RTP timestamps must grow: a source clock that stalls or restarts still gives increasing ones
        frame.pts = self._last_pts = max(int(round(time_s / VIDEO_CLOCK)), self._last_pts + 1)
        frame.time_base = VIDEO_CLOCK
        self.sent += 1
        return frame
