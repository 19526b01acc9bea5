"""One visitor of `livevision serve`: their camera's frames (a PushSource fed by the WebRTC loop) through the
tasks they picked, on the server's shared models, each frame drawn with the newest results and the HUD and
published to the track that goes back to them.

It is `live` pacing end to end: a frame is shown as soon as it comes with the newest result of each task,
a model takes the newest frame when it is free, and every hand-over between threads keeps only the newest
frame; so a slow model lowers the rate of results, never the rate of the returned video, and nothing
queues. Picking other tasks (`choose`) starts a new Stream on the same camera.
"""

from __future__ import annotations

import itertools
import logging
import threading
from typing import Callable, Sequence

import numpy as np

from ..engine.shared import SharedModels
from ..errors import UsageError
from ..stream import Stream
from ..threads import join_all
from ..types import Task
from .frames import PushSource

log = logging.getLogger(__name__)

_stream_keys = itertools.count(1 << 20)  # each Stream's key in the shared workers (never reused)


class Visitor:
    """Processes a visitor's frames on its own thread (`start()`, `close()`). publish(view, time_s) gets each
    drawn view; renderer_for(tasks) makes the Renderer for a choice of tasks; stream_options: Stream's keywords
    (depth_stabilize, track)."""

    def __init__(self, name: str, models: SharedModels, tasks: Sequence[Task],
                 publish: Callable[[np.ndarray, float], None], renderer_for: Callable, *, hud: bool = True,
                 stream_options: dict | None = None):
        self.name, self.models, self.publish, self.renderer_for, self.hud = name, models, publish, renderer_for, hud
        self.stream_options = dict(stream_options or {})
        self.source = PushSource(name)
        self._lock = threading.Lock()
        self._tasks = self._checked(tasks)
        self._stream: Stream | None = None
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"livevision-{name}", daemon=True)
        self.error: BaseException | None = None

    @property
    def tasks(self) -> list[Task]:
        with self._lock:
            return list(self._tasks)

    def _checked(self, tasks) -> list[Task]:
        if not isinstance(tasks, (list, tuple)) or not all(isinstance(t, (str, Task)) for t in tasks):
            raise UsageError("tasks: give a list of task names")
        try:
            chosen = [Task.parse(t) for t in tasks]
        except (UsageError, ValueError):
            raise UsageError(f"unknown task among {list(tasks)!r}") from None
        offered = list(self.models.workers)
        if not chosen or len(set(chosen)) != len(chosen) or any(t not in offered for t in chosen):
            raise UsageError(f"pick one or more of {', '.join(t.value for t in offered)}")
        return [t for t in offered if t in chosen]  # in the server's order

    def choose(self, tasks: Sequence) -> list[Task]:
        """Run `tasks` (some of the server's) from the next frame on; a bad choice raises UsageError."""
        chosen = self._checked(tasks)
        with self._lock:  # the Stream playing sees it at its next frame, ends, and _run starts one with these
            self._tasks = chosen
        return chosen

    def start(self) -> "Visitor":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            while not self._closing.is_set():
                with self._lock:
                    tasks = list(self._tasks)
                    stream = self._stream = self._new_stream(tasks)
                self._play(stream, self.renderer_for(tasks), tasks)
        except BaseException as exc:  # a model error: this visitor's video stops, the server goes on
            self.error = exc
            log.error("%s: %s", self.name, exc)

    def _new_stream(self, tasks: list[Task]) -> Stream:
        stream = Stream(self.source.reader(), {t: self.models.workers[t].model for t in tasks}, "live",
                        **self.stream_options)
        stream.shared, stream.source_index = self.models, next(_stream_keys)
        return stream

    def _play(self, stream: Stream, renderer, tasks: list[Task]) -> None:
        with stream:
            for packet in stream:
                if self.tasks != tasks or self._closing.is_set():
                    return
                view = renderer.render(packet)
                if self.hud:
                    view = renderer.draw_hud(view, stream.stats.hud_lines())
                self.publish(view, packet.timestamp_s)

    def stats(self) -> dict:
        """What the page shows: the tasks running, and the server's side of the figures."""
        with self._lock:
            stream, tasks = self._stream, list(self._tasks)
        summary = stream.stats.summary() if stream is not None else {}
        # p50 and p95 (ms) over the last 4096 frames (2 minutes at 30 fps) of the tasks' current Stream
        inference = {t: summary.get("latency_ms", {}).get(f"{t}.inference") for t in summary.get("inference_fps", {})}
        return {"tasks": [t.value for t in tasks], "inference_ms": inference,
                "result_age_ms": summary.get("result_age_ms", {}), "fps": summary.get("display_fps"),
                "new_result_age_ms": summary.get("new_result_age_ms", {}),
                "frames_in": self.source.pushed, "frames_overtaken": self.source.overtaken,
                "hud": stream.stats.hud_lines() if stream is not None else [],
                "error": None if self.error is None else str(self.error)}

    def close(self) -> None:
        """End the processing and return once its thread has (after a frame in a model, if any)."""
        self._closing.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.stop()
        self.source.close()
        if self._thread.ident is not None:
            join_all([self._thread], f"{self.name}'s frame")
