"""Turn what the user names (`--source`) into a FrameSource."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from .base import FrameSource, SourceError
from .images import IMAGE_EXTENSIONS, ImageSource, image_paths_in
from .opencv import VideoCaptureSource

STREAM_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


def open_source(spec: "str | int | os.PathLike | FrameSource", *, image_fps: float = 1.0) -> FrameSource:
    """A FrameSource for a camera index ("0"), a video file, a stream URL, an image, a
    folder of images or a glob. A FrameSource passes through, so callers can inject their own."""
    if isinstance(spec, FrameSource):
        return spec
    if isinstance(spec, int):
        return VideoCaptureSource(spec, is_live=True, name=f"camera {spec}")
    text = os.fspath(spec).strip()
    if text.isdigit():
        return VideoCaptureSource(int(text), is_live=True, name=f"camera {text}")
    lowered = text.lower()
    if "://" in text:
        if not lowered.startswith(STREAM_SCHEMES):
            scheme = text.split("://", 1)[0]
            raise SourceError(f"unsupported URL scheme {scheme!r} in {text}; supported: "
                              + ", ".join(s[:-3] for s in STREAM_SCHEMES))
        return VideoCaptureSource(text, is_live=True, name=text)
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
    return VideoCaptureSource(str(path), is_live=False, name=text)
