"""Synthetic media for tests: videos and images with the frame index drawn into the pixels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

CODE_BITS = 12
CELL = 16


def indexed_frame(index: int, size_wh=(320, 240)) -> np.ndarray:
    """A frame whose top row of CODE_BITS black/white cells encodes `index` in binary
    (survives lossy codecs), over a gradient, with the number written for humans."""
    w, h = size_wh
    x = np.linspace(0, 255, w, dtype=np.float32)
    y = np.linspace(0, 255, h, dtype=np.float32)[:, None]
    image = np.stack([np.broadcast_to(x, (h, w)), np.broadcast_to(y, (h, w)),
                      np.full((h, w), (index * 37) % 256, np.float32)], axis=2).astype(np.uint8)
    for bit in range(CODE_BITS):
        value = 255 if (index >> bit) & 1 else 0
        image[0:CELL, bit * CELL:(bit + 1) * CELL] = value
    cv2.putText(image, str(index), (8, h - 12), cv2.FONT_HERSHEY_SIMPLEX, 1.0, (255, 255, 255), 2)
    return image


def read_index(image: np.ndarray) -> int:
    """The index `indexed_frame` drew into `image` (any size with the same top-left layout)."""
    gray = image if image.ndim == 2 else image.mean(axis=2)
    index = 0
    for bit in range(CODE_BITS):
        cell = gray[3:CELL - 3, bit * CELL + 3:(bit + 1) * CELL - 3]
        if cell.mean() > 127:
            index |= 1 << bit
    return index


def write_video(path: Path, frames: int, fps: float = 25.0, size_wh=(320, 240)) -> Path:
    """An MJPG .avi (always available in OpenCV) with `frames` indexed frames."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size_wh)
    assert writer.isOpened(), f"cannot write {path}"
    for i in range(frames):
        writer.write(indexed_frame(i, size_wh))
    writer.release()
    return path
