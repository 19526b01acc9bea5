"""Views: how the original frame and its annotated versions are put on screen, side by side or in a grid
(the view modes themselves: options.ViewMode)."""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np


def _as_bgr(image: np.ndarray, name: str) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise ValueError(f"{name} must be (H, W, 3) BGR or (H, W) grey, got shape {image.shape}")


def side_by_side(original: np.ndarray, annotated: np.ndarray) -> np.ndarray:
    """(H, W1 + W2, 3): original on the left, annotated on the right, scaled to original's height."""
    left = _as_bgr(original, "original")
    right = _as_bgr(annotated, "annotated")
    height = left.shape[0]
    if right.shape[0] != height:
        width = max(1, int(round(right.shape[1] * height / right.shape[0])))
        right = cv2.resize(right, (width, height), interpolation=cv2.INTER_AREA)
    return np.hstack((left, right))


def _letterbox(image: np.ndarray, cell_wh: tuple[int, int]) -> np.ndarray:
    cell_w, cell_h = cell_wh
    height, width = image.shape[:2]
    if (width, height) == (cell_w, cell_h):
        return image
    scale = min(cell_w / width, cell_h / height)
    new_w = max(1, min(cell_w, int(round(width * scale))))
    new_h = max(1, min(cell_h, int(round(height * scale))))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    resized = cv2.resize(image, (new_w, new_h), interpolation=interpolation)
    cell = np.zeros((cell_h, cell_w, 3), np.uint8)
    x, y = (cell_w - new_w) // 2, (cell_h - new_h) // 2
    cell[y : y + new_h, x : x + new_w] = resized
    return cell


def grid(
    images: Sequence[np.ndarray],
    columns: int | None = None,
    cell_wh: tuple[int, int] | None = None,
) -> np.ndarray:
    """Tiles images row by row in cells of cell_wh (default: the first image's size).

    Each image is scaled to fit its cell keeping its aspect ratio; the rest of the cell and the
    empty cells of the last row are black. columns defaults to ceil(sqrt(n)).
    Returns (rows * cell_h, columns * cell_w, 3) uint8.
    """
    tiles = [_as_bgr(image, f"images[{i}]") for i, image in enumerate(images)]
    if not tiles:
        raise ValueError("images must hold at least one image")
    columns = math.ceil(math.sqrt(len(tiles))) if columns is None else int(columns)
    if columns < 1:
        raise ValueError(f"columns must be >= 1, got {columns}")
    if cell_wh is None:
        cell_wh = (tiles[0].shape[1], tiles[0].shape[0])
    cell_w, cell_h = (int(v) for v in cell_wh)
    if cell_w < 1 or cell_h < 1:
        raise ValueError(f"cell_wh must be positive, got {cell_wh}")
    rows = math.ceil(len(tiles) / columns)
    out = np.zeros((rows * cell_h, columns * cell_w, 3), np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        out[r * cell_h : (r + 1) * cell_h, c * cell_w : (c + 1) * cell_w] = _letterbox(tile, (cell_w, cell_h))
    return out
