"""Calibration frames for INT8 and the accuracy gate: synthetic photo-like frames, and how a set is split."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def synthetic_calibration_frames(count: int = 8, size_wh: tuple[int, int] = (640, 480),
                                 seed: int = 0) -> list[np.ndarray]:
    """Deterministic photo-like BGR uint8 frames for calibration when the user gives no clip.

    Each frame: a smooth vertical gradient (sky to ground), large soft blobs of random colour, a few
    sharp-edged rectangles (objects, edges at several scales) and mild sensor noise. They exercise the
    range of activations a camera frame does better than noise does, but they are not photos: the caller
    runs them through the model's own preprocessor, and the report records that synthetic frames were
    used. A clip from the real camera calibrates and checks INT8 better.
    """
    rng = np.random.default_rng(seed)
    w, h = size_wh
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for _ in range(count):
        top, bottom = rng.uniform(40, 230, 3), rng.uniform(20, 200, 3)
        t = (ys / max(h - 1, 1))[..., None]
        img = top * (1 - t) + bottom * t
        for _ in range(int(rng.integers(3, 7))):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.uniform(0.08, 0.35) * min(w, h)
            weight = np.exp(-(((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r * r)))[..., None]
            img = img * (1 - weight) + rng.uniform(0, 255, 3) * weight
        for _ in range(int(rng.integers(2, 6))):
            x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
            x1, y1 = int(min(w, x0 + rng.integers(8, w // 3))), int(min(h, y0 + rng.integers(8, h // 3)))
            img[y0:y1, x0:x1] = rng.uniform(0, 255, 3)
        img = img + rng.normal(0, 4, img.shape)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def split_calibration(inputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(frames static INT8 calibrates on, frames the gate checks). With 4 frames or more, calibration takes
    every other frame and the gate checks all of them, so half the checked frames were unseen by
    calibration; with fewer, both use all (the report says so)."""
    inputs = list(inputs)
    if len(inputs) >= 4:
        return inputs[::2], inputs
    return inputs, inputs
