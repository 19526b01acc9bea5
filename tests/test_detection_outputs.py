"""Everything that draws or writes a detection (issue 29): the boxes and captions on the frame, the results
record, the arrays, the ROS 2 messages (decoded with mcap_ros2 from livevision's own definitions) and the
rerun entities; and the track ids and distances of instance segments. Results are built by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from livevision.pointcloud import CameraIntrinsics
from livevision.render.palette import Palette
from livevision.tasks.detection.annotate import DetectionAnnotator
from livevision.tasks.segmentation.annotate_instance import InstanceSegmentationAnnotator
from livevision.types import (Detection, DetectionResult, DepthKind, ObjectDepth, Segment, SegmentationResult, Task,
                              TaskOutput)

ID2LABEL = {0: "person", 1: "car", 2: "dog"}
METRIC = ObjectDepth(2.43, DepthKind.METRIC, (0.5, -0.2, 2.4), 7)
RELATIVE = ObjectDepth(0.4149, DepthKind.RELATIVE)


def _result(*detections: Detection) -> DetectionResult:
    return DetectionResult(tuple(detections), ID2LABEL)


def _scaled(box, scale: float) -> tuple[float, float, float, float]:
    return tuple(v * scale for v in box)


# ---- drawing ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hw", [(360, 640), (1080, 1920)])
def test_boxes_are_outlined_and_captions_read_at_every_size(hw):
    scale = hw[0] / 360
    box = _scaled((100.0, 80.0, 300.0, 250.0), scale)
    result = _result(Detection(box, 0, "person", 0.91, track_id=3, depth=METRIC))
    scene = np.full((*hw, 3), 90, np.uint8)
    drawn = DetectionAnnotator().annotate(scene, result)
    x0, y0, x1, y1 = (int(v) for v in box)
    outline = np.zeros(hw, bool)
    outline[y0:y1, x0:x1] = True
    outline[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2] = False  # the two outer pixel rings inside the box
    assert (drawn[outline] != 90).any(axis=1).all()  # all of the outline is drawn, inside the box
    assert (drawn[y0 + 8 * int(scale) : y1 - 8, x0 + 8 * int(scale) : x1 - 8] == 90).all()  # not the inside
    (label,) = DetectionAnnotator().labels(result, hw)
    assert label.text == "person #3 2.4 m"
    lx0, ly0, lx1, ly1 = label.box_xyxy
    assert ly1 == y0 and lx0 == x0  # above the box, at its left edge
    assert (drawn[ly0:ly1, lx0:lx1] != 90).any()


def test_caption_height_follows_the_frame_height():
    result = _result(Detection((10.0, 200.0, 50.0, 300.0), 1, "car", 0.5))
    small = DetectionAnnotator().labels(result, (360, 640))[0].box_xyxy
    large = DetectionAnnotator().labels(result, (1080, 1920))[0].box_xyxy
    small_h, large_h = small[3] - small[1], large[3] - large[1]
    assert small_h >= 14  # legible at 360p
    assert 2.2 * small_h <= large_h <= 3.4 * small_h  # about three times at three times the rows


def test_a_track_id_keeps_its_colour_from_frame_to_frame():
    annotator = DetectionAnnotator(show_labels=False)
    scene = np.zeros((360, 640, 3), np.uint8)
    frames = [_result(Detection((40.0, 40.0, 200.0, 200.0), 0, "person", 0.9, track_id=7),
                      Detection((300.0, 60.0, 500.0, 300.0), 0, "person", 0.8, track_id=8)),
              _result(Detection((320.0, 100.0, 600.0, 340.0), 0, "person", 0.6, track_id=7),  # moved, re-ordered
                      Detection((10.0, 10.0, 100.0, 100.0), 2, "dog", 0.95, track_id=8))]  # relabelled
    first, second = (annotator.annotate(scene, frame) for frame in frames)
    assert tuple(first[40, 100]) == tuple(second[100, 400])  # track 7's top edge in both frames
    assert tuple(first[60, 400]) == tuple(second[10, 50])  # track 8's, though its class changed
    assert tuple(first[40, 100]) != tuple(first[60, 400])
    untracked = annotator.annotate(scene, _result(Detection((40.0, 40.0, 200.0, 200.0), 2, "dog", 0.9)))
    assert tuple(untracked[40, 100]) == Palette.default().color(2)  # by class without a track id


@pytest.mark.parametrize("box", [(600.0, 330.0, 640.0, 360.0), (0.0, 0.0, 640.0, 12.0), (-50.0, -20.0, 30.0, 5.0),
                                 (630.0, 100.0, 700.0, 200.0)])
def test_captions_stay_inside_the_frame_at_its_edges(box):
    result = _result(Detection(box, 2, "a dog with a long class name", 0.77, track_id=12, depth=RELATIVE))
    scene = np.zeros((360, 640, 3), np.uint8)
    (label,) = DetectionAnnotator().labels(result, (360, 640))
    x0, y0, x1, y1 = label.box_xyxy
    assert 0 <= x0 < x1 <= 640 and 0 <= y0 < y1 <= 360, label
    drawn = DetectionAnnotator().annotate(scene, result)
    assert drawn[y0:y1, x0:x1].any()


def test_captions_of_neighbours_do_not_cover_each_other():
    result = _result(Detection((100.0, 100.0, 200.0, 200.0), 0, "person", 0.9),
                     Detection((110.0, 105.0, 210.0, 210.0), 1, "car", 0.8))
    first, second = (label.box_xyxy for label in DetectionAnnotator().labels(result, (360, 640)))
    assert first[2] <= second[0] or second[2] <= first[0] or first[3] <= second[1] or second[3] <= first[1]


def test_boxes_off_the_frame_or_without_area_draw_nothing():
    scene = np.full((120, 160, 3), 50, np.uint8)
    result = _result(Detection((200.0, 10.0, 260.0, 50.0), 0, "person", 0.9),  # right of the frame
                     Detection((-40.0, -30.0, 0.0, 0.0), 0, "person", 0.9),  # above-left, touching the corner
                     Detection((30.0, 30.0, 30.0, 80.0), 1, "car", 0.9),  # no width
                     Detection((float("nan"), 1.0, 20.0, 20.0), 1, "car", 0.9))
    annotator = DetectionAnnotator()
    assert annotator.labels(result, (120, 160)) == ()
    np.testing.assert_array_equal(annotator.annotate(scene, result), scene)


def test_relative_distances_never_read_as_metres():
    from livevision.tasks.detection.captions import distance_text, object_caption

    assert object_caption("person", 0.9, 3, RELATIVE) == "person #3 0.415 rel"
    assert object_caption("person", 0.9, None, METRIC) == "person 2.4 m"
    assert object_caption("person", 0.912, 3) == "person #3 0.91"
    assert object_caption("person", 0.912) == "person 0.91"
    assert distance_text(ObjectDepth(float("nan"), DepthKind.METRIC)) is None
    assert distance_text(ObjectDepth(2.0, DepthKind.RELATIVE)).endswith(" rel")


def test_the_frame_s_annotator_draws_detections_over_segments():
    from livevision.render.dispatch import ResultAnnotator

    mask = np.zeros((120, 160), bool)
    mask[20:80, 20:100] = True
    segments = SegmentationResult("instance", np.where(mask, 0, -1).astype(np.int32), ID2LABEL,
                                  (Segment(1, 0, "person", 0.9, mask),), np.where(mask, 1, -1).astype(np.int32))
    detections = _result(Detection((20.0, 20.0, 100.0, 80.0), 0, "person", 0.9, track_id=4))
    drawn = ResultAnnotator().annotate(np.zeros((120, 160, 3), np.uint8), [segments, detections])
    assert tuple(drawn[50, 20]) == Palette.default().color(4)  # the box's outline, over the segment's fill


# ---- instance segments with track ids and distances ---------------------------------------------------------


def _segments(track_ids, depths=(None, None)) -> SegmentationResult:
    masks = [np.zeros((120, 160), bool) for _ in range(2)]
    masks[0][40:100, 10:60] = True
    masks[1][40:100, 90:150] = True
    segments = tuple(Segment(i + 1, 0, "person", 0.92, mask, track_id=t, depth=d)
                     for i, (mask, t, d) in enumerate(zip(masks, track_ids, depths)))
    segment_map = np.where(masks[0], 1, np.where(masks[1], 2, -1)).astype(np.int32)
    return SegmentationResult("instance", np.where(segment_map >= 0, 0, -1).astype(np.int32), ID2LABEL, segments,
                              segment_map)


def test_tracked_segments_are_coloured_and_labelled_by_their_track_id():
    annotator = InstanceSegmentationAnnotator(opacity=1.0, show_labels=False)
    palette = Palette.default()
    tracked = annotator.annotate(np.zeros((120, 160, 3), np.uint8), _segments((5, 9)))
    assert tuple(tracked[70, 30]) == palette.color(5) and tuple(tracked[70, 120]) == palette.color(9)
    untracked = annotator.annotate(np.zeros((120, 160, 3), np.uint8), _segments((None, None)))
    assert tuple(untracked[70, 30]) == tuple(untracked[70, 120]) == palette.color(0)  # by class, as before
    labels = InstanceSegmentationAnnotator().labels(_segments((5, None), (METRIC, None)))
    assert {label.segment_id: label.text for label in labels} == {1: "person #5 2.4 m", 2: "person 0.92"}


# ---- records, arrays ----------------------------------------------------------------------------------------


def test_the_record_has_boxes_track_ids_and_distances():
    from livevision.sinks.results import result_record

    record = result_record(_result(Detection((1.234, 2.0, 30.5678, 40.0), 0, "person", np.float32(0.875), 3, METRIC),
                                   Detection((5.0, 6.0, 7.0, 8.0), 2, "dog", 0.5, depth=RELATIVE),
                                   Detection((5.0, 6.0, 7.0, 8.0), 1, "car", 0.25)))
    assert record == {"detections": [
        {"label": "person", "class_id": 0, "score": 0.875, "box": [1.23, 2.0, 30.57, 40.0], "track_id": 3,
         "depth": {"value": 2.43, "units": "m", "position": [0.5, -0.2, 2.4]}},
        {"label": "dog", "class_id": 2, "score": 0.5, "box": [5.0, 6.0, 7.0, 8.0], "track_id": None,
         "depth": {"value": 0.4149, "units": "relative", "position": None}},
        {"label": "car", "class_id": 1, "score": 0.25, "box": [5.0, 6.0, 7.0, 8.0], "track_id": None, "depth": None}]}
    json.dumps(record, allow_nan=False)
    segments = result_record(_segments((5, None), (METRIC, None)))["segments"]
    assert [(s["track_id"], s["depth"]) for s in segments] == [
        (5, {"value": 2.43, "units": "m", "position": [0.5, -0.2, 2.4]}), (None, None)]


def test_arrays_hold_boxes_scores_and_ids_per_frame(tmp_path):
    from livevision.sinks.raw import RawArraySink

    frames = [_result(Detection((1.5, 2.0, 30.25, 40.0), 1, "car", 0.75, 3), Detection((5, 6, 7, 8), 2, "dog", 0.5)),
              _result()]
    with RawArraySink(tmp_path / "arrays", name_by_task=True) as sink:
        for i, result in enumerate(frames):
            sink.write_result(Task.DETECTION, TaskOutput(result, i, i / 25, 0.0, 0.01))
    with np.load(tmp_path / "arrays" / "frame_000000_detection.npz") as saved:
        assert saved["boxes"].dtype == np.float32 and saved["boxes"].shape == (2, 4)
        np.testing.assert_array_equal(saved["boxes"][0], [1.5, 2.0, 30.25, 40.0])
        np.testing.assert_array_equal(saved["scores"], np.array([0.75, 0.5], np.float32))
        np.testing.assert_array_equal(saved["label_ids"], [1, 2])
        np.testing.assert_array_equal(saved["track_ids"], [3, -1])
    with np.load(tmp_path / "arrays" / "frame_000001_detection.npz") as empty:
        assert empty["boxes"].shape == (0, 4) and empty["track_ids"].shape == (0,)


# ---- ROS 2 messages (MCAP, Foxglove) and rerun --------------------------------------------------------------


def _decode(message):
    """A livevision message decoded by mcap_ros2 from livevision's definition of its type."""
    from mcap_ros2.decoder import DecoderFactory

    from livevision.sinks.ros2_messages import DEFINITIONS

    class Schema:
        name, encoding, data, id = message.schema, "ros2msg", DEFINITIONS[message.schema].encode(), 1

    return DecoderFactory().decoder_for("cdr", Schema())(message.data)


