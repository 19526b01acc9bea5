"""A fixed, deterministic colour palette for class ids and segment ids.

The colours are picked one by one, each the candidate farthest (in CIELAB, where distance follows
what the eye sees) from every colour picked before it: any few ids a frame shows, neighbours in
the legend included, are as different as a palette can make them (the first 24 differ by a
CIELAB distance of 35 or more; a golden-ratio hue walk gave near-identical greens at 12). No
colour is near-black, near-white or grey, so fills stay visible on dark and bright scenes and
tell apart from the picture. The same id always gets the same colour, in every frame and run.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Iterable

import cv2
import numpy as np

PALETTE_SIZE = 256  # ids beyond wrap around; the largest label sets livevision runs (ADE20K) have 150


def _lab(colors_bgr: np.ndarray) -> np.ndarray:
    """(N, 3) BGR uint8 -> (N, 3) float32 CIELAB (L 0..100)."""
    bgr = np.asarray(colors_bgr, np.float32)[None] / 255.0
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2LAB)[0]


def _farthest_first_palette(size: int) -> np.ndarray:
    levels = np.linspace(0, 255, 12)
    candidates = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), -1).reshape(-1, 3)
    lab = _lab(candidates)
    luma = candidates @ np.array([0.114, 0.587, 0.299])
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    usable = (luma > 60) & (luma < 225) & (chroma > 30)  # not near-black, near-white or grey
    candidates, lab = candidates[usable], lab[usable]
    picked = [int(np.argmax(lab[:, 1]))]  # start from the reddest
    distance = ((lab - lab[picked[0]]) ** 2).sum(axis=1)  # squared, to the nearest colour picked
    for _ in range(size - 1):
        picked.append(int(np.argmax(distance)))
        np.minimum(distance, ((lab - lab[picked[-1]]) ** 2).sum(axis=1), out=distance)
    return np.round(candidates[picked]).astype(np.uint8)


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
        """The shared palette of PALETTE_SIZE colours, farthest first."""
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
    return Palette(_farthest_first_palette(PALETTE_SIZE))


def lut_for_offset_ids(palette: Palette, ids: np.ndarray | None = None) -> np.ndarray:
    """A (256, 1, 3) uint8 colour map for cv2.applyColorMap over (id + 1) indices.

    Index 0 stands for id -1 (nothing) and is black; index k is the colour of id k - 1, or of
    ids[k - 1] when ids gives the colour key of each index (e.g. the class of each segment).
    """
    keys = np.arange(255) if ids is None else np.asarray(ids, dtype=np.int64)
    lut = np.zeros((256, 1, 3), np.uint8)
    lut[1 : 1 + len(keys), 0] = palette.colors(keys[:255])
    return lut


def object_color(palette: Palette, track_id: int | None, label_id: int) -> tuple[int, int, int]:
    """An object's colour (detections, instances): its track id's when a stream tracks it, the same in every
    frame, else its class's. Track ids count up from 1, and the palette is farthest-first, so the objects
    of one scene get colours as different as it has."""
    return palette.color(label_id if track_id is None else track_id)
