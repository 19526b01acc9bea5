"""Detection results written out: a --results record, --arrays files (boxes, scores, class and track ids),
ROS 2 messages (tasks/detection/ros2.py) and rerun entities. An object's track id and distance go out in
the same fields for instance segmentation's segments (object_fields, ros2.object_markers)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...render.palette import Palette, object_color
from ...sinks.raw import np_bytes
from ...sinks.results import json_float
from ...sinks.ros2_messages import PREFIX, Message
from ...types import DetectionResult, ObjectDepth
from .captions import object_caption
from .ros2 import detection_array, has_positions, image_annotations, object_markers

ARRAY_NAME = "detections"  # --arrays: frame_000123_detections.npz


def depth_fields(depth: ObjectDepth | None) -> dict[str, Any] | None:
    """{"value", "units" ("m" | "relative"), "position": [x, y, z] metres or null}, or None without a depth."""
    if depth is None:
        return None
    position = None if depth.position is None else [json_float(v) for v in depth.position]
    return {"value": json_float(depth.value), "units": depth.units, "position": position}


def object_fields(track_id: int | None, depth: ObjectDepth | None) -> dict[str, Any]:
    """An object's "track_id" (int, or null when the stream does not track) and "depth" (depth_fields)."""
    return {"track_id": None if track_id is None else int(track_id), "depth": depth_fields(depth)}


def record(result: DetectionResult) -> dict:
    return {"detections": [{"label": str(d.label), "class_id": int(d.label_id), "score": json_float(d.score),
                            "box": [round(float(v), 2) for v in d.box], **object_fields(d.track_id, d.depth)}
                           for d in result.detections]}


def arrays(result: DetectionResult) -> dict[str, np.ndarray]:
    """boxes (N, 4) float32 xmin, ymin, xmax, ymax pixels; scores (N,) float32; label_ids (N,) int32;
    track_ids (N,) int32, -1 where the stream does not track."""
    detections = result.detections
    return {"boxes": np.array([d.box for d in detections], np.float32).reshape(-1, 4),
            "scores": np.array([d.score for d in detections], np.float32),
            "label_ids": np.array([d.label_id for d in detections], np.int32),
            "track_ids": np.array([-1 if d.track_id is None else d.track_id for d in detections], np.int32)}


def write_arrays(sink, index: int, result: DetectionResult, name: str | None) -> list:
    """One .npz per frame (see arrays), also for a frame without objects."""
    return [sink.write_file(index, name or ARRAY_NAME, "npz", np_bytes("npz", **arrays(result)))]


def ros2_messages(stamp_ns: int, result: DetectionResult, camera, *, image: np.ndarray | None) -> list[Message]:
    """``detections`` (vision_msgs Detection2DArray), ``detections/annotations`` (Foxglove ImageAnnotations)
    and, when an object has a metric 3-D position, ``objects/markers`` (MarkerArray)."""
    detections = result.detections
    height = image.shape[0] if image is not None else round(2 * camera.cy)
    messages = [
        Message(PREFIX + "detections", "vision_msgs/msg/Detection2DArray", detection_array(stamp_ns, detections),
                stamp_ns),
        Message(PREFIX + "detections/annotations", "foxglove_msgs/msg/ImageAnnotations",
                image_annotations(stamp_ns, detections, height), stamp_ns)]
    if has_positions(detections):
        messages.append(Message(PREFIX + "objects/markers", "visualization_msgs/msg/MarkerArray",
                                object_markers(stamp_ns, detections, "detection"), stamp_ns))
    return messages


def log_rerun(sink, task, output) -> None:
    """``camera/detections``: Boxes2D over the image (captions as labels, class ids, each object's colour);
    ``objects/positions``: Points3D at the metric 3-D positions (camera frame, metres), the same colours and
    captions, cleared on a frame without any."""
    rr, rec, detections = sink.rr, sink.rec, output.result.detections
    palette = Palette.default()
    rgb = np.array([object_color(palette, d.track_id, d.label_id)[::-1] for d in detections], np.uint8).reshape(-1, 3)
    captions = [object_caption(str(d.label), d.score, d.track_id, d.depth) for d in detections]
    rec.log("camera/detections", rr.Boxes2D(array=np.array([d.box for d in detections], np.float32).reshape(-1, 4),
                                            array_format=rr.Box2DFormat.XYXY, labels=captions,
                                            class_ids=[int(d.label_id) for d in detections], colors=rgb))
    placed = [i for i, d in enumerate(detections) if d.depth is not None and d.depth.position is not None]
    if not placed:
        rec.log("objects/positions", rr.Clear(recursive=False))
        return
    rec.log("objects/positions", rr.Points3D([detections[i].depth.position for i in placed], colors=rgb[placed],
                                             labels=[captions[i] for i in placed], radii=0.1))
