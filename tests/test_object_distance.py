"""Object distances (livevision.objects.distance): a synthetic scene with an object at a known depth, through
the whole Stream, and the statistic's edge cases."""

from __future__ import annotations

from fractions import Fraction

import cv2
import numpy as np
import pytest
from fakes import FakeSource

from livevision.errors import UsageError
from livevision.objects.distance import ObjectDepthStep, object_depth
from livevision.pointcloud import CameraIntrinsics
from livevision.stream import Stream
from livevision.types import (DepthKind, DepthResult, Detection, DetectionResult, Segment, SegmentationResult, Task,
                              TaskOutput)

W, H = 320, 180
BACKGROUND_M, OBJECT_M = 5.0, 2.4
# the object: rows 40..99, columns 200..279 (off the image centre, so x and y are not 0)
TOP, BOTTOM, LEFT, RIGHT = 40, 100, 200, 280
CENTRE = ((LEFT + RIGHT - 1) / 2, (TOP + BOTTOM - 1) / 2)  # its middle pixel (pixel centres)
LOOSE = 8  # the detector's box reaches this many pixels into the background on each side
FOV = 70.0


def truth(fov=FOV, z=OBJECT_M):
    camera = CameraIntrinsics.from_fov(W, H, fov)
    u, v = CENTRE
    return np.array([(u - camera.cx) * z / camera.fx, (v - camera.cy) * z / camera.fy, z])


def scene_depth(hw, object_m=OBJECT_M, seed=0) -> np.ndarray:
    """A plane at 5 m with the object at `object_m`, its outline blurred (as a depth model's is) and 1 %
    noise."""
    depth = np.full(hw, BACKGROUND_M, np.float32)
    depth[TOP:BOTTOM, LEFT:RIGHT] = object_m
    depth = cv2.GaussianBlur(depth, (9, 9), 0)
    noise = np.random.default_rng(seed).normal(0, 0.01, hw).astype(np.float32)
    return depth * (1 + noise)


class MetricDepth:
    """A metric depth model stand-in: the scene at the frame's size. relative: inverse depth instead."""

    def __init__(self, relative=False, object_m=OBJECT_M):
        self.relative, self.object_m = relative, object_m

    def __call__(self, image):
        depth = scene_depth(image.shape[:2], self.object_m)
        if self.relative:
            return DepthResult(1 / depth, DepthKind.RELATIVE)
        return DepthResult(depth, DepthKind.METRIC)


class BoxDetector:
    """A detector stand-in: the object's box, loose by LOOSE pixels, and `extra` boxes as given."""

    def __init__(self, extra=()):
        self.extra = extra

    def __call__(self, image):
        box = (LEFT - LOOSE, TOP - LOOSE, RIGHT + LOOSE, BOTTOM + LOOSE)
        boxes = (box, *self.extra)
        return DetectionResult(tuple(Detection(tuple(map(float, b)), 1, "thing", 0.9) for b in boxes), {1: "thing"})


class MaskSegmenter:
    """An instance segmentation stand-in: the object's mask, 3 pixels too wide all round (it bleeds into the
    background, as masks do at outlines)."""

    def __call__(self, image):
        mask = np.zeros(image.shape[:2], bool)
        mask[TOP - 3:BOTTOM + 3, LEFT - 3:RIGHT + 3] = True
        segment_map = np.where(mask, 0, -1).astype(np.int32)
        return SegmentationResult("instance", np.where(mask, 1, -1).astype(np.int32), {1: "thing"},
                                  (Segment(0, 1, "thing", 0.9, mask),), segment_map)


def source(count=3):
    return FakeSource(count, size_wh=(W, H))


def assert_near(found, expected, share=0.02):
    found, expected = np.asarray(found, float), np.asarray(expected, float)
    assert np.linalg.norm(found - expected) <= share * np.linalg.norm(expected), (found, expected)


def test_a_detected_object_at_a_known_depth_is_within_2_percent_through_the_stream():
    stream = Stream(source(), {"depth": MetricDepth(), "detection": BoxDetector()}, "every", camera=FOV)
    packets = list(stream)
    assert len(packets) == 3
    for packet in packets:
        (detection,) = packet.results[Task.DETECTION].detections
        found = detection.depth
        assert found.kind is DepthKind.METRIC and found.units == "m"
        assert_near(found.value, OBJECT_M)
        assert_near(found.position, truth())
        assert found.depth_frame_index == packet.index


def test_a_segmented_object_gets_its_depth_from_its_mask():
    stream = Stream(source(), {"depth": MetricDepth(), "segmentation": MaskSegmenter()}, "every", camera=FOV)
    for packet in stream:
        (segment,) = packet.results[Task.SEGMENTATION].segments
        assert_near(segment.depth.value, OBJECT_M)
        assert_near(segment.depth.position, truth())


