"""Opening a cv2.VideoCapture for a VideoCaptureSource: the capture factory and the part of VideoCapture
the source uses (tests pass fakes), the options check, and what a failure to open says."""

from __future__ import annotations

from typing import Callable, Protocol

import cv2
import numpy as np

from ..errors import UsageError
from .reconnect import ReconnectPolicy


class CaptureLike(Protocol):
    """The part of cv2.VideoCapture a VideoCaptureSource uses (tests pass fakes)."""

    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def grab(self) -> bool: ...
    def get(self, prop_id: int) -> float: ...
    def set(self, prop_id: int, value: float) -> bool: ...
    def release(self) -> None: ...


CaptureFactory = Callable[["int | str"], CaptureLike]


def opencv_capture(target: int | str, *, timeout_s: float | None = None) -> cv2.VideoCapture:
    """cv2.VideoCapture(target); for a URL with `timeout_s`, opening and each read give up
    after that many seconds (OpenCV's own default is 30 s)."""
    if timeout_s and isinstance(target, str):
        ms = max(1, int(timeout_s * 1000))
        return cv2.VideoCapture(target, cv2.CAP_ANY,
                                [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
    return cv2.VideoCapture(target)


def open_failure_message(target: int | str, is_live: bool) -> str:
    """What a VideoCaptureSource says when its camera, stream or file does not open."""
    if isinstance(target, int):
        return f"camera {target} could not be opened (is it connected and not in use by another program?)"
    if is_live:
        return f"stream {target} could not be opened (check the URL and that the server is reachable)"
    return f"{target} could not be opened as a video (unreadable or not a video format OpenCV can decode)"


def check_options(name: str, is_live: bool, reconnect, max_consecutive_bad_frames, stream_timeout_s) -> None:
    """UsageError (one line) for a VideoCaptureSource option that cannot work."""
    if reconnect is not None and not is_live:
        raise UsageError(f"reconnect applies to cameras and streams; {name} is a file")
    if reconnect is not None and not isinstance(reconnect, ReconnectPolicy):
        raise UsageError(f"reconnect must be a ReconnectPolicy or None, got {reconnect!r}")
    if isinstance(max_consecutive_bad_frames, bool) or not isinstance(max_consecutive_bad_frames, int) \
            or max_consecutive_bad_frames < 1:
        raise UsageError(f"max_consecutive_bad_frames must be a whole number >= 1, got {max_consecutive_bad_frames!r}")
    if stream_timeout_s is not None and not stream_timeout_s > 0:
        raise UsageError(f"stream_timeout_s must be a positive number of seconds or None, got {stream_timeout_s!r}")
