"""Persistent object ids over time: the detection and segmentation tasks' step in a Stream(track=True).

ObjectTracker gives each detection (and each instance/panoptic segment, by its mask's box) a track_id,
through ByteTrack from Roboflow's `trackers` package (pip install 'livevision[track]'; chosen by
measurement, see BENCHMARKS.md, "Tracking"):

- Ids are positive ints, stable while the tracker follows the object; a new object gets a new id, and
  an id whose object is gone (lost for more than LOST_FRAMES source frames) is never given again.
- An object gets an id once ByteTrack has matched it in two updates in a row; until then (its first
  update, or a detection it matched to no track) its track_id is None. Nothing is dropped: every
  detection and segment of the model's output is in the tracked output, in the same order.
- Frame gaps (the live modes skip frames when the model is slower than the camera: outputs computed
  on frames 10, 13, 17) reach the tracker as time: each update carries frame_index / 30 as its
  timestamp, so ByteTrack's Kalman filter extrapolates the motion over the 3 or 4 frames in one step,
  and the lost-track budget (LOST_FRAMES) counts source frames, not updates.
- The live modes repeat an output on several packets: an output with the frame_index of the last one
  is the cached tracked output, the tracker is not updated twice.
- An output from an earlier frame than the last (a source that started over) restarts the tracker's
  state; ids go on from the last one given.
- A track the tracker starts anew where a recently lost one's motion leads (an object coming out from
  behind something) continues the lost one's id: livevision.objects.relink.
- Tracking is class-agnostic: an object whose label flips between frames keeps its id.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..errors import MissingDependencyError
from ..types import Task
from .relink import Relinker

#: The frame rate frame indices are converted to time with (the tracker's units: one frame = 1 / 30 s).
NOMINAL_FPS = 30.0
#: Source frames a lost track is kept for, to be matched again (occlusions, misses, skipped frames).
LOST_FRAMES = 30


def _import_trackers():
    try:
        import trackers
    except ImportError:
        raise MissingDependencyError("tracking (--track) needs the trackers package: "
                                     "pip install 'livevision[track]'") from None
    return trackers


class ByteTrackIds:
    """Box -> id assignment by trackers.ByteTrackTracker, frame gaps given as time (see the module).

    Every box handed in counts as a confident detection: the model's own score threshold already chose
    them, so none waits in ByteTrack's low-score stage and any can start a track."""

    def __init__(self, lost_frames: int = LOST_FRAMES, confirm_updates: int = 2):
        trackers = _import_trackers()
        self._tracker = trackers.ByteTrackTracker(
            lost_track_buffer=lost_frames, frame_rate=NOMINAL_FPS, minimum_consecutive_frames=confirm_updates,
            track_activation_threshold=0.0, high_conf_det_threshold=0.0)

    def __call__(self, boxes: np.ndarray, scores: np.ndarray, frame_index: int) -> np.ndarray:
        """Ids (from 0, -1 for none) of `boxes` ((N, 4) xyxy) in their order."""
        import supervision as sv

        detections = sv.Detections(xyxy=boxes.astype(np.float32).reshape(-1, 4),
                                   confidence=scores.astype(np.float32),
                                   data={"order": np.arange(len(boxes))})
        tracked = self._tracker.update(detections, timestamp=frame_index / NOMINAL_FPS)
        ids = np.full(len(boxes), -1, int)
        if len(tracked):  # trackers returns the detections reordered: put the ids back in input order
            ids[tracked.data["order"]] = tracked.tracker_id
        return ids


def mask_box(mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """The (xmin, ymin, xmax, ymax) box around a bool mask's pixels, None for an empty mask."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if len(rows) == 0:
        return None
    return float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1)


def object_box(obj) -> tuple[float, float, float, float] | None:
    """An object's box: a detection's own, a segment's mask's (None for an empty mask)."""
    box = getattr(obj, "box", None)
    return tuple(box) if box is not None else mask_box(obj.mask)


class ObjectTracker:
    """One task's tracker in one Stream (tasks.base.TaskDefinition.stream_step): TaskOutput -> the same
    output with track_id set on the objects of its result (see the module for the rules). The task's
    definition says where its objects are (objects(), with_objects(): a DetectionResult's detections, a
    segmentation's segments; a semantic map has none and passes through, as does a result of another type,
    a custom model's).

    make_ids: makes the tracker, a callable (boxes, scores, frame_index) -> ids from 0, -1 for none
    (default ByteTrackIds); made again, our ids going on, when the frames start over. relink: a new
    track may continue a lost one's id (livevision.objects.relink); False: ids are the tracker's."""

    def __init__(self, task, *, make_ids=ByteTrackIds, relink: bool = True):
        self.task = task  # a tasks.base.TaskDefinition with objects
        self._make_ids = make_ids
        self._ids = make_ids()
        self._relinker = Relinker(LOST_FRAMES, relink)
        self._last = None  # the last output, tracked
        self.updates = 0

    def stats(self) -> dict:
        """What a run's stats file says about it: the tracker's updates (one per new output), the ids given
        (new objects) and how many of those continued an id lost behind something (relinked)."""
        return {f"{self.task.task}_tracking": {"updates": self.updates, "ids_given": self._relinker.ids_given,
                                                "relinked": self._relinker.relinked}}

    def __call__(self, output):
        if self._last is not None and self._last.frame_index == output.frame_index:
            return self._last
        result = output.result
        objects = self.task.objects(result) if isinstance(result, self.task.result_type) else ()
        # an update without objects still ages the tracks (every object left the view)
        ids = self._assign([object_box(o) for o in objects], [o.score for o in objects], output.frame_index)
        if objects:
            tracked = tuple(replace(o, track_id=i) for o, i in zip(objects, ids))
            output = replace(output, result=self.task.with_objects(result, tracked))
        self._last = output
        return output

    def _assign(self, boxes: list, scores: list, frame_index: int) -> list[int | None]:
        self.updates += 1
        if self._last is not None and frame_index < self._last.frame_index:
            self._ids = self._make_ids()
            self._relinker.restart()
        usable = [i for i, box in enumerate(boxes) if box is not None]  # an empty mask has no box
        raw = self._ids(np.array([boxes[i] for i in usable], float).reshape(-1, 4),
                        np.array([scores[i] for i in usable], float), frame_index)
        ours = self._relinker(list(raw), [boxes[i] for i in usable], frame_index)
        track_ids: list[int | None] = [None] * len(boxes)
        for i, our_id in zip(usable, ours):
            track_ids[i] = our_id
        return track_ids


def detection_tracker(**options) -> ObjectTracker:
    """The detection task's tracker. options: ObjectTracker's."""
    from ..tasks.registry import definition

    return ObjectTracker(definition(Task.DETECTION), **options)


def segment_tracker(**options) -> ObjectTracker:
    """The segmentation task's tracker (instance and panoptic segments; semantic maps pass through).
    options: ObjectTracker's."""
    from ..tasks.registry import definition

    return ObjectTracker(definition(Task.SEGMENTATION), **options)
