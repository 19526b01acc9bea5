"""One copy of each model for several sources: a task's worker shared by every source of a MultiStream.

Each source has at most one frame waiting or in flight per task (its loop submits only when its last one
is done: the live modes submit their latest frame, `every` waits for each), and the worker takes the frames
in the order they were submitted: the source that has waited longest goes first, so a fast camera never
starves a slow one, whatever their rates. Frames waiting from several sources form one micro-batch where
the model batches (infer_batch, max_batch > 1: an accelerator; on the CPU provider max_batch is 1), as
`every` mode batches one source's frames.

    models = SharedModels({Task.DEPTH: predictor}, stats, clock)
    workers = models.workers_for(0, telemetry_of_source_0)   # {task: worker} for run_live / run_lockstep
    ...
    models.close()
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Callable, Iterator, Mapping

from ..threads import join_all
from ..types import Frame, Task
from .clock import Clock
from .pacing import RateLimiter
from .running import StagedModel, TaskOutput, place, run_model, timed
from .telemetry import Telemetry

_POLL_S = 0.1


class SourceTelemetry(Telemetry):
    """A source's own telemetry that also records into the whole run's (`parent`): per-source rates, ages and
    counts for --stats, and the totals of all sources for the HUD."""

    def __init__(self, clock: Callable[[], float], parent: Telemetry):
        super().__init__(clock)
        self.parent = parent

    def captured(self, at=None):
        super().captured(at)
        self.parent.captured(at)

    def displayed(self, at=None):
        super().displayed(at)
        self.parent.displayed(at)

    def dropped(self, n=1):
        super().dropped(n)
        self.parent.dropped(n)

    def inferred(self, task, at=None):
        super().inferred(task, at)
        self.parent.inferred(task, at)

    def skipped(self, task):
        super().skipped(task)
        self.parent.skipped(task)

    def placed(self, task, report):
        super().placed(task, report)
        self.parent.placed(task, report)

    def stage(self, name, seconds):
        super().stage(name, seconds)
        self.parent.stage(name, seconds)

    def age(self, task, seconds, *, new):
        super().age(task, seconds, new=new)
        self.parent.age(task, seconds, new=new)


class SharedTaskWorker:
    """Runs one task's model for every source, on `threads` threads (one by default; on the CPU two let one
    frame's pre- and post-processing overlap another's inference).

    submit(key, frame) when idle(key); poll(key) returns that source's finished output once (or None) and
    re-raises a model error; telemetry: each source's own (SourceTelemetry), registered by `register`."""

    def __init__(self, task: Task, model, clock: Clock, stop: threading.Event, *, threads: int = 1,
                 isolate_errors: bool = False):
        self.task, self.model, self.clock, self.stop_event = task, model, clock, stop
        self._cond = threading.Condition()
        self._pending: OrderedDict[int, Frame] = OrderedDict()  # oldest submission first
        self._busy: set[int] = set()  # sources with a frame waiting or in flight
        self._done: dict[int, TaskOutput] = {}
        self._telemetry: dict[int, Telemetry] = {}
        self._gone: set[int] = set()  # discarded sources with a frame in flight
        self._error: BaseException | None = None
        # isolate_errors: a model error goes to the sources whose frames failed, and the worker goes on (the
        # visitors of `livevision serve`: one visitor's odd frame must not end the task for the others)
        self.isolate_errors = isolate_errors
        self._errors: dict[int, BaseException] = {}
        batching = isinstance(model, StagedModel) and callable(getattr(model, "infer_batch", None))
        self.max_batch = int(getattr(model, "max_batch", 1)) if batching else 1
        self._batch_size: int | None = None if self.max_batch > 1 else 1
        self._threads = [threading.Thread(target=self._run, name=f"infer:{task.value}#{i}", daemon=True)
                         for i in range(max(1, threads))]

    def start(self) -> "SharedTaskWorker":
        for thread in self._threads:
            thread.start()
        return self

    def register(self, key: int, telemetry: Telemetry) -> None:
        with self._cond:
            self._telemetry[key] = telemetry

    def idle(self, key: int) -> bool:
        with self._cond:
            return key not in self._busy

    def submit(self, key: int, frame: Frame) -> None:
        with self._cond:
            if key in self._busy:
                raise RuntimeError("a source has one frame at a time in a shared worker")
            self._busy.add(key)
            self._pending[key] = frame
            self._cond.notify_all()

    def poll(self, key: int) -> TaskOutput | None:
        with self._cond:
            if self._error is not None:
                raise self._error
            if key in self._errors:
                raise self._errors.pop(key)
            return self._done.pop(key, None)

    def wait_idle(self, key: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: key not in self._busy or self._error is not None
                                       or key in self._errors, timeout)

    def discard(self, key: int) -> None:
        """The source has ended: its waiting frame is dropped, one in flight finishes unseen, and the worker
        forgets the source (sources that come and go, as visitors of `livevision serve` do, leave nothing)."""
        with self._cond:
            if self._pending.pop(key, None) is not None:
                self._busy.discard(key)
            self._done.pop(key, None)
            self._errors.pop(key, None)
            if key in self._busy:
                self._gone.add(key)  # forgotten when its frame in flight is done
            else:
                self._telemetry.pop(key, None)
            self._cond.notify_all()

    def _take(self) -> list[tuple[int, Frame]] | None:
        """The oldest waiting frames, up to the batch size; None once stopped."""
        with self._cond:
            while not self._pending:
                if self.stop_event.is_set() or self._error is not None:
                    return None
                self._cond.wait(_POLL_S)
            limit = self._batch_size or 1
            return [self._pending.popitem(last=False) for _ in range(min(limit, len(self._pending)))]

    def _run(self) -> None:
        while (jobs := self._take()) is not None:
            try:
                outputs = self._run_jobs(jobs)
            except BaseException as exc:  # re-raised by poll() in every source's loop (isolated: in theirs)
                isolated = self.isolate_errors and isinstance(exc, Exception)
                with self._cond:
                    if not isolated:
                        self._error = exc
                    self._finish(jobs, [exc] * len(jobs))
                if not isolated:
                    return
                continue
            with self._cond:
                self._finish(jobs, outputs)

    def _finish(self, jobs: list[tuple[int, Frame]], outputs: list) -> None:
        """Hand each job's output (or isolated error) to its source, under the lock; forget discarded ones."""
        for (key, _), output in zip(jobs, outputs):
            if key in self._gone:  # discarded meanwhile
                self._gone.discard(key)
                self._telemetry.pop(key, None)
            elif isinstance(output, BaseException):
                if self._error is None:  # isolated: this source's own
                    self._errors[key] = output
            elif key in self._busy:
                self._done[key] = output
            self._busy.discard(key)
        self._cond.notify_all()

    def _run_jobs(self, jobs: list[tuple[int, Frame]]) -> list[TaskOutput]:
        name = self.task.value
        if len(jobs) == 1 and self._batch_size == 1:
            key, frame = jobs[0]
            return [run_model(name, self.model, frame, self._telemetry[key], self.clock.now)]
        return self._run_batch(jobs)

    def _run_batch(self, jobs: list[tuple[int, Frame]]) -> list[TaskOutput]:
        """Frames of several sources as one micro-batch: each prepared and post-processed apart, inferred
        together where their inputs have the same shape (sources of different sizes may not)."""
        name, model, now = self.task.value, self.model, self.clock.now
        started, prepared = [], []
        for key, frame in jobs:
            place(name, model, frame.image, self._telemetry[key])
            started.append(now())
            prepared.append(timed(self._telemetry[key], now, f"{name}.preprocess", model.preprocess, frame.image))
        if self._batch_size is None:
            choose = getattr(model, "choose_batch_size", None)
            self._batch_size = choose(prepared[0]) if choose is not None else self.max_batch
        raw = [None] * len(jobs)
        for group in _same_shape_groups(prepared):
            began = now()
            outs = [model.infer(prepared[group[0]])] if len(group) == 1 else \
                model.infer_batch([prepared[i] for i in group])
            elapsed = now() - began
            for i, out in zip(group, outs):
                raw[i] = out
                self._telemetry[jobs[i][0]].stage(f"{name}.inference", elapsed)
        results = []
        for (key, frame), begun, prep, out in zip(jobs, started, prepared, raw):
            result = timed(self._telemetry[key], now, f"{name}.postprocess", model.postprocess, out, prep)
            end = now()
            self._telemetry[key].inferred(name, end)
            results.append(TaskOutput(result, frame.index, frame.timestamp_s, frame.captured_at, end - begun,
                                      frame.image, frame.source))
        return results

    def close(self) -> None:
        self.stop_event.set()
        with self._cond:
            self._cond.notify_all()
        started = [t for t in self._threads if t.ident is not None]
        if started:
            join_all(started, f"the {self.task.value} model's frame")


