"""Objects as ROS 2 messages, CDR-encoded field by field as sinks.ros2_messages defines them (its module
docstring lists the topics): vision_msgs/msg/Detection2DArray, foxglove_msgs/msg/ImageAnnotations (what
Foxglove draws over the image) and visualization_msgs/msg/MarkerArray at the objects' 3-D positions (the
last shared with instance segmentation: anything with track_id, label_id, label, score and depth)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...render.palette import Palette, object_color
from ...sinks.ros2_messages import _Cdr  # the CDR writer of the other messages
from ...types import Detection
from .captions import object_caption

MARKER_LIFETIME_NS = 500_000_000  # a marker not sent again within half a second goes: objects that left
SPHERE_DIAMETER_M = 0.25
TEXT_HEIGHT_M = 0.15
_SPHERE, _TEXT_VIEW_FACING, _ADD = 2, 9, 0  # visualization_msgs/Marker's constants
_LINE_LOOP = 2  # foxglove_msgs/PointsAnnotation.LINE_LOOP
_IDENTITY = (0.0, 0.0, 0.0, 1.0)  # a quaternion's x, y, z, w


def _rgba(color_bgr: Sequence[int], alpha: float = 1.0) -> list[float]:
    b, g, r = (int(c) / 255.0 for c in color_bgr)
    return [r, g, b, alpha]


def _color(obj, palette: Palette) -> tuple[int, int, int]:
    return object_color(palette, obj.track_id, obj.label_id)


def _position(obj) -> tuple[float, float, float] | None:
    return None if obj.depth is None or obj.depth.position is None else tuple(float(v) for v in obj.depth.position)


def detection_array(stamp_ns: int, detections: Sequence[Detection]) -> bytes:
    """vision_msgs/msg/Detection2DArray: per object its box (centre and size in pixels), one hypothesis
    (class_id: the class name, and the score) whose pose is the object's 3-D position where it has one
    (metres, camera frame; zero otherwise), and id: the track id ("" untracked)."""
    cdr = _Cdr()
    cdr.header(stamp_ns)
    cdr.u32(len(detections))
    for detection in detections:
        cdr.header(stamp_ns)
        cdr.u32(1)  # results
        cdr.string(str(detection.label))
        cdr.f64s([detection.score], sized=False)
        cdr.f64s([*(_position(detection) or (0.0, 0.0, 0.0)), *_IDENTITY], sized=False)  # pose.pose
        cdr.f64s(np.zeros(36), sized=False)  # pose.covariance
        xmin, ymin, xmax, ymax = (float(v) for v in detection.box)
        cdr.f64s([(xmin + xmax) / 2, (ymin + ymax) / 2, 0.0, xmax - xmin, ymax - ymin], sized=False)
        cdr.string("" if detection.track_id is None else str(detection.track_id))
    return cdr.bytes()


def image_annotations(stamp_ns: int, detections: Sequence[Detection], image_height: int,
                      palette: Palette | None = None) -> bytes:
    """foxglove_msgs/msg/ImageAnnotations: each box as a closed line (LINE_LOOP) in the object's colour and
    its caption on that colour, sized for the image as the drawn boxes are."""
    palette = palette or Palette.default()
    sec, nanosec = divmod(int(stamp_ns), 1_000_000_000)
    thickness, font_size = max(2, image_height // 360 + 1), max(12.0, image_height / 36)
    cdr = _Cdr()
    cdr.u32(0)  # circles
    cdr.u32(len(detections))
    for detection in detections:
        xmin, ymin, xmax, ymax = (float(v) for v in detection.box)
        cdr.i32(sec)
        cdr.u32(nanosec)
        cdr.u8(_LINE_LOOP)
        cdr.u32(4)
        cdr.f64s([xmin, ymin, xmax, ymin, xmax, ymax, xmin, ymax], sized=False)
        cdr.f64s(_rgba(_color(detection, palette)), sized=False)  # outline_color
        cdr.u32(0)  # outline_colors
        cdr.f64s([0.0, 0.0, 0.0, 0.0], sized=False)  # fill_color: none
        cdr.f64s([thickness], sized=False)
    cdr.u32(len(detections))
    for detection in detections:
        color = _color(detection, palette)
        cdr.i32(sec)
        cdr.u32(nanosec)
        cdr.f64s([float(detection.box[0]), float(detection.box[1])], sized=False)
        cdr.string(object_caption(str(detection.label), detection.score, detection.track_id, detection.depth))
        cdr.f64s([font_size], sized=False)
        luma = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
        cdr.f64s([0.0, 0.0, 0.0, 1.0] if luma > 140 else [1.0, 1.0, 1.0, 1.0], sized=False)  # text_color
        cdr.f64s(_rgba(color, 0.75), sized=False)  # background_color
    return cdr.bytes()


def has_positions(objects: Sequence) -> bool:
    """Whether any object has a 3-D position (metric depth): what object_markers shows."""
    return any(_position(obj) is not None for obj in objects)


def object_markers(stamp_ns: int, objects: Sequence, namespace: str, palette: Palette | None = None) -> bytes:
    """visualization_msgs/msg/MarkerArray: per object with a 3-D position, a sphere there (frame "camera",
    OpenCV axes) and a caption above it ("person #3 2.4 m"), in its colour. A tracked object's markers have
    its track id as id in namespaces `namespace` and `namespace`/labels, so each frame's replace the last;
    untracked ones number from 0 in `namespace`/untracked. They last MARKER_LIFETIME_NS unless sent again."""
    palette = palette or Palette.default()
    cdr = _Cdr()
    placed = [(i, obj, position) for i, obj in enumerate(objects) if (position := _position(obj)) is not None]
    cdr.u32(2 * len(placed))
    for i, obj, (x, y, z) in placed:
        ns = namespace if obj.track_id is not None else f"{namespace}/untracked"
        key = i if obj.track_id is None else int(obj.track_id)
        rgba = _rgba(_color(obj, palette))
        _marker(cdr, stamp_ns, ns, key, _SPHERE, (x, y, z), [SPHERE_DIAMETER_M] * 3, rgba, "")
        caption = object_caption(str(obj.label), obj.score, obj.track_id, obj.depth)
        above = (x, y - SPHERE_DIAMETER_M / 2 - TEXT_HEIGHT_M, z)  # y points down
        _marker(cdr, stamp_ns, f"{ns}/labels", key, _TEXT_VIEW_FACING, above, [0.0, 0.0, TEXT_HEIGHT_M], rgba,
                caption)
    return cdr.bytes()


def _marker(cdr: _Cdr, stamp_ns: int, ns: str, key: int, kind: int, xyz, scale, rgba, text: str) -> None:
    """One visualization_msgs/Marker (action ADD), field by field."""
    cdr.header(stamp_ns)
    cdr.string(ns)
    cdr.i32(key)
    cdr.i32(kind)
    cdr.i32(_ADD)
    cdr.f64s([*xyz, *_IDENTITY], sized=False)  # pose
    cdr.f64s(scale, sized=False)
    cdr.f32s(rgba, sized=False)
    cdr.i32(MARKER_LIFETIME_NS // 1_000_000_000)
    cdr.u32(MARKER_LIFETIME_NS % 1_000_000_000)
    cdr.u8(0)  # frame_locked
    cdr.u32(0)  # points
    cdr.u32(0)  # colors
    cdr.string("")  # texture_resource
    cdr.header(0)  # texture: an empty sensor_msgs/CompressedImage
    cdr.string("")
    cdr.u32(0)
    cdr.u32(0)  # uv_coordinates
    cdr.string(text)
    cdr.string("")  # mesh_resource
    cdr.string("")  # mesh_file: none
    cdr.u32(0)
    cdr.u8(0)  # mesh_use_embedded_materials


__all__ = ["MARKER_LIFETIME_NS", "detection_array", "has_positions", "image_annotations",
           "object_markers"]
