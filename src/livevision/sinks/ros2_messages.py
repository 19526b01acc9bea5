"""ROS 2 messages for a frame and its results, CDR-encoded, without a ROS install: what `--mcap` writes
and `--foxglove` serves.

Topics, all under /livevision/ (header stamps are the frame's source time, frame_id "camera"):

- ``image/compressed`` sensor_msgs/msg/CompressedImage, the frame as JPEG (quality JPEG_QUALITY); with
  raw images (--raw-images) ``image`` instead, sensor_msgs/msg/Image bgr8;
- ``camera_info`` sensor_msgs/msg/CameraInfo: K, P from --intrinsics or --fov, no distortion;
- ``depth/compressed`` sensor_msgs/msg/CompressedImage, format DEPTH_FORMAT ("16UC1; png compressed", as
  compressed_image_transport names a 16-bit PNG, a plain PNG that its subscriber and cv2.imdecode read
  as 16UC1; a bare "png" would read as mono8 there): the depth map at every depth-stride-th pixel
  (depth_maps: 640x360 for 1280x720 frames by default), metric depth in millimetres (REP 118; 0 where
  the depth is invalid or beyond 65.535 m), a relative model's values as 16-bit levels of the frame's
  range, with ``depth/levels`` std_msgs/msg/String beside it: {"offset", "step"} as JSON, value =
  offset + (level - 1) * step. With raw images: ``depth``, sensor_msgs/msg/Image 32FC1, metres or the values;
- ``depth/camera_info`` sensor_msgs/msg/CameraInfo of the depth map: its size, and the camera's
  intrinsics divided by the depth stride (its pixel (u, v) is the frame's (stride u, stride v));
- ``points`` sensor_msgs/msg/PointCloud2 (metric depth only): organized (rows x columns of every
  point-stride-th pixel of the full map), x, y, z float32 (NaN where the depth is invalid) and rgb
  packed as in PCL (a float32 holding 0x00RRGGBB);
- ``segmentation/compressed`` sensor_msgs/msg/CompressedImage, format "png" (mono8: the model's class
  ids up to 255; ROS's compressed_image_transport reads a one-channel PNG without more as mono8, and
  Foxglove documents "png") or "mono16; png compressed": the label map as PNG, as is for semantic
  models; for instance and panoptic segmentation, whose maps have -1 where no segment is, every
  frame's ids go up by one (0: no segment, k + 1: class k). With raw images: ``segmentation``,
  sensor_msgs/msg/Image mono8 / mono16;
- ``classification`` std_msgs/msg/String: the top-k as JSON ({"labels", "class_ids", "scores"});
- ``detections`` vision_msgs/msg/Detection2DArray (vision_msgs 4, ROS 2 Humble and later): per object its
  box (bbox centre and size, pixels), id the track id ("" when the stream does not track), one result:
  class_id the class name, its score, and as pose the object's 3-D position where metric depth gave one;
- ``detections/annotations`` foxglove_msgs/msg/ImageAnnotations, what Foxglove's image panel draws over the
  frame: each box as a closed line (LINE_LOOP) in the object's colour (its track id's, else its class's)
  and its caption ("person #3 2.4 m", "person #3 0.41 rel" for relative depth, else with the score);
- ``objects/markers`` visualization_msgs/msg/MarkerArray (Humble's Marker), only on frames where an object
  (a detection, or an instance segment) has a metric 3-D position: a sphere there in frame "camera" and
  its caption above it, namespace "detection" or "segmentation" with the track id as marker id
  ("<task>/untracked" for untracked objects, "/labels" for the captions), gone after half a second
  unless sent again.

The encoding is plain CDR (little endian, XCDR1) written field by field here, with numpy doing the
bulk copies: mcap_ros2's generic serializer walks Python lists, far slower for 2.7 MB images. The
tests decode every message with mcap_ros2's decoder from the definitions below.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass

import cv2
import numpy as np

from ..pointcloud import CameraIntrinsics
from ..tasks.registry import definition_of

PREFIX = "/livevision/"
FRAME_ID = "camera"

_TIME = "int32 sec\nuint32 nanosec\n"
_HEADER = "builtin_interfaces/Time stamp\nstring frame_id\n"
_SEPARATOR = "=" * 80 + "\n"


def _definition(main: str, *dependencies: tuple[str, str]) -> str:
    """A ros2msg schema: the message's fields, then each type it uses (the format rosbag2 writes)."""
    return main + "".join(f"{_SEPARATOR}MSG: {name}\n{text}" for name, text in dependencies)


