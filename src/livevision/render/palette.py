"""A fixed, deterministic colour palette for class ids and segment ids.

Colour i has hue i * golden-ratio (mod 1), so neighbouring ids (often related classes) land far
apart on the colour wheel; saturation and value alternate between two levels so that ids whose
hues come close again still differ in brightness. No colour is near-black or near-white, so fills
stay visible on dark and bright scenes. The same id always gets the same colour, in every frame
and every run.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

import cv2
import numpy as np

_GOLDEN_RATIO_CONJUGATE = 0.6180339887498949


def _golden_palette(size: int) -> np.ndarray:
    i = np.arange(size)
    hsv = np.empty((1, size, 3), np.float32)
    hsv[0, :, 0] = ((i * _GOLDEN_RATIO_CONJUGATE + 0.05) % 1.0) * 360.0  # float HSV: H in degrees
    hsv[0, :, 1] = np.where(i % 2 == 0, 0.85, 0.6)
    hsv[0, :, 2] = np.where((i // 2) % 2 == 0, 1.0, 0.78)
    bgr = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)[0]
    return np.clip(bgr * 255.0 + 0.5, 0, 255).astype(np.uint8)


class Palette:
    """id -> BGR colour. Ids beyond the table wrap around (id mod size), negatives included."""

    def __init__(self, colors_bgr: np.ndarray):
        colors = np.asarray(colors_bgr, dtype=np.uint8)
        if colors.ndim != 2 or colors.shape[1] != 3 or len(colors) == 0:
            raise ValueError(f"colors_bgr must have shape (N, 3), got {colors.shape}")
        self._colors = colors
        self._colors.setflags(write=False)

    @classmethod
    def default(cls) -> "Palette":
        """The shared golden-ratio palette of 1024 colours."""
        return _default_palette()

    def __len__(self) -> int:
        return len(self._colors)

    def color(self, key: int) -> tuple[int, int, int]:
        b, g, r = self._colors[int(key) % len(self._colors)]
        return int(b), int(g), int(r)

    def colors(self, keys: Iterable[int] | np.ndarray) -> np.ndarray:
        """(N, 3) uint8 colours for N keys."""
        keys = np.asarray(list(keys) if not isinstance(keys, np.ndarray) else keys, dtype=np.int64)
        return self._colors[keys % len(self._colors)]


@lru_cache(maxsize=1)
def _default_palette() -> Palette:
    return Palette(_golden_palette(1024))


def lut_for_offset_ids(palette: Palette, ids: np.ndarray | None = None) -> np.ndarray:
    """A (256, 1, 3) uint8 colour map for cv2.applyColorMap over (id + 1) indices.

    Index 0 stands for id -1 (nothing) and is black; index k is the colour of id k - 1, or of
    ids[k - 1] when ids gives the colour key of each index (e.g. the class of each segment).
    """
    keys = np.arange(255) if ids is None else np.asarray(ids, dtype=np.int64)
    lut = np.zeros((256, 1, 3), np.uint8)
    lut[1 : 1 + len(keys), 0] = palette.colors(keys[:255])
    return lut
