"""`livevision run` with several sources (app.run hands them here): one MultiStream, the models loaded once
for all of them, and each source's own outputs (outputs_multi), renderer and HUD.

The order is app.run's: the output paths are planned (nothing opened), the sources opened, every output
checked against each source, and only then the models load; a bad path or a missing source (all missing, or
any with --require-all) is one line before an export starts. The merged packets are then played, each into
its source's outputs; the window and --serve show every source in one mosaic. A source that fails midway
ends alone (one line) and its outputs are finished at once; a first Ctrl-C stops every source at a frame
boundary and every output is finished, as with one source (interrupts).
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

from . import interrupts
from .app import Renderer, _model_kwargs
from .engine.pacing import Pacing
from .mosaic_window import MosaicWindow, ShowPacer
from .options import OutputOptions, RunOptions
from .outputs import Outputs, ViewTargets, check_metric_depth, web_view, write_stats
from .outputs_multi import MultiOutputs, check_multi_outputs, plan_outputs, source_labels
from .render import HudAnnotator
from .render.mosaic import Mosaic
from .run_loop import hud_drawer, on_first_interrupt, on_second_interrupt, play_packet, total_frames
from .sinks import ProgressBar, ResultsSink, WindowSink
from .sinks._paths import atomic_write_text
from .sinks.base import ResultSink
from .stream import Stream
from .stream_multi import MultiStream
from .types import Task

log = logging.getLogger(__name__)


@dataclass
class _Played:
    """One source's part of the run: its stream, outputs, renderer and where its views and results go;
    `finish` closes its outputs (at the end, or as soon as the source fails)."""

    index: int
    stream: Stream
    outputs: Outputs
    out: OutputOptions
    renderer: Renderer
    views: ViewTargets
    result_sinks: list[ResultSink]
    finish: contextlib.ExitStack
    written: dict[Task, int] = field(default_factory=dict)  # the frame of each task's last written result
    done: bool = False  # max_frames reached, or failed: its later packets are not played
    finished: bool = False  # its outputs closed (it failed midway)
    last_index: int = -1  # the last frame played (the progress counts the frames gone by)


def run_multi(options: RunOptions, *, models: dict | None = None) -> int:
    """app.run for several sources (options.source.sources); `models`: ready models by task, as app.run's.
    Returns an exit code; Ctrl-C / SIGTERM as app.run."""
    src, out = options.source, options.output
    plan = plan_outputs(out, src.sources)  # the path rules first: one line, nothing opened yet
    deferral = contextlib.ExitStack()  # outlives `stack`: signals stay deferred while outputs close
    with deferral, contextlib.ExitStack() as stack:
        cams = stack.enter_context(_open_checked(options, plan, models))
        if out.arrays is not None and out.depth_format == "ply":
            check_metric_depth(cams)
        names = {t: getattr(m, "name", type(m).__name__) for t, m in cams.models.items()}
        shared_results = stack.enter_context(ResultsSink(plan.results, names)) if plan.results else None
        if plan.stats is not None:
            stack.callback(write_summary, plan.stats, cams)
        played = [None if stream is None else
                  _open_source_outputs(stack, i, stream, plan.per_source[i], options, names, shared_results)
                  for i, stream in enumerate(cams.streams)]
        played_now = [p for p in played if p is not None]
        _warn_if_nothing_is_kept(out, plan, played_now)
        progress = _progress(stack, out, played_now, src.max_frames)
        shown = _shared_view(stack, out, cams, played)
        deferral.enter_context(interrupts.deferred(
            lambda: on_first_interrupt(cams, None, shared_results, *_sinks_to_publish(played_now)),
            on_abort=lambda: _on_abort(played_now, plan, cams)))
        frames = iter(cams)
        stack.callback(frames.close)
        _play(frames, cams, played, shown, progress, src.max_frames)
    interrupts.raise_if_requested()
    return 0


def _open_checked(options: RunOptions, plan: MultiOutputs, models: dict | None) -> MultiStream:
    """The MultiStream, every output checked against its sources once they are open, before the models load."""
    src, out = options.source, options.output
    return MultiStream.open(list(src.sources), list(options.tasks), require_all=src.require_all,
                            reconnect=src.reconnect, pacing=src.pacing, models=models, max_fps=src.max_fps,
                            rates=src.rates or None, camera=out.camera or out.fov,
                            check_sources=lambda infos: check_multi_outputs(options, plan, infos),
                            **_model_kwargs(options.model))


def _open_source_outputs(stack: contextlib.ExitStack, index: int, stream: Stream, out: OutputOptions,
                         options: RunOptions, names: dict, shared_results: ResultsSink | None) -> _Played:
    """One source's outputs opened in an ExitStack of its own (closed with `stack`, or sooner: _finish), and
    its per-source stats file written when they close."""
    finish = stack.enter_context(contextlib.ExitStack())
    outputs = Outputs.open(finish, out, stream.info, options.source.max_frames, names)
    if out.stats is not None:
        finish.callback(write_stats, out.stats, stream, stream.source)
    renderer = Renderer(options.tasks, out.view, out.alpha, full_size_tiles=out.full_size_tiles)
    views = outputs.view_targets(out, hud_drawer(stream, renderer))
    sinks = outputs.result_sinks() + ([shared_results] if shared_results is not None else [])
    return _Played(index, stream, outputs, out, renderer, views, sinks, finish)


def _play(frames, cams: MultiStream, played: list[_Played | None], shown, progress, max_frames: int | None) -> None:
    """The merged packets, each played into its source's outputs (run_loop.play_packet) and the shared view,
    until every source has ended, the user quits, or a signal. A source that reaches max_frames stops; one
    that failed has its outputs finished at once."""
    for packet in frames:
        one = played[packet.source_index]
        if not one.done:
            view = play_packet(packet, one.stream, one.renderer, one.views, one.result_sinks, one.written,
                               bool(one.views) or shown is not None)
            if progress is not None:
                progress.update(packet.index - one.last_index)
            one.last_index = packet.index
            if shown is not None and shown.show(packet.source_index, view):
                return
            if max_frames and packet.index + 1 >= max_frames:
                one.done = True
                one.stream.stop()
        _finish_failed(cams, played, shown)
        if interrupts.requested():
            return
    _finish_failed(cams, played, shown)
    if interrupts.requested():  # stopped, not ended: frames read ahead (`every`) were never shown
        return
    for one in played:  # each source ended: the frames the live modes skipped after its last one count too
        if one is not None and one.views.timeline is not None and not one.done:  # (not stopped, not failed)
            counts = one.stream.stats.summary()["frames"]
            one.views.timeline.pad_to(counts["captured"] + counts["dropped"])


def _finish_failed(cams: MultiStream, played: list[_Played | None], shown: _SharedView | None) -> None:
    """The outputs of each source that failed midway (MultiStream said why, in one line) finished now."""
    for index, why in list(cams.faults.items()):  # a copy: the sources' threads add to it
        one = played[index]
        if one is not None and not one.finished:
            one.done = one.finished = True
            one.finish.close()
            if shown is not None:
                shown.fail(index, why)


def write_summary(path: Path, cams: MultiStream) -> None:
    """--stats for every source in one file: the tasks, the shared models' figures, and a section per source
    (MultiStream.summary)."""
    atomic_write_text(path, json.dumps({"tasks": [t.value for t in cams.tasks], **cams.summary()}, indent=2) + "\n")


def _progress(stack: contextlib.ExitStack, out: OutputOptions, played: list[_Played], max_frames: int | None):
    """One bar over every source's frames, when every source is a file (a live one has no end to count to)."""
    infos = [one.stream.info for one in played]
    if not out.progress or any(info.is_live for info in infos):
        return None
    totals = [total_frames(info, max_frames) for info in infos]
    total = None if None in totals else sum(totals)
    return stack.enter_context(ProgressBar(total, desc=f"{len(infos)} sources"))


