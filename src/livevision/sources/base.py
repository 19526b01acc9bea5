"""What every frame source provides, and conversion of odd images to BGR uint8."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import LiveVisionError
from ..types import Frame


class SourceError(LiveVisionError):
    """A source that cannot be opened or read."""


@dataclass(frozen=True)
class SourceInfo:
    """name: what the user gave. is_live: a camera or stream (frames must be dropped, not
    queued, when processing is slower). fps: nominal frame rate, None if unknown.
    frame_count: None for live or unknown. path: a local media file (for its audio track)."""

    name: str
    is_live: bool
    fps: float | None = None
    frame_count: int | None = None
    size_wh: tuple[int, int] | None = None
    path: str | None = None


class FrameSource(abc.ABC):
    """A source of frames. `frames()` yields them in capture order until the source ends;
    `close()` releases the device or file and may be called from another thread to stop it.
    Sources are context managers."""

    info: SourceInfo

    @abc.abstractmethod
    def frames(self) -> Iterator[Frame]:
        ...

    #: Whether `grab()` can skip a frame without decoding it.
    supports_grab = False

    def grab(self) -> bool:
        """Skip the next frame without decoding it (sources with `supports_grab`); False at the end."""
        raise NotImplementedError(f"{type(self).__name__} cannot skip frames without reading them")

    def close(self) -> None:
        pass

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """Any image OpenCV reads (grayscale, BGRA, 16-bit, float) as (H, W, 3) uint8 BGR."""
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        image = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"image dtype {image.dtype} is not supported")
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    channels = image.shape[2]
    if channels == 3:
        return image
    if channels == 4:
        return np.ascontiguousarray(image[:, :, :3])
    if channels == 1:
        return np.ascontiguousarray(np.repeat(image, 3, axis=2))
    raise ValueError(f"image with {channels} channels is not supported")
