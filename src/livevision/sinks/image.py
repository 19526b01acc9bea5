"""ImageSink: the annotated view of a single-image source, written as an image file (`--output out.png`).

Each frame written replaces the file (atomically: a file under the name is always a whole image). The app
only uses it for sources of one frame; for more frames, a video file is the output.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from ._paths import atomic_write_bytes, check_output_file
from .base import Sink, SourceTimeline
from .errors import SinkError

# The formats --output writes a view in: of the image files a source reads (sources.images.IMAGE_EXTENSIONS)
# those with an encoder for a colour image, less the Netpbm family (.pgm holds grey only).
IMAGE_OUTPUT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


class ImageSink(SourceTimeline, Sink):
    """A ViewSink (see SourceTimeline); write_frame(frame): encode the BGR uint8 `frame` in the format the
    path's extension names and save it."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = check_output_file(path, IMAGE_OUTPUT_EXTENSIONS, "image")
        self.frames_written = 0

    def write_frame(self, frame: np.ndarray) -> None:
        if self._closed:
            raise SinkError(f"write to closed ImageSink {str(self.path)!r}")
        ok, encoded = cv2.imencode(self.path.suffix.lower(), frame)
        if not ok:  # pragma: no cover - every listed extension has an encoder in the OpenCV wheels
            raise SinkError(f"cannot encode a {frame.shape} frame as {self.path.suffix}")
        atomic_write_bytes(self.path, encoded.data)
        self.frames_written += 1

    def _close(self) -> None:
        pass


__all__ = ["IMAGE_OUTPUT_EXTENSIONS", "ImageSink"]
