"""Frame sources: cameras, files, streams, images; and the capture thread that reads them."""

from .base import FrameSource, SourceError, SourceInfo, to_bgr8
from .capture import CapturePolicy, CaptureThread
from .images import ImageSource
from .open import open_source
from .opencv import VideoCaptureSource
from .reconnect import ReconnectPolicy

__all__ = ["CapturePolicy", "CaptureThread", "FrameSource", "ImageSource", "ReconnectPolicy", "SourceError",
           "SourceInfo", "VideoCaptureSource", "open_source", "to_bgr8"]
