"""The Python API: iterate over a source and get each frame with typed results.

    import livevision
    for packet in livevision.stream("clip.mp4", "depth"):
        print(packet.index, packet.timestamp_s, packet.result.depth.shape)

Leaving the loop (end of source, `break`, or an exception) stops every thread and
releases the source. `Stream` is the same with its telemetry at hand; `Stream.open` loads models
from names, `Stream(source, models, pacing)` wires ready ones:

    s = livevision.Stream.open(0, "depth,segmentation", pacing="live")
    for packet in s: ...
    print(s.stats.summary())

    s = livevision.Stream("clip.mp4", {"depth": my_model}, "every")
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import Iterator, Mapping, Sequence

import cv2
import numpy as np

from .engine.clock import Clock, SystemClock
from .engine.every import run_every
from .engine.live import run_live
from .engine.paced import PacedReader
from .engine.pacing import Pacing, RateLimiter
from .engine.running import TaskOutput
from .engine.shared import SharedModels, run_lockstep
from .engine.telemetry import Telemetry
from .errors import UsageError
from .objects.distance import OBJECT_TASKS, ObjectDepthStep
from .options import LoadOptions
from .pointcloud import CameraIntrinsics
from .sources import CapturePolicy, CaptureThread, FrameSource, ReconnectPolicy, open_source
from .tasks.registry import definition
from .threads import wait_for
from .types import Frame, Task

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Packet:
    """One frame and the latest output of each task.

    In `every` mode each output was computed on this frame (unless a rate cap skipped it);
    in the live modes it may come from an earlier frame: see `outputs[task].frame_index`
    and `age_s`.
    """

    frame: Frame
    outputs: Mapping[Task, TaskOutput] = field(default_factory=dict)
    #: with several sources (MultiStream): which one, by its position in the list given and its name
    source_index: int = 0
    source_name: str | None = None

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
    def results(self) -> dict[Task, object]:
        return {task: out.result for task, out in self.outputs.items()}

    @property
    def result(self):
        """The result when one task runs (None until its first result)."""
        if len(self.outputs) > 1:
            raise AttributeError("several tasks ran: use packet.results[task]")
        return next(iter(self.outputs.values())).result if self.outputs else None

    def is_fresh(self, task: Task) -> bool:
        """Whether `task`'s output was computed on this very frame."""
        out = self.outputs.get(task)
        return out is not None and out.frame_index == self.frame.index


def parse_tasks(tasks: "str | Task | Sequence[str | Task]") -> list[Task]:
    if isinstance(tasks, (str, Task)):
        tasks = [t for t in str(tasks.value if isinstance(tasks, Task) else tasks).split(",") if t.strip()]
    parsed = [Task.parse(t) for t in tasks]
    if not parsed:
        raise UsageError("no task given: choose " + ", ".join(t.value for t in Task))
    if len(set(parsed)) != len(parsed):
        raise UsageError("a task is named twice")
    return parsed


