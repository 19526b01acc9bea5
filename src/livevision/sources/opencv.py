"""Cameras, video files and network streams through cv2.VideoCapture, and what they do on faults.

- Files: a frame that cannot be decoded is skipped and counted (`frames_bad`); reading goes on.
  The file ends at the container's frame count, or after `max_consecutive_bad_frames` failed
  reads in a row. Ending with fewer frames than the container lists (a truncated tail, damaged
  data) is a warning naming how many are missing (`frames_missing`). A file without one
  decodable frame is a SourceError when it is opened.
- Cameras and streams: a failed read is a drop. With a ReconnectPolicy the same camera index or
  URL is reopened with backoff, and frame indices and timestamps carry on where they were
  (`reconnects` counts the recoveries); without one, or once the policy gives up, the source
  raises SourceError naming how many frames it delivered. A stream whose container lists a
  frame count (a video file served over HTTP) ends normally when it has delivered them all.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import threading
import time
from typing import Callable, Iterator

import cv2
import numpy as np

from ..types import Frame
from .base import FrameSource, SourceError, SourceInfo, to_bgr8
from .opencv_open import CaptureFactory, CaptureLike, check_options, open_failure_message, opencv_capture
from .reconnect import Outage, ReconnectPolicy

log = logging.getLogger(__name__)

#: Containers that estimate their frame count (duration x fps) may be off by this many frames,
#: so a shortfall this small is not reported as missing frames.
FRAME_COUNT_TOLERANCE = 1


# (image or None for a grab, index, timestamp_s, captured_at)
_Item = tuple["np.ndarray | None", int, float, float]


class VideoCaptureSource(FrameSource):
    """A camera index, a video file or a stream URL, read with OpenCV.

    Timestamps: a file's own presentation times (CAP_PROP_POS_MSEC, or index / fps when the
    container gives none); for cameras and streams, seconds since the first frame on `clock`,
    so they keep increasing across reconnects.

    reconnect: for cameras and streams, how a source that stops delivering frames is reopened;
        None stops with a SourceError at the first drop. Files take None.
    max_consecutive_bad_frames: (files) this many failed reads in a row end the file.
    stream_timeout_s: (URLs) opening, and each read, give up after this many seconds, which
        counts as a drop; None keeps OpenCV's default (30 s).
    capture_factory: opens a capture for `target` (default: cv2.VideoCapture); tests pass fakes.
    sleep: waits between reconnection attempts (default: a wait that `close()` interrupts).
    clock: seconds on a monotonic scale, for live timestamps, capture times and outage lengths.

    Counters, readable at any time: frames_read, frames_bad, reconnects; frames_missing (files
    with a frame count, once they ended).
    """

    def __init__(self, target: int | str, *, is_live: bool, name: str | None = None,
                 size_wh: tuple[int, int] | None = None, fps: float | None = None,
                 reconnect: ReconnectPolicy | None = None, max_consecutive_bad_frames: int = 25,
                 stream_timeout_s: float | None = 10.0, capture_factory: CaptureFactory | None = None,
                 sleep: Callable[[float], object] | None = None, clock: Callable[[], float] = time.monotonic):
        name = name or str(target)
        check_options(name, is_live, reconnect, max_consecutive_bad_frames, stream_timeout_s)
        self._target = target
        self._name = name
        self._is_live = is_live
        self._wanted_size_wh = size_wh
        self._wanted_fps = fps
        self._reconnect = reconnect
        self._max_bad = max_consecutive_bad_frames
        if capture_factory is None:
            url = is_live and isinstance(target, str)
            capture_factory = functools.partial(opencv_capture, timeout_s=stream_timeout_s if url else None)
        self._factory = capture_factory
        self._closed = threading.Event()
        self._sleep = sleep or self._closed.wait
        self._clock = clock
        self._lock = threading.Lock()  # guards the capture: reads, reopen and release
        self.frames_read = 0
        self.frames_bad = 0
        self.reconnects = 0
        self.frames_missing: int | None = None
        self._index = 0
        self._t0: float | None = None
        self._pending: _Item | None = None
        self._outage: Outage | None = None
        self._ended = False
        self._warned_bad = False
        self._connection_frames = 0

        cap = self._open()
        if cap is None:
            raise SourceError(open_failure_message(target, is_live))
        self._cap: CaptureLike | None = cap
        try:
            self._read_info(cap)
        except BaseException:
            self._release()
            raise

    def _read_info(self, cap: CaptureLike) -> None:
        """Set `info` from what the capture reports; for a file, also read its first frame now: a file with
        nothing to decode fails here, with a clear message, before any model is loaded (frames() yields it
        first)."""
        reported_fps = cap.get(cv2.CAP_PROP_FPS)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self._container_count = count if count > 0 else None
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        target, is_live = self._target, self._is_live
        self.info = SourceInfo(
            name=self._name,
            is_live=is_live,
            fps=reported_fps if 0 < reported_fps < 1000 else None,
            frame_count=self._container_count if not is_live else None,
            size_wh=(w, h) if w > 0 and h > 0 else None,
            path=os.path.abspath(target) if isinstance(target, str) and not is_live else None,
        )
        if is_live:
            return
        self._pending = self._read_file(decode=True)
        if self._pending is None:
            raise SourceError(self._no_frames_message())
        if self.info.size_wh is None:
            first = self._pending[0]
            self.info = dataclasses.replace(self.info, size_wh=(first.shape[1], first.shape[0]))

    # ---- opening ---------------------------------------------------------------------------

    def _open(self) -> CaptureLike | None:
        """A new, opened and configured capture of the target, or None."""
        try:
            cap = self._factory(self._target)
        except cv2.error as exc:
            log.debug("opening %s failed: %s", self._name, exc)
            return None
        if not cap.isOpened():
            cap.release()
            return None
        if self._is_live:
            if self._wanted_size_wh:
                cap.set(cv2.CAP_PROP_FRAME_WIDTH, self._wanted_size_wh[0])
                cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self._wanted_size_wh[1])
            if self._wanted_fps:
                cap.set(cv2.CAP_PROP_FPS, self._wanted_fps)
        return cap

    @property
    def _label(self) -> str:
        if isinstance(self._target, int):
            return f"camera {self._target}"
        return f"stream {self._name}" if self._is_live else self._name

    # ---- reading ---------------------------------------------------------------------------

    supports_grab = True

    def grab(self) -> bool:
        if self._pending is not None:
            self._pending = None
            return not self._closed.is_set()
        return self._advance(decode=False) is not None

    def frames(self) -> Iterator[Frame]:
        while True:
            item, self._pending = self._pending, None
            if item is not None:  # the file's first frame, read when it was opened
                image, index, timestamp, _ = item
                item = (image, index, timestamp, self._clock())
            else:
                item = self._advance(decode=True)
            if item is None or self._closed.is_set():
                return
            image, index, timestamp, captured_at = item
            yield Frame(to_bgr8(image), index, timestamp, captured_at, source=self.info.name)

    def _advance(self, decode: bool) -> _Item | None:
        if self._is_live:
            return self._read_live(decode)
        item = self._read_file(decode)
        if item is None and not self._closed.is_set():
            self._end_of_file()
        return item

    def _read_once(self, decode: bool) -> tuple[bool, np.ndarray | None, float]:
        """One read (or grab) of the current capture; call with the lock held."""
        if self._cap is None:
            return False, None, self._clock()
        if decode:
            ok, image = self._cap.read()
            ok = bool(ok) and image is not None
        else:
            ok, image = bool(self._cap.grab()), None
        now = self._clock()
        if self._closed.is_set():  # close() could not take the lock while we read: release here
            self._release_locked()
            return False, None, now
        return ok, image, now

    def _read_next_locked(self, decode: bool, bad_before: int = 0) -> tuple[np.ndarray | None, int, float] | None:
        """With the lock held: read the next frame, count it and give it the next index -> (image, index,
        read time); None if closed or the read failed. bad_before: a file's failed reads just before this
        one, which a good read shows were bad frames."""
        if self._closed.is_set():
            return None
        ok, image, now = self._read_once(decode)
        if not ok:
            return None
        if bad_before:
            self._skipped(bad_before)
        index = self._index
        self._index += 1
        self.frames_read += 1
        return image, index, now

    def _read_file(self, decode: bool) -> _Item | None:
        """The next decodable frame, skipping bad ones; None at the end of the file."""
        failures = 0
        while True:
            with self._lock:
                read = self._read_next_locked(decode, bad_before=failures)
                if read is not None:
                    image, index, now = read
                    return image, index, self._file_timestamp(index), now
            if self._closed.is_set():
                return None
            failures += 1
            count = self._container_count
            if failures >= self._max_bad or (count is not None and self._index + failures >= count):
                return None

    def _skipped(self, n: int) -> None:
        """`n` failed reads were followed by a good frame: they were bad frames, not the end."""
        self.frames_bad += n
        self._index += n  # their positions stay empty: indices show where frames were lost
        if not self._warned_bad:
            self._warned_bad = True
            log.warning("%s: %d unreadable frame%s skipped before frame %d (damaged data?); going on",
                        self._name, n, "s" if n != 1 else "", self._index)
        else:
            log.debug("%s: %d more unreadable frames skipped before frame %d", self._name, n, self._index)

    def _file_timestamp(self, index: int) -> float:
        pos_ms = self._cap.get(cv2.CAP_PROP_POS_MSEC) if self._cap is not None else 0.0
        if pos_ms > 0 or index == 0:
            return pos_ms / 1000.0
        return index / self.info.fps if self.info.fps else float(index)

    def _end_of_file(self) -> None:
        if self._ended:
            return
        self._ended = True
        count = self._container_count
        read, bad = self.frames_read, self.frames_bad
        if count is not None:
            self.frames_missing = max(0, count - read)
        if count is not None and count - read - bad > FRAME_COUNT_TOLERANCE:
            skipped = f", {bad} of them unreadable and skipped on the way" if bad else ""
            log.warning("%s ended after %d of the %d frames its container lists: %d missing%s "
                        "(the file is truncated or damaged)", self._name, read, count, count - read, skipped)
        elif bad:
            of_count = f" of the {count}" if count is not None else ""
            log.warning("%s: %d unreadable frame%s skipped (damaged data); %d%s frames read", self._name, bad,
                        "s" if bad != 1 else "", read, of_count)

    def _read_live(self, decode: bool) -> _Item | None:
        while True:
            with self._lock:
                read = self._read_next_locked(decode)
                if read is not None:
                    image, index, now = read
                    self._connection_frames += 1
                    if self._t0 is None:
                        self._t0 = now
                    outage, self._outage = self._outage, None
                    break
            if self._closed.is_set():
                return None
            if self._finite_stream_ended():
                log.info("%s ended after %d frames", self._label, self.frames_read)
                return None
            self._recover()
        if outage is not None:
            self.reconnects += 1
            log.warning("%s is back after %.1f s (%d reconnection attempt%s); going on from frame %d",
                        self._label, outage.elapsed_s, outage.attempts, "s" if outage.attempts != 1 else "", index)
        return image, index, now - self._t0, now

    def _finite_stream_ended(self) -> bool:
        """A stream whose container lists a frame count (a file over HTTP) ends, not drops,
        once it has delivered them all."""
        count = self._container_count
        return count is not None and self._connection_frames > 0 and \
            self._connection_frames >= count - FRAME_COUNT_TOLERANCE

    def _recover(self) -> None:
        """After a drop: reopen per the policy (returns with a new capture, or when closed),
        or raise SourceError."""
        with self._lock:
            self._release_locked()
        if self._outage is None:
            if self._reconnect is None:
                raise SourceError(self._drop_message())
            self._outage = Outage(self._reconnect, self._clock, frames_before=self.frames_read)
            log.warning("%s stopped delivering frames after %d frames; reconnecting (limit: %s)",
                        self._label, self.frames_read, self._reconnect.describe())
        outage = self._outage
        while True:
            wait_s = outage.next_wait_s()
            if wait_s is None:
                raise SourceError(self._drop_message() + f" and did not come back: {outage.attempts} reconnection "
                                  f"attempt{'s' if outage.attempts != 1 else ''} over {outage.elapsed_s:.1f} s")
            log.info("%s: reconnection attempt %d in %.1f s", self._label, outage.attempts, wait_s)
            self._sleep(wait_s)
            if self._closed.is_set():
                return
            cap = self._open()
            if cap is None:
                continue
            with self._lock:
                if self._closed.is_set():
                    cap.release()
                    return
                self._cap = cap
                self._connection_frames = 0
                count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
                self._container_count = count if count > 0 else None
            return

    def _drop_message(self) -> str:
        why = "(unplugged?)" if isinstance(self._target, int) else "(connection lost?)"
        return f"{self._label} stopped delivering frames {why} after {self.frames_read} frames"

    def _no_frames_message(self) -> str:
        if self._container_count is None:
            return f"{self._name} contains no frames"
        return (f"{self._name} contains no frames that can be decoded (its container lists "
                f"{self._container_count}: the file is damaged or truncated)")

    # ---- closing ---------------------------------------------------------------------------

    def _release_locked(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _release(self) -> None:
        with self._lock:
            self._release_locked()

    def close(self) -> None:
        """Stop reading and release the capture; safe from any thread, returns promptly. A read
        in progress on another thread finishes first and that thread releases the capture."""
        self._closed.set()
        if self._lock.acquire(timeout=1.0):
            try:
                self._release_locked()
            finally:
                self._lock.release()
