"""What `--rerun`, `--mcap` and `--foxglove` share: each result once, with the frame it was computed
on (that frame once), its source time, and the camera (--intrinsics, or --fov at the frame's size).

Each of the three is an optional extra with its own wheel: livevision[rerun], livevision[mcap],
livevision[foxglove]; asking for one without its wheel is one line saying what to install.

Encoding (JPEG, PNG maps, point clouds) and writing happen on a thread of each sink's own, behind a
queue of QUEUE_FRAMES results, so that the run's thread only hands the result over: OpenCV's encoders
let go of the GIL, so that thread encodes while the run goes on. When it falls further behind,
`write` waits: every result is kept. A failure on that thread is raised in the run's thread at its
next write or at close. The frame and result arrays handed over are read later on that thread: the
run never writes into them once they are out (the renderers draw on copies).
"""

from __future__ import annotations

import importlib
import logging
import queue
import threading

from ..errors import MissingDependencyError, UsageError
from ..pointcloud import CameraIntrinsics, check_camera
from ..types import Task, TaskOutput
from .base import Sink
from .depth_maps import DEPTH_STRIDE
from .errors import SinkError
from .raw import DEFAULT_FOV_DEG
from .ros2_messages import Message, frame_messages, result_messages

logger = logging.getLogger(__name__)

# The default point stride keeps at most this many columns: 16 at 1280x720, 80x45 points, about one a
# depth model's patch (Depth Anything: 14 px at 518, 19 px of a 720p frame); 58 KB a frame, 87 MB a minute.
POINT_COLUMNS = 80
QUEUE_FRAMES = 8  # results waiting for a sink's thread at most


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
    that keeps at most POINT_COLUMNS columns (16 for 1280x720 frames: 80x45 points).
    depth_stride: depth maps keep every N-th pixel in each direction, with their own camera info;
    None: DEPTH_STRIDE (2: 640x360 for 1280x720 frames), or 1 with raw_images.
    raw_images: the frame as raw BGR, depth as float32 (metres) and label maps as raw Images, instead
    of JPEG, 16-bit PNG and PNG (files many times larger).
    """

    def __init__(self, *, camera: CameraIntrinsics | None = None, fov_deg: float | None = None,
                 point_stride: int | None = None, depth_stride: int | None = None, raw_images: bool = False) -> None:
        check_camera(camera, fov_deg, 1 if point_stride is None else point_stride)
        if depth_stride is not None and depth_stride < 1:
            raise UsageError(f"the depth stride must be at least 1, got {depth_stride}")
        self.camera, self.fov_deg, self.point_stride = camera, fov_deg or DEFAULT_FOV_DEG, point_stride
        self.depth_stride = depth_stride or (1 if raw_images else DEPTH_STRIDE)
        self.raw_images = raw_images
        self.results_written = 0
        self._last_frame: int | None = None
        self._cameras: dict[tuple[int, int], CameraIntrinsics] = {}
        self._queue: queue.Queue[tuple[Task, TaskOutput, bool] | None] = queue.Queue(maxsize=QUEUE_FRAMES)
        self._thread: threading.Thread | None = None  # started at the first write
        self._failure: BaseException | None = None

    def camera_for(self, hw: tuple[int, int]) -> CameraIntrinsics:
        if self.camera is not None:
            return self.camera
        if hw not in self._cameras:
            self._cameras[hw] = CameraIntrinsics.from_fov(hw[1], hw[0], self.fov_deg)
        return self._cameras[hw]

    def write_result(self, task: Task, output: TaskOutput) -> None:
        """Hand one result over to the sink's thread; its frame too, the first time a result of that
        frame comes."""
        if self._closed:
            raise SinkError(f"write to closed {type(self).__name__}")
        if self._failure is not None:
            raise SinkError(self.failure_message())
        new_frame = output.frame_index != self._last_frame and output.image is not None
        if new_frame:
            self._last_frame = output.frame_index
        if self._thread is None:
            self._thread = threading.Thread(target=self._drain, name=f"livevision-{type(self).__name__}",
                                            daemon=True)
            self._thread.start()
        self._queue.put((task, output, new_frame))
        self.results_written += 1

    def _drain(self) -> None:
        """The sink's thread: write each result, until the None that close() sends; after a failure,
        go on taking them, so that write() never waits on a dead thread."""
        while (item := self._queue.get()) is not None:
            if self._failure is None:
                try:
                    self._write(*item)
                except BaseException as exc:  # raised in the run's thread at its next write or close
                    self._failure = exc

    def failure_message(self) -> str:
        return f"{type(self).__name__} failed: {self._failure}"

    def _close(self) -> None:
        """Wait for the results handed over, then `_finish` the output."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        self._finish()
        if self._failure is not None:
            raise SinkError(self.failure_message())

    def _write(self, task: Task, output: TaskOutput, new_frame: bool) -> None:  # pragma: no cover
        raise NotImplementedError

    def _finish(self) -> None:  # pragma: no cover
        raise NotImplementedError

    def ros2_messages(self, output: TaskOutput, new_frame: bool) -> list[Message]:
        """The ROS 2 messages of one result (and of its frame when new), stamped with the source time."""
        stamp = max(0, round(output.timestamp_s * 1e9))
        camera = self.camera_for(frame_hw(output))
        messages = frame_messages(stamp, output.image, camera, raw=self.raw_images) if new_frame else []
        return messages + result_messages(stamp, output.result, camera, image=output.image, raw=self.raw_images,
                                          point_stride=self.stride_for(frame_hw(output)),
                                          depth_stride=self.depth_stride)

    def stride_for(self, hw: tuple[int, int]) -> int:
        """The point stride for frames of this size."""
        return self.point_stride or max(1, -(-hw[1] // POINT_COLUMNS))


def frame_hw(output: TaskOutput) -> tuple[int, int]:
    """The frame's size: the image's, else the size of the result's map (results are at frame size)."""
    if output.image is not None:
        return output.image.shape[:2]
    for name in ("depth", "label_map"):
        if hasattr(output.result, name):
            return getattr(output.result, name).shape[:2]
    return (1, 1)  # a classification without its frame: no camera is needed


__all__ = ["RoboticsSink", "frame_hw", "require"]
