"""Running one model on one frame, with each stage timed into the telemetry."""

from __future__ import annotations

from typing import Any, Callable, Protocol, TypeVar, runtime_checkable

import numpy as np

from ..types import Frame, TaskOutput  # TaskOutput lives in types (sinks take it too)
from .telemetry import Telemetry


@runtime_checkable
class StagedModel(Protocol):
    """A model in three stages, which the engines time separately and, in `every` mode, run on
    separate threads: `preprocess(image) -> prepared`, `infer(prepared) -> outputs`,
    `postprocess(outputs, prepared) -> result`. Predictor is one. Any other callable
    `model(image) -> result` runs as one stage ("inference")."""

    def preprocess(self, image: np.ndarray) -> Any: ...

    def infer(self, prepared: Any) -> Any: ...

    def postprocess(self, outputs: Any, prepared: Any) -> Any: ...


T = TypeVar("T")


def timed(telemetry: Telemetry, clock: Callable[[], float], stage: str, work: Callable[..., T], *args) -> T:
    """work(*args), its duration recorded as telemetry stage `stage` ("depth.inference"...)."""
    started = clock()
    value = work(*args)
    telemetry.stage(stage, clock() - started)
    return value


def place(task: str, model, image: np.ndarray, telemetry: Telemetry) -> None:
    """Before a task's first frame is timed: where its model's stages run (a Predictor chooses now, and
    for `--pre-post auto` measures on `image`), kept in the telemetry. Models without `place` say nothing."""
    if task in telemetry.placements:
        return
    choose = getattr(model, "place", None)
    telemetry.placed(task, choose(image).report() if choose is not None else None)


def run_model(task: str, model, frame: Frame, telemetry: Telemetry, clock: Callable[[], float]) -> TaskOutput:
    """Run `model` on `frame` in the calling thread."""
    place(task, model, frame.image, telemetry)
    started = clock()
    if isinstance(model, StagedModel):
        prepared = timed(telemetry, clock, f"{task}.preprocess", model.preprocess, frame.image)
        outputs = timed(telemetry, clock, f"{task}.inference", model.infer, prepared)
        result = timed(telemetry, clock, f"{task}.postprocess", model.postprocess, outputs, prepared)
    else:
        result = timed(telemetry, clock, f"{task}.inference", model, frame.image)
    finished = clock()
    telemetry.inferred(task, finished)
    return TaskOutput(result, frame.index, frame.timestamp_s, frame.captured_at, finished - started, frame.image,
                      frame.source)
