"""The `every` mode: every frame inferred, in order, with the stages overlapped.

    capture ─> dispatch ─┬─> [task A] preprocess ─> inference ─> postprocess ─┐
                         └─> [task B] ...                                      ├─> caller (render, sinks)
                         └──────────────── frames ─────────────────────────────┘
Each arrow is a small bounded FIFO with one producer and one consumer, so order is kept
and memory is flat; each stage is a thread (NumPy, OpenCV and ONNX Runtime release the
GIL), so the slowest stage alone sets the pace. A task capped by a rate skips frames by
source time and the caller reuses its latest output. Errors travel down the FIFOs as
Failure items and are re-raised in the caller; a stop event ends every thread.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

from ..sources import CaptureThread
from ..types import Frame, Task
from .clock import Clock
from .pacing import RateLimiter
from .running import StagedModel, TaskOutput, run_model, timed
from .telemetry import Telemetry

QUEUE_SIZE = 2
_POLL_S = 0.1
END = object()


@dataclass
class Failure:
    error: BaseException


class Stopped(Exception):
    """The stop event was set while waiting."""


def put(q: queue.Queue, item, stop: threading.Event) -> None:
    while True:
        try:
            q.put(item, timeout=_POLL_S)
            return
        except queue.Full:
            if stop.is_set():
                raise Stopped from None


def get(q: queue.Queue, stop: threading.Event):
    while True:
        try:
            return q.get(timeout=_POLL_S)
        except queue.Empty:
            if stop.is_set():
                raise Stopped from None


@dataclass
class _Job:
    """One frame travelling down one task's stages. run=False: the task skips this frame."""

    frame: Frame
    run: bool
    started: float = 0.0
    data: object = None
    output: TaskOutput | None = None


def _stage_thread(name: str, work: Callable[[_Job], None], inq: queue.Queue, outq: queue.Queue,
                  stop: threading.Event) -> threading.Thread:
    def loop() -> None:
        try:
            while True:
                item = get(inq, stop)
                if item is not END and not isinstance(item, Failure) and item.run:
                    try:
                        work(item)
                    except BaseException as exc:  # handed to the caller
                        item = Failure(exc)
                put(outq, item, stop)
                if item is END or isinstance(item, Failure):
                    return
        except Stopped:
            return

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread


def _task_stages(task: Task, model, telemetry: Telemetry, clock: Clock) -> list[tuple[str, Callable[[_Job], None]]]:
    name = task.value
    if not isinstance(model, StagedModel):
        def whole(job: _Job) -> None:
            job.output = run_model(name, model, job.frame, telemetry, clock.now)
        return [("infer", whole)]

    def preprocess(job: _Job) -> None:
        job.started = clock.now()
        job.data = timed(telemetry, clock.now, f"{name}.preprocess", model.preprocess, job.frame.image)

    def infer(job: _Job) -> None:
        job.data = (job.data, timed(telemetry, clock.now, f"{name}.inference", model.infer, job.data))

    def postprocess(job: _Job) -> None:
        prepared, outputs = job.data
        result = timed(telemetry, clock.now, f"{name}.postprocess", model.postprocess, outputs, prepared)
        end = clock.now()
        telemetry.inferred(name, end)
        job.data = None
        job.output = TaskOutput(result, job.frame.index, job.frame.timestamp_s, job.frame.captured_at,
                                end - job.started, job.frame.image, job.frame.source)

    return [("pre", preprocess), ("infer", infer), ("post", postprocess)]


def run_every(
    capture: CaptureThread,
    models: Mapping[Task, object],
    limiters: Mapping[Task, RateLimiter],
    telemetry: Telemetry,
    clock: Clock,
    stop: threading.Event,
) -> Iterator[tuple[Frame, dict[Task, TaskOutput]]]:
    """Yield (frame, latest outputs by task) for every frame of the capture, in order."""
    frames_q: queue.Queue = queue.Queue(QUEUE_SIZE * 2)
    task_in = {task: queue.Queue(QUEUE_SIZE) for task in models}
    task_out: dict[Task, queue.Queue] = {}
    threads: list[threading.Thread] = []
    for task, model in models.items():
        q = task_in[task]
        for stage_name, work in _task_stages(task, model, telemetry, clock):
            nxt: queue.Queue = queue.Queue(QUEUE_SIZE)
            threads.append(_stage_thread(f"{stage_name}:{task.value}", work, q, nxt, stop))
            q = nxt
        task_out[task] = q

    def dispatch() -> None:
        outputs = [frames_q, *task_in.values()]
        try:
            while True:
                try:
                    frame = capture.read(timeout=None)
                except BaseException as exc:
                    for q in outputs:
                        put(q, Failure(exc), stop)
                    return
                if frame is None:
                    for q in outputs:
                        put(q, END, stop)
                    return
                telemetry.captured(clock.now())
                for task, q in task_in.items():
                    # Rates count in source time, so `every` stays deterministic.
                    run = limiters[task].ready(frame.timestamp_s)
                    if run:
                        limiters[task].started(frame.timestamp_s)
                    put(q, _Job(frame, run), stop)
                put(frames_q, frame, stop)
        except Stopped:
            return

    threads.append(threading.Thread(target=dispatch, name="dispatch", daemon=True))
    threads[-1].start()
    latest: dict[Task, TaskOutput] = {}
    try:
        while True:
            frame = get(frames_q, stop)
            if isinstance(frame, Failure):
                raise frame.error
            if frame is END:
                return
            for task, q in task_out.items():
                job = get(q, stop)
                if isinstance(job, Failure):
                    raise job.error
                if job.output is not None:
                    latest[task] = job.output
                else:
                    telemetry.skipped(task.value)
            yield frame, dict(latest)
    except Stopped:
        return
    finally:
        stop.set()
        capture.stop()
        for thread in threads:
            thread.join(timeout=5)