_STAMPED = (("std_msgs/Header", _HEADER), ("builtin_interfaces/Time", _TIME))
DEFINITIONS = {
    "sensor_msgs/msg/Image": _definition(
        "std_msgs/Header header\nuint32 height\nuint32 width\nstring encoding\nuint8 is_bigendian\nuint32 step\n"
        "uint8[] data\n", *_STAMPED),
    "sensor_msgs/msg/CameraInfo": _definition(
        "std_msgs/Header header\nuint32 height\nuint32 width\nstring distortion_model\nfloat64[] d\nfloat64[9] k\n"
        "float64[9] r\nfloat64[12] p\nuint32 binning_x\nuint32 binning_y\nsensor_msgs/RegionOfInterest roi\n",
        *_STAMPED,
        ("sensor_msgs/RegionOfInterest", "uint32 x_offset\nuint32 y_offset\nuint32 height\nuint32 width\n"
                                         "bool do_rectify\n")),
    "sensor_msgs/msg/PointCloud2": _definition(
        "std_msgs/Header header\nuint32 height\nuint32 width\nsensor_msgs/PointField[] fields\nbool is_bigendian\n"
        "uint32 point_step\nuint32 row_step\nuint8[] data\nbool is_dense\n",
        *_STAMPED,
        ("sensor_msgs/PointField", "uint8 INT8=1\nuint8 UINT8=2\nuint8 INT16=3\nuint8 UINT16=4\nuint8 INT32=5\n"
                                   "uint8 UINT32=6\nuint8 FLOAT32=7\nuint8 FLOAT64=8\nstring name\nuint32 offset\n"
                                   "uint8 datatype\nuint32 count\n")),
    "sensor_msgs/msg/CompressedImage": _definition("std_msgs/Header header\nstring format\nuint8[] data\n", *_STAMPED),
    "std_msgs/msg/String": "string data\n",
}
# Objects (tasks/detection/ros2.py): vision_msgs 4 (ROS 2 Humble and later), foxglove_msgs, and
# visualization_msgs as Humble defines it (with the texture and mesh_file fields that Foxy's lacks).
_POINT = ("geometry_msgs/Point", "float64 x\nfloat64 y\nfloat64 z\n")
_POSE = (("geometry_msgs/Pose", "geometry_msgs/Point position\ngeometry_msgs/Quaternion orientation\n"), _POINT,
         ("geometry_msgs/Quaternion", "float64 x 0\nfloat64 y 0\nfloat64 z 0\nfloat64 w 1\n"))
_COLOR_RGBA = ("std_msgs/ColorRGBA", "float32 r\nfloat32 g\nfloat32 b\nfloat32 a\n")
_FOXGLOVE = (("builtin_interfaces/Time", _TIME), ("foxglove_msgs/Point2", "float64 x\nfloat64 y\n"),
             ("foxglove_msgs/Color", "float64 r\nfloat64 g\nfloat64 b\nfloat64 a\n"))
