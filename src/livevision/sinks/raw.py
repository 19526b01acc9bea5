"""RawArraySink: per-frame arrays (depth maps, label maps) as files in a folder.

File names: ``frame_{index:06d}_{name}.{ext}``, name "depth", "labels" or "segments" by default; with
`name_by_task` (several tasks writing to one folder) the task's name instead: "depth", "segmentation" and
"segmentation_segments".

Depth (`depth_format`):
- "npy": the float32 map as is (metres or relative units; NaN kept).
- "npz": compressed, keys ``depth`` (float32) and ``kind`` ("metric" / "relative").
- "png": 16-bit PNG plus a sidecar ``frame_000123_depth.json`` holding
  ``{"kind", "units", "scale", "offset", "invalid": 0}``. Decode: ``value = offset + scale * png``
  where ``png > 0``; 0 marks pixels without a finite value.
  Metric: millimetres (scale 0.001, offset 0, units "m"), clipped to 1..65535 (65.535 m).
  Relative: each frame's finite range [min, max] mapped to 1..65535 (the scale is per frame and
  given in the sidecar; use the decoded values, not the raw PNG numbers, to compare frames).
- "ply": a coloured point cloud (binary PLY, metres, OpenCV camera axes; see livevision.pointcloud), metric
  depth only. The camera: `intrinsics` (pixels, for the frames' size) or else `fov_deg`, the horizontal
  field of view (DEFAULT_FOV_DEG when not given, with a note in the log); every `point_stride`-th pixel.
Label maps (`label_format` "png", "npy" or "npz"): PNG is uint8 when every class id fits in 0..254
and uint16 otherwise (chosen from id2label, so it stays the same for all frames of a model);
pixels labelled -1 (no segment) are stored as 255 / 65535. Instance and panoptic results also
write their segment map (segment id per pixel, -1 -> 65535) as ``..._segments`` in uint16.
Classification results have no array and write nothing.

Each file is written to a temporary sibling and renamed into place, so a file that exists is complete.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import UsageError
from ..pointcloud import CameraIntrinsics, check_camera
from ..tasks.registry import definition_of
from ..types import Task, TaskOutput
from ._paths import atomic_write_bytes, check_output_folder
from .base import Sink
from .errors import OutputPathError, SinkError

logger = logging.getLogger(__name__)

DEPTH_FORMATS = ("npy", "npz", "png", "ply")
DEFAULT_FOV_DEG = 60.0  # a typical webcam's horizontal field of view
LABEL_FORMATS = ("png", "npy", "npz")


def label_png(label_map: np.ndarray, max_id: int) -> np.ndarray:
    labels = np.asarray(label_map)
    if max_id <= 254:
        dtype, void = np.uint8, 255
    elif max_id <= 65534:
        dtype, void = np.uint16, 65535
    else:
        raise SinkError(f"class/segment id {max_id} does not fit a 16-bit PNG; use label_format='npz'")
    out = labels.astype(dtype)
    out[labels < 0] = void
    return out


class RawArraySink(Sink):
    """Write per-frame depth and label arrays into `folder` (created if its parent exists).

    depth_format: "npy" (default), "npz", "png" (16-bit) or "ply" (point cloud; see the module docstring).
    label_format: "png" (default), "npy" or "npz".
    intrinsics, fov_deg, point_stride: the camera and sampling of "ply" point clouds.
    name_by_task: name the files after the task (write_result), not "depth" / "labels".
    write_result(task, output): the ResultSink contract; write_arrays(index, result, name=None, image=None)
    -> the paths written for that frame; `image` (BGR, the frame the result was computed on) colours
    point clouds.
    """

    def __init__(self, folder: str | os.PathLike[str], *, depth_format: str = "npy", label_format: str = "png",
                 intrinsics: CameraIntrinsics | None = None, fov_deg: float | None = None,
                 point_stride: int = 1, name_by_task: bool = False) -> None:
        if depth_format not in DEPTH_FORMATS:
            raise UsageError(f"invalid depth_format {depth_format!r}: choose one of {', '.join(DEPTH_FORMATS)}")
        if label_format not in LABEL_FORMATS:
            raise UsageError(f"invalid label_format {label_format!r}: choose one of {', '.join(LABEL_FORMATS)}")
        check_camera(intrinsics, fov_deg, point_stride)
        self.folder = Path(folder).expanduser()
        check_output_folder(self.folder, "arrays")
        try:
            self.folder.mkdir(exist_ok=True)
        except OSError as e:
            raise OutputPathError(f"cannot create array folder {str(self.folder)!r}: {e.strerror or e}") from None
        self.depth_format = depth_format
        self.label_format = label_format
        self.intrinsics, self.fov_deg, self.point_stride = intrinsics, fov_deg or DEFAULT_FOV_DEG, point_stride
        self._note_assumed_fov = intrinsics is None and fov_deg is None  # said once, at the first point cloud
        self.name_by_task = name_by_task
        self.files_written = 0

    def path_for(self, index: int, name: str, ext: str) -> Path:
        return self.folder / f"frame_{int(index):06d}_{name}.{ext}"

    def write_result(self, task: Task, output: TaskOutput) -> None:
        """The arrays of one task's result; point clouds take their colours from the frame it was computed on."""
        self.write_arrays(output.frame_index, output.result, task.value if self.name_by_task else None,
                          image=output.image)

    def write_arrays(self, index: int, result, name: str | None = None, image: np.ndarray | None = None) -> list[Path]:
        """Write the arrays of one result (its task's, tasks/<task>/formats.py); `name` replaces "depth" /
        "labels" in the file names."""
        if self._closed:
            raise SinkError(f"write to closed RawArraySink {str(self.folder)!r}")
        written = definition_of(result).write_arrays(self, index, result, name, image)
        self.files_written += len(written)
        return written

    def write_file(self, index: int, name: str, ext: str, data) -> Path:
        """One frame's file, written whole (a temporary sibling renamed into place)."""
        path = self.path_for(index, name, ext)
        atomic_write_bytes(path, data)
        return path

    def write_labels(self, index: int, labels: np.ndarray, max_id: int, name: str) -> Path:
        """A label or segment map in label_format; max_id: the largest id the model can give."""
        if self.label_format == "png":
            return self.write_file(index, name, "png", png_bytes(label_png(labels, max_id)))
        return self.write_file(index, name, self.label_format,
                               np_bytes(self.label_format, labels=np.asarray(labels, dtype=np.int32)))

    def camera_for(self, depth_hw: tuple[int, int]) -> CameraIntrinsics:
        """The camera of point clouds: the intrinsics given, or the field of view's (said once)."""
        if self._note_assumed_fov:
            self._note_assumed_fov = False
            logger.info("point clouds: assuming a %g degree horizontal field of view; give the camera's "
                        "(--fov or --intrinsics) for true shapes", self.fov_deg)
        h, w = depth_hw
        return self.intrinsics or CameraIntrinsics.from_fov(w, h, self.fov_deg)

    def _close(self) -> None:
        pass


def png_bytes(image: np.ndarray) -> memoryview:
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover
        raise SinkError(f"PNG encoding failed for a {image.dtype} {image.shape} array")
    return buf.data


def np_bytes(fmt: str, **arrays: np.ndarray) -> bytes:
    bio = io.BytesIO()
    if fmt == "npy":
        first = next(iter(arrays.values()))
        np.save(bio, first, allow_pickle=False)
    else:
        np.savez_compressed(bio, **arrays)
    return bio.getvalue()


__all__ = ["RawArraySink", "DEFAULT_FOV_DEG", "DEPTH_FORMATS", "LABEL_FORMATS", "label_png", "np_bytes", "png_bytes"]
