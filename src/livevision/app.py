"""`livevision run`: a source, one model, an overlay, and the outputs the user asked for.

A thin layer over `livevision.stream`: everything the command line can do, a script can
do with the API and the sinks.
"""

from __future__ import annotations

import contextlib
import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .predictor import PostprocessOptions, load_model
from .render import HudAnnotator, ResultAnnotator, View, compose
from .sinks import ProgressBar, RawArraySink, ResultsSink, VideoSink, WindowSink
from .sources import open_source
from .stream import stream
from .telemetry import RateMeter
from .types import Task

log = logging.getLogger(__name__)

QUIT_KEYS = (ord("q"), 27)  # q, Esc


@dataclass(frozen=True)
class RunOptions:
    """What `livevision run` does. Paths are validated before the model loads."""

    task: Task
    source: str = "0"
    model: str | None = None
    revision: str | None = None
    output: Path | None = None
    results: Path | None = None
    arrays: Path | None = None
    depth_format: str = "npy"
    display: bool = True
    view: View = View.OVERLAY
    hud: bool = True
    cache_dir: Path | None = None
    postprocess: PostprocessOptions = PostprocessOptions()
    max_frames: int | None = None


def run(options: RunOptions, *, source=None) -> int:
    """Process the source until it ends, the user quits, or `max_frames`. Returns an exit code.
    `source` may be a FrameSource to use instead of `options.source` (tests, custom capture)."""
    opened = open_source(source if source is not None else options.source)
    with contextlib.ExitStack() as stack:
        stack.callback(opened.close)
        info = opened.info
        video = None
        if options.output is not None:
            fps = info.fps or 30.0
            video = stack.enter_context(VideoSink(options.output, fps, audio_from=info.path))
        results = stack.enter_context(ResultsSink(options.results)) if options.results else None
        arrays = (stack.enter_context(RawArraySink(options.arrays, depth_format=options.depth_format))
                  if options.arrays else None)
        window = stack.enter_context(WindowSink(f"livevision {options.task.value}")) if options.display else None

        predictor = load_model(options.model, options.task, revision=options.revision,
                               cache_dir=options.cache_dir, options=options.postprocess)
        annotator = ResultAnnotator()
        hud = HudAnnotator()
        display_rate, inference_rate = RateMeter(), RateMeter()
        total = info.frame_count if not info.is_live else None
        if options.max_frames:
            total = min(total, options.max_frames) if total else options.max_frames
        progress = stack.enter_context(ProgressBar(total, desc=info.name)) if not info.is_live else None

        last_view: np.ndarray | None = None
        last_index = -1
        frames = stream(opened, options.task, models={options.task: predictor})
        stack.callback(frames.close)
        for packet in frames:
            inference_rate.tick()
            annotated = annotator.annotate(packet.image, packet.result)
            view = compose(options.view, packet.image, annotated)
            display_rate.tick()
            if options.hud:
                view = hud.annotate(view, _hud_lines(predictor.name, display_rate, inference_rate,
                                                     packet.inference_s[options.task]))
            if video is not None:
                # Live sources skip frames while the model is busy; fill their slots with the
                # previous view so the video keeps the source's timing.
                for _ in range(max(0, packet.index - last_index - 1) if last_view is not None else 0):
                    video.write(last_view)
                video.write(view)
            if results is not None:
                results.write(packet.index, packet.timestamp_s, options.task, predictor.name, packet.result,
                              inference_ms=round(packet.inference_s[options.task] * 1000, 2))
            if arrays is not None:
                arrays.write(packet.index, packet.result)
            if progress is not None:
                progress.update()
            last_view, last_index = view, packet.index
            if window is not None and window.write(view) in QUIT_KEYS:
                break
            if options.max_frames and packet.index + 1 >= options.max_frames:
                break
    return 0


def _hud_lines(model: str, display: RateMeter, inference: RateMeter, latency_s: float) -> list[str]:
    def fps(rate: float | None) -> str:
        return "--" if rate is None or not math.isfinite(rate) else f"{rate:.1f}"

    return [model.split("/")[-1][:32], f"display {fps(display.rate)} fps",
            f"model {fps(inference.rate)} fps, {latency_s * 1000:.0f} ms"]