def test_relative_depth_gives_a_relative_value_and_no_position():
    stream = Stream(source(), {"depth": MetricDepth(relative=True), "detection": BoxDetector(),
                               "segmentation": MaskSegmenter()}, "every", camera=FOV)
    for packet in stream:
        results = packet.results
        for obj in (results[Task.DETECTION].detections[0].depth, results[Task.SEGMENTATION].segments[0].depth):
            assert obj.kind is DepthKind.RELATIVE and obj.units == "relative" and obj.position is None
            assert_near(obj.value, 1 / OBJECT_M)  # inverse depth: the model's own values (aligned to themselves)
    relative = DepthResult(np.ones((H, W), np.float32), DepthKind.RELATIVE)
    assert object_depth(relative, box=(10, 10, 50, 50), camera=CameraIntrinsics.from_fov(W, H, FOV)).position is None


def test_an_object_without_valid_depth_gets_none_never_nan():
    """The object's depth is NaN (a metric model's invalid pixels); a box outside the frame, none either;
    the other objects still get theirs."""
    outside = (W + 10, 0, W + 50, 40)
    stream = Stream(source(1), {"depth": MetricDepth(object_m=np.nan), "detection": BoxDetector(extra=[outside]),
                                "segmentation": MaskSegmenter()}, "every", camera=FOV)
    (packet,) = list(stream)
    detections = packet.results[Task.DETECTION].detections
    assert [d.depth for d in detections] == [None, None]
    assert packet.results[Task.SEGMENTATION].segments[0].depth is None
    zero = DepthResult(np.zeros((H, W), np.float32), DepthKind.METRIC)  # 0 m is no depth either
    assert object_depth(zero, box=(10, 10, 50, 50)) is None


def test_box_keeps_the_background_out_and_a_few_invalid_pixels_do_not_matter():
    """A box twice the object's size: its centre half is the object; NaN pixels inside it are left out."""
    depth = np.full((100, 100), 8.0, np.float32)
    depth[25:75, 25:75] = 3.0
    depth[45:50, 45:50] = np.nan
    camera = CameraIntrinsics(100.0, 100.0, 49.5, 49.5)
    found = object_depth(DepthResult(depth, DepthKind.METRIC), box=(0, 0, 100, 100), camera=camera,
                         depth_frame_index=7)
    assert found.value == 3.0 and found.position == (0.0, 0.0, 3.0) and found.depth_frame_index == 7
    tiny = object_depth(DepthResult(depth, DepthKind.METRIC), box=(30.2, 30.2, 31.0, 31.0))  # under a pixel
    assert tiny.value == 3.0 and tiny.position is None  # no camera, no position


def test_a_thin_object_keeps_its_pixels():
    """A one-pixel line across a large bounding box (a pole, a cable): large regions are sampled by the
    object's own pixel count, not its box's, so none of its 600 pixels is skipped."""
    depth = np.full((620, 620), 8.0, np.float32)
    mask = np.zeros(depth.shape, bool)
    rows = np.arange(600)
    mask[rows, 600 - rows] = True  # the anti-diagonal: a stride over its box would step over every pixel
    depth[mask] = 3.0
    found = object_depth(DepthResult(depth, DepthKind.METRIC), mask=mask)
    assert found is not None and found.value == 3.0


def test_intrinsics_at_the_source_resolution_are_scaled_to_the_depth_map():
    """--intrinsics are the source's: with depth maps at half its size, positions are the same as with
    the field of view at the maps' own size."""
    at_source = CameraIntrinsics.from_fov(2 * W, 2 * H, FOV)
    step = ObjectDepthStep(at_source, lambda: (2 * W, 2 * H))
    camera = step.camera_for((H, W))
    expected = CameraIntrinsics.from_fov(W, H, FOV)
    assert np.allclose([camera.fx, camera.fy, camera.cx, camera.cy],
                       [expected.fx, expected.fy, expected.cx, expected.cy])


@pytest.mark.parametrize("camera", ["wide", 200.0, True])
def test_a_bad_camera_is_a_usage_error(camera):
    with pytest.raises(UsageError, match="camera|field of view"):
        Stream(source(), {"depth": MetricDepth(), "detection": BoxDetector()}, "every", camera=camera)


def test_live_pacing_records_which_frame_the_depth_came_from_and_computes_each_pair_once():
    """simulate-live with depth at a lower rate than detection, both below the frame rate: the objects use
    the latest depth map, from another frame, and say which; packets that repeat the same outputs share
    one computation."""
    from livevision.engine import ManualClock

    clock = ManualClock()
    stream = Stream(FakeSource(40, fps=25, size_wh=(W, H)), {"depth": MetricDepth(), "detection": BoxDetector()},
                    "simulate-live", rates={"depth": 4, "detection": 10}, clock=clock, threaded=False, camera=FOV)
    packets = [p for p in stream if Task.DEPTH in p.outputs and Task.DETECTION in p.outputs]
    assert len(packets) >= 5
    pairs = {}
    for packet in packets:
        detections = packet.outputs[Task.DETECTION]
        found = detections.result.detections[0].depth
        assert found.depth_frame_index == packet.outputs[Task.DEPTH].frame_index
        assert_near(found.value, OBJECT_M)
        key = (detections.frame_index, found.depth_frame_index)
        assert pairs.setdefault(key, detections) is detections  # the same pair: the same output, not recomputed
    assert any(det != depth for det, depth in pairs)  # the depth came from another frame
    assert len(pairs) < len(packets)  # and pairs repeated over packets


