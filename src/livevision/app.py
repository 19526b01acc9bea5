"""`livevision run`: a source, one or more tasks, overlays, and the outputs asked for.

A thin layer over `livevision.Stream`: everything the command line does, a script can do
with the API, the annotators and the sinks.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from . import interrupts
from .errors import UsageError
from .pointcloud import CameraIntrinsics
from .predictor import PostprocessOptions
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
from .sinks.errors import OutputPathError
from .sinks.web import WebViewSink, parse_address
from .sources import open_source
from .stream import Packet, Stream
from .types import DepthKind, Task, ValueEnum

log = logging.getLogger(__name__)


class ViewMode(ValueEnum):
    OVERLAY = "overlay"  # every result drawn over the frame
    SIDE_BY_SIDE = "side_by_side"  # original | overlay
    GRID = "grid"  # original and one tile per task


KEY_QUIT, KEY_ESC, KEY_PAUSE, KEY_VIEW, KEY_SNAPSHOT = ord("q"), 27, ord(" "), ord("v"), ord("s")
PAUSE_POLL_MS = 30  # while paused, how long each wait for a key is (the GUI stays responsive, no busy loop)
# Depth first (a colour map), then segmentation over it, then the classification panel on top.
DRAW_ORDER = (Task.DEPTH, Task.SEGMENTATION, Task.CLASSIFICATION)


@dataclass(frozen=True)
class RunOptions:
    """What `livevision run` does. Output paths are checked before any model loads."""

    tasks: tuple[Task, ...]
    source: str = "0"
    models: dict = field(default_factory=dict)  # {Task: Hub id or folder}
    revision: str | None = None
    pacing: str | None = None
    max_fps: float | None = None
    rates: dict = field(default_factory=dict)  # {Task: fps}
    output: Path | None = None
    results: Path | None = None
    arrays: Path | None = None
    stats: Path | None = None
    depth_format: str = "npy"
    camera: CameraIntrinsics | None = None  # point clouds (depth_format "ply"): the camera, or else...
    fov: float | None = None  # ... its horizontal field of view in degrees (RawArraySink's default when None)
    point_stride: int = 1
    display: bool = True
    view: ViewMode | None = None  # None: default_view(tasks)
    alpha: dict = field(default_factory=dict)  # {Task: opacity of its colours over the frame}, see Renderer
    hud: bool = True
    snapshot_dir: Path = Path(".")
    serve: str | None = None  # "[HOST:]PORT": the view as an MJPEG stream in a browser (WebViewSink)
    reconnect: object = None  # ReconnectPolicy | bool | None, see open_source
    cache_dir: Path | None = None
    resize: str = "exact"
    pre_post: str = "auto"
    batch: int | str = "auto"  # `every` mode: frames per inference batch, see RuntimeOptions.batch
    device: str = "auto"
    precision: str = "auto"
    calibrate: str | None = None
    allow_fallback: bool = False
    input_size: dict = field(default_factory=dict)  # {Task: short side in pixels}
    postprocess: PostprocessOptions = PostprocessOptions()
    max_frames: int | None = None


def default_view(tasks) -> ViewMode:
    """Grid when depth and segmentation both run (either colouring the frame over the other hides
    both), else overlay."""
    return ViewMode.GRID if {Task.DEPTH, Task.SEGMENTATION} <= set(tasks) else ViewMode.OVERLAY


class Renderer:
    """Draws a packet in the current view, with the HUD.

    alpha: {Task: opacity 0..1} of the depth and segmentation colours over the frame. Defaults:
    depth 1.0 alone or in its grid tile and 0.6 under other results; segmentation 0.5 (0.45 for
    instances). Grid tiles carry their task's title; a task without a result yet shows the source."""

    def __init__(self, tasks: tuple[Task, ...], view: ViewMode | None = None, hud: bool = True,
                 alpha: dict | None = None):
        self.tasks = [t for t in DRAW_ORDER if t in tasks]
        self.view = view or default_view(tasks)
        # Alone, depth replaces the picture; under other results it is blended so they stay readable.
        self.overlay_annotator = _annotator(alpha or {}, depth_opacity=1.0 if len(tasks) == 1 else 0.6)
        self.tile_annotators = {t: _annotator(alpha or {}, depth_opacity=1.0) for t in self.tasks}
        self.hud = HudAnnotator() if hud else None

    def next_view(self) -> None:
        modes = list(ViewMode)
        self.view = modes[(modes.index(self.view) + 1) % len(modes)]

    def render(self, packet: Packet, hud_lines: list[str]) -> np.ndarray:
        results = [packet.outputs[t].result for t in self.tasks if t in packet.outputs]
        if self.view is ViewMode.GRID:
            tiles = [self.tile_annotators[self.tasks[0]].annotate(packet.image, [], title="source")]
            for task in self.tasks:
                output = packet.outputs.get(task)
                result, title = ([output.result], task.value) if output else ([], f"{task.value} (waiting)")
                tiles.append(self.tile_annotators[task].annotate(packet.image, result, title=title))
            image = grid(tiles)
        else:
            annotated = self.overlay_annotator.annotate(packet.image, results) if results else packet.image
            image = side_by_side(packet.image, annotated) if self.view is ViewMode.SIDE_BY_SIDE else annotated
        if self.hud is not None:
            image = self.hud.annotate(image, hud_lines)
        return image


