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
import json
import logging
import os
from pathlib import Path

import cv2
import numpy as np

from ..errors import UsageError
from ..pointcloud import CameraIntrinsics, check_camera, depth_to_points, ply_bytes
from ..types import ClassificationResult, DepthKind, DepthResult, SegmentationResult, Task, TaskOutput
from ._paths import atomic_write_bytes, check_output_folder
from .base import Sink
from .errors import OutputPathError, SinkError

logger = logging.getLogger(__name__)

DEPTH_FORMATS = ("npy", "npz", "png", "ply")
DEFAULT_FOV_DEG = 60.0  # a typical webcam's horizontal field of view
LABEL_FORMATS = ("png", "npy", "npz")
PNG_INVALID = 0
METRIC_PNG_SCALE_M = 0.001  # one PNG step = 1 mm


def encode_depth_png(result: DepthResult) -> tuple[np.ndarray, dict]:
    """(uint16 image, sidecar dict) for a depth map; see the module docstring for the encoding."""
    d = np.asarray(result.depth, dtype=np.float32)
    finite = np.isfinite(d)
    out = np.zeros(d.shape, np.uint16)
    if result.kind is DepthKind.METRIC:
        scale, offset = METRIC_PNG_SCALE_M, 0.0
        valid = finite & (d > 0)
        out[valid] = np.clip(np.rint(d[valid] / scale), 1, 65535).astype(np.uint16)
    else:
        valid = finite
        if valid.any():
            lo = float(d[valid].min())
            hi = float(d[valid].max())
            scale = (hi - lo) / 65534.0 if hi > lo else 1.0
            offset = lo - scale  # png value 1 decodes to lo
            out[valid] = np.clip(np.rint((d[valid] - lo) / scale) + 1, 1, 65535).astype(np.uint16)
        else:
            scale, offset = 1.0, 0.0
    sidecar = {
        "kind": result.kind.value,
        "units": result.units,
        "scale": scale,
        "offset": offset,
        "invalid": PNG_INVALID,
        "decode": "value = offset + scale * png, for png != 0",
    }
    return out, sidecar


def decode_depth_png(png: np.ndarray, sidecar: dict) -> np.ndarray:
    """Inverse of encode_depth_png: float32 depth, NaN where the PNG holds 0."""
    out = sidecar["offset"] + sidecar["scale"] * png.astype(np.float64)
    out[png == sidecar.get("invalid", PNG_INVALID)] = np.nan
    return out.astype(np.float32)


def _label_png(label_map: np.ndarray, max_id: int) -> np.ndarray:
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

    def write_arrays(
        self, index: int, result: DepthResult | SegmentationResult | ClassificationResult, name: str | None = None,
        image: np.ndarray | None = None,
    ) -> list[Path]:
        """Write the arrays of one result; `name` replaces "depth" / "labels" in the file names."""
        if self._closed:
            raise SinkError(f"write to closed RawArraySink {str(self.folder)!r}")
        written: list[Path] = []
        if isinstance(result, DepthResult):
            written += self._write_depth(index, result, name or "depth", image)
        elif isinstance(result, SegmentationResult):
            max_id = max([int(k) for k in result.id2label] + [int(np.max(result.label_map, initial=-1))])
            written.append(self._write_labels(index, result.label_map, max_id, name or "labels"))
            if result.segment_map is not None:
                seg_name = f"{name}_segments" if name else "segments"
                written.append(self._write_labels(index, result.segment_map, 65534, seg_name))
        elif not isinstance(result, ClassificationResult):
            raise TypeError(f"result must be a DepthResult or SegmentationResult, got {type(result).__name__}")
        self.files_written += len(written)
        return written

    def _write_depth(self, index: int, result: DepthResult, name: str, image: np.ndarray | None) -> list[Path]:
        depth = np.asarray(result.depth, dtype=np.float32)
        if self.depth_format == "ply":
            if result.kind is not DepthKind.METRIC:
                raise SinkError("point clouds need metric depth (ZoeDepth, Depth Anything metric, GLPN); "
                                "this model gives relative inverse depth")
            if self._note_assumed_fov:
                self._note_assumed_fov = False
                logger.info("point clouds: assuming a %g degree horizontal field of view; give the camera's "
                            "(--fov or --intrinsics) for true shapes", self.fov_deg)
            h, w = depth.shape
            camera = self.intrinsics or CameraIntrinsics.from_fov(w, h, self.fov_deg)
            if image is not None and image.shape[:2] != depth.shape:
                image = None  # not the frame this depth was computed on
            points, colors = depth_to_points(depth, camera, image=image, stride=self.point_stride)
            path = self.path_for(index, name, "ply")
            atomic_write_bytes(path, ply_bytes(points, colors))
            return [path]
        if self.depth_format == "png":
            png, sidecar = encode_depth_png(result)
            path = self.path_for(index, name, "png")
            atomic_write_bytes(path, _png_bytes(png))
            side = self.path_for(index, name, "json")
            atomic_write_bytes(side, (json.dumps(sidecar) + "\n").encode())
            return [path, side]
        path = self.path_for(index, name, self.depth_format)
        atomic_write_bytes(path, _np_bytes(self.depth_format, depth=depth, kind=np.array(result.kind.value)))
        return [path]

    def _write_labels(self, index: int, labels: np.ndarray, max_id: int, name: str) -> Path:
        path = self.path_for(index, name, self.label_format)
        if self.label_format == "png":
            atomic_write_bytes(path, _png_bytes(_label_png(labels, max_id)))
        else:
            atomic_write_bytes(path, _np_bytes(self.label_format, labels=np.asarray(labels, dtype=np.int32)))
        return path

    def _close(self) -> None:
        pass


def _png_bytes(image: np.ndarray) -> memoryview:
    ok, buf = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    if not ok:  # pragma: no cover
        raise SinkError(f"PNG encoding failed for a {image.dtype} {image.shape} array")
    return buf.data


def _np_bytes(fmt: str, **arrays: np.ndarray) -> bytes:
    bio = io.BytesIO()
    if fmt == "npy":
        first = next(iter(arrays.values()))
        np.save(bio, first, allow_pickle=False)
    else:
        np.savez_compressed(bio, **arrays)
    return bio.getvalue()


__all__ = ["RawArraySink", "encode_depth_png", "decode_depth_png", "DEFAULT_FOV_DEG", "DEPTH_FORMATS", "LABEL_FORMATS"]
