"""Several tasks on one frame stay legible: panels never overlap, blends never tint a panel,
grid tiles are titled, --alpha sets the opacity, and the default view fits the tasks."""

from __future__ import annotations

import itertools
import json
import time

import cv2
import numpy as np
import pytest
from fakes import FakeSource
from media import decode

from livevision.app import Renderer, default_view, run
from livevision.options import OutputOptions, RunOptions, SourceOptions, ViewMode
from livevision.cli import main
from livevision.render import DepthAnnotator, PanelLayout, ResultAnnotator
from livevision.stream import Packet
from livevision.types import ClassificationResult, DepthKind, DepthResult, Frame, SegmentationResult, Task, TaskOutput

H, W = 720, 1280


def _scene() -> np.ndarray:
    scene = np.empty((H, W, 3), np.uint8)
    scene[:] = (90, 120, 140)
    return scene


def _depth() -> DepthResult:
    return DepthResult(np.tile(np.linspace(1.0, 10.0, W, dtype=np.float32), (H, 1)), DepthKind.RELATIVE)


def _semantic(classes: int = 12) -> SegmentationResult:
    """Vertical stripes of `classes` classes: a legend as tall as the annotator allows."""
    label_map = (np.arange(W)[None, :] * classes // W).repeat(H, axis=0).astype(np.int32)
    return SegmentationResult("semantic", label_map, {i: f"class number {i}" for i in range(classes)})


def _classification() -> ClassificationResult:
    return ClassificationResult(tuple(range(5)), tuple(f"label {i}" for i in range(5)), (0.5, 0.3, 0.1, 0.05, 0.05))


def _overlaps(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _bar_pixels(annotator: DepthAnnotator, layout: PanelLayout) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """Where the gradient of the placed colour bar is, and the colours it must show there."""
    (box,) = [box for what, box in layout.taken if what == "colour bar"]
    bar = annotator.colorbar(DepthKind.RELATIVE, (H, W)).moved_to(box[:2])
    x0, y0, x1, y1 = bar.bar_xyxy
    gradient = np.linspace(255, 0, y1 - y0).round().astype(np.uint8)[:, None]
    return bar.bar_xyxy, np.repeat(cv2.applyColorMap(gradient, annotator.colormap), x1 - x0, axis=1)


def test_panels_of_several_results_never_overlap_and_blends_do_not_tint_the_colour_bar():
    annotator = ResultAnnotator(depth=DepthAnnotator(opacity=0.6))
    layout = PanelLayout((H, W))
    image = annotator.annotate(_scene(), [_depth(), _semantic(), _classification()], title="all", layout=layout)
    names = [what for what, _ in layout.taken]
    assert sorted(names) == ["colour bar", "legend", "title", "top-k"]
    for (name_a, a), (name_b, b) in itertools.combinations(layout.taken, 2):
        assert not _overlaps(a, b), f"{name_a} {a} overlaps {name_b} {b}"
    (x0, y0, x1, y1), expected = _bar_pixels(annotator.depth, layout)
    assert np.array_equal(image[y0:y1, x0:x1], expected), "the segmentation blend tinted the colour bar"


def test_a_short_legend_leaves_the_colour_bar_where_depth_alone_puts_it():
    """With nothing else on the right edge the bar stays centred, as for depth alone."""
    annotator = ResultAnnotator()
    alone, shared = PanelLayout((H, W)), PanelLayout((H, W))
    annotator.annotate(_scene(), [_depth()], layout=alone)
    annotator.annotate(_scene(), [_depth(), _classification()], layout=shared)
    assert dict(alone.taken)["colour bar"] == dict(shared.taken)["colour bar"]
    bar_box = dict(alone.taken)["colour bar"]
    assert abs((bar_box[1] + bar_box[3]) / 2 - H / 2) < H * 0.05


@pytest.mark.parametrize("size_hw", [(240, 320), (360, 480), (1080, 1920)])
def test_no_overlap_at_other_frame_sizes(size_hw):
    h, w = size_hw
    scene = cv2.resize(_scene(), (w, h))
    depth = DepthResult(cv2.resize(_depth().depth, (w, h)), DepthKind.METRIC)
    semantic = _semantic(40)
    semantic = SegmentationResult("semantic", cv2.resize(semantic.label_map, (w, h), interpolation=cv2.INTER_NEAREST),
                                  semantic.id2label)
    layout = PanelLayout((h, w))
    ResultAnnotator().annotate(scene, [depth, semantic, _classification()], layout=layout)
    assert {what for what, _ in layout.taken} >= {"colour bar", "legend"}
    for (name_a, a), (name_b, b) in itertools.combinations(layout.taken, 2):
        assert not _overlaps(a, b), f"{h}x{w}: {name_a} {a} overlaps {name_b} {b}"


def _packet(outputs: dict) -> Packet:
    frame = Frame(_scene(), index=3, timestamp_s=0.1, captured_at=0.0)
    return Packet(frame, {task: TaskOutput(result, 3, 0.1, 0.0, 0.01) for task, result in outputs.items()})


def test_grid_tiles_carry_titles_and_a_task_without_a_result_shows_the_source(monkeypatch):
    titles = []
    annotate = ResultAnnotator.annotate

    def spy(self, scene, result, **kwargs):
        titles.append(kwargs.get("title"))
        return annotate(self, scene, result, **kwargs)

    monkeypatch.setattr(ResultAnnotator, "annotate", spy)
    tasks = (Task.DEPTH, Task.SEGMENTATION, Task.CLASSIFICATION)
    renderer = Renderer(tasks)
    assert renderer.view is ViewMode.GRID
    image = renderer.render(_packet({Task.DEPTH: _depth(), Task.CLASSIFICATION: _classification()}))
    assert titles == ["source", "depth", "segmentation (waiting)", "classification"]
    # Four tiles, two by two, in the source's frame size (a grid of full-size tiles was 2560x1440 for 720p).
    assert image.shape == (H, W, 3)
    h, w = H // 2, W // 2
    source_tile, waiting_tile, scene = image[:h, :w], image[h:, :w], _scene()[:h, :w]
    # The waiting tile is the source under its title: only the title box differs.
    differs = np.any(waiting_tile != scene, axis=2)
    ys, xs = np.nonzero(differs)
    assert ys.size and ys.max() < h // 8, "the waiting segmentation tile is not the source under a title"
    assert np.any(source_tile[: h // 8] != scene[: h // 8]), "the source tile has no title"
    full = Renderer(tasks, full_size_tiles=True).render(_packet({Task.DEPTH: _depth()}))
    assert full.shape == (2 * H, 2 * W, 3)
    untitled = Renderer(tasks)
    monkeypatch.setattr(ResultAnnotator, "annotate", annotate)
    assert np.array_equal(untitled.render(_packet({Task.DEPTH: _depth(), Task.CLASSIFICATION: _classification()})),
                          image)


@pytest.mark.parametrize("tasks, view", [
    ((Task.DEPTH,), ViewMode.OVERLAY),
    ((Task.SEGMENTATION, Task.CLASSIFICATION), ViewMode.OVERLAY),
    ((Task.DEPTH, Task.CLASSIFICATION), ViewMode.OVERLAY),
    ((Task.DEPTH, Task.SEGMENTATION), ViewMode.GRID),
])
def test_default_view_is_a_grid_when_depth_and_segmentation_both_colour_the_frame(tasks, view):
    assert default_view(tasks) is view
    assert Renderer(tasks).view is view
    assert Renderer(tasks, ViewMode.SIDE_BY_SIDE).view is ViewMode.SIDE_BY_SIDE


def test_alpha_sets_the_depth_opacity_over_the_frame():
    depth = _depth()
    colored = DepthAnnotator().colorize(depth, (H, W)).astype(np.float32)
    for alpha, tasks in [({}, (Task.DEPTH,)), ({Task.DEPTH: 0.3}, (Task.DEPTH,)),
                         ({}, (Task.DEPTH, Task.CLASSIFICATION))]:
        opacity = alpha.get(Task.DEPTH, 1.0 if len(tasks) == 1 else 0.6)
        image = Renderer(tasks, ViewMode.OVERLAY, alpha=alpha).render(_packet({Task.DEPTH: depth}))
        expected = (1 - opacity) * _scene().astype(np.float32) + opacity * colored
        # Away from the colour bar (right edge), every pixel is the blend at that opacity.
        assert np.abs(image[:, : W // 2].astype(np.float32) - expected[:, : W // 2]).max() <= 1.0, alpha


def test_alpha_sets_the_segmentation_opacity():
    semantic = _semantic(3)
    plain = Renderer((Task.SEGMENTATION,), ViewMode.OVERLAY)
    faint = Renderer((Task.SEGMENTATION,), ViewMode.OVERLAY, alpha={Task.SEGMENTATION: 0.1})
    row = H - 5  # below the legend
    scene_px = _scene()[row, 10].astype(int)
    shift_plain = np.abs(plain.render(_packet({Task.SEGMENTATION: semantic}))[row, 10].astype(int) - scene_px)
    shift_faint = np.abs(faint.render(_packet({Task.SEGMENTATION: semantic}))[row, 10].astype(int) - scene_px)
    assert shift_faint.sum() * 3 < shift_plain.sum()


def _run_options(monkeypatch, argv):
    seen = {}
    monkeypatch.setattr("livevision.app.run", lambda options, **_: seen.setdefault("options", options) and 0)
    code = main(argv)
    return code, seen.get("options")


def test_cli_alpha_values(monkeypatch):
    base = ["run", "--source", "clip.mp4", "--no-display", "--task", "depth,segmentation,classification"]
    code, options = _run_options(monkeypatch, base + ["--alpha", "0.4", "--alpha", "depth=0.7"])
    assert code == 0 and options.output.alpha == {Task.DEPTH: 0.7, Task.SEGMENTATION: 0.4}
    assert options.output.view is None


@pytest.mark.parametrize("alpha, message", [
    ("1.5", "between 0 and 1"),
    ("depth=x", "invalid opacity"),
    ("classification=0.5", "classification draws a panel"),
    ("segmentation=0.5", "not among --task"),
])
def test_cli_bad_alpha_is_one_line_and_exit_2(monkeypatch, capsys, alpha, message):
    code, options = _run_options(monkeypatch, ["run", "--source", "clip.mp4", "--no-display", "--task",
                                               "depth,classification", "--alpha", alpha])
    err = capsys.readouterr().err.strip()
    assert code == 2 and options is None
    assert message in err and len(err.splitlines()) == 1, err


# ---- the video of a live-paced run has every frame of the source (issue 25) ----------------------------


class _SlowModel:
    """A fake model that takes `latency_s` (on its worker thread) and returns `result`."""

    def __init__(self, result, latency_s=0.05):
        self.result, self.latency_s = result, latency_s

    def __call__(self, image):
        time.sleep(self.latency_s)
        return self.result


class _StallingSource(FakeSource):
    """A file whose decoding stalls before frame `stall_at` for longer than the frames after it last: a
    live-paced reader then finds them all due and skips them, and the source ends (a slow machine's end)."""

    def __init__(self, count, stall_at, stall_s):
        super().__init__(count, fps=30.0)
        self.stall_at, self.stall_s = stall_at, stall_s

    def frames(self):
        for frame in super().frames():
            if frame.index == self.stall_at:
                time.sleep(self.stall_s)
            yield frame


@pytest.mark.parametrize("tasks", [(Task.DEPTH,), (Task.DEPTH, Task.SEGMENTATION)])
def test_simulate_live_video_has_every_source_frame_even_when_the_last_ones_were_skipped(tasks, tmp_path):
    """The README promises the source's rate and duration: frames skipped at the end keep their slots too."""
    small = (48, 64)
    models = {Task.DEPTH: _SlowModel(DepthResult(np.ones(small, np.float32), DepthKind.RELATIVE)),
              Task.SEGMENTATION: _SlowModel(SegmentationResult("semantic", np.zeros(small, np.int32), {0: "a"}))}
    source = _StallingSource(40, stall_at=30, stall_s=0.5)  # 15 frame times: frames 31-39 are all due by then
    out = tmp_path / "sim.mp4"
    options = RunOptions(tasks=tasks, source=SourceOptions(pacing="simulate-live"),
                         output=OutputOptions(video=out, display=False, progress=False,
                                              stats=tmp_path / "stats.json"))
    assert run(options, source=source, models={t: models[t] for t in tasks}) == 0
    frames = json.loads((tmp_path / "stats.json").read_text())["frames"]
    assert frames["dropped"] >= 9, frames  # the frames after the stall were skipped
    _, written = decode(out)
    assert len(written) == 40


def _rows_changed(region: np.ndarray, scene: np.ndarray) -> int:
    return int(np.any(np.any(region != scene, axis=2), axis=1).sum())


@pytest.mark.parametrize("view", list(ViewMode))
def test_hud_text_is_as_large_as_the_titles(view):
    """In a grid the HUD was sized for the whole image: twice the tiles' titles. One HUD line and one
    title are boxes of the same height."""
    renderer = Renderer((Task.DEPTH, Task.SEGMENTATION), view)
    scene = _scene()
    packet = Packet(Frame(scene, index=0, timestamp_s=0.0, captured_at=0.0), {})
    plain = renderer.render(packet)
    shown = renderer.draw_hud(plain, ["capture 30.0 fps"])
    hud_rows = _rows_changed(shown[-H // 4:, : W // 8], plain[-H // 4:, : W // 8])
    if view is ViewMode.GRID:  # the source tile's title, at the top centre of the first tile (0..W/2)
        middle = slice(W // 8, W // 2 - W // 8)
        title_rows = _rows_changed(plain[: H // 4, middle], scene[: H // 4, middle])
    else:  # no titles there: the HUD is sized for the frame, as a title on it would be
        titled = renderer.tile_annotators[Task.DEPTH].annotate(scene, [], title="source")
        title_rows = _rows_changed(titled[: H // 4], scene[: H // 4])
    assert hud_rows > 0 and abs(hud_rows - title_rows) <= 1, (hud_rows, title_rows)


def test_hud_lines_show_only_what_was_measured_and_no_age_when_asked():
    """Frame 0 showed "display -- fps"; `every` mode showed a capture-to-display "age 11287 ms" that
    only says how long its queues are."""
    from livevision.engine.telemetry import Telemetry

    now = [0.0]
    stats = Telemetry(lambda: now[0])
    assert stats.hud_lines() == []
    for i in range(5):
        now[0] = i / 10
        stats.captured()
        stats.displayed()
        stats.inferred("depth")
    stats.stage("depth.inference", 0.02)
    stats.age("depth", 0.3, new=True)
    lines = stats.hud_lines()
    assert not any("--" in line for line in lines)
    assert lines[0] == "capture 10.0  display 10.0 fps" and "age 300 ms" in lines[1]
    assert stats.hud_lines(age=False)[1] == "depth 10.0 fps  20 ms"