def _objects(count: int) -> DetectionResult:
    """count objects; the even ones tracked with metric positions, the odd ones untracked with relative depth."""
    rng = np.random.default_rng(count)
    detections = []
    for i in range(count):
        x, y = rng.uniform(0, 500), rng.uniform(0, 300)
        depth = ObjectDepth(1.0 + i, DepthKind.METRIC, (0.1 * i, -0.5, 1.0 + i)) if i % 2 == 0 else RELATIVE
        detections.append(Detection((x, y, x + 80.5, y + 40.25), i % 3, ID2LABEL[i % 3], 0.5 + i / 100,
                                    track_id=100 + i if i % 2 == 0 else None, depth=depth))
    return _result(*detections)


def test_ros2_messages_decode_with_boxes_ids_annotations_and_markers():
    pytest.importorskip("mcap_ros2")
    from livevision.sinks.ros2_messages import result_messages

    stamp, result = 3_250_000_001, _objects(4)
    image = np.zeros((720, 1280, 3), np.uint8)
    messages = {m.topic: m for m in result_messages(stamp, result, CameraIntrinsics.from_fov(1280, 720, 60.0),
                                                    image=image)}
    assert set(messages) == {"/livevision/detections", "/livevision/detections/annotations",
                             "/livevision/objects/markers"}
    array = _decode(messages["/livevision/detections"])
    assert (array.header.stamp.sec, array.header.stamp.nanosec, array.header.frame_id) == (3, 250_000_001, "camera")
    assert [d.id for d in array.detections] == ["100", "", "102", ""]
    for sent, got in zip(result.detections, array.detections):
        (hypothesis,) = got.results
        assert hypothesis.hypothesis.class_id == sent.label and hypothesis.hypothesis.score == pytest.approx(sent.score)
        xmin, ymin, xmax, ymax = sent.box
        assert (got.bbox.center.position.x, got.bbox.center.position.y) == pytest.approx(((xmin + xmax) / 2,
                                                                                          (ymin + ymax) / 2))
        assert (got.bbox.size_x, got.bbox.size_y) == pytest.approx((80.5, 40.25))
        position = sent.depth.position or (0.0, 0.0, 0.0)
        assert [getattr(hypothesis.pose.pose.position, a) for a in "xyz"] == pytest.approx(position)
        assert hypothesis.pose.pose.orientation.w == 1.0

    annotations = _decode(messages["/livevision/detections/annotations"])
    assert annotations.circles == [] and len(annotations.points) == len(annotations.texts) == 4
    palette = Palette.default()
    for sent, loop, text in zip(result.detections, annotations.points, annotations.texts):
        xmin, ymin, xmax, ymax = sent.box
        assert loop.type == 2 and [v for p in loop.points for v in (p.x, p.y)] == pytest.approx(
            [xmin, ymin, xmax, ymin, xmax, ymax, xmin, ymax])
        b, g, r = palette.color(sent.label_id if sent.track_id is None else sent.track_id)
        assert (loop.outline_color.r, loop.outline_color.g, loop.outline_color.b) == pytest.approx((r / 255, g / 255,
                                                                                                    b / 255))
        assert text.text.startswith(sent.label) and (text.position.x, text.position.y) == pytest.approx(sent.box[:2])
        assert (text.timestamp.sec, text.timestamp.nanosec) == (3, 250_000_001) and text.font_size >= 12
    assert annotations.texts[0].text == "person #100 1.0 m" and annotations.texts[1].text == "car 0.415 rel"

    markers = _decode(messages["/livevision/objects/markers"]).markers
    assert [(m.ns, m.id, m.type) for m in markers] == [("detection", 100, 2), ("detection/labels", 100, 9),
                                                       ("detection", 102, 2), ("detection/labels", 102, 9)]
    sphere, label = markers[2], markers[3]
    assert (sphere.pose.position.x, sphere.pose.position.y, sphere.pose.position.z) == pytest.approx((0.2, -0.5, 3.0))
    assert label.text == "dog #102 3.0 m" and label.pose.position.y < sphere.pose.position.y  # above: y is down
    assert sphere.header.frame_id == "camera" and 0 < sphere.lifetime.sec + sphere.lifetime.nanosec / 1e9 <= 1
    assert sphere.color.a == 1.0 and sphere.mesh_file.filename == "" and sphere.texture.data == b""


