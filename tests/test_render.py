"""Annotators, views and dispatch in livevision.render: synthetic results, exact pixel checks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from livevision.render import (
    ClassificationAnnotator,
    Corner,
    DepthAnnotator,
    Font,
    HudAnnotator,
    InstanceSegmentationAnnotator,
    Palette,
    RangeSmoothing,
    ResultAnnotator,
    SemanticSegmentationAnnotator,
    TextStyle,
    annotator_for,
    draw_result,
    grid,
    side_by_side,
)
from livevision.types import (
    ClassificationResult,
    DepthKind,
    DepthResult,
    Segment,
    SegmentationResult,
)

H, W = 240, 320


def _scene(height: int = H, width: int = W, bgr=(90, 120, 140)) -> np.ndarray:
    scene = np.empty((height, width, 3), np.uint8)
    scene[:] = bgr
    return scene


def _luma(pixels_bgr: np.ndarray) -> np.ndarray:
    pixels = pixels_bgr.astype(np.float32)
    return 0.114 * pixels[..., 0] + 0.587 * pixels[..., 1] + 0.299 * pixels[..., 2]


def _colormap_end(colormap: int, index: int) -> np.ndarray:
    return cv2.applyColorMap(np.array([[index]], np.uint8), colormap)[0, 0].astype(int)


def _half_near(kind: DepthKind) -> DepthResult:
    """Left half near, right half far, in the units of `kind`."""
    depth = np.empty((H, W), np.float32)
    if kind is DepthKind.RELATIVE:  # inverse depth: near = large
        depth[:, : W // 2], depth[:, W // 2 :] = 10.0, 1.0
    else:  # metres: near = small
        depth[:, : W // 2], depth[:, W // 2 :] = 0.5, 9.0
    return DepthResult(depth, kind)


# ----------------------------------------------------------------------------- depth


@pytest.mark.parametrize("kind", [DepthKind.RELATIVE, DepthKind.METRIC])
def test_depth_near_half_is_drawn_near_for_both_kinds(kind):
    annotator = DepthAnnotator()  # INFERNO, opacity 1, metric range 0.3-10 m
    out = annotator.annotate(_scene(), _half_near(kind))
    near_end = _colormap_end(cv2.COLORMAP_INFERNO, 255)

    left = out[:, : W // 4].reshape(-1, 3).astype(int)  # away from the colour bar at the right
    right_col = out[:, W // 2 + 5].astype(int)  # right half, left of the colour bar
    assert np.abs(left - near_end).max() <= 24, "near half must use the colour map's near end"
    assert _luma(right_col).max() < 60, "far half must be dark (INFERNO's far end)"
    assert _luma(left).min() > _luma(right_col).max() + 150


def test_depth_near_colour_is_the_same_for_relative_and_metric():
    relative = DepthAnnotator().annotate(_scene(), _half_near(DepthKind.RELATIVE))
    metric = DepthAnnotator().annotate(_scene(), _half_near(DepthKind.METRIC))
    assert np.abs(relative[H // 2, 10].astype(int) - metric[H // 2, 10].astype(int)).max() <= 24


@pytest.mark.parametrize("kind", [DepthKind.RELATIVE, DepthKind.METRIC])
def test_depth_colour_bar_is_drawn_with_labels(kind):
    annotator = DepthAnnotator()
    result = _half_near(kind)
    with_bar = annotator.annotate(_scene(), result)
    without_bar = DepthAnnotator(show_colorbar=False).annotate(_scene(), result)
    bar = annotator.colorbar(kind, (H, W))
    x0, y0, x1, y1 = bar.bar_xyxy
    assert W // 2 < x0 < x1 <= W and 0 < y0 < y1 <= H
    # The gradient runs from the near end (top) to the far end (bottom).
    inferno = cv2.COLORMAP_INFERNO
    assert np.abs(with_bar[y0, (x0 + x1) // 2].astype(int) - _colormap_end(inferno, 255)).max() <= 3
    assert np.abs(with_bar[y1 - 1, (x0 + x1) // 2].astype(int) - _colormap_end(inferno, 0)).max() <= 3
    assert not np.array_equal(with_bar[y0:y1, x0:x1], without_bar[y0:y1, x0:x1])
    if kind is DepthKind.RELATIVE:
        assert bar.labels == ("near", "far")
    else:
        assert bar.labels[0] == "0.3 m" and bar.labels[-1] == "10 m"
        assert all(label.endswith(" m") for label in bar.labels) and len(bar.labels) >= 3


def test_depth_relative_range_follows_scale_jumps_slowly():
    """The model's scale jitters by 5% from frame to frame and an outlier pixel comes and goes:
    a pixel whose value never changes must keep (nearly) its colour."""
    annotator = DepthAnnotator(show_colorbar=False, range_smoothing=RangeSmoothing(smoothing=0.1))
    ramp = np.linspace(1.0, 10.0, H * W, dtype=np.float32).reshape(H, W)
    def inferno_of(index):
        return _colormap_end(cv2.COLORMAP_INFERNO, int(round(index)))
    previous = None
    for i in range(12):
        scale = 1.05 if i % 2 else 1.0
        depth = ramp * np.float32(scale)
        depth[H // 2, 6] = 5.0  # the pixel that never changes
        if i % 2:
            depth[H // 3, W // 3] = 1e6  # an outlier pixel
        out = annotator.annotate(_scene(), DepthResult(depth, DepthKind.RELATIVE))
        low, high = annotator.display_range(DepthKind.RELATIVE)
        state = (out[H // 2, 6].astype(int), (low, high), scale)
        if previous is not None:
            colour, (prev_low, prev_high), prev_scale = previous
            span = prev_high - prev_low
            assert abs(low - prev_low) < 0.01 * span and abs(high - prev_high) < 0.01 * span
            # Per-frame min-max would move this pixel's colour by this much; smoothing must not.
            naive_change = np.abs(inferno_of(255 * (5 - scale) / (9 * scale))
                                  - inferno_of(255 * (5 - prev_scale) / (9 * prev_scale))).max()
            change = np.abs(state[0] - colour).max()
            assert naive_change >= 9 and change <= 3, f"colour jumped by {change} at frame {i}"
        previous = state


def test_depth_relative_range_converges_and_resets():
    """The range starts at the first map's robust percentiles (~2nd/98th, taken on a subsample),
    moves `smoothing` of the way per new map, ignores a result drawn twice, and reset() restarts."""
    annotator = DepthAnnotator(range_smoothing=RangeSmoothing(smoothing=0.5))
    ramp = np.linspace(0.0, 1.0, H * W, dtype=np.float32).reshape(H, W)
    annotator.annotate(_scene(), DepthResult(ramp, DepthKind.RELATIVE))
    low0, high0 = annotator.display_range(DepthKind.RELATIVE)
    assert low0 == pytest.approx(0.02, abs=0.03) and high0 == pytest.approx(0.98, abs=0.03)

    jumped = DepthResult(ramp * 2.0, DepthKind.RELATIVE)
    annotator.annotate(_scene(), jumped)
    low1, high1 = annotator.display_range(DepthKind.RELATIVE)
    assert high1 == pytest.approx(0.5 * (high0 + 2 * high0), rel=1e-3)  # half way to the new range
    annotator.annotate(_scene(), jumped)  # the same result again: the range does not move
    assert annotator.display_range(DepthKind.RELATIVE) == (low1, high1)
    for _ in range(20):
        annotator.annotate(_scene(), DepthResult(ramp * 2.0, DepthKind.RELATIVE))
    assert annotator.display_range(DepthKind.RELATIVE)[1] == pytest.approx(2 * high0, rel=1e-3)

    annotator.reset()
    assert annotator.display_range(DepthKind.RELATIVE) is None
    annotator.annotate(_scene(), DepthResult(ramp * 5.0, DepthKind.RELATIVE))
    assert annotator.display_range(DepthKind.RELATIVE)[1] == pytest.approx(5 * high0, rel=1e-3)


def test_depth_metric_range_is_fixed():
    annotator = DepthAnnotator.from_max_depth(10.0, min_depth_m=0.3, show_colorbar=False)
    colours = []
    for scale in (1.0, 3.0, 0.2):
        depth = np.full((H, W), 7.0 * scale, np.float32)
        depth[:, :10] = 2.0  # a fixed distance
        out = annotator.annotate(_scene(), DepthResult(depth, DepthKind.METRIC))
        colours.append(out[H // 2, 5])
        assert annotator.display_range(DepthKind.METRIC) == (0.3, 10.0)
    assert all(np.array_equal(colours[0], c) for c in colours)
    assert DepthAnnotator.from_max_depth(80.0).display_range(DepthKind.METRIC) == (0.0, 80.0)


@pytest.mark.parametrize("kind", [DepthKind.RELATIVE, DepthKind.METRIC])
@pytest.mark.parametrize(
    "values",
    [
        np.full((H, W), 3.0, np.float32),  # flat
        np.full((H, W), np.nan, np.float32),  # all NaN
        np.where(np.arange(W) % 3 == 0, np.nan, np.where(np.arange(W) % 3 == 1, np.inf, 2.0))
        .astype(np.float32)[None, :].repeat(H, axis=0),  # NaN, inf and finite
        np.full((H, W), -np.inf, np.float32),
    ],
    ids=["flat", "all-nan", "mixed-nonfinite", "all-neg-inf"],
)
@pytest.mark.parametrize("opacity", [1.0, 0.5])
def test_depth_degenerate_maps_do_not_break(kind, values, opacity):
    annotator = DepthAnnotator(opacity=opacity)
    for _ in range(2):  # first frame and a smoothed one
        out = annotator.annotate(_scene(), DepthResult(values, kind))
        assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    current = annotator.display_range(kind)
    assert current is None or all(np.isfinite(current))


def test_depth_flat_relative_map_is_one_mid_colour():
    out = DepthAnnotator(show_colorbar=False).annotate(
        _scene(), DepthResult(np.full((H, W), 4.2, np.float32), DepthKind.RELATIVE)
    )
    assert (out == out[0, 0]).all()
    assert np.abs(out[0, 0].astype(int) - _colormap_end(cv2.COLORMAP_INFERNO, 128)).max() <= 8


def test_depth_map_of_another_size_is_fitted_to_the_scene():
    depth = np.ones((H // 2, W // 2), np.float32)
    out = DepthAnnotator().annotate(_scene(), DepthResult(depth, DepthKind.METRIC))
    assert out.shape == (H, W, 3)


# ------------------------------------------------------------------ segmentation


def _semantic() -> SegmentationResult:
    label_map = np.full((H, W), -1, np.int32)
    label_map[: H // 2, :] = 5  # largest
    label_map[H // 2 :, : W // 4] = 2
    label_map[H // 2 : H // 2 + 10, W // 4 : W // 4 + 10] = 9  # smallest
    id2label = {2: "road", 5: "sky", 9: "person", 11: "car"}  # car is not in the frame
    return SegmentationResult("semantic", label_map, id2label)


def test_semantic_legend_lists_exactly_the_classes_present_by_area():
    annotator = SemanticSegmentationAnnotator()
    legend = annotator.legend(_semantic())
    assert legend.names == ("sky", "road", "person")
    assert legend.hidden_count == 0 and legend.lines == ("sky", "road", "person")
    palette = Palette.default()
    assert [e.color_bgr for e in legend.entries] == [palette.color(5), palette.color(2), palette.color(9)]
    assert legend.entries[0].area_fraction == pytest.approx(0.5)


def test_semantic_legend_is_capped_with_more_count():
    legend = SemanticSegmentationAnnotator(max_legend_entries=2).legend(_semantic())
    assert legend.names == ("sky", "road") and legend.hidden_count == 1
    assert legend.lines[-1] == "+1 more"


def test_semantic_unknown_class_gets_a_name():
    result = SegmentationResult("semantic", np.full((H, W), 300, np.int32), {})
    annotator = SemanticSegmentationAnnotator()
    assert annotator.legend(result).names == ("class 300",)
    assert annotator.annotate(_scene(), result).shape == (H, W, 3)  # ids >= 255 take the slow path


def test_semantic_blend_leaves_unlabelled_pixels_untouched():
    scene = _scene()
    result = _semantic()
    out = SemanticSegmentationAnnotator(opacity=0.5, legend_corner=Corner.TOP_RIGHT).annotate(scene, result)
    unlabelled = result.label_map == -1
    assert np.array_equal(out[unlabelled], scene[unlabelled])
    colour = np.array(Palette.default().color(2), float)
    expected = np.round(0.5 * scene[H - 1, 0] + 0.5 * colour)
    assert np.abs(out[H - 1, 0] - expected).max() <= 1
    # The legend is drawn in its corner (over the "sky" blend), not elsewhere.
    plain = SemanticSegmentationAnnotator(opacity=0.5, show_legend=False).annotate(scene, result)
    assert not np.array_equal(out[: H // 4, -W // 4 :], plain[: H // 4, -W // 4 :])
    assert np.array_equal(out[H // 4 :, : W // 2], plain[H // 4 :, : W // 2])


def _instance(kind: str = "instance") -> SegmentationResult:
    yy, xx = np.mgrid[:H, :W]
    person = (xx - 80) ** 2 + (yy - 140) ** 2 < 40**2
    car = np.zeros((H, W), bool)
    car[120:200, 180:300] = True
    segment_map = np.full((H, W), -1, np.int32)
    segment_map[person], segment_map[car] = 1, 2
    segments = (Segment(1, 0, "person", 0.93, person), Segment(2, 3, "car", 0.71, car))
    return SegmentationResult(kind, np.where(segment_map == 1, 0, np.where(car, 3, -1)).astype(np.int32),
                              {0: "person", 3: "car"}, segments, segment_map)


def test_instance_labels_name_class_and_score():
    labels = InstanceSegmentationAnnotator().labels(_instance())
    assert [label.text for label in labels] == ["car 0.71", "person 0.93"]  # largest first
    assert [label.segment_id for label in labels] == [2, 1]
    no_scores = InstanceSegmentationAnnotator(show_scores=False).labels(_instance())
    assert [label.text for label in no_scores] == ["car", "person"]


def test_instance_outline_differs_from_fill_and_outside_is_untouched():
    scene = _scene()
    result = _instance()
    annotator = InstanceSegmentationAnnotator(opacity=0.4, show_labels=False)
    out = annotator.annotate(scene, result)
    colour = np.array(Palette.default().color(3), int)  # car, coloured by class
    boundary = out[160, 180].astype(int)  # the car mask's left edge
    interior = out[160, 240].astype(int)
    assert np.array_equal(boundary, colour)
    assert np.abs(interior - np.round(0.6 * scene[0, 0] + 0.4 * colour)).max() <= 1
    assert not np.array_equal(boundary, interior)
    outside = ~(result.segments[0].mask | result.segments[1].mask)
    outside[118:202, 178:302] = False  # outlines may spill one pixel out
    outside = outside & (cv2.dilate(result.segments[0].mask.view(np.uint8), np.ones((5, 5))) == 0)
    assert np.array_equal(out[outside], scene[outside])


def test_instance_labels_are_drawn_and_panoptic_is_supported():
    result = _instance("panoptic")
    without = InstanceSegmentationAnnotator(show_labels=False).annotate(_scene(), result)
    out = ResultAnnotator().annotate(_scene(), result)  # dispatches panoptic to the instance annotator
    car_label = InstanceSegmentationAnnotator().labels(result)[0]
    x, y = car_label.top_left_xy
    assert y < 120 and not np.array_equal(out[y : 120, x : x + 20], without[y : 120, x : x + 20])


def test_instance_without_segments_returns_a_copy():
    result = SegmentationResult("instance", np.full((H, W), -1, np.int32), {}, (), None)
    scene = _scene()
    out = InstanceSegmentationAnnotator().annotate(scene, result)
    assert np.array_equal(out, scene) and out is not scene


# ---------------------------------------------------------------- classification, HUD


def _classification() -> ClassificationResult:
    return ClassificationResult(
        (281, 282, 285, 287),
        ("tabby, tabby cat", "tiger cat", "Egyptian cat", "a very long label that has to be cut short"),
        (0.62, 0.25, 0.05, 0.01),
    )


def test_classification_panel_entries_and_drawing():
    annotator = ClassificationAnnotator(top_k=3, corner=Corner.TOP_LEFT)
    entries = annotator.entries(_classification())
    assert [e.label for e in entries] == ["tabby, tabby cat", "tiger cat", "Egyptian cat"]
    assert [e.percent_text for e in entries] == ["62.0%", "25.0%", "5.0%"]
    scene = _scene()
    out = annotator.annotate(scene, _classification())
    assert not np.array_equal(out[:40, :80], scene[:40, :80])
    assert np.array_equal(out[-40:, -80:], scene[-40:, -80:])


def test_classification_long_labels_are_shortened():
    entries = ClassificationAnnotator(max_label_chars=20).entries(_classification())
    assert entries[-1].label == "a very long label..." and len(entries[-1].label) <= 20


def test_hud_draws_lines_in_its_corner():
    scene = _scene()
    out = HudAnnotator(corner=Corner.BOTTOM_LEFT).annotate(scene, ["capture 30.0 fps", "age 120 ms"])
    assert not np.array_equal(out[-30:, :60], scene[-30:, :60])
    assert np.array_equal(out[:30, -60:], scene[:30, -60:])
    assert np.array_equal(HudAnnotator().annotate(scene, []), scene)


def test_font_grows_with_image_height():
    small, hd, uhd = (Font.for_height(h) for h in (480, 720, 2160))
    assert small.scale >= TextStyle().min_scale and small.text_height_px >= 8
    assert small.scale < hd.scale < uhd.scale and uhd.thickness_px > small.thickness_px


# ------------------------------------------------------------ every annotator, copies


def _all_annotations():
    depth = _half_near(DepthKind.RELATIVE)
    return [
        (DepthAnnotator(), depth),
        (DepthAnnotator(opacity=0.5), _half_near(DepthKind.METRIC)),
        (SemanticSegmentationAnnotator(), _semantic()),
        (InstanceSegmentationAnnotator(), _instance()),
        (ClassificationAnnotator(), _classification()),
        (HudAnnotator(), ["capture 30.0 fps"]),
        (ResultAnnotator(), [depth, _classification()]),
    ]


@pytest.mark.parametrize("annotator, result", _all_annotations(), ids=lambda v: type(v).__name__)
def test_annotate_returns_a_new_image_and_leaves_the_scene_alone(annotator, result):
    scene = _scene()
    before = scene.copy()
    for _ in range(2):  # the second call may come from a cache
        out = annotator.annotate(scene, result)
        assert out is not scene and not np.shares_memory(out, scene)
        assert out.shape == scene.shape and out.dtype == np.uint8
        assert not np.array_equal(out, scene)
        assert np.array_equal(scene, before)


@pytest.mark.parametrize("bad", [np.zeros((H, W), np.uint8), np.zeros((H, W, 3), np.float32)])
def test_annotate_rejects_bad_scenes(bad):
    with pytest.raises(ValueError, match="scene"):
        ClassificationAnnotator().annotate(bad, _classification())


# ---------------------------------------------------------------- views and dispatch


def test_side_by_side_shape():
    original, result = _scene(), _scene(bgr=(0, 0, 255))
    out = side_by_side(original, result)
    assert out.shape == (H, 2 * W, 3)
    assert np.array_equal(out[:, :W], original) and np.array_equal(out[:, W:], result)
    assert side_by_side(original, _scene(H // 2, W // 2)).shape == (H, 2 * W, 3)


@pytest.mark.parametrize("count, rows, columns", [(1, 1, 1), (2, 1, 2), (3, 2, 2), (4, 2, 2), (5, 2, 3)])
def test_grid_shapes(count, rows, columns):
    images = [_scene(bgr=(i * 40, 0, 0)) for i in range(count)]
    out = grid(images)
    assert out.shape == (rows * H, columns * W, 3)
    assert np.array_equal(out[:H, :W], images[0])
    if count < rows * columns:
        assert not out[-H:, -W:].any()  # empty cell is black


def test_grid_letterboxes_other_sizes_and_takes_columns():
    out = grid([_scene(), _scene(H, W // 2, bgr=(255, 255, 255)), np.full((H, W), 7, np.uint8)], columns=3)
    assert out.shape == (H, 3 * W, 3)
    cell = out[:, W : 2 * W]
    assert not cell[:, :10].any() and (cell[:, W // 2] == 255).all()  # centred, black bars
    assert grid([_scene()], cell_wh=(160, 100)).shape == (100, 160, 3)


def test_dispatch_picks_the_annotator_by_result_type_and_kind():
    assert isinstance(annotator_for(_half_near(DepthKind.METRIC)), DepthAnnotator)
    assert isinstance(annotator_for(_classification()), ClassificationAnnotator)
    assert isinstance(annotator_for(_semantic()), SemanticSegmentationAnnotator)
    assert isinstance(annotator_for(_instance("panoptic")), InstanceSegmentationAnnotator)
    with pytest.raises(ValueError, match="kind"):
        annotator_for(SegmentationResult("depthish", np.zeros((2, 2), np.int32), {}))
    with pytest.raises(TypeError):
        annotator_for("not a result")
    shared = ResultAnnotator()
    assert shared.annotator_for(_instance()) is shared.instance
    assert shared.annotator_for(_semantic()) is shared.semantic
    out = draw_result(_scene(), _classification())
    assert np.array_equal(out, ClassificationAnnotator().annotate(_scene(), _classification()))


def test_palette_is_deterministic_and_distinct():
    palette = Palette.default()
    assert palette.color(7) == Palette.default().color(7) == tuple(palette.colors([7])[0])
    first = {palette.color(i) for i in range(150)}
    assert len(first) == 150
    luma = _luma(palette.colors(range(150)))
    assert luma.min() > 40 and luma.max() < 245  # never near-black or near-white


def test_palette_colours_that_share_a_legend_are_far_apart():
    """Neighbouring legend entries were near-identical greens (CIELAB distance 12 among the first 24
    colours). A distance of 20 is plainly two colours; the first 24 are all farther apart than 30."""
    colors = Palette.default().colors(range(24)).astype(np.float32)[None] / 255.0
    lab = cv2.cvtColor(colors, cv2.COLOR_BGR2LAB)[0].astype(np.float64)
    distance = np.sqrt(((lab[:, None] - lab[None]) ** 2).sum(axis=-1))
    np.fill_diagonal(distance, np.inf)
    assert distance.min() > 30
