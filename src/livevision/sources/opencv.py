"""Cameras, video files and network streams through cv2.VideoCapture."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Iterator

import cv2

from ..types import Frame
from .base import FrameSource, SourceError, SourceInfo, to_bgr8

log = logging.getLogger(__name__)


class VideoCaptureSource(FrameSource):
    """A camera index, a video file or a stream URL, read with OpenCV.

    Timestamps: a file's own presentation times (CAP_PROP_POS_MSEC, or index / fps when
    the container gives none); for cameras and streams, seconds since the first frame.
    """

    def __init__(self, target: int | str, *, is_live: bool, name: str | None = None,
                 size_wh: tuple[int, int] | None = None, fps: float | None = None):
        self._target = target
        self._lock = threading.Lock()
        self._closed = False
        self._cap = cv2.VideoCapture(target)
        if not self._cap.isOpened():
            self._cap.release()
            raise SourceError(_open_failure_message(target, is_live))
        if size_wh and is_live:
            self._cap.set(cv2.CAP_PROP_FRAME_WIDTH, size_wh[0])
            self._cap.set(cv2.CAP_PROP_FRAME_HEIGHT, size_wh[1])
        if fps and is_live:
            self._cap.set(cv2.CAP_PROP_FPS, fps)
        reported_fps = self._cap.get(cv2.CAP_PROP_FPS)
        count = int(self._cap.get(cv2.CAP_PROP_FRAME_COUNT))
        w, h = int(self._cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self._cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.info = SourceInfo(
            name=name or str(target),
            is_live=is_live,
            fps=reported_fps if 0 < reported_fps < 1000 else None,
            frame_count=count if (count > 0 and not is_live) else None,
            size_wh=(w, h) if w > 0 and h > 0 else None,
            path=os.path.abspath(target) if isinstance(target, str) and not is_live else None,
        )
        self._index = 0
        self._t0: float | None = None

    def _timestamp(self, index: int, now: float) -> float:
        if self.info.is_live:
            if self._t0 is None:
                self._t0 = now
            return now - self._t0
        pos_ms = self._cap.get(cv2.CAP_PROP_POS_MSEC)
        if pos_ms > 0 or index == 0:
            return pos_ms / 1000.0
        return index / self.info.fps if self.info.fps else float(index)

    supports_grab = True

    def grab(self) -> bool:
        with self._lock:
            if self._closed or not self._cap.grab():
                return False
            self._index += 1
            return True

    def frames(self) -> Iterator[Frame]:
        while True:
            with self._lock:
                if self._closed:
                    return
                ok, image = self._cap.read()
                now = time.monotonic()
                if not ok or image is None:
                    return
                index = self._index
                self._index += 1
                timestamp = self._timestamp(index, now)
            yield Frame(to_bgr8(image), index, timestamp, now)

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._cap.release()


def _open_failure_message(target: int | str, is_live: bool) -> str:
    if isinstance(target, int):
        return f"camera {target} could not be opened (is it connected and not in use by another program?)"
    if is_live:
        return f"stream {target} could not be opened (check the URL and that the server is reachable)"
    return f"{target} could not be opened as a video (unreadable or not a video format OpenCV can decode)"
