"""The loop of `livevision run` and of `livevision batch`'s workers: each packet rendered, its view and its new
results handed to the sinks and shown in the window (run only), until the source ends, the user quits,
max_frames, or a signal; and what a first and a second Ctrl-C do to the outputs."""

from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from . import interrupts
from .engine.pacing import Pacing
from .outputs import Outputs, ViewTargets, write_stats
from .sinks import ProgressBar
from .sinks.base import ResultSink
from .types import Task
from .window_keys import KeyWindow

if TYPE_CHECKING:
    from .app import Renderer
    from .options import OutputOptions
    from .stream import Stream

log = logging.getLogger(__name__)


def play_to_outputs(stack: contextlib.ExitStack, deferral: contextlib.ExitStack, stream: Stream, source,
                    outputs: Outputs, out: OutputOptions, renderer: Renderer, progress, max_frames: int | None,
                    window: KeyWindow | None = None) -> int:
    """A run whose stream and outputs are open, played to its end: Ctrl-C and SIGTERM handled in `deferral`
    (entered here, it outlives `stack`, which closes the outputs: see interrupts), the stream's iteration
    closed with `stack`, and each packet played into the outputs (and the window, for `livevision run`)
    until the source ends, the user quits, max_frames, or a signal. `source`: the stream's source, whose
    faults a second Ctrl-C writes to the stats file. Returns the frames processed (the packets played)."""
    deferral.enter_context(interrupts.deferred(
        lambda: on_first_interrupt(stream, outputs.video, outputs.results, *outputs.robotics),
        on_abort=lambda: on_second_interrupt(outputs.video, out.stats, stream, source, *outputs.robotics)))
    frames = iter(stream)
    stack.callback(frames.close)
    views = outputs.view_targets(out, hud_drawer(stream, renderer))
    return play(frames, stream, renderer, views, outputs.result_sinks(), window, progress, max_frames)


def hud_drawer(stream: Stream, renderer: Renderer) -> Callable[[np.ndarray], np.ndarray]:
    """view -> the view with the HUD (the stream's rates and latencies) over it. `every` mode queues frames by
    design: their capture-to-display age says nothing, so it is left out there."""
    age = stream.pacing is not Pacing.EVERY

    def draw_hud(view: np.ndarray) -> np.ndarray:
        return renderer.draw_hud(view, stream.stats.hud_lines(age=age))

    return draw_hud


def play(frames, stream: Stream, renderer: Renderer, views: ViewTargets, result_sinks: list[ResultSink],
         window: KeyWindow | None, progress: ProgressBar | None, max_frames: int | None) -> int:
    """The loop: render each packet, hand the view and each new result to the sinks, show it, until the
    source ends, the user quits, max_frames, or a signal. Returns the packets played."""
    played = 0
    last_index = -1
    video = views.timeline
    written: dict[Task, int] = {}  # the frame of each task's last written result
    shown = bool(views) or window is not None  # else nothing looks at the drawn view: skip drawing it
    for packet in frames:
        played += 1
        view = play_packet(packet, stream, renderer, views, result_sinks, written, shown)
        if progress is not None:  # the frames written to the video; without one, the source frames gone by
            progress.update(video.frames_written - progress.n if video is not None else packet.index - last_index)
        last_index = packet.index
        if window is not None and window.show(view, packet):
            return played
        if max_frames and packet.index + 1 >= max_frames:
            return played
        if interrupts.requested():
            return played
    if interrupts.requested():  # stopped, not ended: frames read ahead (`every`) were never shown
        return played
    # The source ended: the frames the live modes skipped after the last one shown count too.
    counts = stream.stats.summary()["frames"]
    frames_read = counts["captured"] + counts["dropped"]
    if video is not None:
        video.pad_to(frames_read)
    if progress is not None:
        progress.update(max(0, (video.frames_written if video is not None else frames_read) - progress.n))
    return played


def play_packet(packet, stream: Stream, renderer: Renderer, views: ViewTargets, result_sinks: list[ResultSink],
                written: dict[Task, int], draw: bool) -> np.ndarray | None:
    """One packet: rendered (when `draw`), its view handed to `views`, each result new since `written` (the
    frame of each task's last written result, updated here) to the result sinks, the stages timed in the
    stream's stats. Returns the view (None when not drawn)."""
    view = None
    if draw:
        started = stream.clock.now()
        view = renderer.render(packet)
        stream.stats.stage("render", stream.clock.now() - started)
    started = stream.clock.now()
    views.write_view(view, packet.index)
    for task, output in packet.outputs.items():
        if written.get(task) != output.frame_index:  # each result once
            written[task] = output.frame_index
            for sink in result_sinks:
                sink.write_result(task, output)
    stream.stats.stage("write", stream.clock.now() - started)
    return view


def total_frames(info, max_frames: int | None) -> int | None:
    total = None if info.is_live else info.frame_count
    if max_frames:
        total = min(total, max_frames) if total else max_frames
    return total


def on_first_interrupt(stream: Stream, video, results, *robotics) -> None:
    """The first Ctrl-C / SIGTERM: stop at the next frame, and put what was written so far under the
    outputs' names now, so a second signal (which ends the process at once) still leaves them."""
    stream.stop()
    published = [str(sink.path) for sink in (video, results, *robotics)
                 if sink is not None and getattr(sink, "publish_partial", None) and sink.publish_partial()]
    if published:
        no_audio = " (the video then has no audio)" if getattr(video, "audio_from", None) is not None else ""
        log.warning("stopping: %s already hold%s what was written so far; press Ctrl-C again to quit without "
                    "waiting for the outputs to be finished%s", " and ".join(published),
                    "" if len(published) > 1 else "s", no_audio)


def on_second_interrupt(video, stats_path: Path | None, stream: Stream, source, *robotics, say: bool = True) -> None:
    """A second Ctrl-C / SIGTERM ends the process now (interrupts): the video is left as ffmpeg holds it
    (without audio) and ffmpeg ended, what rerun holds in memory is flushed, and the stats so far are
    written, so that every output is readable and no child process outlives this one. The results file
    and the MCAP file are readable up to their last frame already. say=False: the caller says it (once for
    several sources)."""
    if say:
        log.warning("quitting now, without finishing the outputs")
    if video is not None and hasattr(video, "end_now"):
        video.end_now()
    for sink in robotics:
        if hasattr(sink, "flush_now"):
            sink.flush_now()
    if stats_path is not None:
        write_stats(stats_path, stream, source)