def test_attach_depth_never_changes_its_input():
    from livevision.objects.distance import attach_depth

    image = np.zeros((H, W, 3), np.uint8)
    depth = TaskOutput(MetricDepth()(image), 4, 0.0, 0.0, 0.0, image)
    detections = TaskOutput(BoxDetector()(image), 5, 0.0, 0.0, 0.0, image)
    outputs = {Task.DEPTH: depth, Task.DETECTION: detections}
    attached = attach_depth(outputs, CameraIntrinsics.from_fov(W, H, FOV))
    assert detections.result.detections[0].depth is None and outputs[Task.DETECTION] is detections
    assert attached[Task.DEPTH] is depth
    found = attached[Task.DETECTION].result.detections[0].depth
    assert found.depth_frame_index == 4 and attached[Task.DETECTION].frame_index == 5
    assert_near(found.position, truth())


@pytest.mark.parametrize("camera_args, fov", [(["--fov", "70"], 70.0), (["--intrinsics", "INTRINSICS"], None)])
def test_the_command_line_camera_reaches_the_objects(camera_args, fov, tmp_path, monkeypatch):
    """`run --task depth,segmentation --fov 70` (or --intrinsics): the stream's object step gets the camera,
    and the objects' positions are the ones through it."""
    import livevision.predictor
    from cli_runner import run_cli
    from media import make_source

    from livevision.models.registry import DEFAULT_MODELS

    if Task.DETECTION not in DEFAULT_MODELS:  # the detection task's default model lands with its modules
        monkeypatch.setitem(DEFAULT_MODELS, Task.DETECTION, "none/yet")
    clip = make_source(tmp_path / "clip.mp4", 3, Fraction(10), None, size_wh=(W, H))
    fakes = {Task.DEPTH: MetricDepth(), Task.SEGMENTATION: MaskSegmenter()}
    monkeypatch.setattr(livevision.predictor, "load_models", lambda tasks, *a, **k: {t: fakes[t] for t in tasks})
    seen, streams = [], []
    real_open = Stream.open.__func__

    def recording_open(cls, *args, **kwargs):
        stream = real_open(cls, *args, **kwargs)
        step = stream.object_depth
        stream.object_depth = lambda outputs: seen.append(step(outputs)) or seen[-1]
        streams.append((stream, step))
        return stream

    monkeypatch.setattr(Stream, "open", classmethod(recording_open))
    camera = CameraIntrinsics.from_fov(W, H, FOV)
    intrinsics = f"{camera.fx},{camera.fy},{camera.cx},{camera.cy}"
    args = [intrinsics if a == "INTRINSICS" else a for a in camera_args]
    done = run_cli("run", "--task", "depth,segmentation", "--source", clip, "--no-display", "--stats",
                   tmp_path / "stats.json", *args)
    assert done.returncode == 0, done.stderr
    ((stream, step),) = streams
    assert step.camera == (fov if fov is not None else camera)
    assert len(seen) == 3
    for outputs in seen:
        assert_near(outputs[Task.SEGMENTATION].result.segments[0].depth.position, truth())


def test_the_robotics_command_writes_tracked_objects_with_their_distance(tmp_path, monkeypatch):
    """README's robotics example, `run --task detection --task depth --track --fov 70 --results`, with stand-in
    models: every frame's object has its track id (from its second frame) and its metric distance."""
    import json

    import livevision.predictor
    from cli_runner import run_cli
    from media import make_source

    pytest.importorskip("trackers")
    clip = make_source(tmp_path / "clip.mp4", 4, Fraction(10), None, size_wh=(W, H))
    fakes = {Task.DEPTH: MetricDepth(), Task.DETECTION: BoxDetector()}
    monkeypatch.setattr(livevision.predictor, "load_models", lambda tasks, *a, **k: {t: fakes[t] for t in tasks})
    results, stats = tmp_path / "objects.jsonl", tmp_path / "stats.json"
    done = run_cli("run", "--task", "detection", "--task", "depth", "--track", "--fov", "70", "--source", clip,
                   "--no-display", "--results", results, "--stats", stats)
    assert done.returncode == 0, done.stderr
    assert json.loads(stats.read_text())["detection_tracking"] == {"updates": 4, "ids_given": 1, "relinked": 0}
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    detections = [line for line in lines if line["task"] == "detection"]
    assert len(detections) == 4 and {line["task"] for line in lines} == {"detection", "depth"}
    objects = [line["detections"][0] for line in detections]
    assert [o["track_id"] for o in objects] == [None, 1, 1, 1]
    for o in objects:
        assert o["depth"]["units"] == "m"
        assert_near(o["depth"]["position"], truth())
