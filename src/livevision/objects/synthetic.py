"""A synthetic clip with known trajectories, for measuring tracking (tests, scripts/bench_tracking.py).

Coloured rectangles and circles move with constant or curving velocities, bounce off the borders, cross
each other (same-coloured ones merge into one blob while they overlap, as a real detector would see them)
and pass behind a static grey bar. The ground truth of a frame is each object's visible pixels' box
(objects mostly hidden are left out); `ColourDetector` finds the shapes by colour, a stand-in for a
detection model that runs through the real pipeline: Stream(ClipSource(clip), {"detection": detector}).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import cv2
import numpy as np

from ..sources import FrameSource, SourceInfo
from ..types import Detection, DetectionResult, Frame

#: BGR colours of the shapes; the background is black, the occluder grey (no palette colour).
PALETTE = ((0, 0, 255), (0, 255, 0), (255, 0, 0), (0, 255, 255), (255, 0, 255), (255, 255, 0))
OCCLUDER_BGR = (128, 128, 128)
MIN_VISIBLE = 0.3  # an object counts in the ground truth while this share of it is visible


@dataclass(frozen=True)
class Clip:
    """frames: BGR uint8 images; truth: per frame, {object id (from 1): visible box (xmin, ymin, xmax,
    ymax), inclusive-exclusive pixel bounds}."""

    frames: list[np.ndarray]
    truth: list[dict[int, tuple[float, float, float, float]]]
    fps: float = 30.0


@dataclass
class _Shape:
    centre: np.ndarray  # (x, y)
    velocity: np.ndarray  # pixels per frame
    turn: float  # radians per frame the velocity rotates by (0: a straight line)
    half: int  # half width (rectangle) or radius (circle)
    circle: bool
    colour: tuple[int, int, int]


def _shapes(n_objects: int, size_wh: tuple[int, int], rng: np.random.Generator, speed: float) -> list[_Shape]:
    w, h = size_wh
    shapes = []
    for i in range(n_objects):
        if i < 2:  # a guaranteed head-on crossing through the middle
            centre = np.array([w * (0.15 if i == 0 else 0.85), h * 0.5])
            velocity = np.array([3.0 if i == 0 else -3.0, 0.0]) * speed
            turn = 0.0
        else:
            centre = rng.uniform([0.1 * w, 0.1 * h], [0.9 * w, 0.9 * h])  # inside for half <= 0.1 * h
            angle = rng.uniform(0, 2 * np.pi)
            velocity = rng.uniform(1.5, 4.0) * speed * np.array([np.cos(angle), np.sin(angle)])
            turn = float(rng.choice([0.0, rng.uniform(-0.03, 0.03)]))
        shapes.append(_Shape(centre, velocity, turn, int(rng.integers(10, 16)), bool(i % 2),
                             PALETTE[i % len(PALETTE)]))
    return shapes


def _draw(shape: _Shape, image: np.ndarray, owner: np.ndarray, object_id: int) -> int:
    """Draws the shape on image and its id on owner; returns its full area in pixels."""
    cx, cy = (int(round(v)) for v in shape.centre)
    r = shape.half
    window = np.zeros((2 * r + 1, 2 * r + 1), np.uint8)  # the shape's square, drawn then pasted
    if shape.circle:
        cv2.circle(window, (r, r), r, 1, -1)
    else:
        window[:] = 1
    inside = window.astype(bool)
    image[cy - r:cy + r + 1, cx - r:cx + r + 1][inside] = shape.colour
    owner[cy - r:cy + r + 1, cx - r:cx + r + 1][inside] = object_id
    return int(inside.sum())


def _visible_box(shape: _Shape, owner: np.ndarray, object_id: int, area: int):
    cx, cy = (int(round(v)) for v in shape.centre)
    r = shape.half
    ys, xs = np.nonzero(owner[cy - r:cy + r + 1, cx - r:cx + r + 1] == object_id)
    if len(xs) == 0 or len(xs) < MIN_VISIBLE * area:
        return None
    x0, y0 = cx - r, cy - r
    return float(x0 + xs.min()), float(y0 + ys.min()), float(x0 + xs.max() + 1), float(y0 + ys.max() + 1)


def _move(shape: _Shape, size_wh: tuple[int, int]) -> None:
    c, s = np.cos(shape.turn), np.sin(shape.turn)
    shape.velocity = np.array([c * shape.velocity[0] - s * shape.velocity[1],
                               s * shape.velocity[0] + c * shape.velocity[1]])
    shape.centre = shape.centre + shape.velocity
    for axis, limit in enumerate(size_wh):  # bounce off the borders
        low, high = shape.half, limit - shape.half - 1  # the whole shape inside the image
        if not low <= shape.centre[axis] <= high:
            shape.velocity[axis] = -shape.velocity[axis]
            shape.centre[axis] = np.clip(shape.centre[axis], low, high)


def make_clip(n_objects: int = 10, n_frames: int = 300, size_wh: tuple[int, int] = (640, 360), *,
              occluder: bool = True, speed: float = 1.0, seed: int = 0) -> Clip:
    """A clip of n_objects shapes over n_frames frames, moving 1.5 to 4 pixels a frame times `speed`;
    occluder: a grey vertical bar (40 px wide, wider than any shape) in the middle third that hides what
    passes behind it."""
    if n_objects < 1 or n_frames < 1:
        raise ValueError("a synthetic clip needs at least one object and one frame")
    rng = np.random.default_rng(seed)
    shapes = _shapes(n_objects, size_wh, rng, speed)
    w, h = size_wh
    bar = (int(w * 0.4), int(w * 0.4) + 40)
    frames, truth = [], []
    for _ in range(n_frames):
        image = np.zeros((h, w, 3), np.uint8)
        owner = np.zeros((h, w), np.int32)
        areas = {i: _draw(shape, image, owner, i) for i, shape in enumerate(shapes, start=1)}
        if occluder:
            image[:, bar[0]:bar[1]] = OCCLUDER_BGR
            owner[:, bar[0]:bar[1]] = 0
        boxes = {i: _visible_box(shape, owner, i, areas[i]) for i, shape in enumerate(shapes, start=1)}
        frames.append(image)
        truth.append({i: box for i, box in boxes.items() if box is not None})
        for shape in shapes:
            _move(shape, size_wh)
    return Clip(frames, truth)


class ClipSource(FrameSource):
    """A clip's frames as a file-like source; indices: only those frames, each with its own index (the
    gaps a live run's skipping leaves); default all."""

    def __init__(self, clip: Clip, indices=None):
        self.clip = clip
        self.indices = list(range(len(clip.frames)) if indices is None else indices)
        h, w = clip.frames[0].shape[:2]
        self.info = SourceInfo(name="synthetic clip", is_live=False, fps=clip.fps, frame_count=len(self.indices),
                               size_wh=(w, h))
        self._closed = False

    def frames(self):
        for index in self.indices:
            if self._closed:
                return
            yield Frame(self.clip.frames[index], index, index / self.clip.fps, time.monotonic())

    def close(self) -> None:
        self._closed = True


class ColourDetector:
    """image -> DetectionResult: each palette colour's connected blobs (at least min_area pixels) as
    detections labelled "shape". miss_rate: the share of detections left out at random; jitter_px: the
    standard deviation of noise added to each box coordinate (an imperfect detector)."""

    def __init__(self, *, miss_rate: float = 0.0, jitter_px: float = 0.0, min_area: int = 20, seed: int = 0):
        self.miss_rate, self.jitter_px, self.min_area = miss_rate, jitter_px, min_area
        self.rng = np.random.default_rng(seed)

    def __call__(self, image: np.ndarray) -> DetectionResult:
        detections = []
        for colour in PALETTE:
            mask = cv2.inRange(image, colour, colour)
            count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
            for x, y, bw, bh, area in stats[1:count]:
                if area < self.min_area or self.rng.random() < self.miss_rate:
                    continue
                box = np.array([x, y, x + bw, y + bh], float)
                if self.jitter_px:
                    box += self.rng.normal(0, self.jitter_px, 4)
                detections.append(Detection(tuple(float(v) for v in box), 0, "shape", 0.9))
        return DetectionResult(tuple(detections), {0: "shape"})
