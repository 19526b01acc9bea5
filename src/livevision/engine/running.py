"""Running one model on one frame, with each stage timed into the telemetry."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from ..types import Frame
from .telemetry import Telemetry


@dataclass(frozen=True)
class TaskOutput:
    """A task's result and where it came from.

    frame_index / timestamp_s / captured_at: the frame it was computed on (its source time, and
        its capture time on the engine's clock).
    latency_s: pre-processing + inference + post-processing time.
    image: that frame's BGR image (the same array, not a copy): in the live modes the frame shown with a
        result is newer than the one it was computed on, and this one lines up with the result pixel
        for pixel (point-cloud colours, overlays for recording, robot code).
    """

    result: object
    frame_index: int
    timestamp_s: float
    captured_at: float
    latency_s: float
    image: np.ndarray | None = field(default=None, repr=False, compare=False)


def has_stages(model) -> bool:
    """A Predictor-like model exposes preprocess / infer / postprocess, which the engine
    times separately and, in `every` mode, runs on separate threads."""
    return all(callable(getattr(model, name, None)) for name in ("preprocess", "infer", "postprocess"))


def run_model(task: str, model, frame: Frame, telemetry: Telemetry, clock: Callable[[], float]) -> TaskOutput:
    """Run `model` on `frame` in the calling thread."""
    started = clock()
    if has_stages(model):
        prepared = model.preprocess(frame.image)
        t1 = clock()
        outputs = model.infer(prepared)
        t2 = clock()
        result = model.postprocess(outputs, prepared)
        t3 = clock()
        telemetry.stage(f"{task}.preprocess", t1 - started)
        telemetry.stage(f"{task}.inference", t2 - t1)
        telemetry.stage(f"{task}.postprocess", t3 - t2)
    else:
        result = model(frame.image)
        t3 = clock()
        telemetry.stage(f"{task}.inference", t3 - started)
    telemetry.inferred(task, t3)
    return TaskOutput(result, frame.index, frame.timestamp_s, frame.captured_at, t3 - started, frame.image)
