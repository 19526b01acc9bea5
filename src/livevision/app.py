"""`livevision run`: a source, one or more tasks, overlays, and the outputs asked for.

A thin layer over `livevision.Stream`: everything the command line does, a script can do
with the API, the annotators and the sinks.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from . import interrupts
from .errors import UsageError
from .pointcloud import check_camera
from .options import ModelOptions, OutputOptions, RunOptions, ViewMode
from .render import (
    DepthAnnotator,
    HudAnnotator,
    InstanceSegmentationAnnotator,
    ResultAnnotator,
    SemanticSegmentationAnnotator,
    grid,
    side_by_side,
)
from .sinks import (
    IMAGE_EXTENSIONS,
    SUPPORTED_VIDEO_EXTENSIONS,
    ImageSink,
    ProgressBar,
    RawArraySink,
    ResultsSink,
    VideoSink,
    WindowSink,
)
from .sinks._paths import check_not_an_input, check_output_file, check_output_folder, named_paths
from .sinks.ffmpeg import find_ffmpeg
from .sinks.errors import OutputPathError
from .sinks.results import STDOUT, SUPPORTED_RESULTS_EXTENSIONS
from .sinks.web import WebViewSink, is_loopback, new_token, parse_address
from .sources import open_source
from .engine.pacing import Pacing
from .engine.running import TaskOutput
from .stream import Packet, Stream
from .types import DepthKind, Task

log = logging.getLogger(__name__)


KEY_QUIT, KEY_ESC, KEY_PAUSE, KEY_VIEW, KEY_SNAPSHOT = ord("q"), 27, ord(" "), ord("v"), ord("s")
PAUSE_POLL_MS = 30  # while paused, how long each wait for a key is (the GUI stays responsive, no busy loop)
# Depth first (a colour map), then segmentation over it, then the classification panel on top.
DRAW_ORDER = (Task.DEPTH, Task.SEGMENTATION, Task.CLASSIFICATION)


def default_view(tasks) -> ViewMode:
    """Grid when depth and segmentation both run (either colouring the frame over the other hides
    both), else overlay."""
    return ViewMode.GRID if {Task.DEPTH, Task.SEGMENTATION} <= set(tasks) else ViewMode.OVERLAY


class Renderer:
    """Draws a packet in the current view; the HUD goes on apart (draw_hud), where it is shown.

    alpha: {Task: opacity 0..1} of the depth and segmentation colours over the frame. Defaults:
    depth 1.0 alone or in its grid tile and 0.6 under other results; segmentation 0.5 (0.45 for
    instances). Grid tiles carry their task's title; a task without a result yet shows the source.
    The grid has the source's frame size: each tile is the frame scaled down to its cell (four tiles
    of a 720p source are 640x360) and drawn at that size, so its title and panels read as large as
    shown; full_size_tiles: every tile at the source's size instead (a grid twice as wide and tall)."""

    def __init__(self, tasks: tuple[Task, ...], view: ViewMode | None = None, alpha: dict | None = None, *,
                 full_size_tiles: bool = False):
        self.tasks = [t for t in DRAW_ORDER if t in tasks]
        self.view = view or default_view(tasks)
        self.full_size_tiles = full_size_tiles
        # Alone, depth replaces the picture; under other results it is blended so they stay readable.
        self.overlay_annotator = _annotator(alpha or {}, depth_opacity=1.0 if len(tasks) == 1 else 0.6)
        self.tile_annotators = {t: _annotator(alpha or {}, depth_opacity=1.0) for t in self.tasks}
        self.hud = HudAnnotator()
        self._text_height: int | None = None  # the height the last view's text was sized for

    def next_view(self) -> None:
        modes = list(ViewMode)
        self.view = modes[(modes.index(self.view) + 1) % len(modes)]

    def render(self, packet: Packet) -> np.ndarray:
        if self.view is ViewMode.GRID:
            return self._grid(packet)
        results = [packet.outputs[t].result for t in self.tasks if t in packet.outputs]
        annotated = self.overlay_annotator.annotate(packet.image, results) if results else packet.image
        self._text_height = packet.image.shape[0]
        return side_by_side(packet.image, annotated) if self.view is ViewMode.SIDE_BY_SIDE else annotated

    def _grid(self, packet: Packet) -> np.ndarray:
        count = 1 + len(self.tasks)
        columns = math.ceil(math.sqrt(count))
        rows = math.ceil(count / columns)
        height, width = packet.image.shape[:2]
        cell_wh = (width, height) if self.full_size_tiles else (max(1, width // columns), max(1, height // rows))
        scale = min(cell_wh[0] / width, cell_wh[1] / height)  # the frame's aspect ratio is kept
        tile_wh = (max(1, round(width * scale)), max(1, round(height * scale)))
        scene = packet.image if tile_wh == (width, height) else cv2.resize(packet.image, tile_wh,
                                                                          interpolation=cv2.INTER_AREA)
        tiles = [self.tile_annotators[self.tasks[0]].annotate(scene, [], title="source")]
        for task in self.tasks:
            output = packet.outputs.get(task)
            result, title = ([output.result], task.value) if output else ([], f"{task.value} (waiting)")
            tiles.append(self.tile_annotators[task].annotate(scene, result, title=title))
        self._text_height = tile_wh[1]
        image = grid(tiles, columns=columns, cell_wh=cell_wh)
        if self.full_size_tiles:
            return image
        # cells rounded down: pad the last pixels so the grid is exactly the source's size
        return cv2.copyMakeBorder(image, 0, height - image.shape[0], 0, width - image.shape[1],
                                  cv2.BORDER_CONSTANT, value=0)

    def draw_hud(self, view: np.ndarray, lines: list[str]) -> np.ndarray:
        """The view with the HUD lines over it, its text as large as the view's titles."""
        return self.hud.annotate(view, lines, text_for_height_px=self._text_height)


def _annotator(alpha: dict, depth_opacity: float) -> ResultAnnotator:
    depth = DepthAnnotator(opacity=alpha.get(Task.DEPTH, depth_opacity))
    if Task.SEGMENTATION not in alpha:
        return ResultAnnotator(depth=depth)
    opacity = alpha[Task.SEGMENTATION]
    return ResultAnnotator(depth=depth, semantic=SemanticSegmentationAnnotator(opacity=opacity),
                           instance=InstanceSegmentationAnnotator(opacity=opacity))


class FrameSink(Protocol):
    """Takes every rendered view, with the index of its source frame."""

    def write(self, view: np.ndarray, index: int) -> None: ...


class ResultSink(Protocol):
    """Takes each task's result once, with the frame it was computed on."""

    def write(self, task: Task, output: TaskOutput) -> None: ...


class _VideoFrames:
    """The annotated video. Frames the live modes never showed keep their slot, with the previous
    view, so the video has the source's frame rate and duration. `count`: frames written."""

    def __init__(self, sink: VideoSink | ImageSink):
        self.sink = sink
        self.count = 0
        self._last: tuple[np.ndarray, int] | None = None

    def write(self, view: np.ndarray, index: int) -> None:
        if self._last is not None:
            last_view, last_index = self._last
            self._repeat(last_view, index - last_index - 1)
        self._repeat(view, 1)
        self._last = (view, index)

    def pad_to(self, frames: int) -> None:
        """The source ended after `frames` frames: the ones after the last shown (skipped by the live modes
        at the end) get their slots too, with the last view."""
        if self._last is not None:
            last_view, last_index = self._last
            self._repeat(last_view, frames - last_index - 1)

    def _repeat(self, view: np.ndarray, times: int) -> None:
        for _ in range(times):
            self.sink.write(view)
            self.count += 1


class _WithHud:
    """A window or frame sink shown the view with the HUD over it (lines(): the run's latest figures)."""

    def __init__(self, target, renderer: Renderer, lines):
        self.target, self.renderer, self.lines = target, renderer, lines
        self.last_drawn: np.ndarray | None = None  # what the window shows: its snapshots save that

    def write(self, view: np.ndarray, *rest):
        self.last_drawn = self.renderer.draw_hud(view, self.lines())
        return self.target.write(self.last_drawn, *rest)

    def __getattr__(self, name):  # the window's poll() and the rest, as they are
        return getattr(self.target, name)


class _WebFrames:
    def __init__(self, sink: WebViewSink):
        self.sink = sink

    def write(self, view: np.ndarray, index: int) -> None:
        self.sink.write(view)


class _ResultLines:
    """One JSON line per result, named after its model."""

    def __init__(self, sink: ResultsSink, names: dict):
        self.sink, self.names = sink, names

    def write(self, task: Task, output: TaskOutput) -> None:
        self.sink.write(output.frame_index, output.timestamp_s, task, self.names[task], output.result,
                        source=output.source, latency_ms=round(output.latency_s * 1000, 2))


class _RawArrays:
    """Raw arrays per result; point clouds take their colours from the frame that was inferred."""

    def __init__(self, sink: RawArraySink, several_tasks: bool):
        self.sink, self.several_tasks = sink, several_tasks

    def write(self, task: Task, output: TaskOutput) -> None:
        self.sink.write(output.frame_index, output.result, task.value if self.several_tasks else None,
                        image=output.image)


def _ply_stride(out: OutputOptions) -> int:
    """--point-stride for ply point clouds: every pixel unless given."""
    return 1 if out.point_stride is None else out.point_stride


def _robotics_sinks(out: OutputOptions, enter) -> list:
    """--rerun, --mcap and --foxglove, each imported only when asked for (their wheels are extras) and
    entered in the run's exit stack at once, so that one failing to open still closes the others."""
    camera = dict(camera=out.camera, fov_deg=out.fov, point_stride=out.point_stride, raw_images=out.raw_images)
    sinks = []
    if out.mcap is not None:
        from .sinks.mcap_sink import McapSink

        sinks.append(enter(McapSink(out.mcap, compression=out.mcap_compression, **camera)))
    if out.rerun is not None:
        from .sinks.rerun_sink import RerunSink

        sinks.append(enter(RerunSink(out.rerun, **camera)))
    if out.foxglove is not None:
        from .sinks.foxglove_sink import FoxgloveSink

        sink = enter(FoxgloveSink(*parse_address(out.foxglove, "--foxglove"), **camera))
        log.info("Foxglove: connect to %s", sink.url)
        sinks.append(sink)
    return sinks


def _web_view(address: str, token: str | None) -> WebViewSink:
    """--serve [HOST:]PORT with --serve-token: a token made up for any address but loopback."""
    host, port = parse_address(address)
    if token is None:
        token = None if is_loopback(host) else new_token()
    elif token.strip().lower() == "none":
        token = None
        if not is_loopback(host):
            log.warning("--serve %s without a token: anyone who can reach port %d sees the camera", host, port)
    return WebViewSink(host, port, token=token)


@dataclass
class _Outputs:
    """The sinks a run opened (None where not asked for)."""

    video: VideoSink | ImageSink | None
    results: ResultsSink | None
    arrays: RawArraySink | None
    window: WindowSink | None
    web: WebViewSink | None
    robotics: list  # RerunSink, McapSink, FoxgloveSink: each result once, with its frame

    @classmethod
    def open(cls, stack: contextlib.ExitStack, out: OutputOptions, info, max_frames: int | None) -> "_Outputs":
        def enter(sink):
            return stack.enter_context(sink)

        outputs = cls(
            video=enter(_open_output(out.video, info, max_frames)) if out.video else None,
            results=enter(ResultsSink(out.results)) if out.results else None,
            arrays=enter(RawArraySink(out.arrays, depth_format=out.depth_format, intrinsics=out.camera,
                                      fov_deg=out.fov, point_stride=_ply_stride(out))) if out.arrays else None,
            window=enter(WindowSink("livevision")) if out.display else None,
            web=enter(_web_view(out.serve, out.serve_token)) if out.serve else None,
            robotics=_robotics_sinks(out, enter),
        )
        if outputs.web is not None:
            log.info("web view at %s", ", ".join(outputs.web.urls))
        return outputs

    def frame_sinks(self, with_hud, hud_in_video: bool, hud_in_web: bool) -> list[FrameSink]:
        """with_hud(sink): the sink, shown the view with the HUD."""
        sinks: list[FrameSink] = []
        if self.video is not None:
            sinks.append(with_hud(_VideoFrames(self.video)) if hud_in_video else _VideoFrames(self.video))
        if self.web is not None:
            sinks.append(with_hud(_WebFrames(self.web)) if hud_in_web else _WebFrames(self.web))
        return sinks

    def result_sinks(self, names: dict, several_tasks: bool) -> list[ResultSink]:
        sinks: list[ResultSink] = []
        if self.results is not None:
            sinks.append(_ResultLines(self.results, names))
        if self.arrays is not None:
            sinks.append(_RawArrays(self.arrays, several_tasks))
        return sinks + self.robotics


def run(options: RunOptions, *, source=None, models: dict | None = None, progress=None) -> int:
    """Process the source until it ends, the user quits, or `max_frames`. Returns an exit code.
    `source` may be a FrameSource to use instead of `options.source.source` (tests, custom capture);
    `models`, ready models by task (ModelOptions.load), spares loading them (`livevision batch`);
    `progress`, what counts the source's frames (`update(n)`, `n`) instead of a bar of its own
    (`livevision batch`: one bar over all files).

    Ctrl-C / SIGTERM during processing end the loop at a frame boundary; the outputs are
    closed properly, then KeyboardInterrupt / Terminated is raised (see interrupts)."""
    src, out = options.source, options.output
    deferral = contextlib.ExitStack()  # outlives `stack`: signals stay deferred while outputs close
    with deferral, contextlib.ExitStack() as stack:
        opened = open_source(source if source is not None else src.source, reconnect=src.reconnect)
        stack.callback(opened.close)
        # Every output path is checked before the models load (an export takes minutes), and no output
        # is opened until they have: a bad model leaves no file and says one line.
        _check_outputs(options, opened.info)
        stream = Stream.open(opened, list(options.tasks), pacing=src.pacing, max_fps=src.max_fps,
                        rates=src.rates or None, models=models, **_model_kwargs(options.model))
        if out.arrays is not None and out.depth_format == "ply":
            _check_metric_depth(stream)
        outputs = _Outputs.open(stack, out, opened.info, src.max_frames)
        stats_path = out.stats
        if stats_path is not None:
            stack.callback(_write_stats, stats_path, stream, opened)
        if not out.display and stats_path is None and not any(vars(outputs).values()):
            log.warning("nothing will be shown or saved: add --output, --results, --arrays, --stats, --rerun or "
                        "--mcap (or --serve or --foxglove, or drop --no-display)")
        names = {t: getattr(m, "name", type(m).__name__) for t, m in stream.models.items()}
        info = opened.info
        if progress is None and out.progress and not info.is_live:
            progress = stack.enter_context(ProgressBar(_total_frames(info, src.max_frames), desc=info.name))
        deferral.enter_context(interrupts.deferred(
            lambda: _on_first_interrupt(stream, outputs.video, outputs.results, *outputs.robotics),
            on_abort=lambda: _on_second_interrupt(outputs.video, stats_path, stream, opened, *outputs.robotics)))
        frames = iter(stream)
        stack.callback(frames.close)
        renderer = Renderer(options.tasks, out.view, out.alpha, full_size_tiles=out.full_size_tiles)
        # `every` mode queues frames by design: their capture-to-display age says nothing, so it is left out.
        lines = functools.partial(stream.stats.hud_lines, age=stream.pacing is not Pacing.EVERY)
        with_hud = functools.partial(_WithHud, renderer=renderer, lines=lines)
        window = with_hud(outputs.window) if out.hud and outputs.window is not None else outputs.window
        _play(frames, stream, renderer, outputs.frame_sinks(with_hud, out.hud_in_output, out.hud),
              outputs.result_sinks(names, len(options.tasks) > 1), window, progress, options)
    interrupts.raise_if_requested()
    return 0


def _play(frames, stream: Stream, renderer: Renderer, frame_sinks: list[FrameSink], result_sinks: list[ResultSink],
          window: WindowSink | None, progress: ProgressBar | None, options: RunOptions) -> None:
    """The loop: render each packet, hand the view and each new result to the sinks, show it, until the
    source ends, the user quits, max_frames, or a signal."""
    last_index = -1
    video = next((sink for sink in frame_sinks if isinstance(sink, _VideoFrames)), None)
    written: dict[Task, int] = {}  # the frame of each task's last written result
    shown = bool(frame_sinks) or window is not None  # else nothing looks at the drawn view: skip drawing it
    for packet in frames:
        view = None
        if shown:
            started = stream.clock.now()
            view = renderer.render(packet)
            stream.stats.stage("render", stream.clock.now() - started)
        started = stream.clock.now()
        for sink in frame_sinks:
            sink.write(view, packet.index)
        for task, output in packet.outputs.items():
            if written.get(task) != output.frame_index:  # each result once
                written[task] = output.frame_index
                for sink in result_sinks:
                    sink.write(task, output)
        stream.stats.stage("write", stream.clock.now() - started)
        if progress is not None:  # the frames written to the video; without one, the source frames gone by
            progress.update(video.count - progress.n if video is not None else packet.index - last_index)
        last_index = packet.index
        if window is not None and _handle_keys(window, window.write(view), renderer, view, packet, options.output):
            return
        if options.source.max_frames and packet.index + 1 >= options.source.max_frames:
            return
        if interrupts.requested():
            return
    if interrupts.requested():  # stopped, not ended: frames read ahead (`every`) were never shown
        return
    # The source ended: the frames the live modes skipped after the last one shown count too.
    counts = stream.stats.summary()["frames"]
    frames_read = counts["captured"] + counts["dropped"]
    if video is not None:
        video.pad_to(frames_read)
    if progress is not None:
        progress.update(max(0, (video.count if video is not None else frames_read) - progress.n))


def _total_frames(info, max_frames: int | None) -> int | None:
    total = None if info.is_live else info.frame_count
    if max_frames:
        total = min(total, max_frames) if total else max_frames
    return total


def _handle_keys(window: WindowSink, key: int, renderer: Renderer, view: np.ndarray, packet: Packet,
                 options: OutputOptions) -> bool:
    """Act on a key pressed in the window; True to quit."""
    shown = getattr(window, "last_drawn", None)  # the view with the HUD, as the window shows it
    view = view if shown is None else shown
    if key == KEY_VIEW:
        renderer.next_view()
    elif key == KEY_SNAPSHOT:
        _snapshot(view, packet, options)
    elif key == KEY_PAUSE:
        key = _pause(window, view, packet, options)
    return key in (KEY_QUIT, KEY_ESC)


def _pause(window: WindowSink, view: np.ndarray, packet: Packet, options: OutputOptions) -> int:
    """Hold the shown view until space (resume) or q / Esc / closing the window / Ctrl-C (quit); s saves
    it meanwhile. Returns the key that ended the pause (KEY_QUIT for Ctrl-C)."""
    while not interrupts.requested():  # Ctrl-C is deferred in the loop: look for it here too
        key = window.poll(PAUSE_POLL_MS)
        if key == KEY_SNAPSHOT:
            _snapshot(view, packet, options)
        elif key in (KEY_PAUSE, KEY_QUIT, KEY_ESC):
            return key
    return KEY_QUIT


def _on_first_interrupt(stream: Stream, video, results, *robotics) -> None:
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


def _on_second_interrupt(video, stats_path: Path | None, stream: Stream, source, *robotics) -> None:
    """A second Ctrl-C / SIGTERM ends the process now (interrupts): the video is left as ffmpeg holds it
    (without audio) and ffmpeg ended, what rerun holds in memory is flushed, and the stats so far are
    written, so that every output is readable and no child process outlives this one. The results file
    and the MCAP file are readable up to their last frame already."""
    log.warning("quitting now, without finishing the outputs")
    if video is not None and hasattr(video, "end_now"):
        video.end_now()
    for sink in robotics:
        if hasattr(sink, "flush_now"):
            sink.flush_now()
    if stats_path is not None:
        _write_stats(stats_path, stream, source)


def _snapshot(view: np.ndarray, packet: Packet, options: OutputOptions) -> None:
    """Save the view; the folder is made on the first snapshot (as --arrays makes its folder)."""
    path = options.snapshot_dir / f"livevision_{packet.index:06d}.png"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        saved = cv2.imwrite(str(path), view)
    except (cv2.error, OSError):
        saved = False
    if saved:
        log.info("snapshot saved to %s", path)
    else:  # a snapshot is a convenience: the run goes on
        log.warning("could not save a snapshot to %s", path)


def _open_output(path: Path, info, max_frames: int | None) -> VideoSink | ImageSink:
    """The annotated output: a video, or an image when one frame is processed (an image source, or
    --max-frames 1)."""
    return ImageSink(path) if _is_image_output(path, info, max_frames) else \
        VideoSink(path, info.fps or 30.0, audio_from=info.path)


def _is_image_output(path: Path, info, max_frames: int | None) -> bool:
    """Whether --output is an image; an image for many frames is refused."""
    if Path(path).suffix.lower() not in IMAGE_EXTENSIONS:
        return False
    if max_frames != 1 and (info.is_live or info.frame_count != 1):
        frames = "a live source" if info.is_live else f"{info.frame_count or 'many'} frames"
        raise OutputPathError(f"cannot write image {str(path)!r}: an image holds one frame, and {info.name} has "
                              f"{frames}; write a video ({', '.join(SUPPORTED_VIDEO_EXTENSIONS)}) instead")
    return True


# A snapshot's file name (the s key), livevision_000042.png: see _snapshot.
SNAPSHOT_NAME = re.compile(r"livevision_\d{6,}\.png")


def _check_outputs(options: RunOptions, info) -> None:
    """Every output path, before anything is loaded or written: its extension, its folder (it exists and
    takes files), and that it is no input (the source, --calibrate, a model folder's files) under its own
    name or through a link; and what writing needs (ffmpeg, the extras' wheels). The sinks check their
    paths again as they open."""
    out = options.output
    if out.arrays is not None or any(x is not None for x in (out.mcap, out.rerun, out.foxglove)):
        check_camera(out.camera, out.fov, _ply_stride(out))  # the camera options, before a model loads
    if out.video is not None:
        image = _is_image_output(out.video, info, options.source.max_frames)
        check_output_file(out.video, IMAGE_EXTENSIONS if image else SUPPORTED_VIDEO_EXTENSIONS,
                          "image" if image else "video")
        if not image:
            find_ffmpeg()
    # the extras' wheels, too, before a model loads
    for option, module, extra in (("--mcap", "mcap.writer", "mcap"), ("--rerun", "rerun", "rerun"),
                                  ("--foxglove", "foxglove", "foxglove")):
        if getattr(out, option[2:]) is not None:
            from .sinks.robotics import require

            require(module, extra, option)
    if out.results is not None and str(out.results) != STDOUT:
        check_output_file(out.results, SUPPORTED_RESULTS_EXTENSIONS, "results file")
    if out.arrays is not None:
        check_output_folder(Path(out.arrays).expanduser(), "arrays")
    if out.stats is not None:
        check_output_file(out.stats, (".json",), "stats file")
    if out.mcap is not None:
        check_output_file(out.mcap, (".mcap",), "MCAP file")
    rerun_file = out.rerun is not None and str(out.rerun).lower().endswith(".rrd")
    if rerun_file:
        check_output_file(out.rerun, (".rrd",), "rerun recording")
    elif out.rerun is not None:  # a viewer to spawn or connect to: there, or a display for one
        from .sinks.rerun_sink import check_target

        check_target(out.rerun)
    if out.display and out.snapshot_dir.exists() and not out.snapshot_dir.is_dir():
        raise OutputPathError(f"snapshot folder {out.snapshot_dir} (--snapshot-dir) is not a folder")
    inputs = _input_paths(options, info)
    named = [("--output", out.video), ("--results", out.results), ("--arrays", out.arrays),
             ("--stats", out.stats), ("--mcap", out.mcap), ("--rerun", out.rerun if rerun_file else None)]
    outputs = [(what, Path(path).expanduser()) for what, path in named if path is not None]
    if out.display:  # the snapshots the s key may save: an input image of that name in that folder
        outputs += [("--snapshot-dir", out.snapshot_dir / p.name) for p in inputs if SNAPSHOT_NAME.fullmatch(p.name)]
    check_not_an_input(outputs, inputs)


def _input_paths(options: RunOptions, info) -> list[Path]:
    """The local files and folders the run reads: the source, --calibrate's clip, local model folders."""
    source = info.path or options.source.source
    specs = [str(source), options.model.load_options.calibrate, *map(str, options.model.models.values())]
    local = [s for s in specs if s and not s.isdigit() and "://" not in s]
    return [path for spec in local for path in named_paths(spec)]


def _model_kwargs(model: ModelOptions) -> dict:
    """ModelOptions as Stream.open's keywords: the LoadOptions whole, the per-task values by task."""
    return dict(model=model.models or None, load=model.load_options, input_size=model.input_size or None,
                options=model.postprocess, depth_stabilize=model.depth_stabilize)


def _check_metric_depth(stream: Stream) -> None:
    model = stream.models.get(Task.DEPTH)
    if getattr(model, "depth_kind", None) is DepthKind.RELATIVE:
        raise UsageError(f"--depth-format ply needs a metric depth model (ZoeDepth, Depth Anything metric, GLPN): "
                         f"{getattr(model, 'name', 'this model')} gives relative inverse depth, which has no scale")


def _write_stats(path: Path, stream: Stream, source) -> None:
    summary = {"source": stream.info.name, "pacing": stream.pacing.value,
               "tasks": [t.value for t in stream.tasks], **stream.stats.summary(),
               **({"depth_stabilize": stream.depth_stabilize.value, "depth_flicker": stream.flicker.summary()}
                  if Task.DEPTH in stream.tasks else {}),
               "source_faults": {"frames_bad": source.frames_bad, "reconnects": source.reconnects,
                                 "frames_missing": getattr(source, "frames_missing", None)}}
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
