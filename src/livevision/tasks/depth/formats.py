"""Depth results written out: a --results record, --arrays files, ROS 2 messages, rerun entities and
transformers' pipeline output."""

from __future__ import annotations

import functools
import json
import math

import numpy as np

from ...pointcloud import CameraIntrinsics, depth_to_points, ply_bytes
from ...sinks.depth_maps import depth_levels, depth_millimetres, png, sampled, sampled_camera
from ...sinks.errors import SinkError
from ...sinks.results import json_float
from ...sinks.robotics import frame_hw
from ...sinks.ros2_messages import (
    DEPTH_FORMAT,
    PREFIX,
    Message,
    camera_info,
    compressed_image,
    point_cloud,
    raw_image,
    text,
)
from ...types import DepthKind, DepthResult

PNG_INVALID = 0
METRIC_PNG_SCALE_M = 0.001  # one PNG step = 1 mm
MEDIAN_MAX_SAMPLES = 1 << 18  # the median of a --results record is taken over at most this many pixels


def depth_stats(depth: np.ndarray) -> dict[str, float | None]:
    """min / median / max of the finite values of a depth map; None each when there are none."""
    d = np.asarray(depth)
    finite = np.isfinite(d)
    if not finite.all():
        d = d[finite]  # 1-D copy of the finite values
    if d.size == 0:
        return {"min": None, "median": None, "max": None}
    flat = d.reshape(-1)
    step = max(1, math.ceil(flat.size / MEDIAN_MAX_SAMPLES))
    return {"min": json_float(flat.min()), "median": json_float(np.median(flat[::step])),
            "max": json_float(flat.max())}


def record(result: DepthResult) -> dict:
    depth = {**depth_stats(result.depth), "kind": result.kind.value, "units": result.units}
    if result.stabilization is not None:
        s = result.stabilization
        depth["stabilization"] = {"mode": s.mode, "scale": json_float(s.scale), "shift": json_float(s.shift),
                                  "reset": s.reset}
    return {"depth": depth}


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


def write_arrays(sink, index: int, result: DepthResult, name: str, image: np.ndarray | None) -> list:
    """The map in the sink's depth_format (see sinks.raw): npy / npz, a 16-bit PNG and its sidecar, or a
    point cloud coloured from `image` (the frame the depth was computed on)."""
    from ...sinks.raw import np_bytes, png_bytes

    depth = np.asarray(result.depth, dtype=np.float32)
    if sink.depth_format == "ply":
        if result.kind is not DepthKind.METRIC:
            raise SinkError("point clouds need metric depth (ZoeDepth, Depth Anything metric, GLPN); "
                            "this model gives relative inverse depth")
        camera = sink.camera_for(depth.shape)
        if image is not None and image.shape[:2] != depth.shape:
            image = None  # not the frame this depth was computed on
        points, colors = depth_to_points(depth, camera, image=image, stride=sink.point_stride)
        return [sink.write_file(index, name, "ply", ply_bytes(points, colors))]
    if sink.depth_format == "png":
        levels, sidecar = encode_depth_png(result)
        return [sink.write_file(index, name, "png", png_bytes(levels)),
                sink.write_file(index, name, "json", (json.dumps(sidecar) + "\n").encode())]
    return [sink.write_file(index, name, sink.depth_format,
                            np_bytes(sink.depth_format, depth=depth, kind=np.array(result.kind.value)))]


def ros2_messages(stamp_ns: int, result: DepthResult, camera: CameraIntrinsics, image: np.ndarray | None,
                  point_stride: int, depth_stride: int, raw: bool) -> list[Message]:
    """The depth map at every `depth_stride`-th pixel with its own camera_info, and for metric depth the
    point cloud (from the full map, every `point_stride`-th pixel)."""
    depth = np.asarray(result.depth, dtype=np.float32)
    metric = result.kind is DepthKind.METRIC
    pixels = sampled(depth, depth_stride)
    messages = [Message(PREFIX + "depth/camera_info", "sensor_msgs/msg/CameraInfo",
                        camera_info(stamp_ns, pixels.shape[:2], sampled_camera(camera, depth_stride)), stamp_ns)]
    if raw:
        messages.append(Message(PREFIX + "depth", "sensor_msgs/msg/Image", raw_image(stamp_ns, pixels, "32FC1"),
                                stamp_ns))
    elif metric:
        messages.append(Message(PREFIX + "depth/compressed", "sensor_msgs/msg/CompressedImage",
                                compressed_image(stamp_ns, png(depth_millimetres(pixels)), DEPTH_FORMAT), stamp_ns))
    else:
        levels, scale = depth_levels(pixels)
        messages += [Message(PREFIX + "depth/compressed", "sensor_msgs/msg/CompressedImage",
                             compressed_image(stamp_ns, png(levels), DEPTH_FORMAT), stamp_ns),
                     Message(PREFIX + "depth/levels", "std_msgs/msg/String",
                             text(json.dumps({"offset": scale.offset, "step": scale.step})), stamp_ns)]
    if metric:
        colours = image if image is not None and image.shape[:2] == depth.shape else None
        messages.append(Message(PREFIX + "points", "sensor_msgs/msg/PointCloud2",
                                point_cloud(stamp_ns, depth, camera, colours, point_stride), stamp_ns))
    return messages


def log_rerun(sink, output) -> None:
    """The depth map at the sink's depth stride: metric under its own pinhole, relative in 2-D."""
    rr, rec, result = sink.rr, sink.rec, output.result
    depth = sampled(np.asarray(result.depth, dtype=np.float32), sink.depth_stride)
    if result.kind is not DepthKind.METRIC:
        if sink.raw_images:
            rec.log("relative_depth", rr.DepthImage(depth))
            return
        levels, scale = depth_levels(depth)
        rec.log("relative_depth", rr.EncodedDepthImage(blob=png(levels).tobytes(), media_type="image/png"),
                rr.AnyValues(level_offset=scale.offset, level_step=scale.step))
        return
    camera = sampled_camera(sink.camera_for(frame_hw(output)), sink.depth_stride)
    rec.log("depth_camera", rr.Pinhole(focal_length=[camera.fx, camera.fy], principal_point=[camera.cx, camera.cy],
                                       width=depth.shape[1], height=depth.shape[0]))
    if sink.raw_images:
        rec.log("depth_camera/depth", rr.DepthImage(depth, meter=1.0))
    else:
        rec.log("depth_camera/depth", rr.EncodedDepthImage(blob=png(depth_millimetres(depth)).tobytes(),
                                                           media_type="image/png", meter=1000.0))


def transformers_output(result: DepthResult) -> dict:
    """{"predicted_depth": the map (float32, a torch tensor where torch is installed, else numpy), "depth": a
    PIL image of it scaled to 0..255}, as the depth-estimation pipeline gives them."""
    from PIL import Image

    depth = np.asarray(result.depth, np.float32)
    low, high = float(depth.min()), float(depth.max())
    scaled = (depth - np.float32(low)) / np.float32(high - low) if high > low else np.zeros_like(depth)
    return {"predicted_depth": _tensor(depth), "depth": Image.fromarray((scaled * 255).astype(np.uint8))}


def _tensor(depth: np.ndarray):
    """transformers' predicted_depth is a torch tensor: the same memory as one where torch is installed (it
    is not needed to run a model: the runtime-only install gets the numpy array)."""
    torch = _torch()
    return depth if torch is None else torch.from_numpy(depth)


@functools.cache
def _torch():
    """The torch module, or None where it is not installed (looked for once, not at every image)."""
    try:
        import torch
    except ImportError:
        return None
    return torch
