"""Object distances: each detected or segmented object's depth, from a depth map of the same stream.

    obj = object_depth(depth_result, box=(xmin, ymin, xmax, ymax), camera=intrinsics)
    obj.value, obj.position        # metres and (x, y, z) for metric depth
    outputs = attach_depth(packet.outputs, intrinsics)   # every detection and segment gets its `depth`

A Stream whose tasks include depth and detection or segmentation does this itself (Stream's `camera`).

The statistic: the median of the object's valid depth pixels, inside its mask, or with a box only inside
the box's central region (the middle BOX_CORE of its width and height: a box's edges hold background,
its centre the object). The median ignores up to half the pixels being wrong (mask edges that bleed into
the background, depth blurred across the object's outline) without a threshold to tune. Valid pixels:
finite, and > 0 for metric depth. Too few of them (under MIN_VALID_PIXELS, or MIN_VALID_SHARE of the
region; a region of fewer pixels needs them all) give no depth (None), never NaN. A large region is
sampled at a stride (about MAX_SAMPLES pixels): the median barely moves and the cost per object stays
bounded.

value is the depth as the map gives it: for metric depth the distance along the optical axis (z) in
metres (the distance along the ray is the norm of `position`); for relative depth the model's unitless
inverse depth (larger is nearer), with no position. position: the object's reference pixel (its mask's
centroid, or its box's centre) back-projected at that depth through the camera, as livevision.pointcloud
does (pixel centres, x right, y down, z forward); a box's (xmin, ymin, xmax, ymax) are pixel edges, so its
centre pixel is ((xmin + xmax) / 2 - 0.5, (ymin + ymax) / 2 - 0.5).

In `every` pacing the depth and the objects come from the same frame; in the live modes the latest depth
map can be from another (older or newer) frame: it is used all the same, and ObjectDepth.depth_frame_index
says which frame it was.
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace
from typing import Callable, Mapping

import numpy as np

from ..errors import UsageError
from ..pointcloud import CameraIntrinsics, check_fov
from ..sinks.raw import DEFAULT_FOV_DEG
from ..tasks.registry import TASKS, definition
from ..types import DepthKind, DepthResult, ObjectDepth, Task, TaskOutput

log = logging.getLogger(__name__)

BOX_CORE = 0.5  # a box's depth comes from the middle half of its width and of its height
MIN_VALID_PIXELS = 4  # fewer valid depth pixels in the region: no depth
MIN_VALID_SHARE = 0.2  # ... or less than this share of the region valid
MAX_SAMPLES = 1024  # a larger region is sampled at a stride down to about this many pixels

#: the tasks whose results carry objects that get a depth
OBJECT_TASKS = tuple(task for task, found in TASKS.items() if found.has_objects)


def object_depth(depth: DepthResult, *, box=None, mask: np.ndarray | None = None,
                 camera: CameraIntrinsics | None = None, depth_frame_index: int | None = None) -> ObjectDepth | None:
    """The depth of one object, from its `mask` ((H, W) bool, the depth map's size) or else its `box`
    ((xmin, ymin, xmax, ymax) pixels); None where the region holds too few valid depth pixels. camera:
    intrinsics at the depth map's size, for a metric position (None: no position)."""
    values = np.asarray(depth.depth)
    if values.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {values.shape}")
    if mask is not None:
        region = _mask_region(mask, values.shape)
    elif box is not None:
        region = _box_region(box, values.shape)
    else:
        raise ValueError("object_depth needs the object's box or mask")
    if region is None:
        return None
    rows, cols, inside, (u, v) = region
    value = _robust_depth(values[rows, cols], inside, depth.kind)
    if value is None:
        return None
    position = None
    if depth.kind is DepthKind.METRIC and camera is not None:
        position = ((u - camera.cx) * value / camera.fx, (v - camera.cy) * value / camera.fy, value)
    return ObjectDepth(value, depth.kind, position, depth_frame_index)


def _box_region(box, hw: tuple[int, int]):
    """(rows, cols, None, reference pixel) of a box's central region clipped to the image, or None when
    the box lies outside it."""
    xmin, ymin, xmax, ymax = (float(c) for c in box)
    if not all(math.isfinite(c) for c in (xmin, ymin, xmax, ymax)):
        return None
    margin_x, margin_y = (xmax - xmin) * (1 - BOX_CORE) / 2, (ymax - ymin) * (1 - BOX_CORE) / 2
    rows = _pixel_span(ymin + margin_y, ymax - margin_y, hw[0])
    cols = _pixel_span(xmin + margin_x, xmax - margin_x, hw[1])
    if rows is None or cols is None:
        return None
    return rows, cols, None, ((xmin + xmax) / 2 - 0.5, (ymin + ymax) / 2 - 0.5)


def _pixel_span(start: float, end: float, size: int) -> slice | None:
    """The pixels whose centres lie in [start, end) (at least the one under the middle), within 0..size."""
    first, last = math.ceil(start - 0.5), math.ceil(end - 0.5)
    if last <= first:
        first = math.floor((start + end) / 2)
        last = first + 1
    first, last = max(first, 0), min(last, size)
    return slice(first, last) if first < last else None


def _mask_region(mask: np.ndarray, hw: tuple[int, int]):
    """(rows, cols, the mask inside them, centroid pixel) of a mask's bounding box, or None for an empty
    mask or one of another size than the depth map (a live stream's depth from a frame of another size)."""
    mask = np.asarray(mask, dtype=bool)  # a 0/1 mask too (indexing with it as ints would pick pixels by number)
    if mask.shape != hw:
        return None
    row_hits = np.flatnonzero(mask.any(axis=1))
    if row_hits.size == 0:
        return None
    rows = slice(row_hits[0], row_hits[-1] + 1)
    col_hits = np.flatnonzero(mask[rows].any(axis=0))  # only the object's rows: a small object costs less
    cols = slice(col_hits[0], col_hits[-1] + 1)
    inside = mask[rows, cols]
    per_row, per_col = inside.sum(axis=1), inside.sum(axis=0)
    area = per_row.sum()
    u = cols.start + per_col @ np.arange(per_col.size) / area
    v = rows.start + per_row @ np.arange(per_row.size) / area
    return rows, cols, inside, (float(u), float(v))


def _robust_depth(crop: np.ndarray, inside: np.ndarray | None, kind: DepthKind) -> float | None:
    """The median of the valid values of `crop` (where `inside`, when given), or None for too few."""
    area = crop.size if inside is None else np.count_nonzero(inside)
    stride = max(1, math.isqrt(area // MAX_SAMPLES))  # by the object's pixels: a thin one keeps them all
    if stride > 1:
        crop = crop[::stride, ::stride]
        inside = None if inside is None else inside[::stride, ::stride]
    values = crop if inside is None else crop[inside]
    values = values.ravel()
    region = values.size
    values = values[np.isfinite(values) & (values > 0)] if kind is DepthKind.METRIC else values[np.isfinite(values)]
    if values.size == 0 or values.size < max(min(MIN_VALID_PIXELS, region), MIN_VALID_SHARE * region):
        return None
    return _median(values)


def _median(values: np.ndarray) -> float:
    """np.median without its overhead (a partition, ten times quicker on a few thousand values)."""
    middle = values.size // 2
    if values.size % 2:
        return float(np.partition(values, middle)[middle])
    low, high = np.partition(values, (middle - 1, middle))[middle - 1: middle + 1]
    return float((np.float64(low) + np.float64(high)) / 2)


def with_depth(output: TaskOutput, depth_output: TaskOutput, camera: CameraIntrinsics | None, task: Task) -> TaskOutput:
    """`output` (`task`'s, a task with objects) with each object's `depth` from `depth_output`'s map (a new
    TaskOutput; nothing is changed in place). Results without objects, objects on a frame of another size
    than the depth map (a live stream whose source changed size), and results that are not the task's own
    (a custom model's) are returned as they are."""
    found, result, depth = definition(task), output.result, depth_output.result
    objects = found.objects(result) if isinstance(result, found.result_type) else ()
    if not objects or not isinstance(depth, definition(Task.DEPTH).result_type):
        return output
    if output.image is not None and output.image.shape[:2] != np.shape(depth.depth):
        return output
    index = depth_output.frame_index
    located = tuple(replace(o, depth=object_depth(depth, box=getattr(o, "box", None), mask=getattr(o, "mask", None),
                                                  camera=camera, depth_frame_index=index))
                    for o in objects)
    return replace(output, result=found.with_objects(result, located))


def attach_depth(outputs: Mapping[Task, TaskOutput], camera: CameraIntrinsics | None) -> dict[Task, TaskOutput]:
    """`outputs` (a Packet's) with the detection and segmentation objects carrying their depth from the
    depth output's map; the same outputs where there is no depth output. camera: intrinsics at the depth
    map's size (None: no positions)."""
    depth_output = outputs.get(Task.DEPTH)
    if depth_output is None:
        return dict(outputs)
    return {task: with_depth(out, depth_output, camera, task) if task in OBJECT_TASKS else out
            for task, out in outputs.items()}


def scaled_camera(camera: CameraIntrinsics, from_wh: tuple[int, int], to_wh: tuple[int, int]) -> CameraIntrinsics:
    """Intrinsics given for images of `from_wh` for the same view at `to_wh` (pixel centres kept: the
    pixel u's centre, u + 0.5 pixel edges from the left, scales with the width)."""
    if from_wh == to_wh:
        return camera
    sx, sy = to_wh[0] / from_wh[0], to_wh[1] / from_wh[1]
    return CameraIntrinsics(camera.fx * sx, camera.fy * sy, (camera.cx + 0.5) * sx - 0.5, (camera.cy + 0.5) * sy - 0.5)


class ObjectDepthStep:
    """A Stream's step on each packet's outputs when depth runs beside detection or segmentation: the
    objects get their depth (attach_depth). Computed once per new pair of outputs (the live modes show the
    same outputs with many frames), by task.

    camera: CameraIntrinsics in pixels at the source's resolution (scaled to the depth map's size where
    that differs), or a horizontal field of view in degrees, or None (DEFAULT_FOV_DEG, said in the log).
    source_wh: what gives the source's (width, height), None where unknown; asked at the first depth map
    of each size (a camera's size is known once it delivers)."""

    def __init__(self, camera: "CameraIntrinsics | float | None" = None,
                 source_wh: Callable[[], tuple[int, int] | None] = lambda: None):
        if camera is not None and not isinstance(camera, CameraIntrinsics):
            if isinstance(camera, bool) or not isinstance(camera, (int, float)):
                raise UsageError(f"camera must be CameraIntrinsics or a field of view in degrees, got {camera!r}")
            check_fov(camera)
        self.camera, self.source_wh = camera, source_wh
        self._cameras: dict[tuple[int, int], CameraIntrinsics] = {}
        self._done: dict[Task, tuple[tuple[int, int], TaskOutput]] = {}  # by task: (frame indices, output)

    def camera_for(self, hw: tuple[int, int]) -> CameraIntrinsics:
        """The intrinsics at a depth map's (height, width)."""
        if hw not in self._cameras:
            wh = (hw[1], hw[0])
            if isinstance(self.camera, CameraIntrinsics):
                self._cameras[hw] = scaled_camera(self.camera, self.source_wh() or wh, wh)
            else:
                if self.camera is None:
                    log.info("object positions assume a %g degree horizontal field of view: give the camera's "
                             "(--fov or --intrinsics) for true positions", DEFAULT_FOV_DEG)
                self._cameras[hw] = CameraIntrinsics.from_fov(wh[0], wh[1], self.camera or DEFAULT_FOV_DEG)
        return self._cameras[hw]

    def __call__(self, outputs: Mapping[Task, TaskOutput]) -> Mapping[Task, TaskOutput]:
        depth_output = outputs.get(Task.DEPTH)
        if depth_output is None or not isinstance(depth_output.result, definition(Task.DEPTH).result_type):
            return outputs  # no depth yet, or a custom depth model's own result
        depth = depth_output.result
        camera = self.camera_for(np.shape(depth.depth)) if depth.kind is DepthKind.METRIC else None
        updated = dict(outputs)
        for task in OBJECT_TASKS:
            output = outputs.get(task)
            if output is None:
                continue
            key = (output.frame_index, depth_output.frame_index)
            done = self._done.get(task)
            if done is None or done[0] != key:
                done = self._done[task] = (key, with_depth(output, depth_output, camera, task))
            updated[task] = done[1]
        return updated


__all__ = ["ObjectDepthStep", "attach_depth", "object_depth", "scaled_camera", "with_depth"]