DEFINITIONS.update({
    "vision_msgs/msg/Detection2DArray": _definition(
        "std_msgs/Header header\nvision_msgs/Detection2D[] detections\n",
        ("vision_msgs/Detection2D", "std_msgs/Header header\nvision_msgs/ObjectHypothesisWithPose[] results\n"
                                    "vision_msgs/BoundingBox2D bbox\nstring id\n"),
        *_STAMPED,
        ("vision_msgs/ObjectHypothesisWithPose", "vision_msgs/ObjectHypothesis hypothesis\n"
                                                 "geometry_msgs/PoseWithCovariance pose\n"),
        ("vision_msgs/ObjectHypothesis", "string class_id\nfloat64 score\n"),
        ("geometry_msgs/PoseWithCovariance", "geometry_msgs/Pose pose\nfloat64[36] covariance\n"),
        *_POSE,
        ("vision_msgs/BoundingBox2D", "vision_msgs/Pose2D center\nfloat64 size_x\nfloat64 size_y\n"),
        ("vision_msgs/Pose2D", "vision_msgs/Point2D position\nfloat64 theta\n"),
        ("vision_msgs/Point2D", "float64 x\nfloat64 y\n")),
    "foxglove_msgs/msg/ImageAnnotations": _definition(
        "foxglove_msgs/CircleAnnotation[] circles\nfoxglove_msgs/PointsAnnotation[] points\n"
        "foxglove_msgs/TextAnnotation[] texts\n",
        ("foxglove_msgs/CircleAnnotation", "builtin_interfaces/Time timestamp\nfoxglove_msgs/Point2 position\n"
                                           "float64 diameter\nfloat64 thickness\nfoxglove_msgs/Color fill_color\n"
                                           "foxglove_msgs/Color outline_color\n"),
        ("foxglove_msgs/PointsAnnotation", "builtin_interfaces/Time timestamp\nuint8 UNKNOWN=0\nuint8 POINTS=1\n"
                                           "uint8 LINE_LOOP=2\nuint8 LINE_STRIP=3\nuint8 LINE_LIST=4\nuint8 type\n"
                                           "foxglove_msgs/Point2[] points\nfoxglove_msgs/Color outline_color\n"
                                           "foxglove_msgs/Color[] outline_colors\nfoxglove_msgs/Color fill_color\n"
                                           "float64 thickness\n"),
        ("foxglove_msgs/TextAnnotation", "builtin_interfaces/Time timestamp\nfoxglove_msgs/Point2 position\n"
                                         "string text\nfloat64 font_size\nfoxglove_msgs/Color text_color\n"
                                         "foxglove_msgs/Color background_color\n"),
        *_FOXGLOVE),
    "visualization_msgs/msg/MarkerArray": _definition(
        "visualization_msgs/Marker[] markers\n",
        ("visualization_msgs/Marker",
         "int32 ARROW=0\nint32 CUBE=1\nint32 SPHERE=2\nint32 CYLINDER=3\nint32 LINE_STRIP=4\nint32 LINE_LIST=5\n"
         "int32 CUBE_LIST=6\nint32 SPHERE_LIST=7\nint32 POINTS=8\nint32 TEXT_VIEW_FACING=9\nint32 MESH_RESOURCE=10\n"
         "int32 TRIANGLE_LIST=11\nint32 ADD=0\nint32 MODIFY=0\nint32 DELETE=2\nint32 DELETEALL=3\n"
         "std_msgs/Header header\nstring ns\nint32 id\nint32 type\nint32 action\ngeometry_msgs/Pose pose\n"
         "geometry_msgs/Vector3 scale\nstd_msgs/ColorRGBA color\nbuiltin_interfaces/Duration lifetime\n"
         "bool frame_locked\ngeometry_msgs/Point[] points\nstd_msgs/ColorRGBA[] colors\nstring texture_resource\n"
         "sensor_msgs/CompressedImage texture\nvisualization_msgs/UVCoordinate[] uv_coordinates\nstring text\n"
         "string mesh_resource\nvisualization_msgs/MeshFile mesh_file\nbool mesh_use_embedded_materials\n"),
        *_STAMPED, *_POSE,
        ("geometry_msgs/Vector3", "float64 x\nfloat64 y\nfloat64 z\n"), _COLOR_RGBA,
        ("builtin_interfaces/Duration", "int32 sec\nuint32 nanosec\n"),
        ("sensor_msgs/CompressedImage", "std_msgs/Header header\nstring format\nuint8[] data\n"),
        ("visualization_msgs/UVCoordinate", "float32 u\nfloat32 v\n"),
        ("visualization_msgs/MeshFile", "string filename\nuint8[] data\n")),
})
JPEG_QUALITY = 80  # a 720p frame in ~60 KB instead of 2.7 MB raw
DEPTH_FORMAT = "16UC1; png compressed"  # compressed_image_transport's name for a 16-bit PNG depth map
_FLOAT32 = 7  # sensor_msgs/PointField.FLOAT32


