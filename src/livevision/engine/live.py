"""The live modes: show every frame as it comes, with the latest result of each task.

One worker per task holds at most one frame in flight; a frame arriving while the worker
is busy is shown with the previous result (and counted as shown with an older result).
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Iterator, Mapping

from ..threads import join_all
from ..types import Frame, Task
from .clock import Clock
from .pacing import RateLimiter
from .running import TaskOutput, run_model
from .telemetry import Telemetry

log = logging.getLogger(__name__)


class LiveWorker:
    """Runs one task's model on its own thread, one frame at a time.

    `start()` it (as a CaptureThread), then `submit(frame)` only when `idle`; `poll()` returns a
    finished TaskOutput once, or None, and re-raises the model's error in the caller; `close()` ends it.
    """

    def __init__(self, task: Task, model, telemetry: Telemetry, clock: Clock, stop: threading.Event):
        self.task, self.model, self.telemetry, self.clock, self.stop_event = task, model, telemetry, clock, stop
        self._job: Frame | None = None
        self._done: TaskOutput | None = None
        self._error: BaseException | None = None
        self._busy = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"infer:{task.value}", daemon=True)

    def start(self) -> "LiveWorker":
        self._thread.start()
        return self

    @property
    def idle(self) -> bool:
        with self._cond:
            return not self._busy

    def submit(self, frame: Frame) -> None:
        with self._cond:
            if self._busy:
                raise RuntimeError("a live worker takes one frame at a time")
            self._busy = True
            self._job = frame
            self._cond.notify_all()

    def poll(self) -> TaskOutput | None:
        with self._cond:
            if self._error is not None:
                raise self._error
            done, self._done = self._done, None
            return done

    def wait_idle(self, timeout: float) -> bool:
        """Block until the in-flight frame is done (for the end of a source)."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._busy or self._error is not None, timeout)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._job is None and not self.stop_event.is_set():
                    self._cond.wait(0.1)
                if self.stop_event.is_set():
                    return
                frame, self._job = self._job, None
            try:
                output = run_model(self.task.value, self.model, frame, self.telemetry, self.clock.now)
            except BaseException as exc:  # re-raised in the caller by poll()
                with self._cond:
                    self._error, self._busy = exc, False
                    self._cond.notify_all()
                return
            with self._cond:
                self._done, self._busy = output, False
                self._cond.notify_all()

    def close(self) -> None:
        """Stop, and return once the thread has ended (after the frame in flight, if any)."""
        self.stop_event.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread.ident is not None:
            join_all([self._thread], f"the {self.task.value} model's frame")


class InlineWorker:
    """The same contract, but `submit` runs the model at once in the caller's thread.
    Deterministic: with a ManualClock, fake models 'take' time by sleeping on it."""

    def __init__(self, task: Task, model, telemetry: Telemetry, clock: Clock, stop: threading.Event):
        self.task, self.model, self.telemetry, self.clock = task, model, telemetry, clock
        self._done: TaskOutput | None = None
        self.idle = True

    def start(self) -> "InlineWorker":
        return self

    def submit(self, frame: Frame) -> None:
        self._done = run_model(self.task.value, self.model, frame, self.telemetry, self.clock.now)

    def poll(self) -> TaskOutput | None:
        done, self._done = self._done, None
        return done

    def wait_idle(self, timeout: float) -> bool:
        return True

    def close(self) -> None:
        pass


def run_live(
    read: Callable[[], Frame | None],
    models: Mapping[Task, object],
    limiters: Mapping[Task, RateLimiter],
    telemetry: Telemetry,
    clock: Clock,
    stop: threading.Event,
    *,
    threaded: bool = True,
    workers: Mapping | None = None,
) -> Iterator[tuple[Frame, dict[Task, TaskOutput]]]:
    """Yield (frame, latest outputs by task) for every frame `read` returns until it returns None.
    workers: {task: worker} with LiveWorker's contract to use instead of starting one per task (several
    sources sharing one model: engine.shared)."""
    if workers is None:
        worker_type = LiveWorker if threaded else InlineWorker
        workers = {task: worker_type(task, model, telemetry, clock, stop).start() for task, model in models.items()}
    latest: dict[Task, TaskOutput] = {}
    try:
        while not stop.is_set():
            frame = read()
            if frame is None:
                return
            now = clock.now()
            for task, worker in workers.items():
                if (out := worker.poll()) is not None:
                    latest[task] = out
                if worker.idle and limiters[task].ready(now):
                    limiters[task].started(now)
                    worker.submit(frame)
                    if (out := worker.poll()) is not None:  # inline workers finish at once
                        latest[task] = out
                if task in latest and latest[task].frame_index != frame.index:
                    telemetry.skipped(task.value)
            yield frame, dict(latest)
    finally:
        stop.set()
        for worker in workers.values():
            worker.close()
