"""Still images as a source: one image, a folder, or a glob."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Iterator, Sequence

import cv2
import numpy as np

from ..types import Frame
from .base import FrameSource, SourceError, SourceInfo, to_bgr8

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pnm"})


class ImageSource(FrameSource):
    """Images read in the given order; frame i has timestamp i / fps."""

    def __init__(self, paths: Sequence[Path], *, name: str, fps: float = 1.0):
        if not paths:
            raise SourceError(f"no images found in {name}")
        self._paths = list(paths)
        self._position = 0
        self._closed = False
        first = self._read(self._paths[0])
        self.info = SourceInfo(name=name, is_live=False, fps=fps, frame_count=len(self._paths),
                               size_wh=(first.shape[1], first.shape[0]))

    @staticmethod
    def _read(path: Path) -> np.ndarray:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is None:
            raise SourceError(f"{path} could not be read as an image")
        try:
            return to_bgr8(image)
        except ValueError as exc:
            raise SourceError(f"{path}: {exc}") from None

    supports_grab = True

    def grab(self) -> bool:
        if self._closed or self._position >= len(self._paths):
            return False
        self._position += 1
        return True

    def frames(self) -> Iterator[Frame]:
        while not self._closed and self._position < len(self._paths):
            index = self._position
            self._position += 1
            image = self._read(self._paths[index])
            yield Frame(image, index, index / self.info.fps, time.monotonic(), source=str(self._paths[index]))

    def close(self) -> None:
        self._closed = True


def image_paths_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())