def _warn_if_nothing_is_kept(out: OutputOptions, plan: MultiOutputs, played: list[_Played]) -> None:
    kept = plan.results or plan.stats or any(one.out.stats or any(vars(one.outputs).values()) for one in played)
    if not (out.display or out.serve or kept):
        log.warning("nothing will be shown or saved: add --output, --results, --stats... (see livevision run -h)")


def _sinks_to_publish(played: list[_Played]) -> list:
    """Each source's files a first Ctrl-C puts under their names at once (run_loop.on_first_interrupt)."""
    return [sink for one in played for sink in (one.outputs.video, one.outputs.results, *one.outputs.robotics)
            if sink is not None]


def _on_abort(played: list[_Played], plan: MultiOutputs, cams: MultiStream) -> None:
    """A second Ctrl-C: each source's outputs left readable (run_loop.on_second_interrupt), the stats written;
    said once."""
    log.warning("quitting now, without finishing the outputs")
    for one in played:
        if not one.finished:
            on_second_interrupt(one.outputs.video, one.out.stats, one.stream, one.stream.source, *one.outputs.robotics,
                                say=False)
    if plan.stats is not None:
        write_summary(plan.stats, cams)


#: a camera or stream without a new frame for this long is marked on its tile (it may be reconnecting)
STALLED_S = 2.0


