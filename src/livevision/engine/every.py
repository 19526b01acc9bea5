"""The `every` mode: every frame inferred, in order, with the stages overlapped.

    capture ─> dispatch ─┬─> [task A] preprocess ─> inference ─> postprocess ─┐
                         └─> [task B] ...                                      ├─> caller (render, sinks)
                         └──────────────── frames ─────────────────────────────┘
Each arrow is a small bounded FIFO, so order is kept and memory is flat; each stage is a
thread (NumPy, OpenCV and ONNX Runtime release the GIL), so the slowest stage alone sets the
pace. Two things keep an accelerator busy (on the CPU provider both stay at one):
- inference takes the frames already waiting as one micro-batch (models with a dynamic batch
  axis, up to the model's max_batch; the size is measured on the first batch);
- pre- and post-processing can run on several worker threads each (the model's host_workers),
  whose items still leave in order.
A task capped by a rate skips frames by source time and the caller reuses its latest output.
Errors travel down the FIFOs as Failure items and are re-raised in the caller; a stop event
ends every thread.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, Mapping

from ..sources import CaptureThread
from ..threads import join_all
from ..types import Frame, Task
from .clock import Clock
from .pacing import RateLimiter
from .running import StagedModel, TaskOutput, place, run_model, timed
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


class _Turns:
    """Hands the items that several workers of one stage took, in the order they took them, to the
    next stage: a worker waits for its ticket's turn before it puts its item."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._taken = 0
        self._next = 0

    def take(self) -> int:
        with self._cond:
            self._taken += 1
            return self._taken - 1

    def wait(self, ticket: int, stop: threading.Event) -> None:
        with self._cond:
            while self._next != ticket:
                if stop.is_set():
                    raise Stopped
                self._cond.wait(_POLL_S)

    def done(self) -> None:
        with self._cond:
            self._next += 1
            self._cond.notify_all()


def _ends(item) -> bool:
    return item is END or isinstance(item, Failure)


def _stage_threads(name: str, work: Callable[[_Job], None], inq: queue.Queue, outq: queue.Queue,
                   stop: threading.Event, workers: int = 1) -> list[threading.Thread]:
    """`workers` threads running `work` on the jobs of inq; their items reach outq in inq's order."""
    taking = threading.Lock()  # one worker at a time takes an item and its ticket
    turns = _Turns()
    ended = threading.Event()

    def loop() -> None:
        try:
            while True:
                with taking:
                    if ended.is_set():
                        return
                    item = get(inq, stop)
                    ticket = turns.take()
                    if _ends(item):
                        ended.set()
                if not _ends(item) and item.run:
                    try:
                        work(item)
                    except BaseException as exc:  # handed to the caller
                        item = Failure(exc)
                        ended.set()
                turns.wait(ticket, stop)
                put(outq, item, stop)
                turns.done()
                if _ends(item):
                    return
        except Stopped:
            return

    threads = [threading.Thread(target=loop, name=name if workers == 1 else f"{name}#{i}", daemon=True)
               for i in range(workers)]
    for thread in threads:
        thread.start()
    return threads


def _batch_thread(name: str, work: Callable[[list[_Job]], None], limit: Callable[[], int], inq: queue.Queue,
                  outq: queue.Queue, stop: threading.Event) -> threading.Thread:
    """One thread running `work` on batches of the jobs waiting in inq: up to limit() jobs to run,
    taken as they are queued (it never waits for a batch to fill), passed on in order."""
    def loop() -> None:
        try:
            while True:
                items = [get(inq, stop)]
                while not _ends(items[-1]) and sum(1 for i in items if i.run) < limit():
                    try:
                        items.append(inq.get_nowait())
                    except queue.Empty:
                        break
                jobs = [i for i in items if not _ends(i) and i.run]
                if jobs:
                    try:
                        work(jobs)
                    except BaseException as exc:  # handed to the caller, in place of the batch
                        items = items[: items.index(jobs[0])] + [Failure(exc)]
                for item in items:
                    put(outq, item, stop)
                    if _ends(item):
                        return
        except Stopped:
            return

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread


def _whole_stage(task: Task, model, telemetry: Telemetry, clock: Clock):
    def whole(job: _Job) -> None:
        job.output = run_model(task.value, model, job.frame, telemetry, clock.now)
    return whole