def _annotator(alpha: dict, depth_opacity: float) -> ResultAnnotator:
    depth = DepthAnnotator(opacity=alpha.get(Task.DEPTH, depth_opacity))
    if Task.SEGMENTATION not in alpha:
        return ResultAnnotator(depth=depth)
    opacity = alpha[Task.SEGMENTATION]
    return ResultAnnotator(depth=depth, semantic=SemanticSegmentationAnnotator(opacity=opacity),
                           instance=InstanceSegmentationAnnotator(opacity=opacity))


def run(options: RunOptions, *, source=None) -> int:
    """Process the source until it ends, the user quits, or `max_frames`. Returns an exit code.
    `source` may be a FrameSource to use instead of `options.source` (tests, custom capture).

    Ctrl-C / SIGTERM during processing end the loop at a frame boundary; the outputs are
    closed properly, then KeyboardInterrupt / Terminated is raised (see interrupts)."""
    deferral = contextlib.ExitStack()  # outlives `stack`: signals stay deferred while outputs close
    with deferral, contextlib.ExitStack() as stack:
        stats_path = _check_stats_path(options.stats)
        if options.display and options.snapshot_dir.exists() and not options.snapshot_dir.is_dir():
            raise OutputPathError(f"snapshot folder {options.snapshot_dir} (--snapshot-dir) is not a folder")
        opened = open_source(source if source is not None else options.source, reconnect=options.reconnect)
        stack.callback(opened.close)
        info = opened.info
        video = stack.enter_context(_open_output(options.output, info, options.max_frames)) if options.output else None
        results = stack.enter_context(ResultsSink(options.results)) if options.results else None
        arrays = stack.enter_context(RawArraySink(
            options.arrays, depth_format=options.depth_format, intrinsics=options.camera, fov_deg=options.fov,
            point_stride=options.point_stride)) if options.arrays else None
        window = stack.enter_context(WindowSink("livevision")) if options.display else None
        web = stack.enter_context(WebViewSink(*parse_address(options.serve))) if options.serve else None
        if web is not None:
            log.info("web view at %s", web.url)
        stream = Stream(
            opened, list(options.tasks), model=options.models or None, pacing=options.pacing,
            max_fps=options.max_fps, rates=options.rates or None, revision=options.revision,
            cache_dir=options.cache_dir, resize=options.resize, pre_post=options.pre_post, batch=options.batch,
            options=options.postprocess,
            device=options.device, allow_fallback=options.allow_fallback, input_size=options.input_size or None,
            precision=options.precision, calibrate=options.calibrate,
        )
        if stats_path is not None:
            stack.callback(_write_stats, stats_path, stream, opened)
        if arrays is not None and options.depth_format == "ply":
            _check_metric_depth(stream)
        total = None if info.is_live else info.frame_count
        if options.max_frames:
            total = min(total, options.max_frames) if total else options.max_frames
        progress = None if info.is_live else stack.enter_context(ProgressBar(total, desc=info.name))
        renderer = Renderer(options.tasks, options.view, options.hud, options.alpha)
        names = {t: getattr(m, "name", type(m).__name__) for t, m in stream.models.items()}
        if not options.display and all(x is None for x in (web, video, results, arrays, stats_path)):
            log.warning("nothing will be shown or saved: add --output, --results, --arrays or --stats "
                        "(or --serve, or drop --no-display)")

        deferral.enter_context(interrupts.deferred(lambda: _on_first_interrupt(stream, video, results)))
        last_view, last_index = None, -1
        written: dict[Task, int] = {}  # the frame of each task's last written result
        frames = iter(stream)
        stack.callback(frames.close)
        for packet in frames:
            started = stream.clock.now()
            view = renderer.render(packet, stream.stats.hud_lines())
            stream.stats.stage("render", stream.clock.now() - started)
            started = stream.clock.now()
            if video is not None:
                # Frames the live modes never showed keep their slot, with the previous view,
                # so the video has the source's frame rate and duration.
                for _ in range(packet.index - last_index - 1 if last_view is not None else 0):
                    video.write(last_view)
                video.write(view)
            for task, out in packet.outputs.items():
                if written.get(task) == out.frame_index:
                    continue  # each result once, with the frame it was computed on
                written[task] = out.frame_index
                if results is not None:
                    results.write(out.frame_index, out.timestamp_s, task, names[task], out.result,
                                  source=out.source, latency_ms=round(out.latency_s * 1000, 2))
                if arrays is not None:  # point clouds take their colours from the frame that was inferred
                    arrays.write(out.frame_index, out.result, None if len(options.tasks) == 1 else task.value,
                                 image=out.image)
            stream.stats.stage("write", stream.clock.now() - started)
            if progress is not None:  # source frames, not packets: the live modes skip some
                progress.update(packet.index - last_index)
            last_view, last_index = view, packet.index
            if web is not None:
                web.write(view)
            if window is not None and _handle_keys(window, window.write(view), renderer, view, packet, options):
                break
            if options.max_frames and packet.index + 1 >= options.max_frames:
                break
            if interrupts.requested():
                break
        else:  # the source ended: count the frames skipped after the last one shown, too
            if progress is not None:
                frames_read = stream.stats.summary()["frames"]
                progress.update(max(0, frames_read["captured"] + frames_read["dropped"] - progress.n))
    interrupts.raise_if_requested()
    return 0


