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

    #: Frames that could not be decoded and were skipped (damaged files).
    frames_bad: int = 0
    #: Times a camera or stream came back after it stopped delivering frames.
    reconnects: int = 0

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
    """Any image OpenCV reads as (H, W, 3) uint8 BGR.

    Depths: uint8 as is; uint16 keeps its high byte; float (16/32/64 bit) is taken as 0..1
    (OpenCV's convention) and clipped; bool is 0/255; other integer types (int8, int16, int32,
    uint32, 64-bit) are stretched from their minimum to their maximum (a still image has no
    agreed range for them). Channels: grey (H, W) or (H, W, 1) is repeated, grey+alpha (H, W, 2)
    keeps the grey, BGRA drops the alpha.
    """
    image = np.asarray(image)
    if image.ndim not in (2, 3) or image.size == 0:
        raise ValueError(f"image must be (H, W) or (H, W, C) and not empty, got shape {image.shape}")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype.kind == "f":
        image = np.clip(np.nan_to_num(image.astype(np.float32, copy=False)) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    elif image.dtype == np.bool_:
        image = image.astype(np.uint8) * 255
    elif image.dtype.kind in "iu" and image.dtype != np.uint8:
        low, high = float(image.min()), float(image.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        image = np.clip((image.astype(np.float64) - low) * scale + 0.5, 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise ValueError(f"image dtype {image.dtype} is not supported")
    if image.ndim == 2:
        return np.ascontiguousarray(np.repeat(image[:, :, None], 3, axis=2))
    channels = image.shape[2]
    if channels == 3:
        return image
    if channels == 4:
        return np.ascontiguousarray(image[:, :, :3])
    if channels in (1, 2):
        return np.ascontiguousarray(np.repeat(image[:, :, :1], 3, axis=2))
    raise ValueError(f"image with {channels} channels is not supported")
