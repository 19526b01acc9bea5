"""Turn what the user names (`--source`) into a FrameSource."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from ..errors import UsageError
from .base import FrameSource, SourceError
from .images import IMAGE_EXTENSIONS, ImageSource, image_paths_in
from .opencv import VideoCaptureSource
from .opencv_open import CaptureFactory
from .reconnect import ReconnectPolicy

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


def open_source(spec: "str | int | os.PathLike | FrameSource", *, image_fps: float = 1.0,
                reconnect: "ReconnectPolicy | bool | None" = None, stream_timeout_s: float | None = 10.0,
                capture_factory: CaptureFactory | None = None) -> FrameSource:
    """A FrameSource for a camera index ("0"), a video file, a stream URL, an image, a
    folder of images or a glob. A FrameSource passes through, so callers can inject their own.

    reconnect: what a camera or stream does when it stops delivering frames. None (default):
        streams reconnect with `ReconnectPolicy()` (10 attempts, 0.5 s doubling to 8 s), cameras
        stop with a SourceError. True: that default policy for both; False: neither reconnects;
        a ReconnectPolicy: that policy for both (`ReconnectPolicy.forever()` waits for a camera
        to be plugged back in). Files and images never reconnect.
    stream_timeout_s: for URLs, opening and each read give up after this long (a drop).
    capture_factory: opens the cv2.VideoCapture (tests pass fakes).
    """
    if isinstance(spec, FrameSource):
        return spec
    camera_policy, stream_policy = _reconnect_policies(reconnect)
    text = str(spec) if isinstance(spec, int) else os.fspath(spec).strip()
    if text.isdigit():
        return VideoCaptureSource(int(text), is_live=True, name=f"camera {text}", reconnect=camera_policy,
                                  capture_factory=capture_factory)
    lowered = text.lower()
    if "://" in text:
        if not lowered.startswith(STREAM_SCHEMES):
            scheme = text.split("://", 1)[0]
            raise SourceError(f"unsupported URL scheme {scheme!r} in {text}; supported: "
                              + ", ".join(s[:-3] for s in STREAM_SCHEMES))
        return VideoCaptureSource(text, is_live=True, name=text, reconnect=stream_policy,
                                  stream_timeout_s=stream_timeout_s, capture_factory=capture_factory)
    path = Path(text).expanduser()
    if any(ch in text for ch in "*?[") and not path.exists():
        paths = sorted(Path(p) for p in glob.glob(str(path)) if Path(p).suffix.lower() in IMAGE_EXTENSIONS)
        if not paths:
            raise SourceError(f"no images match {text}")
        return ImageSource(paths, name=text, fps=image_fps)
    if not path.exists():
        raise SourceError(f"{text}: no such file or folder")
    if path.is_dir():
        return ImageSource(image_paths_in(path), name=text, fps=image_fps)
    if not os.access(path, os.R_OK):
        raise SourceError(f"{text}: permission denied")
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return ImageSource([path], name=text, fps=image_fps)
    return VideoCaptureSource(str(path), is_live=False, name=text, capture_factory=capture_factory)


def _reconnect_policies(reconnect) -> tuple[ReconnectPolicy | None, ReconnectPolicy | None]:
    """(camera policy, stream policy) for open_source's `reconnect`."""
    if reconnect is None:
        return None, ReconnectPolicy()
    if reconnect is True:
        return ReconnectPolicy(), ReconnectPolicy()
    if reconnect is False:
        return None, None
    if isinstance(reconnect, ReconnectPolicy):
        return reconnect, reconnect
    raise UsageError(f"reconnect must be a ReconnectPolicy, True, False or None, got {reconnect!r}")
