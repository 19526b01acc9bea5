"""Depth and label maps as the robotics outputs publish them: 16-bit values, PNG, at the map stride.

- Metric depth: uint16 millimetres (REP 118's 16UC1), exact to the millimetre; 0: no depth.
- Relative depth (no unit): uint16 levels, value = offset + (level - 1) * step, where offset is the
  frame's smallest value and step its range / 65534 (so the largest value is level 65535); 0: no
  value. Each frame has its own offset and step, published with it (``LevelScale``); a level is
  within step / 2 of the value.
- The map stride: depth maps are published at every `stride`-th pixel of the frame in each direction
  (DEPTH_STRIDE, 640x360 for 1280x720), the pixels themselves, not averages, with the camera scaled
  to match (`sampled_camera`). A depth model's output is upsampled to the frame from its own, smaller
  map (Depth Anything: 518 px high, from a head that upsamples 2x at its end), so half the frame's
  size keeps what the model computed; the rest is interpolation.
- PNG at compression level PNG_LEVEL: lossless, and level 1 is the fast end (a 640x360 16-bit map in
  ~7 ms; level 3 saves under 10 % for twice the time).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..pointcloud import CameraIntrinsics

DEPTH_STRIDE = 2  # the default map stride of depth maps (raw outputs: 1)
PNG_LEVEL = 1  # zlib level of the PNG maps: the fastest that still shrinks them


@dataclass(frozen=True)
class LevelScale:
    """How a relative depth map's uint16 levels read: value = offset + (level - 1) * step (0: none)."""

    offset: float
    step: float

    def values(self, levels: np.ndarray) -> np.ndarray:
        """The values the levels stand for (float64; NaN where the level is 0)."""
        values = self.offset + (levels.astype(np.float64) - 1.0) * self.step
        values[levels == 0] = np.nan
        return values


def depth_millimetres(depth: np.ndarray) -> np.ndarray:
    """Metric depth in metres as uint16 millimetres (REP 118's 16UC1): 0 where the depth is not finite
    and positive, or does not fit (under 0.5 mm, over 65.535 m)."""
    mm = np.multiply(depth, 1000.0, dtype=np.float32)
    np.rint(mm, out=mm)
    with np.errstate(invalid="ignore"):
        mm[~((mm >= 1) & (mm <= 65535))] = 0  # NaN fails both, and so becomes 0
    return mm.astype(np.uint16)


def depth_levels(depth: np.ndarray) -> tuple[np.ndarray, LevelScale]:
    """A relative model's depth (no unit) as uint16 levels of the frame's range (1: its smallest value,
    65535: its largest, 0 where the value is not finite), and the scale that reads them back."""
    finite = np.isfinite(depth)
    low, high = (float(depth[finite].min()), float(depth[finite].max())) if finite.any() else (0.0, 0.0)
    step = (high - low) / 65534.0
    levels = np.subtract(depth, low, dtype=np.float64)  # float32 would miss half a level by ~1e-3 of one
    levels *= 1.0 / step if step > 0 else 0.0
    levels += 1.0
    np.rint(levels, out=levels)
    levels[~finite] = 0
    return levels.astype(np.uint16), LevelScale(low, step)


def sampled(pixels: np.ndarray, stride: int) -> np.ndarray:
    """Every `stride`-th pixel in each direction, from (0, 0), contiguous."""
    return np.ascontiguousarray(pixels[::stride, ::stride]) if stride > 1 else pixels


def sampled_camera(camera: CameraIntrinsics, stride: int) -> CameraIntrinsics:
    """The camera of a map sampled at every `stride`-th pixel: its pixel (u, v) is the frame's
    (stride u, stride v), so every intrinsic divides by the stride."""
    if stride == 1:
        return camera
    return CameraIntrinsics(camera.fx / stride, camera.fy / stride, camera.cx / stride, camera.cy / stride)


def png(pixels: np.ndarray) -> np.ndarray:
    """A uint8 or uint16 single-channel map as PNG bytes (a uint8 array), at PNG_LEVEL."""
    ok, encoded = cv2.imencode(".png", pixels, [cv2.IMWRITE_PNG_COMPRESSION, PNG_LEVEL])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 / uint16 map
        raise ValueError(f"could not encode a {pixels.shape} {pixels.dtype} map as PNG")
    return encoded


__all__ = ["DEPTH_STRIDE", "PNG_LEVEL", "LevelScale", "depth_levels", "depth_millimetres", "png", "sampled",
           "sampled_camera"]
