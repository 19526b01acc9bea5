"""What `--rerun`, `--mcap` and `--foxglove` share: each result once, with the frame it was computed
on (that frame once), its source time, and the camera (--intrinsics, or --fov at the frame's size).

Each of the three is an optional extra with its own wheel: livevision[rerun], livevision[mcap],
livevision[foxglove]; asking for one without its wheel is one line saying what to install.
"""

from __future__ import annotations

import importlib
import logging

from ..errors import MissingDependencyError
from ..pointcloud import CameraIntrinsics, check_camera
from ..types import Task, TaskOutput
from .base import Sink
from .errors import SinkError
from .raw import DEFAULT_FOV_DEG
from .ros2_messages import Message, frame_messages, result_messages

logger = logging.getLogger(__name__)

POINT_COLUMNS = 160  # the default point stride keeps at most this many columns of pixels


def require(module: str, extra: str, option: str):
    """Import `module`, or MissingDependencyError naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(f"{option} needs {module.split('.')[0]}: pip install 'livevision[{extra}]'") \
            from None


class RoboticsSink(Sink):
    """Base class of the ResultSinks: subclasses implement `_write(task, output, new_frame)` and `_close()`.

    camera: the intrinsics (pixels, at the frames' size), or else fov_deg (DEFAULT_FOV_DEG when None).
    point_stride: metric depth point clouds keep every N-th pixel in each direction; None: the stride
    that keeps at most POINT_COLUMNS columns (8 for 1280x720 frames: 160x90 points).
    raw_images: the frame as raw BGR and metric depth as float32 metres, instead of JPEG and 16-bit
    millimetres (files several times larger).
    """

    def __init__(self, *, camera: CameraIntrinsics | None = None, fov_deg: float | None = None,
                 point_stride: int | None = None, raw_images: bool = False) -> None:
        check_camera(camera, fov_deg, 1 if point_stride is None else point_stride)
        self.camera, self.fov_deg, self.point_stride = camera, fov_deg or DEFAULT_FOV_DEG, point_stride
        self.raw_images = raw_images
        self.results_written = 0
        self._last_frame: int | None = None
        self._cameras: dict[tuple[int, int], CameraIntrinsics] = {}

    def camera_for(self, hw: tuple[int, int]) -> CameraIntrinsics:
        if self.camera is not None:
            return self.camera
        if hw not in self._cameras:
            self._cameras[hw] = CameraIntrinsics.from_fov(hw[1], hw[0], self.fov_deg)
        return self._cameras[hw]

    def write_result(self, task: Task, output: TaskOutput) -> None:
        """One result; its frame too, the first time a result of that frame comes."""
        if self._closed:
            raise SinkError(f"write to closed {type(self).__name__}")
        new_frame = output.frame_index != self._last_frame and output.image is not None
        if new_frame:
            self._last_frame = output.frame_index
        self._write(task, output, new_frame)
        self.results_written += 1

    def _write(self, task: Task, output: TaskOutput, new_frame: bool) -> None:  # pragma: no cover
        raise NotImplementedError

    def ros2_messages(self, output: TaskOutput, new_frame: bool) -> list[Message]:
        """The ROS 2 messages of one result (and of its frame when new), stamped with the source time."""
        stamp = max(0, round(output.timestamp_s * 1e9))
        camera = self.camera_for(_frame_hw(output))
        messages = frame_messages(stamp, output.image, camera, raw=self.raw_images) if new_frame else []
        return messages + result_messages(stamp, output.result, camera, image=output.image, raw=self.raw_images,
                                          point_stride=self.stride_for(_frame_hw(output)))

    def stride_for(self, hw: tuple[int, int]) -> int:
        """The point stride for frames of this size."""
        return self.point_stride or max(1, -(-hw[1] // POINT_COLUMNS))


def _frame_hw(output: TaskOutput) -> tuple[int, int]:
    """The frame's size: the image's, else the size of the result's map (results are at frame size)."""
    if output.image is not None:
        return output.image.shape[:2]
    for name in ("depth", "label_map"):
        if hasattr(output.result, name):
            return getattr(output.result, name).shape[:2]
    return (1, 1)  # a classification without its frame: no camera is needed


__all__ = ["RoboticsSink", "require"]
