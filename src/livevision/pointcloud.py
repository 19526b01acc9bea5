"""Point clouds from metric depth: back-projection through a pinhole camera, and PLY files.

    intrinsics = CameraIntrinsics.from_fov(1280, 720, horizontal_fov_deg=70)
    points, colors = depth_to_points(result.depth, intrinsics, image=frame)   # (N, 3) metres, (N, 3) RGB
    write_ply("frame.ply", points, colors)

Camera frame as in OpenCV: x right, y down, z forward (the depth), in metres. A pixel (u, v) with
depth z maps to ((u - cx) z / fx, (v - cy) z / fy, z), with (u, v) the pixel's centre, so cx = (W - 1) / 2
is the middle of the image. Only metric depth (ZoeDepth, Depth Anything metric, GLPN) gives a real
shape: relative models output inverse depth up to an unknown scale and shift.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass

import numpy as np

from .errors import UsageError

# PLY vertex properties: (name, numpy dtype, PLY type), positions always, colours when given
_XYZ = (("x", "<f4", "float"), ("y", "<f4", "float"), ("z", "<f4", "float"))
_RGB = (("red", "u1", "uchar"), ("green", "u1", "uchar"), ("blue", "u1", "uchar"))


def check_fov(horizontal_fov_deg: float) -> None:
    """UsageError unless the angle is a horizontal field of view a pinhole camera can have."""
    if not 0 < horizontal_fov_deg < 180:
        raise UsageError(f"a horizontal field of view must be between 0 and 180 degrees, got {horizontal_fov_deg}")


def check_camera(intrinsics, fov_deg: float | None, point_stride: int) -> None:
    """UsageError (now, not at the first frame) for camera options an output cannot use: both the
    intrinsics and a field of view, a bad field of view, or a point stride below 1."""
    if point_stride < 1:
        raise UsageError(f"the point stride must be at least 1, got {point_stride}")
    if intrinsics is not None and fov_deg is not None:
        raise UsageError("give the camera's intrinsics or its field of view, not both")
    if fov_deg is not None:
        check_fov(fov_deg)


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics in pixels, for frames of the size they were given for."""

    fx: float
    fy: float
    cx: float
    cy: float

    def __post_init__(self) -> None:
        values = (self.fx, self.fy, self.cx, self.cy)
        if not all(math.isfinite(v) for v in values) or self.fx <= 0 or self.fy <= 0:
            raise UsageError(f"camera intrinsics need finite values and fx, fy > 0, got {values}")

    @classmethod
    def from_fov(cls, width: int, height: int, horizontal_fov_deg: float) -> CameraIntrinsics:
        """Square pixels and the principal point at the image centre, from the horizontal field of view."""
        check_fov(horizontal_fov_deg)
        f = (width / 2) / math.tan(math.radians(horizontal_fov_deg) / 2)
        return cls(f, f, (width - 1) / 2, (height - 1) / 2)

    @classmethod
    def parse(cls, text: str) -> CameraIntrinsics:
        """"fx,fy,cx,cy" in pixels (the --intrinsics option)."""
        try:
            fx, fy, cx, cy = (float(v) for v in text.split(","))
        except ValueError:
            raise UsageError(f"--intrinsics takes fx,fy,cx,cy in pixels, got {text!r}") from None
        return cls(fx, fy, cx, cy)


def depth_to_points(depth: np.ndarray, intrinsics: CameraIntrinsics, *, image: np.ndarray | None = None,
                    stride: int = 1) -> tuple[np.ndarray, np.ndarray | None]:
    """(points, colors): float32 (N, 3) camera coordinates of every `stride`-th pixel (in both directions)
    with a finite depth > 0, and their uint8 RGB colours from the BGR `image` (same size as `depth`), or
    None without one."""
    depth = np.asarray(depth, dtype=np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth must be (H, W), got shape {depth.shape}")
    if image is not None and image.shape[:2] != depth.shape:
        raise ValueError(f"image {image.shape[:2]} and depth {depth.shape} differ in size")
    if stride < 1:
        raise UsageError(f"the point stride must be at least 1, got {stride}")
    v, u = np.mgrid[0:depth.shape[0]:stride, 0:depth.shape[1]:stride]
    z = depth[::stride, ::stride]
    valid = np.isfinite(z) & (z > 0)
    z, u, v = z[valid], u[valid].astype(np.float32), v[valid].astype(np.float32)
    points = np.empty((z.size, 3), np.float32)
    points[:, 0] = (u - intrinsics.cx) * z / intrinsics.fx
    points[:, 1] = (v - intrinsics.cy) * z / intrinsics.fy
    points[:, 2] = z
    colors = None
    if image is not None:
        sampled = np.asarray(image)[::stride, ::stride]
        if sampled.ndim == 2:
            sampled = np.repeat(sampled[..., None], 3, axis=2)
        colors = np.ascontiguousarray(sampled[valid][:, 2::-1]).astype(np.uint8)  # BGR -> RGB
    return points, colors


def ply_bytes(points: np.ndarray, colors: np.ndarray | None = None) -> bytes:
    """A binary little-endian PLY: float x, y, z per vertex and, with colours, uchar red, green, blue."""
    points = np.asarray(points, dtype="<f4").reshape(-1, 3)
    fields = _XYZ
    if colors is not None:
        colors = np.asarray(colors, dtype=np.uint8).reshape(-1, 3)
        if len(colors) != len(points):
            raise ValueError(f"{len(colors)} colours for {len(points)} points")
        fields += _RGB
    vertices = np.empty(len(points), dtype=[(name, kind) for name, kind, _ in fields])
    for column, (name, _, _) in enumerate(_XYZ):
        vertices[name] = points[:, column]
    for column, (name, _, _) in enumerate(_RGB if colors is not None else ()):
        vertices[name] = colors[:, column]
    header = ["ply", "format binary_little_endian 1.0", "comment livevision point cloud, metres, OpenCV camera axes",
              f"element vertex {len(points)}"]
    header += [f"property {ply_type} {name}" for name, _, ply_type in fields]
    header.append("end_header")
    return ("\n".join(header) + "\n").encode("ascii") + vertices.tobytes()


def write_ply(path: str | os.PathLike[str], points: np.ndarray, colors: np.ndarray | None = None) -> None:
    """Write ply_bytes(points, colors) to `path`."""
    with open(path, "wb") as f:
        f.write(ply_bytes(points, colors))


def read_ply(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray | None]:
    """(points, colors) of a PLY written by write_ply (binary little-endian, float xyz, uchar rgb)."""
    with open(path, "rb") as f:
        data = f.read()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    count = next(int(line.split()[2]) for line in header if line.startswith("element vertex"))
    names = [line.split()[2] for line in header if line.startswith("property")]
    fields = _XYZ + (_RGB if "red" in names else ())
    vertices = np.frombuffer(data, dtype=[(name, kind) for name, kind, _ in fields], count=count, offset=end)
    points = np.stack([vertices[name] for name, _, _ in _XYZ], axis=1)
    colors = np.stack([vertices[name] for name, _, _ in _RGB], axis=1) if "red" in names else None
    return points, colors


__all__ = ["CameraIntrinsics", "check_fov", "depth_to_points", "ply_bytes", "read_ply", "write_ply"]
