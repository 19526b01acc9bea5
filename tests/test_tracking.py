"""Object ids over time (livevision.objects): the tracking step in a Stream, its scores, the CLI flag."""

from __future__ import annotations

import sys

import cv2
import numpy as np
import pytest

pytest.importorskip("trackers")

from cli_runner import run_cli
from fakes import FakeSource

from livevision.engine.running import TaskOutput
from livevision.errors import MissingDependencyError, UsageError
from livevision.models.registry import DEFAULT_MODELS
from livevision.objects.metrics import score
from livevision.objects.relink import Relinker
from livevision.objects.synthetic import ClipSource, ColourDetector, make_clip
from livevision.objects.tracking import LOST_FRAMES, ByteTrackIds, detection_tracker, segment_tracker
from livevision.stream import Stream
from livevision.types import Detection, DetectionResult, Segment, SegmentationResult, Task


def _detections(*boxes) -> DetectionResult:
    return DetectionResult(tuple(Detection(tuple(map(float, b)), 0, "thing", 0.9) for b in boxes), {0: "thing"})


def _output(result, frame_index: int) -> TaskOutput:
    return TaskOutput(result, frame_index, frame_index / 30, 0.0, 0.0)


def _square(x: float, y: float = 50.0, side: float = 20.0) -> tuple:
    return (x, y, x + side, y + side)


# -- metrics, against hand-computed cases --

def test_scores_of_a_perfect_tracking():
    truth = [{1: (0, 0, 10, 10), 2: (20, 0, 30, 10)}] * 3
    tracks = [{7: (0, 0, 10, 10), 9: (20, 0, 30, 10)}] * 3
    s = score(truth, tracks)
    assert (s.idf1, s.mota, s.id_switches, s.misses, s.false_positives) == (1.0, 1.0, 0, 0, 0)


def test_scores_of_an_id_switch():
    truth = [{1: (0, 0, 10, 10)}] * 4
    tracks = [{10: (0, 0, 10, 10)}] * 2 + [{20: (1, 0, 11, 10)}] * 2  # IoU 9/11 with the truth: a match
    s = score(truth, tracks)
    # one switch: MOTA 1 - 1/4; IDF1: truth 1 <-> track 10 matches 2 of 4 + 4 boxes: 2 * 2 / 8
    assert (s.id_switches, s.mota, s.idf1) == (1, 0.75, 0.5)


def test_scores_of_a_miss_and_a_false_positive():
    truth = [{1: (0, 0, 10, 10)}, {1: (0, 0, 10, 10)}]
    tracks = [{3: (0, 0, 10, 10)}, {3: (6, 0, 16, 10)}]  # IoU 4/16 in frame 2: a miss and a false positive
    s = score(truth, tracks)
    assert (s.misses, s.false_positives, s.id_switches) == (1, 1, 0)
    assert s.mota == 0.0 and s.idf1 == 0.5  # 1 - 2/2; 2 * 1 / (2 + 2)


# -- the tracker step --

def test_ids_survive_a_crossing_and_an_occlusion_through_a_stream():
    clip = make_clip(n_objects=4, n_frames=110, seed=1)
    hidden = [i for i in range(1, 5) if any(i not in f for f in clip.truth[1:-1]) and i in clip.truth[-1]]
    assert hidden, "the clip should hide an object behind the bar and show it again"
    truth, tracks = [], []
    with Stream(ClipSource(clip), {"detection": ColourDetector()}, "every", track=True) as stream:
        for packet in stream:
            out = packet.outputs[Task.DETECTION]
            truth.append(clip.truth[out.frame_index])
            tracks.append({d.track_id: d.box for d in out.result.detections if d.track_id is not None})
    s = score(truth, tracks)
    assert s.idf1 >= 0.9 and s.id_switches == 0, s


def test_ids_survive_irregular_frame_gaps():
    # the live modes skip frames: a fast object (10 px a frame, 20 px wide) seen on frames 0 to 9, then on
    # 13, 14, 18, 19, 23, 24, ... (a motion model that counts updates, not frames, loses it at each gap)
    tracker = detection_tracker(relink=False)  # the tracker's own motion model, over the gaps
    ids = set()
    for frame in list(range(10)) + [f for start in range(13, 70, 5) for f in (start, start + 1)]:
        out = tracker(_output(_detections(_square(10.0 * frame)), frame))
        ids.add(out.result.detections[0].track_id)
    assert ids - {None} == {1}, ids


def test_a_repeated_output_is_not_tracked_twice():
    calls = []

    def make_ids():
        ids = ByteTrackIds()
        return lambda *args: calls.append(args[2]) or ids(*args)

    tracker = detection_tracker(make_ids=make_ids)
    first = tracker(_output(_detections(_square(0)), 0))
    again = _output(_detections(_square(0)), 0)  # the live modes show one output with several frames
    assert tracker(again) is first and calls == [0]
    tracker(_output(_detections(_square(3)), 1))
    assert calls == [0, 1]