class _SharedView:
    """The window and the web view of several sources: one Mosaic of each source's latest view, shown (by
    ShowPacer) about once per frame period of the fastest source; the window's keys as MosaicWindow's (1..9
    one source alone, 0 or m the mosaic), the web view showing what the window shows. A live source that
    stalls is marked on its tile ("no frame for N s") until its next frame; one that failed, for good."""

    def __init__(self, mosaic: Mosaic, window: MosaicWindow | None, web, draw_hud, clock, live: set[int]):
        self.mosaic, self.window, self.web, self.draw_hud, self.clock = mosaic, window, web, draw_hud, clock
        self.pacer = ShowPacer(len(mosaic))
        self.shown = 0
        self.live = set(live)  # the cameras and streams: a file that has ended is not stalled
        self.updated: dict[int, float] = {}  # when each source's view last came

    def fail(self, index: int, why: str) -> None:
        self.live.discard(index)
        self.mosaic.mark(index, f"failed: {why}")

    def show(self, index: int, view) -> bool:
        """Source `index`'s new view into the mosaic, and the mosaic shown when due; True to quit."""
        now = self.clock.now()
        self.mosaic.update(index, view)
        self.updated[index] = now
        for other, at in self.updated.items():
            if other in self.live and now - at >= STALLED_S:
                self.mosaic.mark(other, f"no frame for {now - at:.0f} s")
        if not self.pacer.due(index, now):
            return False
        quit = False
        if self.window is not None:
            quit = self.window.show()
            shown = self.window.last_view
        else:
            shown = self.draw_hud(self.mosaic.render()) if self.draw_hud is not None else self.mosaic.render()
        if self.web is not None:
            self.web.write_view(shown, self.shown)
        self.shown += 1
        return quit


def _shared_view(stack: contextlib.ExitStack, out: OutputOptions, cams: MultiStream,
                 played: list[_Played | None]) -> _SharedView | None:
    """The window (unless --no-display) and --serve's web view, showing every source in one mosaic, the
    sources that could not open marked; None when neither is asked for."""
    if not (out.display or out.serve):
        return None
    mosaic = Mosaic(source_labels(cams.names))  # short titles, as {source} names the files: front, camera0
    for index, why in cams.faults.items():
        mosaic.mark(index, f"failed: {why}")
    window = None
    draw_hud = _mosaic_hud(cams, mosaic, lambda: window.focus if window is not None else None) if out.hud else None
    if out.display:
        window = MosaicWindow(stack.enter_context(WindowSink("livevision")), mosaic, out.snapshot_dir,
                              renderers=[one.renderer for one in played if one is not None], draw_hud=draw_hud)
    web = stack.enter_context(web_view(out.serve, out.serve_token)) if out.serve else None
    if web is not None:
        log.info("web view at %s", ", ".join(web.urls))
    live = {i for i, stream in enumerate(cams.streams) if stream is not None and stream.info.is_live}
    return _SharedView(mosaic, window, web, draw_hud, cams.clock, live)


def _mosaic_hud(cams: MultiStream, mosaic: Mosaic, focus):
    """mosaic image -> with the HUD of the shared models' figures, its text as large as the tiles' titles.
    The ages are left out when every source plays `every` (see run_loop.hud_drawer)."""
    hud = HudAnnotator()
    age = any(stream.pacing is not Pacing.EVERY for stream in cams.streams if stream is not None)

    def draw_hud(view):
        return hud.annotate(view, cams.stats.hud_lines(age=age), text_for_height_px=mosaic.tile_wh(focus())[1])

    return draw_hud