def _same_shape_groups(prepared: list) -> list[list[int]]:
    """Positions of `prepared` grouped by input shape, in order of first appearance."""
    groups: dict = {}
    for i, item in enumerate(prepared):
        values = getattr(item, "pixel_values", item)  # a Predictor's PreparedInput, or an array
        shape = getattr(values, "shape", None)
        groups.setdefault(shape if shape is not None else ("alone", i), []).append(i)
    return list(groups.values())


class SourceWorker:
    """One source's view of a SharedTaskWorker, with the contract of live.LiveWorker (what run_live and
    run_lockstep drive): idle, submit, poll, wait_idle, close (which only forgets this source's frame)."""

    def __init__(self, shared: SharedTaskWorker, key: int):
        self.shared, self.key = shared, key

    def start(self) -> "SourceWorker":
        return self

    @property
    def idle(self) -> bool:
        return self.shared.idle(self.key)

    def submit(self, frame: Frame) -> None:
        self.shared.submit(self.key, frame)

    def poll(self) -> TaskOutput | None:
        return self.shared.poll(self.key)

    def wait_idle(self, timeout: float) -> bool:
        return self.shared.wait_idle(self.key, timeout)

    def close(self) -> None:
        self.shared.discard(self.key)


class SharedModels:
    """A SharedTaskWorker per task, started at once; `workers_for(key, telemetry)` gives a source its workers."""

    def __init__(self, models: Mapping[Task, object], clock: Clock, *, threads: int = 1,
                 isolate_errors: bool = False):
        self.stop_event = threading.Event()
        self.workers = {task: SharedTaskWorker(task, model, clock, self.stop_event, threads=threads,
                                               isolate_errors=isolate_errors).start()
                        for task, model in models.items()}

    def workers_for(self, key: int, telemetry: Telemetry, tasks=None) -> dict[Task, SourceWorker]:
        """Source `key`'s workers for `tasks` (default: every task), in their order."""
        chosen = {task: self.workers[task] for task in (self.workers if tasks is None else tasks)}
        for worker in chosen.values():
            worker.register(key, telemetry)
        return {task: SourceWorker(worker, key) for task, worker in chosen.items()}

    def close(self) -> None:
        self.stop_event.set()
        for worker in self.workers.values():
            worker.close()