def _handle_keys(window: WindowSink, key: int, renderer: Renderer, view: np.ndarray, packet: Packet,
                 options: RunOptions) -> bool:
    """Act on a key pressed in the window; True to quit."""
    if key == KEY_VIEW:
        renderer.next_view()
    elif key == KEY_SNAPSHOT:
        _snapshot(view, packet, options)
    elif key == KEY_PAUSE:
        key = _pause(window, view, packet, options)
    return key in (KEY_QUIT, KEY_ESC)


def _pause(window: WindowSink, view: np.ndarray, packet: Packet, options: RunOptions) -> int:
    """Hold the shown view until space (resume) or q / Esc / closing the window / Ctrl-C (quit); s saves
    it meanwhile. Returns the key that ended the pause (KEY_QUIT for Ctrl-C)."""
    while not interrupts.requested():  # Ctrl-C is deferred in the loop: look for it here too
        key = window.poll(PAUSE_POLL_MS)
        if key == KEY_SNAPSHOT:
            _snapshot(view, packet, options)
        elif key in (KEY_PAUSE, KEY_QUIT, KEY_ESC):
            return key
    return KEY_QUIT


def _on_first_interrupt(stream: Stream, video, results) -> None:
    """The first Ctrl-C / SIGTERM: stop at the next frame, and put what was written so far under the
    outputs' names now, so a second signal (which ends the process at once) still leaves them."""
    stream.stop()
    published = [str(sink.path) for sink in (video, results)
                 if sink is not None and getattr(sink, "publish_partial", None) and sink.publish_partial()]
    if published:
        no_audio = " (the video then has no audio)" if getattr(video, "audio_from", None) is not None else ""
        log.warning("stopping: %s already hold%s what was written so far; press Ctrl-C again to quit without "
                    "waiting for the outputs to be finished%s", " and ".join(published),
                    "" if len(published) > 1 else "s", no_audio)


def _snapshot(view: np.ndarray, packet: Packet, options: RunOptions) -> None:
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
    if Path(path).suffix.lower() not in IMAGE_EXTENSIONS:
        return VideoSink(path, info.fps or 30.0, audio_from=info.path)
    if max_frames != 1 and (info.is_live or info.frame_count != 1):
        frames = "a live source" if info.is_live else f"{info.frame_count or 'many'} frames"
        raise OutputPathError(f"cannot write image {str(path)!r}: an image holds one frame, and {info.name} has "
                              f"{frames}; write a video ({', '.join(SUPPORTED_VIDEO_EXTENSIONS)}) instead")
    return ImageSink(path)


def _check_metric_depth(stream: Stream) -> None:
    model = stream.models.get(Task.DEPTH)
    if getattr(model, "depth_kind", None) is DepthKind.RELATIVE:
        raise UsageError(f"--depth-format ply needs a metric depth model (ZoeDepth, Depth Anything metric, GLPN): "
                         f"{getattr(model, 'name', 'this model')} gives relative inverse depth, which has no scale")


def _check_stats_path(path: Path | None) -> Path | None:
    if path is None:
        return None
    if path.suffix.lower() != ".json":
        raise OutputPathError(f"stats file {path}: use a .json file")
    if not path.parent.resolve().is_dir():
        raise OutputPathError(f"stats file {path}: the folder {path.parent} does not exist")
    return path


def _write_stats(path: Path, stream: Stream, source) -> None:
    summary = {"source": stream.info.name, "pacing": stream.pacing.value,
               "tasks": [t.value for t in stream.tasks], **stream.stats.summary(),
               "source_faults": {"frames_bad": source.frames_bad, "reconnects": source.reconnects,
                                 "frames_missing": getattr(source, "frames_missing", None)}}
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
