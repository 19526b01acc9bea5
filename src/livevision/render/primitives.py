"""Low-level drawing on an image the annotator owns: translucent boxes and pre-rendered sprites."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np


def clip_rect(xyxy: Sequence[int], image_wh: tuple[int, int]) -> tuple[int, int, int, int]:
    """(x0, y0, x1, y1) clipped to an image of size image_wh; may come back empty (x1 <= x0)."""
    width, height = image_wh
    x0, y0, x1, y1 = (int(v) for v in xyxy)
    return max(0, x0), max(0, y0), min(width, x1), min(height, y1)


def blend_rect(image: np.ndarray, xyxy: Sequence[int], color_bgr: Sequence[int], opacity: float) -> None:
    """Fill a rectangle with color_bgr at `opacity` (0..1) over image, in place, clipped to the image."""
    x0, y0, x1, y1 = clip_rect(xyxy, (image.shape[1], image.shape[0]))
    if x1 <= x0 or y1 <= y0 or opacity <= 0:
        return
    roi = image[y0:y1, x0:x1]
    if opacity >= 1:
        roi[:] = color_bgr
        return
    solid = np.empty_like(roi)
    solid[:] = color_bgr
    cv2.addWeighted(roi, 1.0 - opacity, solid, opacity, 0.0, dst=roi)


@dataclass(frozen=True, eq=False)
class Sprite:
    """A pre-rendered overlay (legend, colour bar) with per-pixel opacity, cheap to paste every frame.

    premultiplied: (h, w, 3) float32, colour * alpha.  keep: (h, w, 1) float32, 1 - alpha.
    """

    premultiplied: np.ndarray
    keep: np.ndarray

    @classmethod
    def from_bgr_alpha(cls, bgr: np.ndarray, alpha: np.ndarray) -> "Sprite":
        """bgr: (h, w, 3) uint8; alpha: (h, w) float in 0..1."""
        a = np.clip(alpha.astype(np.float32), 0.0, 1.0)[..., None]
        return cls(bgr.astype(np.float32) * a, 1.0 - a)

    @property
    def size_wh(self) -> tuple[int, int]:
        return self.keep.shape[1], self.keep.shape[0]

    def paste(self, image: np.ndarray, top_left_xy: tuple[int, int]) -> None:
        """Alpha-blend the sprite onto image at top_left_xy, in place; parts outside are cut off."""
        x, y = top_left_xy
        w, h = self.size_wh
        x0, y0, x1, y1 = clip_rect((x, y, x + w, y + h), (image.shape[1], image.shape[0]))
        if x1 <= x0 or y1 <= y0:
            return
        sx, sy = x0 - x, y0 - y
        roi = image[y0:y1, x0:x1]
        keep = self.keep[sy : sy + y1 - y0, sx : sx + x1 - x0]
        pre = self.premultiplied[sy : sy + y1 - y0, sx : sx + x1 - x0]
        roi[:] = np.clip(roi * keep + pre + 0.5, 0, 255).astype(np.uint8)


class SpriteCanvas:
    """Builds a Sprite: a translucent background with opaque text, swatches and images on it."""

    def __init__(self, size_wh: tuple[int, int], background_bgr: Sequence[int], background_opacity: float):
        width, height = size_wh
        self.bgr = np.empty((height, width, 3), np.uint8)
        self.bgr[:] = background_bgr
        self.coverage = np.zeros((height, width), np.uint8)  # 255 where something opaque was drawn
        self.background_opacity = float(background_opacity)

    def text(self, text: str, baseline_xy: tuple[int, int], font_face: int, scale: float,
             color_bgr: Sequence[int], thickness_px: int) -> None:
        args = (text, baseline_xy, font_face, scale)
        cv2.putText(self.bgr, *args, tuple(int(c) for c in color_bgr), thickness_px, cv2.LINE_AA)
        cv2.putText(self.coverage, *args, 255, thickness_px, cv2.LINE_AA)

    def fill(self, xyxy: Sequence[int], color_bgr: Sequence[int]) -> None:
        x0, y0, x1, y1 = (int(v) for v in xyxy)
        self.bgr[y0:y1, x0:x1] = color_bgr
        self.coverage[y0:y1, x0:x1] = 255

    def image(self, pixels_bgr: np.ndarray, top_left_xy: tuple[int, int]) -> None:
        x, y = top_left_xy
        h, w = pixels_bgr.shape[:2]
        self.bgr[y : y + h, x : x + w] = pixels_bgr
        self.coverage[y : y + h, x : x + w] = 255

    def build(self) -> Sprite:
        alpha = np.maximum(self.coverage.astype(np.float32) / 255.0, self.background_opacity)
        return Sprite.from_bgr_alpha(self.bgr, alpha)
