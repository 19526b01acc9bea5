"""Resize part of a 2-D map to an output size, as torch's interpolate does for the whole map.

Post-processing maps model outputs back onto the frame; when the model saw padding or a
center crop, only a sub-rectangle of its output corresponds to the frame.
"""

from __future__ import annotations

import cv2
import numpy as np


def warp_region(src: np.ndarray, region_y0y1x0x1: tuple[float, float, float, float], out_hw: tuple[int, int],
                interpolation: int, dst: np.ndarray | None = None) -> np.ndarray:
    """Resize the sub-rectangle [y0, y1) x [x0, x1) of `src` (pixel-edge coordinates, may reach
    beyond src) to out_hw with align_corners=False sampling and `interpolation` (cv2.INTER_*)."""
    y0, y1, x0, x1 = region_y0y1x0x1
    # Cut the source to the pixels the region touches, so that the kernel replicates the region's
    # edge instead of reading the padding next to it (a region beyond the source replicates its edge).
    h, w = src.shape
    top, left = max(0, int(np.floor(y0 + 1e-6))), max(0, int(np.floor(x0 + 1e-6)))
    bottom, right = min(h, int(np.ceil(y1 - 1e-6))), min(w, int(np.ceil(x1 - 1e-6)))
    src = src[top:bottom, left:right]
    y0, y1, x0, x1 = y0 - top, y1 - top, x0 - left, x1 - left
    sy, sx = (y1 - y0) / out_hw[0], (x1 - x0) / out_hw[1]
    matrix = np.array([[sx, 0.0, x0 + 0.5 * sx - 0.5], [0.0, sy, y0 + 0.5 * sy - 0.5]], dtype=np.float64)
    return cv2.warpAffine(src, matrix, (out_hw[1], out_hw[0]), dst=dst,
                          flags=interpolation | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REPLICATE)
