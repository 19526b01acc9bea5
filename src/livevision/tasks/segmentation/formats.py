"""Segmentation results written out: a --results record, --arrays files (label and segment maps), ROS 2
messages, rerun entities and transformers' pipeline output."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import cv2
import numpy as np

from ...sinks.depth_maps import png
from ...sinks.results import json_float
from ...sinks.ros2_messages import PREFIX, Message, compressed_image, raw_image
from ...types import SegmentationKind, SegmentationResult
from ..detection.formats import object_fields
from ..detection.ros2 import has_positions, object_markers
from ..labels import label_for


def _class_areas(label_map: np.ndarray, id2label: Mapping[int, str]) -> list[dict[str, Any]]:
    labels = np.asarray(label_map).reshape(-1)
    labels = labels[labels >= 0]
    if labels.size == 0:
        return []
    counts = np.bincount(labels.astype(np.int64, copy=False))
    present = np.flatnonzero(counts)
    order = sorted(present.tolist(), key=lambda i: (-int(counts[i]), i))
    return [{"label": id2label.get(i, str(i)), "label_id": i, "area_px": int(counts[i])} for i in order]


def record(result: SegmentationResult) -> dict:
    fields: dict[str, Any] = {
        "segmentation_kind": result.kind,
        "segments": [{"id": int(s.id), "label": str(s.label), "label_id": int(s.label_id), "score": json_float(s.score),
                      "area_px": int(np.count_nonzero(s.mask)), **object_fields(s.track_id, s.depth)}
                     for s in result.segments],
    }
    if result.kind is SegmentationKind.SEMANTIC:
        fields["classes"] = _class_areas(result.label_map, result.id2label)
    return fields


def write_arrays(sink, index: int, result: SegmentationResult, name: str | None) -> list:
    """The label map in the sink's label_format; instance and panoptic results their segment map too."""
    max_id = max([int(k) for k in result.id2label] + [int(np.max(result.label_map, initial=-1))])
    written = [sink.write_labels(index, result.label_map, max_id, name or "labels")]
    if result.segment_map is not None:
        written.append(sink.write_labels(index, result.segment_map, 65534, f"{name}_segments" if name else "segments"))
    return written


def label_image(result: SegmentationResult) -> tuple[np.ndarray, int]:
    """The label map as mono8 / mono16 pixels, and the shift applied to the ids: class ids as they are
    for a semantic map (0), class id + 1 for an instance or panoptic map, with 0 for its -1 "no segment" (1).
    Both follow from the model, never from one frame's pixels, so an id means the same in every frame
    (a panoptic frame covered everywhere has no -1, and its class 0 must still not read as "no segment")."""
    labels = np.asarray(result.label_map)
    shift = 0 if result.kind is SegmentationKind.SEMANTIC else 1
    low = int(labels.min()) if labels.size else 0
    if low + shift < 0:
        raise ValueError(f"label id {low} in a {result.kind} label map (ids start at {-shift})")
    top = max([int(k) for k in result.id2label or ()] + [int(labels.max()) if labels.size else 0]) + shift
    if top > 65535:
        raise ValueError(f"label id {top} does not fit a mono16 image")
    dtype = np.uint8 if top <= 255 else np.uint16
    return (labels + shift).astype(dtype) if shift else labels.astype(dtype), shift


def ros2_messages(stamp_ns: int, result: SegmentationResult, raw: bool) -> list[Message]:
    """The label map (see label_image) as a PNG (mono8 / mono16), or with `raw` an Image; and when a segment
    has a metric 3-D position, ``objects/markers`` as detection's (namespace "segmentation")."""
    labels, _ = label_image(result)
    encoding = "mono8" if labels.dtype == np.uint8 else "mono16"
    if raw:
        messages = [Message(PREFIX + "segmentation", "sensor_msgs/msg/Image", raw_image(stamp_ns, labels, encoding),
                            stamp_ns)]
    else:
        # plain "png" for mono8, the format Foxglove documents, which ROS reads as mono8 too
        label_format = "png" if encoding == "mono8" else f"{encoding}; png compressed"
        messages = [Message(PREFIX + "segmentation/compressed", "sensor_msgs/msg/CompressedImage",
                            compressed_image(stamp_ns, png(labels), label_format), stamp_ns)]
    if has_positions(result.segments):
        messages.append(Message(PREFIX + "objects/markers", "visualization_msgs/msg/MarkerArray",
                                object_markers(stamp_ns, result.segments, "segmentation"), stamp_ns))
    return messages


def log_rerun(sink, task, output) -> None:
    """The label map (see label_image) as a segmentation image, with the class names as its annotations."""
    labels, shift = label_image(output.result)
    sink.annotations(task, output.result.id2label, shift)
    sink.rec.log("camera/segmentation", sink.rr.SegmentationImage(labels))


def transformers_output(result: SegmentationResult) -> list[dict]:
    """[{"score", "label", "mask"}] with PIL masks: one per class present (semantic, score None) or per
    segment (instance, panoptic), as the image-segmentation pipeline gives them."""
    from PIL import Image

    if result.kind is SegmentationKind.SEMANTIC:
        label_map = np.asarray(result.label_map)
        return [{"score": None, "label": label_for(result.id2label, int(c)),
                 "mask": Image.fromarray(_mask(label_map, int(c)))}
                for c in np.unique(label_map) if c >= 0]
    segment_map = np.asarray(result.segment_map)
    return [{"score": float(s.score), "label": s.label, "mask": Image.fromarray(_mask(segment_map, s.id))}
            for s in result.segments]


def _mask(labels: np.ndarray, value: int) -> np.ndarray:
    """255 where labels == value, else 0, uint8 (one OpenCV pass)."""
    if labels.dtype != np.int32:
        labels = labels.astype(np.int32)
    return cv2.compare(labels, float(value), cv2.CMP_EQ)
