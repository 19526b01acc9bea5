"""`livevision run`'s outputs: every path checked before a model loads (check_outputs), the sinks opened
once the models have (Outputs.open), where each rendered view goes (ViewTargets), and the stats file."""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

from .errors import UsageError
from .pointcloud import check_camera
from .sinks import (
    IMAGE_OUTPUT_EXTENSIONS,
    SUPPORTED_VIDEO_EXTENSIONS,
    ImageSink,
    RawArraySink,
    ResultsSink,
    VideoSink,
    WindowSink,
)
from .sinks._paths import atomic_write_text, check_not_an_input, check_output_file, check_output_folder, named_paths
from .sinks.base import ResultSink, SourceTimeline, ViewSink
from .sinks.errors import OutputPathError
from .sinks.ffmpeg import find_ffmpeg
from .sinks.results import STDOUT, SUPPORTED_RESULTS_EXTENSIONS
from .sinks.web import WebViewSink, parse_address
from .web.addresses import access_token
from .types import DepthKind, Task
from .window_keys import SNAPSHOT_NAME

if TYPE_CHECKING:  # the options live with `run` (app), which imports this module
    from .options import OutputOptions, RunOptions
    from .stream import Stream

log = logging.getLogger(__name__)


@dataclass
class Outputs:
    """The sinks a run opened (None where not asked for)."""

    video: VideoSink | ImageSink | None
    results: ResultsSink | None
    arrays: RawArraySink | None
    window: WindowSink | None
    web: WebViewSink | None
    robotics: list  # RerunSink, McapSink, FoxgloveSink: each result once, with its frame

    @classmethod
    def open(cls, stack: contextlib.ExitStack, out: OutputOptions, info, max_frames: int | None,
             model_names: dict) -> "Outputs":
        """model_names: {task: model}, the results file's names for them."""
        def enter(sink):
            return stack.enter_context(sink)

        outputs = cls(
            video=enter(open_output(out.video, info, max_frames)) if out.video else None,
            results=enter(ResultsSink(out.results, model_names)) if out.results else None,
            arrays=enter(RawArraySink(out.arrays, depth_format=out.depth_format, intrinsics=out.camera,
                                      fov_deg=out.fov, point_stride=_ply_stride(out),
                                      name_by_task=len(model_names) > 1)) if out.arrays else None,
            window=enter(WindowSink("livevision")) if out.display else None,
            web=enter(web_view(out.serve, out.serve_token)) if out.serve else None,
            robotics=_robotics_sinks(out, enter),
        )
        if outputs.web is not None:
            log.info("web view at %s", ", ".join(outputs.web.urls))
        return outputs

    def view_targets(self, out: OutputOptions, draw_hud) -> ViewTargets:
        """The view sinks but the window (see KeyWindow), each with or without the HUD (see OutputOptions.hud)."""
        plain, with_hud = [], []
        (with_hud if out.hud_in_output else plain).append(self.video)
        (with_hud if out.hud else plain).append(self.web)
        return ViewTargets([s for s in plain if s is not None], [s for s in with_hud if s is not None], draw_hud)

    def result_sinks(self) -> list[ResultSink]:
        return [sink for sink in (self.results, self.arrays) if sink is not None] + self.robotics


@dataclass
class ViewTargets:
    """Where each rendered view goes. The HUD (this run's rates, latencies, ages) is for whoever watches:
    it is drawn, once a view, on the views of `with_hud` only (draw_hud(view) -> the view with it)."""

    plain: list[ViewSink]
    with_hud: list[ViewSink]
    draw_hud: Callable[[np.ndarray], np.ndarray]

    def __bool__(self) -> bool:
        return bool(self.plain or self.with_hud)

    @property
    def timeline(self) -> SourceTimeline | None:
        """The file on the source's timeline (the video), if any: the progress counts its frames, and it is
        padded to the source's length when the source ends."""
        return next((sink for sink in self.plain + self.with_hud if isinstance(sink, SourceTimeline)), None)

    def write_view(self, view: np.ndarray, index: int) -> None:
        for sink in self.plain:
            sink.write_view(view, index)
        if self.with_hud:
            shown = self.draw_hud(view)
            for sink in self.with_hud:
                sink.write_view(shown, index)


def _ply_stride(out: OutputOptions) -> int:
    """--point-stride for ply point clouds: every pixel unless given."""
    return 1 if out.point_stride is None else out.point_stride


