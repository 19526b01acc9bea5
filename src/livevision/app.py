"""`livevision run`: a source, one or more tasks, overlays, and the outputs asked for.

A thin layer over `livevision.Stream`: everything the command line does, a script can do
with the API, the annotators and the sinks. Here: the run's options, the Renderer, and `run`, which
checks and opens the outputs (outputs), then plays the stream into them (run_loop) and the window
(window_keys).
"""

from __future__ import annotations

import contextlib
import logging
import math

import cv2
import numpy as np

from . import interrupts
from .outputs import Outputs, check_metric_depth, check_outputs, write_stats
from .options import ModelOptions, RunOptions, ViewMode
from .render import (
    HudAnnotator,
    ResultAnnotator,
    grid,
    side_by_side,
)
from .run_loop import hud_drawer, play_to_outputs, total_frames
from .sinks import ProgressBar
from .sources import open_source
from .stream import Packet, Stream
from .tasks.registry import definition
from .types import Task
from .window_keys import KeyWindow

log = logging.getLogger(__name__)


def draw_order(tasks) -> list[Task]:
    """The tasks in the order their layers are drawn (each task's draw_rank: depth's colour map first,
    segmentation over it, the classification panel on top)."""
    return sorted(tasks, key=lambda t: definition(t).draw_rank)


def _model_kwargs(model: ModelOptions) -> dict:
    """ModelOptions as Stream.open's keywords: the LoadOptions whole, the per-task values by task."""
    return dict(model=model.models or None, load=model.load_options, input_size=model.input_size or None,
                options=model.postprocess, depth_stabilize=model.depth_stabilize, track=model.track)


def default_view(tasks) -> ViewMode:
    """Grid when two tasks colour the whole frame (depth and segmentation: either over the other hides
    both), else overlay."""
    return ViewMode.GRID if sum(definition(t).colours_frame for t in set(tasks)) > 1 else ViewMode.OVERLAY


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
        self.tasks = draw_order(tasks)
        self.view = view or default_view(tasks)
        self.full_size_tiles = full_size_tiles
        # Alone, depth replaces the picture; under other results it is blended so they stay readable.
        self.overlay_annotator = _annotator(alpha or {}, self.tasks, shared=len(self.tasks) > 1)
        self.tile_annotators = {t: _annotator(alpha or {}, self.tasks, shared=False) for t in self.tasks}
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


def _annotator(alpha: dict, tasks, shared: bool) -> ResultAnnotator:
    """A ResultAnnotator whose layers have the --alpha opacities, else (`shared`: other results on the same
    frame) each task's shared_opacity, else their own."""
    annotators = {}
    for task in tasks:
        found = definition(task)
        opacity = alpha.get(task, found.shared_opacity if shared else None)
        if opacity is not None:
            annotators.update(found.annotators(opacity=opacity))
    return ResultAnnotator(**annotators)


def run(options: RunOptions, *, source=None, models: dict | None = None, progress=None) -> int:
    """Process the source until it ends, the user quits, or `max_frames`. Returns an exit code.
    `source` may be a FrameSource to use instead of `options.source.source` (tests, custom capture);
    `models`, ready models by task (ModelOptions.load), spares loading them (`livevision batch`);
    `progress`, what counts the source's frames (`update(n)`, `n`) instead of a bar of its own
    (`livevision batch`: one bar over all files).

    Ctrl-C / SIGTERM during processing end the loop at a frame boundary; the outputs are
    closed properly, then KeyboardInterrupt / Terminated is raised (see interrupts)."""
    src, out = options.source, options.output
    if source is None and len(src.sources) > 1:  # several sources: their models shared (app_multi)
        from .app_multi import run_multi

        return run_multi(options, models=models)
    deferral = contextlib.ExitStack()  # outlives `stack`: signals stay deferred while outputs close
    with deferral, contextlib.ExitStack() as stack:
        opened = open_source(source if source is not None else src.source, reconnect=src.reconnect)
        stack.callback(opened.close)
        # Every output path is checked before the models load (an export takes minutes), and no output
        # is opened until they have: a bad model leaves no file and says one line.
        check_outputs(options, opened.info)
        stream = Stream.open(opened, list(options.tasks), pacing=src.pacing, max_fps=src.max_fps,
                             rates=src.rates or None, models=models, camera=out.camera or out.fov,
                             **_model_kwargs(options.model))
        if out.arrays is not None and out.depth_format == "ply":
            check_metric_depth(stream)
        names = {t: getattr(m, "name", type(m).__name__) for t, m in stream.models.items()}
        outputs = Outputs.open(stack, out, opened.info, src.max_frames, names)
        stats_path = out.stats
        if stats_path is not None:
            stack.callback(write_stats, stats_path, stream, opened)
        if not out.display and stats_path is None and not any(vars(outputs).values()):
            log.warning("nothing will be shown or saved: add --output, --results, --arrays, --stats, --rerun or "
                        "--mcap (or --serve or --foxglove, or drop --no-display)")
        info = opened.info
        if progress is None and out.progress and not info.is_live:
            progress = stack.enter_context(ProgressBar(total_frames(info, src.max_frames), desc=info.name))
        renderer = Renderer(options.tasks, out.view, out.alpha, full_size_tiles=out.full_size_tiles)
        window = None if outputs.window is None else \
            KeyWindow(outputs.window, renderer, out.snapshot_dir, hud_drawer(stream, renderer) if out.hud else None)
        play_to_outputs(stack, deferral, stream, opened, outputs, out, renderer, progress, src.max_frames, window)
    interrupts.raise_if_requested()
    return 0