def test_new_objects_wait_for_a_second_sighting_and_ids_are_never_given_again():
    tracker = detection_tracker()
    seen = []
    for frame in range(3):  # two objects and a box of no area (kept, never tracked)
        out = tracker(_output(_detections(_square(0), _square(200, 200), (300, 300, 300, 310)), frame))
        seen.append([d.track_id for d in out.result.detections])
    assert seen[0] == [None] * 3 and seen[1] == seen[2] and seen[1][2] is None and set(seen[1][:2]) == {1, 2}
    # lost for longer than LOST_FRAMES, then back where it was: a new object with a new id
    late = 2 + LOST_FRAMES + 5
    for frame in (late, late + 1):
        out = tracker(_output(_detections(_square(0)), frame))
    assert out.result.detections[0].track_id == 3
    # a source that starts over (frame 0 again): the tracker restarts, ids go on
    for frame in (0, 1):
        out = tracker(_output(_detections(_square(0)), frame))
    assert out.result.detections[0].track_id == 4


def test_a_new_track_continues_a_lost_id_where_its_motion_leads():
    relink = Relinker(max_lost_frames=30)
    for frame in range(6):  # tracker id 0 -> our 1, moving 5 px a frame; tracker id 1 -> our 2, still
        assert relink([0, 1], [_square(5.0 * frame), _square(300)], frame) == [1, 2]
    # lost from frame 6; at frame 12 the tracker starts id 5 where id 1's motion leads, id 6 far away
    assert relink([5, 6, 1], [_square(61), _square(150, 150), _square(300)], 12) == [1, 3, 2]
    # a new track next to an id seen in the same frame does not take that id (no id twice in a frame)
    assert relink([5, 7], [_square(66), _square(68)], 13) == [1, 4]


def _segments(x: int, kind: str = "instance") -> SegmentationResult:
    label_map = np.full((100, 200), -1, np.int32)
    mask = np.zeros((100, 200), bool)
    mask[40:60, x:x + 20] = True
    label_map[mask] = 0
    segments = (Segment(0, 0, "thing", 0.9, mask), Segment(1, 0, "thing", 0.8, np.zeros((100, 200), bool)))
    if kind == "semantic":
        return SegmentationResult(kind, label_map, {0: "thing"})
    return SegmentationResult(kind, label_map, {0: "thing"}, segments, np.where(mask, 0, -1).astype(np.int32))


class _MovingSegments:
    """A segmentation model stand-in: a 20x20 square moving 4 px a call, and an empty segment."""

    def __init__(self, kind: str):
        self.kind, self.calls = kind, 0

    def __call__(self, image):
        self.calls += 1
        return _segments(4 * self.calls, self.kind)


@pytest.mark.parametrize("kind", ["instance", "panoptic"])
def test_instance_and_panoptic_segments_get_ids_through_a_stream(kind):
    with Stream(FakeSource(4), {"segmentation": _MovingSegments(kind)}, "every", track=True) as stream:
        results = [packet.result for packet in stream]
    ids = [[s.track_id for s in r.segments] for r in results]
    assert ids[0] == [None, None] and ids[1:] == [[1, None]] * 3  # the empty mask has no box: no id, kept


def test_semantic_segmentation_and_untracked_streams_pass_through():
    semantic = _output(_segments(0, "semantic"), 0)
    assert segment_tracker()(semantic) is semantic
    with Stream(FakeSource(3), {"segmentation": _MovingSegments("instance")}, "every") as stream:
        assert Task.SEGMENTATION not in stream.steps
        assert all(s.track_id is None for packet in stream for s in packet.result.segments)


def test_a_missing_tracker_library_is_one_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "trackers", None)  # import trackers raises ImportError
    source = FakeSource(3)
    with pytest.raises(MissingDependencyError, match=r"pip install 'livevision\[track\]'"):
        Stream(source, {"detection": ColourDetector()}, "every", track=True)
    assert source.closed.is_set()


def test_the_track_flag_reaches_the_stream(monkeypatch, tmp_path):
    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), make_clip(n_objects=2, n_frames=1).frames[0])
    given = {}
    if Task.DETECTION not in DEFAULT_MODELS:  # the parser lists every task's default model (detection's lands apart)
        monkeypatch.setitem(DEFAULT_MODELS, Task.DETECTION, "facebook/detr-resnet-50")

    def fake_open(cls, source, task, **kwargs):
        given.update(kwargs)
        raise UsageError("stopped here")

    monkeypatch.setattr(Stream, "open", classmethod(fake_open))
    for flags, expected in (([], False), (["--track"], True)):
        done = run_cli("run", "--task", "segmentation", "--source", str(image), "--no-display",
                       "--results", str(tmp_path / "r.jsonl"), *flags)
        assert "stopped here" in done.stderr and given["track"] is expected, done.stderr


def test_tracking_without_a_task_that_has_objects_is_a_usage_error():
    source = FakeSource(3)
    with pytest.raises(UsageError, match="run detection or segmentation"):
        Stream(source, {Task.DEPTH: lambda image: None}, "every", track=True)
    assert source.closed.is_set()
