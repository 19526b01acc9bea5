"""The Python API: iterate over a source and get each frame with typed results.

    import livevision
    for packet in livevision.stream("clip.mp4", "depth"):
        print(packet.index, packet.timestamp_s, packet.result.depth.shape)

Leaving the loop (end of source, `break`, or an exception) stops the capture thread and
releases the source.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

import numpy as np

from .errors import UsageError
from .sources import CapturePolicy, CaptureThread, FrameSource, open_source
from .types import Frame, Task

log = logging.getLogger(__name__)

# Anything with `__call__(image) -> result`; a Predictor, or a fake in tests.
Model = Callable[[np.ndarray], object]


@dataclass(frozen=True)
class Packet:
    """One frame and the results computed on it, by task."""

    frame: Frame
    results: Mapping[Task, object] = field(default_factory=dict)
    inference_s: Mapping[Task, float] = field(default_factory=dict)

    @property
    def image(self) -> np.ndarray:
        return self.frame.image

    @property
    def index(self) -> int:
        return self.frame.index

    @property
    def timestamp_s(self) -> float:
        return self.frame.timestamp_s

    @property
    def result(self):
        """The result when one task runs."""
        if len(self.results) != 1:
            raise AttributeError("several tasks ran: use packet.results[task]")
        return next(iter(self.results.values()))


def parse_tasks(tasks: "str | Task | Sequence[str | Task]") -> list[Task]:
    if isinstance(tasks, (str, Task)):
        tasks = [t for t in str(tasks.value if isinstance(tasks, Task) else tasks).split(",") if t.strip()]
    parsed = [Task.parse(t) for t in tasks]
    if not parsed:
        raise UsageError("no task given: choose depth, classification or segmentation")
    if len(set(parsed)) != len(parsed):
        raise UsageError("a task is named twice")
    return parsed


def load_models(tasks: Sequence[Task], models: "Mapping[Task, str | Path | None] | None" = None, **load_kwargs) -> dict[Task, Model]:
    from .predictor import load_model

    models = models or {}
    return {task: load_model(models.get(task), task, **load_kwargs) for task in tasks}


def stream(
    source: "str | int | FrameSource",
    task: "str | Task | Sequence[str | Task]" = Task.DEPTH,
    *,
    model: "str | Path | None" = None,
    models: "Mapping[Task, Model] | None" = None,
    policy: CapturePolicy | None = None,
    read_timeout_s: float | None = 30.0,
    **load_kwargs,
) -> Iterator[Packet]:
    """Yield a Packet for each processed frame of `source`.

    source: a camera index, a path, a URL, a glob, or any FrameSource.
    task: one task or several ("depth,segmentation"); model: the model of a single task
    (Hub id or folder; default: the task's default). models: ready models by task, e.g.
    Predictors you loaded or fakes; they take precedence over `model`.
    policy: how frames are captured (default: LATEST for live sources, QUEUE for files).
    load_kwargs go to `load_model` (cache_dir, providers, resize, ...).
    """
    tasks = parse_tasks(task)
    if models is None:
        if model is not None and len(tasks) > 1:
            raise UsageError("`model` names one model; with several tasks pass `models` by task")
        models = load_models(tasks, {tasks[0]: model} if model is not None else None, **load_kwargs)
    missing = [t.value for t in tasks if t not in models]
    if missing:
        raise UsageError(f"no model for task {', '.join(missing)}")
    opened = open_source(source)
    capture = CaptureThread(opened, policy, stop_event=threading.Event()).start()
    try:
        while True:
            frame = capture.read(timeout=read_timeout_s)
            if frame is None:
                return
            results, times = {}, {}
            for t in tasks:
                started = time.perf_counter()
                results[t] = models[t](frame.image)
                times[t] = time.perf_counter() - started
            yield Packet(frame, results, times)
    finally:
        capture.stop()
        if capture.frames_dropped:
            log.info("%s: %d frames dropped while the model was busy", opened.info.name, capture.frames_dropped)