@dataclass(frozen=True)
class Message:
    topic: str  # e.g. "/livevision/image"
    schema: str  # a key of DEFINITIONS
    data: bytes  # CDR, with its 4-byte encapsulation header
    stamp_ns: int


class _Cdr:
    """A little-endian CDR buffer; alignment counts from the end of the encapsulation header."""

    def __init__(self) -> None:
        self.parts: list[bytes] = [b"\x00\x01\x00\x00"]  # CDR_LE
        self.size = 0

    def _put(self, data: bytes, align: int = 1) -> None:
        pad = -self.size % align
        if pad:
            self.parts.append(b"\x00" * pad)
        self.parts.append(data)
        self.size += pad + len(data)

    def u8(self, value: int) -> None:
        self._put(struct.pack("<B", value))

    def u32(self, value: int) -> None:
        self._put(struct.pack("<I", value), 4)

    def i32(self, value: int) -> None:
        self._put(struct.pack("<i", value), 4)

    def string(self, text: str) -> None:
        raw = text.encode() + b"\x00"
        self.u32(len(raw))
        self._put(raw)

    def f32s(self, values, *, sized: bool) -> None:
        """float32[] (sized: with its length) or float32[N]."""
        array = np.asarray(values, dtype="<f4")
        if sized:
            self.u32(array.size)
        self._put(array.tobytes(), 4)

    def f64s(self, values, *, sized: bool) -> None:
        """float64[] (sized: with its length) or float64[N]."""
        array = np.asarray(values, dtype="<f8")
        if sized:
            self.u32(array.size)
        self._put(array.tobytes(), 8)

    def u8s(self, data) -> None:
        """uint8[] from any buffer (a contiguous array's bytes are not copied until join)."""
        view = memoryview(data).cast("B")
        self.u32(view.nbytes)
        self._put(view)

    def header(self, stamp_ns: int) -> None:
        self.i32(stamp_ns // 1_000_000_000)
        self.u32(stamp_ns % 1_000_000_000)
        self.string(FRAME_ID)

    def bytes(self) -> bytes:
        return b"".join(self.parts)


def raw_image(stamp_ns: int, pixels: np.ndarray, encoding: str) -> bytes:
    pixels = np.ascontiguousarray(pixels)
    cdr = _Cdr()
    cdr.header(stamp_ns)
    cdr.u32(pixels.shape[0])
    cdr.u32(pixels.shape[1])
    cdr.string(encoding)
    cdr.u8(0)  # little endian
    cdr.u32(pixels.strides[0])
    cdr.u8s(pixels)
    return cdr.bytes()


def compressed_image(stamp_ns: int, encoded, image_format: str) -> bytes:
    cdr = _Cdr()
    cdr.header(stamp_ns)
    cdr.string(image_format)
    cdr.u8s(encoded)
    return cdr.bytes()


def jpeg(image: np.ndarray) -> np.ndarray:
    """The BGR frame as JPEG bytes (a uint8 array), at JPEG_QUALITY."""
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 BGR image
        raise ValueError(f"could not encode a {image.shape} frame as JPEG")
    return encoded


def camera_info(stamp_ns: int, hw: tuple[int, int], camera: CameraIntrinsics) -> bytes:
    cdr = _Cdr()
    cdr.header(stamp_ns)
    cdr.u32(hw[0])
    cdr.u32(hw[1])
    cdr.string("plumb_bob")
    cdr.f64s([0.0] * 5, sized=True)
    cdr.f64s([camera.fx, 0, camera.cx, 0, camera.fy, camera.cy, 0, 0, 1], sized=False)
    cdr.f64s([1, 0, 0, 0, 1, 0, 0, 0, 1], sized=False)
    cdr.f64s([camera.fx, 0, camera.cx, 0, 0, camera.fy, camera.cy, 0, 0, 0, 1, 0], sized=False)
    for _ in range(2 + 4):  # binning x, y; roi x_offset, y_offset, height, width
        cdr.u32(0)
    cdr.u8(0)  # roi.do_rectify
    return cdr.bytes()


def point_cloud(stamp_ns: int, depth: np.ndarray, camera: CameraIntrinsics, image: np.ndarray | None,
                stride: int = 1) -> bytes:
    """An organized cloud of every `stride`-th pixel (rows x columns, as depth cameras publish them):
    x, y, z float32 metres (NaN where the depth is not a finite positive number) and, with the BGR
    `image`, rgb: the float32 slot whose bytes are B, G, R, 0, i.e. the uint32 0x00RRGGBB of PCL."""
    z = depth[::stride, ::stride]
    rows, cols = z.shape
    rays_x, rays_y = _rays(depth.shape, camera, stride)
    fields = ["x", "y", "z"] + (["rgb"] if image is not None else [])
    cloud = np.empty((rows, cols, len(fields)), dtype="<f4")
    np.multiply(z, rays_x, out=cloud[..., 0])
    np.multiply(z, rays_y, out=cloud[..., 1])
    cloud[..., 2] = z
    dense = bool(np.all(z > 0)) and bool(np.isfinite(z).all())  # NaN fails `> 0` too; inf does not
    if not dense:
        cloud[~(np.isfinite(z) & (z > 0)), :3] = np.nan
    if image is not None:
        colour = cloud.view(np.uint8).reshape(rows, cols, 4 * len(fields))[..., 12:16]
        colour[..., :3] = image[::stride, ::stride]
        colour[..., 3] = 0
    cdr = _Cdr()
    cdr.header(stamp_ns)
    cdr.u32(rows)
    cdr.u32(cols)
    cdr.u32(len(fields))
    for i, name in enumerate(fields):
        cdr.string(name)
        cdr.u32(4 * i)
        cdr.u8(_FLOAT32)
        cdr.u32(1)
    cdr.u8(0)  # is_bigendian
    cdr.u32(4 * len(fields))
    cdr.u32(4 * len(fields) * cols)
    cdr.u8s(cloud)
    cdr.u8(1 if dense else 0)
    return cdr.bytes()


@functools.lru_cache(maxsize=8)
def _rays(hw: tuple[int, int], camera: CameraIntrinsics, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """x / z of each sampled column (1, cols) and y / z of each sampled row (rows, 1)."""
    u = np.arange(0, hw[1], stride, dtype=np.float32)
    v = np.arange(0, hw[0], stride, dtype=np.float32)
    return ((u - np.float32(camera.cx)) / np.float32(camera.fx))[None, :], \
        ((v - np.float32(camera.cy)) / np.float32(camera.fy))[:, None]


def text(data: str) -> bytes:
    cdr = _Cdr()
    cdr.string(data)
    return cdr.bytes()


def frame_messages(stamp_ns: int, image: np.ndarray, camera: CameraIntrinsics, *, raw: bool = False) -> list[Message]:
    """The frame itself (JPEG, or bgr8 when `raw`) and its camera."""
    if raw:
        frame = Message(PREFIX + "image", "sensor_msgs/msg/Image", raw_image(stamp_ns, image, "bgr8"), stamp_ns)
    else:
        frame = Message(PREFIX + "image/compressed", "sensor_msgs/msg/CompressedImage",
                        compressed_image(stamp_ns, jpeg(image), "jpeg"), stamp_ns)
    return [frame, Message(PREFIX + "camera_info", "sensor_msgs/msg/CameraInfo",
                           camera_info(stamp_ns, image.shape[:2], camera), stamp_ns)]


def result_messages(stamp_ns: int, result, camera: CameraIntrinsics, *, image: np.ndarray | None = None,
                    point_stride: int = 1, depth_stride: int = 1, raw: bool = False) -> list[Message]:
    """One task's result (its task's ros2_messages, tasks/<task>/formats.py; the topics and encodings are
    in the module's docstring)."""
    return definition_of(result).ros2_messages(stamp_ns, result, camera, image=image, point_stride=point_stride,
                                               depth_stride=depth_stride, raw=raw)


__all__ = ["DEFINITIONS", "DEPTH_FORMAT", "JPEG_QUALITY", "Message", "PREFIX", "frame_messages", "jpeg",
           "result_messages"]