def run_lockstep(
    read: Callable[[], Frame | None],
    workers: Mapping[Task, SourceWorker],
    limiters: Mapping[Task, RateLimiter],
    telemetry: Telemetry,
    clock: Clock,
    stop: threading.Event,
) -> Iterator[tuple[Frame, dict[Task, TaskOutput]]]:
    """`every` mode over shared workers: each frame `read` returns goes to every task due (rates in source
    time, as in run_every) and is yielded once their outputs are back, in order, until read returns None.
    One frame at a time per source: the overlap `every` gets from its stage threads comes here from the
    other sources' frames."""
    latest: dict[Task, TaskOutput] = {}
    try:
        while not stop.is_set():
            frame = read()
            if frame is None:
                return
            telemetry.captured(clock.now())
            due = [task for task in workers if limiters[task].ready(frame.timestamp_s)]
            for task in due:
                limiters[task].started(frame.timestamp_s)
                workers[task].submit(frame)
            for task in workers:
                if task in due:
                    while not workers[task].wait_idle(_POLL_S):
                        if stop.is_set():
                            return
                    latest[task] = workers[task].poll()
                    if latest[task] is None:  # the shared worker is closing
                        return
                else:
                    telemetry.skipped(task.value)
            yield frame, dict(latest)
    finally:
        for worker in workers.values():
            worker.close()