class _Stages:
    """The pre, inference and post stages of one StagedModel. Inference takes batches of up to
    model.max_batch consecutive frames (models with infer_batch), the size picked on the first
    batch by model.choose_batch_size; pre and post run on model.host_workers threads each."""

    def __init__(self, task: Task, model, telemetry: Telemetry, clock: Clock):
        self.name, self.model, self.telemetry, self.clock = task.value, model, telemetry, clock
        batching = callable(getattr(model, "infer_batch", None))
        self.max_batch = int(getattr(model, "max_batch", 1)) if batching else 1
        self.workers = int(getattr(model, "host_workers", 1))
        self.batch_size: int | None = None if self.max_batch > 1 else 1

    def limit(self) -> int:
        return self.batch_size or 1

    def preprocess(self, job: _Job) -> None:
        place(self.name, self.model, job.frame.image, self.telemetry)  # the first frame: not timed
        job.started = self.clock.now()
        job.data = timed(self.telemetry, self.clock.now, f"{self.name}.preprocess", self.model.preprocess,
                         job.frame.image)

    def infer(self, jobs: list[_Job]) -> None:
        if self.batch_size is None:  # a model without choose_batch_size takes its max_batch
            choose = getattr(self.model, "choose_batch_size", None)
            self.batch_size = choose(jobs[0].data) if choose is not None else self.max_batch
        started = self.clock.now()
        if len(jobs) == 1:
            outputs = [self.model.infer(jobs[0].data)]
        else:
            outputs = self.model.infer_batch([job.data for job in jobs])
        elapsed = self.clock.now() - started  # what each frame of the batch waited for
        for job, output in zip(jobs, outputs):
            self.telemetry.stage(f"{self.name}.inference", elapsed)
            job.data = (job.data, output)

    def postprocess(self, job: _Job) -> None:
        prepared, outputs = job.data
        result = timed(self.telemetry, self.clock.now, f"{self.name}.postprocess", self.model.postprocess,
                       outputs, prepared)
        end = self.clock.now()
        self.telemetry.inferred(self.name, end)
        job.data = None
        job.output = TaskOutput(result, job.frame.index, job.frame.timestamp_s, job.frame.captured_at,
                                end - job.started, job.frame.image, job.frame.source)


def _start_task(task: Task, model, inq: queue.Queue, telemetry: Telemetry, clock: Clock,
                stop: threading.Event) -> tuple[queue.Queue, list[threading.Thread]]:
    """Start the stage threads of one task reading jobs from inq; returns their output queue."""
    if not isinstance(model, StagedModel):
        outq: queue.Queue = queue.Queue(QUEUE_SIZE)
        return outq, _stage_threads(f"infer:{task.value}", _whole_stage(task, model, telemetry, clock), inq, outq,
                                    stop)
    stages = _Stages(task, model, telemetry, clock)
    prepared: queue.Queue = queue.Queue(max(QUEUE_SIZE, 2 * stages.max_batch))  # room for a batch to form
    inferred: queue.Queue = queue.Queue(max(QUEUE_SIZE, stages.max_batch))
    outq = queue.Queue(QUEUE_SIZE)
    threads = _stage_threads(f"pre:{task.value}", stages.preprocess, inq, prepared, stop, stages.workers)
    threads.append(_batch_thread(f"infer:{task.value}", stages.infer, stages.limit, prepared, inferred, stop))
    threads += _stage_threads(f"post:{task.value}", stages.postprocess, inferred, outq, stop, stages.workers)
    return outq, threads


def _dispatch(capture: CaptureThread, frames_q: queue.Queue, task_in: Mapping[Task, queue.Queue],
              limiters: Mapping[Task, RateLimiter], telemetry: Telemetry, clock: Clock, stop: threading.Event) -> None:
    """The dispatch thread of run_every: each captured frame to every task's queue (marked to run or not by
    its rate limiter) and to the frames queue, then END, or the capture's failure, to all of them."""
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
        task_out[task], started = _start_task(task, model, task_in[task], telemetry, clock, stop)
        threads += started

    threads.append(threading.Thread(target=_dispatch, args=(capture, frames_q, task_in, limiters, telemetry, clock,
                                                            stop), name="dispatch", daemon=True))
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
        join_all(threads, "a model's frame")  # never leave one inside ONNX Runtime