def test_no_markers_without_metric_positions_and_empty_frames_decode():
    pytest.importorskip("mcap_ros2")
    from livevision.sinks.ros2_messages import result_messages

    camera = CameraIntrinsics.from_fov(64, 48, 60.0)
    relative = _result(Detection((1.0, 2.0, 3.0, 4.0), 0, "person", 0.9, track_id=1, depth=RELATIVE))
    assert [m.topic for m in result_messages(5, relative, camera)] == ["/livevision/detections",
                                                                      "/livevision/detections/annotations"]
    empty = [_decode(m) for m in result_messages(5, _result(), camera)]
    assert empty[0].detections == [] and empty[1].points == [] and empty[1].texts == []


def test_segments_with_positions_get_the_same_markers():
    pytest.importorskip("mcap_ros2")
    from livevision.sinks.ros2_messages import result_messages

    camera = CameraIntrinsics.from_fov(160, 120, 60.0)
    assert [m.topic for m in result_messages(1, _segments((5, None)), camera)] == \
        ["/livevision/segmentation/compressed"]
    messages = result_messages(1, _segments((5, None), (METRIC, METRIC)), camera, raw=True)
    assert [m.topic for m in messages] == ["/livevision/segmentation", "/livevision/objects/markers"]
    markers = _decode(messages[1]).markers
    assert [(m.ns, m.id, m.text) for m in markers] == [
        ("segmentation", 5, ""), ("segmentation/labels", 5, "person #5 2.4 m"),
        ("segmentation/untracked", 1, ""), ("segmentation/untracked/labels", 1, "person 2.4 m")]