def _as_task_map(tasks: list[Task], value, what: str) -> dict:
    """A per-task setting given as one value (single task) or a mapping by task name."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        mapped = {Task.parse(k): v for k, v in value.items()}
        unknown = [t.value for t in mapped if t not in tasks]
        if unknown:
            raise UsageError(f"{what} given for {', '.join(unknown)}, which is not among the tasks")
        return mapped
    if len(tasks) > 1:
        raise UsageError(f"with several tasks give {what} per task (task=value)")
    return {tasks[0]: value}


#: Stream.open's keywords that configure the stream (the others say which models load, and how)
STREAM_KEYWORDS = ("max_fps", "rates", "clock", "threaded", "depth_stabilize", "camera", "track")


@dataclass
class ModelLoader:
    """Loads `tasks`' models (call it: the ready models by task) with `load`, which a caller may still change
    (MultiStream splits the cores between its workers); built by model_loader."""

    tasks: list[Task]
    load: LoadOptions
    ready: dict
    wanted: dict
    options: dict
    sizes: dict

    def __call__(self) -> dict:
        to_load = [t for t in self.tasks if t not in self.ready]
        if to_load:
            from .predictor import load_models

            self.ready.update(load_models(to_load, {t: v for t, v in self.wanted.items() if t in to_load},
                                          options=self.options, input_size=self.sizes, load=self.load))
        return {t: self.ready[t] for t in self.tasks}


def model_loader(tasks: list[Task], *, model=None, models=None, options=None, input_size=None,
                 load: LoadOptions | None = None, **load_kwargs) -> ModelLoader:
    """What loads `tasks`' models as Stream.open describes its keywords, its options checked now (before a
    source opens or a model loads)."""
    if load is None:
        # No ORT thread spinning in any mode: in `every` the decode, pre/post-processing, render and
        # encode threads run beside inference, and spinning threads took their cores (SegFormer-B0,
        # 640x272 file with --output, 3 interleaved rounds: 0.84x raw session.run with spinning,
        # 0.93x without).
        load = LoadOptions.parse({"live": True, **load_kwargs})
    elif load_kwargs:
        raise TypeError(f"give load options as `load` or as keywords, not both (got {', '.join(load_kwargs)})")
    sizes = _as_task_map(tasks, input_size, "an input size")
    per_task = options if isinstance(options, Mapping) else {t: options for t in tasks}
    per_task = _as_task_map(tasks, per_task, "post-processing options")
    wanted = _as_task_map(tasks, model, "a model")
    ready = {Task.parse(t): m for t, m in (models or {}).items()}
    unknown = [t.value for t in ready if t not in tasks]
    if unknown:
        raise UsageError(f"a model given for {', '.join(unknown)}, which is not among the tasks")
    return ModelLoader(list(tasks), load, ready, wanted, per_task, sizes)


class _OpenCVThreads:
    """OpenCV's own thread pool would fight ONNX Runtime's for the same cores (the engine already runs
    capture, pre-processing, inference and rendering side by side), so it is cut to one thread while
    any stream runs. cv2.setNumThreads is process-wide: the first stream to start saves the setting and
    the last to end restores it, whatever order overlapping streams end in."""

    def __init__(self):
        self._lock = threading.Lock()
        self._running = 0
        self._saved = None

    def acquire(self) -> None:
        with self._lock:
            if self._running == 0:
                self._saved = cv2.getNumThreads()
                cv2.setNumThreads(1)
            self._running += 1

    def release(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0:
                cv2.setNumThreads(self._saved)


_opencv_threads = _OpenCVThreads()


class Stream:
    """Frames of `source` with the results of one or more tasks: the wiring of a source, ready models
    and a pacing. `Stream.open(source, task, model=...)` loads the models from specs first.

    source: a FrameSource, or what `Stream.open` takes (a camera index, a path, a URL, a glob).
    models: ready models by task ({Task.DEPTH: predictor} or {"depth": ...}), in the order the tasks
        run and show: Predictors, or any callable image -> result.
    pacing: "live" (default for cameras and streams), "every" (default for files) or
        "simulate-live" (a file played at its own frame rate); see livevision.engine.pacing.
    max_fps: caps every task's inference rate; rates: per-task caps, {task: fps} (max_fps still caps them).
    clock: a Clock (tests use ManualClock with threaded=False for deterministic pacing).
    reconnect: for a source given by spec, cameras and streams that stop delivering: a
        ReconnectPolicy, True (the default policy), False (stop at once); None: streams reconnect,
        cameras stop.
    depth_stabilize: "off", "align", "smooth" or "auto" (smooth in the live modes, align for files, off
        for a single image): the depth values over time, see livevision.tasks.depth.stabilize; its step,
        `steps[Task.DEPTH]`, has the mode chosen (`mode`) and measures the result (`flicker`).
    camera: where depth runs beside detection or segmentation, each object gets its distance
        (Detection.depth, Segment.depth; see livevision.objects.distance) and, for metric depth, its
        position through this camera: CameraIntrinsics in pixels at the source's resolution, or a
        horizontal field of view in degrees; None: a 60 degree field of view. `object_depth` is that
        step (None when the tasks do not call for it).
    track: give detections and instance/panoptic segments a track_id that persists over frames
        (livevision.objects.tracking; needs `pip install 'livevision[track]'`); semantic segmentation and
        the other tasks are unchanged.

    A Stream runs once: iterate it, then make a new one (a second iteration is an error). Use it as a
    context manager, or call close(), to end the run and release the source early. A Stream owns its
    source: closing it closes the source.
    """

    def __init__(self, source, models: Mapping, pacing=None, *, max_fps=None, rates=None,
                 clock: Clock | None = None, threaded: bool = True,
                 reconnect: "ReconnectPolicy | bool | None" = None, depth_stabilize: str = "auto",
                 camera: "CameraIntrinsics | float | None" = None, track: bool = False,
                 stats: Telemetry | None = None):
        if not isinstance(models, Mapping) or not models:
            raise UsageError("Stream(source, models, pacing) takes ready models by task, such as {'depth': "
                             "predictor}; to load them from names use Stream.open(source, task, model=...)")
        self.models = {Task.parse(t): m for t, m in models.items()}
        self.tasks = list(self.models)
        self.source: FrameSource = open_source(source, reconnect=reconnect)
        try:
            self.pacing = Pacing.parse(pacing, self.source.info)
            # max_fps caps every task, a task's own rate included: the lower of the two applies.
            rate_by_task = {t: max_fps for t in self.tasks}
            for t, rate in _as_task_map(self.tasks, rates, "a rate").items():
                rate_by_task[t] = rate if max_fps is None or rate is None else min(rate, max_fps)
            self.limiters = {t: RateLimiter(rate_by_task[t]) for t in self.tasks}
            # the objects' distances: a step on each packet's outputs, after the tasks' own steps
            with_objects = Task.DEPTH in self.tasks and any(t in self.tasks for t in OBJECT_TASKS)
            self.object_depth = ObjectDepthStep(camera, lambda: self.source.info.size_wh) if with_objects else None
        except BaseException:
            self.source.close()
            raise
        self.clock = clock or SystemClock()
        self.threaded = threaded
        self.stats = stats or Telemetry(self.clock.now)
        self.depth_stabilize = depth_stabilize
        self.track = track
        # among several sources (MultiStream): its place in their list, and the models' shared workers
        self.source_index = 0
        self.shared: SharedModels | None = None
        if track and not any(definition(t).has_objects for t in self.tasks):
            self.source.close()
            raise UsageError("tracking gives ids to detected objects and instance/panoptic segments: run "
                             "detection or segmentation with it")
        # each task's step on its outputs as they leave (depth: stabilized over time, objects tracked), by task
        try:
            self.steps = {t: step for t in self.tasks if (step := definition(t).stream_step(self)) is not None}
        except BaseException:  # a missing dependency (tracking)
            self.source.close()
            raise
        self._stop: threading.Event | None = None
        self._ended = threading.Event()  # the iteration has ended and its threads with it
        # The one iteration, once started: a weak reference, so that a caller who breaks out of a for
        # loop still gets the generator (and with it the source and threads) closed at once.
        self._packets: weakref.ref | None = None

    @classmethod
    def open(cls, source, task="depth", *, model=None, models=None, pacing=None, max_fps=None, rates=None,
             clock: Clock | None = None, threaded: bool = True, reconnect: "ReconnectPolicy | bool | None" = None,
             depth_stabilize: str = "auto", camera: "CameraIntrinsics | float | None" = None, track: bool = False,
             options=None, input_size=None, load: LoadOptions | None = None, **load_kwargs) -> "Stream":
        """A Stream from specs: the options are parsed and the source opened first (a bad one fails
        before any model loads), then each task's model is loaded.

        task: one task or several ("depth,segmentation"). model: a Hub id or folder (one task), or
        {task: id}; default: each task's default model. models: ready models by task for some or all
        of the tasks; the others are loaded. options: PostprocessOptions (one task) or {task: ...};
        input_size: a short side in pixels (one task) or {task: N}. load_kwargs: LoadOptions fields as
        `load_model` takes them (cache_dir, device, precision, resize, ...), or `load`, LoadOptions built
        already. The rest: see Stream.
        """
        if isinstance(source, (list, tuple)):
            raise UsageError("several sources: use MultiStream.open(sources, ...) or livevision.stream(sources, ...)")
        load_models = model_loader(parse_tasks(task), model=model, models=models, options=options,
                                   input_size=input_size, load=load, **load_kwargs)  # bad options fail here
        opened = open_source(source, reconnect=reconnect)
        try:
            return cls(opened, load_models(), pacing, max_fps=max_fps, rates=rates, clock=clock,
                       threaded=threaded, depth_stabilize=depth_stabilize, camera=camera, track=track)
        except BaseException:
            opened.close()
            raise

    def stop(self) -> None:
        """End the iteration at its next frame boundary (safe from a signal handler or another thread)."""
        if self._stop is not None:
            self._stop.set()

    def close(self) -> None:
        """Stop, end the iteration and close the source. Safe to call more than once. Returns once every
        thread of the run has ended: none is left inside a model (ONNX Runtime), so the process may exit."""
        self.stop()
        packets = self._packets() if self._packets is not None else None
        if packets is not None:
            try:
                packets.close()
            except ValueError:  # iterating in another thread right now: stop() ends it at the next frame
                wait_for(self._ended, "the stream's iteration in another thread to end")
        self.source.close()

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    @property
    def info(self):
        return self.source.info

    def __iter__(self) -> Iterator[Packet]:
        if self._packets is not None:
            raise UsageError("a Stream runs once (its source is consumed or closed): make a new Stream")
        self._stop = threading.Event()
        packets = self._run(self._stop)
        self._packets = weakref.ref(packets)
        return packets

    def _frames(self, stop: threading.Event):
        """(capture thread or None, the engine's iterator of (frame, outputs)) for this stream's pacing."""
        shared = None if self.shared is None else self.shared.workers_for(self.source_index, self.stats, self.tasks)
        capture = None
        if self.pacing is Pacing.EVERY:
            capture = CaptureThread(self.source, CapturePolicy.QUEUE, stop_event=stop).start()
            if shared is not None:
                return capture, run_lockstep(lambda: capture.read(timeout=None), shared, self.limiters, self.stats,
                                             self.clock, stop)
            return capture, run_every(capture, self.models, self.limiters, self.stats, self.clock, stop)
        if self.pacing is Pacing.SIMULATE_LIVE:
            read = PacedReader(self.source, self.clock, self.stats).read
        else:
            capture = CaptureThread(self.source, CapturePolicy.LATEST, stop_event=stop,
                                    on_frame=lambda f: self.stats.captured(f.captured_at),
                                    on_drop=self.stats.dropped).start()
            # No read timeout: the source bounds its own waits (stream timeouts, reconnection policy).
            read = lambda: capture.read(timeout=None)  # noqa: E731
        return capture, run_live(read, self.models, self.limiters, self.stats, self.clock, stop,
                                 threaded=self.threaded, workers=shared)

    def _run(self, stop: threading.Event) -> Iterator[Packet]:
        capture, frames = self._frames(stop)
        shown: dict[Task, int] = {}  # the frame behind each task's last shown result
        _opencv_threads.acquire()
        try:
            for frame, outputs in frames:
                if stop.is_set():
                    return
                now = self.clock.now()
                self.stats.displayed(now)
                for task, out in outputs.items():
                    new = shown.get(task) != out.frame_index
                    shown[task] = out.frame_index
                    self.stats.age(task.value, now - out.captured_at, new=new)
                if self.steps:
                    outputs = {t: self.steps[t](out) if t in self.steps else out for t, out in outputs.items()}
                if self.object_depth is not None:
                    outputs = self.object_depth(outputs)
                yield Packet(frame, outputs, self.source_index, self.source.info.name)
        finally:
            _opencv_threads.release()
            frames.close()
            stop.set()
            if capture is not None:
                capture.stop()
            self.source.close()
            self._ended.set()


def stream(source, task="depth", **kwargs) -> Iterator[Packet]:
    """`iter(Stream.open(source, task, **kwargs))`: see Stream.open. Several sources (a list or tuple):
    `iter(MultiStream.open(sources, task, **kwargs))`, see livevision.stream_multi."""
    if isinstance(source, (list, tuple)):
        from .stream_multi import MultiStream

        return iter(MultiStream.open(source, task, **kwargs))
    return iter(Stream.open(source, task, **kwargs))