def _robotics_sinks(out: OutputOptions, enter) -> list:
    """--rerun, --mcap and --foxglove, each imported only when asked for (their wheels are extras) and
    entered in the run's exit stack at once, so that one failing to open still closes the others."""
    camera = dict(camera=out.camera, fov_deg=out.fov, point_stride=out.point_stride, raw_images=out.raw_images,
                  depth_stride=out.depth_stride)
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


def web_view(address: str, token: str | None) -> WebViewSink:
    """--serve [HOST:]PORT with --serve-token: a token made up for any address but loopback."""
    host, port = parse_address(address)
    return WebViewSink(host, port, token=access_token(host, port, token))


def open_output(path: Path, info, max_frames: int | None) -> VideoSink | ImageSink:
    """The annotated output: a video, or an image when one frame is processed (an image source, or
    --max-frames 1)."""
    return ImageSink(path) if is_image_output(path, info, max_frames) else \
        VideoSink(path, info.fps or 30.0, audio_from=info.path)


def is_image_output(path: Path, info, max_frames: int | None) -> bool:
    """Whether --output is an image; an image for many frames is refused."""
    if Path(path).suffix.lower() not in IMAGE_OUTPUT_EXTENSIONS:
        return False
    if max_frames != 1 and (info.is_live or info.frame_count != 1):
        frames = "a live source" if info.is_live else f"{info.frame_count or 'many'} frames"
        raise OutputPathError(f"cannot write image {str(path)!r}: an image holds one frame, and {info.name} has "
                              f"{frames}; write a video ({', '.join(SUPPORTED_VIDEO_EXTENSIONS)}) instead")
    return True


def check_outputs(options: RunOptions, info) -> None:
    """Every output path, before anything is loaded or written: its extension, its folder (it exists and
    takes files), and that it is no input (the source, --calibrate, a model folder's files) under its own
    name or through a link; and what writing needs (ffmpeg, the extras' wheels). The sinks check their
    paths again as they open."""
    out = options.output
    if out.arrays is not None or any(x is not None for x in (out.mcap, out.rerun, out.foxglove)):
        check_camera(out.camera, out.fov, _ply_stride(out))  # the camera options, before a model loads
    if out.video is not None:
        image = is_image_output(out.video, info, options.source.max_frames)
        check_output_file(out.video, IMAGE_OUTPUT_EXTENSIONS if image else SUPPORTED_VIDEO_EXTENSIONS,
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
    inputs = input_paths(options, info)
    named = [("--output", out.video), ("--results", out.results), ("--arrays", out.arrays),
             ("--stats", out.stats), ("--mcap", out.mcap), ("--rerun", out.rerun if rerun_file else None)]
    outputs = [(what, Path(path).expanduser()) for what, path in named if path is not None]
    if out.display:  # the snapshots the s key may save: an input image of that name in that folder
        outputs += [("--snapshot-dir", out.snapshot_dir / p.name) for p in inputs if SNAPSHOT_NAME.fullmatch(p.name)]
    check_not_an_input(outputs, inputs)


def input_paths(options: RunOptions, info) -> list[Path]:
    """The local files and folders the run reads: the source, --calibrate's clip, local model folders."""
    source = info.path or options.source.source
    specs = [str(source), options.model.load_options.calibrate, *map(str, options.model.models.values())]
    local = [s for s in specs if s and not s.isdigit() and "://" not in s]
    return [path for spec in local for path in named_paths(spec)]


def check_metric_depth(stream: Stream) -> None:
    model = stream.models.get(Task.DEPTH)
    if getattr(model, "depth_kind", None) is DepthKind.RELATIVE:
        raise UsageError(f"--depth-format ply needs a metric depth model (ZoeDepth, Depth Anything metric, GLPN): "
                         f"{getattr(model, 'name', 'this model')} gives relative inverse depth, which has no scale")


def write_stats(path: Path, stream: Stream, source) -> None:
    summary = {"source": stream.info.name, "pacing": stream.pacing.value,
               "tasks": [t.value for t in stream.tasks], **stream.stats.summary(),
               **{key: value for step in stream.steps.values() for key, value in step.stats().items()},
               "source_faults": {"frames_bad": source.frames_bad, "reconnects": source.reconnects,
                                 "frames_missing": getattr(source, "frames_missing", None)}}
    atomic_write_text(path, json.dumps(summary, indent=2) + "\n")