def test_an_mcap_of_detections_reads_back_and_its_size(tmp_path):
    """20 objects a frame through McapSink, read back with mcap's reader; prints the bytes per frame."""
    pytest.importorskip("mcap_ros2")
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory

    from livevision.sinks.mcap_sink import McapSink

    image = np.zeros((360, 640, 3), np.uint8)
    with McapSink(tmp_path / "objects.mcap", fov_deg=60) as sink:
        for i in range(3):
            sink.write_result(Task.DETECTION, TaskOutput(_objects(20), i, i / 10, 0.0, 0.01, image, "test"))
        sizes = {m.topic: len(m.data) for m in sink.ros2_messages(TaskOutput(_objects(20), 0, 0.0, 0.0, 0.01, image),
                                                                  False)}
    with open(tmp_path / "objects.mcap", "rb") as f:
        topics = [channel.topic for _, channel, _, decoded in
                  make_reader(f, decoder_factories=[DecoderFactory()]).iter_decoded_messages()]
    for topic in ("/livevision/detections", "/livevision/detections/annotations", "/livevision/objects/markers"):
        assert topics.count(topic) == 3
    print("bytes per frame for 20 objects:", sizes)


def test_rerun_logs_boxes_and_positions_in_the_objects_colours(tmp_path):
    pytest.importorskip("rerun")
    rerun_chunk = pytest.importorskip("rerun.chunk")
    from livevision.sinks.rerun_sink import RerunSink

    image = np.zeros((48, 64, 3), np.uint8)
    frames = [_objects(4), _result(Detection((1.0, 2.0, 30.0, 40.0), 1, "car", 0.5, track_id=100))]
    with RerunSink(str(tmp_path / "objects.rrd"), fov_deg=60) as sink:
        for i, result in enumerate(frames):
            sink.write_result(Task.DETECTION, TaskOutput(result, i, i / 25, 0.0, 0.01, image, "test"))
    columns: dict[str, dict[str, list]] = {}
    for chunk in rerun_chunk.RrdReader(str(tmp_path / "objects.rrd")).stream().to_chunks():
        if chunk.is_static:
            continue
        batch = chunk.to_record_batch()
        for name in batch.schema.names:
            if ":" not in name or name.startswith("rerun."):  # a component's column, not a time or row id
                continue
            columns.setdefault(chunk.entity_path, {}).setdefault(name.split(":")[-1].lower(), []).extend(
                zip(batch.column("frame").to_pylist(), batch.column(name).to_pylist()))

    def column(entity, component):
        rows = next(v for k, v in columns[entity].items() if component in k)
        return [value for _, value in sorted(rows, key=lambda row: row[0])]

    labels = column("/camera/detections", "labels")
    assert labels[0] == ["person #100 1.0 m", "car 0.415 rel", "dog #102 3.0 m", "person 0.415 rel"]
    assert labels[1] == ["car #100 0.50"]
    colours = column("/camera/detections", "colors")
    assert colours[0][0] == colours[1][0]  # track 100's colour in both frames, whatever its class
    positions = column("/objects/positions", "positions")
    np.testing.assert_allclose(np.asarray(positions[0], np.float32).reshape(-1, 3), [[0, -0.5, 1], [0.2, -0.5, 3]],
                               rtol=1e-6)
    assert column("/objects/positions", "labels") == [["person #100 1.0 m", "dog #102 3.0 m"]]
    assert column("/objects/positions", "colors")[0] == [colours[0][0], colours[0][2]]
    assert len(column("/objects/positions", "is_recursive")) == 1  # the second frame's: no positions there
