"""RerunSink: frames and results logged to rerun (`--rerun out.rrd`, `--rerun spawn`, `--rerun connect[=URL]`).

livevision[rerun] (rerun-sdk). Entities, on the timelines `frame` (the source frame index) and
`source_time` (its time in the source):

- ``camera``: a Pinhole from --intrinsics or --fov; ``camera/image``: the frame, a JPEG EncodedImage
  (raw BGR with --raw-images);
- ``depth_camera``: a Pinhole of the depth map (the camera at every depth-stride-th pixel: 640x360 for
  1280x720 frames by default, see depth_maps), at the camera's place; ``depth_camera/depth``: metric
  depth under it, so rerun shows it as a 3-D point cloud: an EncodedDepthImage, 16-bit PNG of
  millimetres (0: no depth); with --raw-images a DepthImage of float32 metres;
- ``relative_depth``: a relative model's inverse depth instead, in 2-D (back-projecting it would turn
  the scene inside out): a 16-bit PNG EncodedDepthImage of levels, with AnyValues ``level_offset`` and
  ``level_step`` beside it (value = offset + (level - 1) * step); float32 as is with --raw-images;
- ``camera/segmentation``: a SegmentationImage with an AnnotationContext of the model's labels (an
  instance or panoptic map, which has -1 where no segment is, is shifted up by one in every frame:
  0 is none);
- ``classification``: the top-k as a markdown TextDocument, and ``classification/top1_score``;
- ``camera/detections``: Boxes2D (XYXY pixels) with the captions as labels, the class ids, and each object's
  colour (its track id's, the same in every frame, else its class's); ``objects/positions``: Points3D at
  the objects' metric 3-D positions (camera frame, metres; cleared on a frame with none), same colours
  and captions;
- ``telemetry/<task>/latency_ms``: each result's latency, as a scalar.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import urllib.parse
from pathlib import Path


from ..errors import UsageError
from ..tasks.registry import definition
from ..types import Task, TaskOutput
from ._paths import check_output_file, move_into_place, partial_path, publish_partial_file
from .errors import OutputPathError
from .robotics import RoboticsSink, require
from .ros2_messages import jpeg

logger = logging.getLogger(__name__)

SPAWN_PORT = 9876  # where `rerun spawn` starts its viewer, and rerun's default gRPC URL points
DEFAULT_URL = f"rerun+http://127.0.0.1:{SPAWN_PORT}/proxy"


class RerunSink(RoboticsSink):
    """target: a path ending in .rrd, "spawn" (start a viewer), or "connect" / "connect=URL" (a running
    viewer, rerun's default gRPC URL unless given)."""

    def __init__(self, target: str, **camera) -> None:
        self.rr = require("rerun", "rerun", "--rerun")  # the rerun module; tasks log on self.rec with it
        check_target(target)
        super().__init__(**camera)
        self.rec = self.rr.RecordingStream("livevision")
        self.path: Path | None = None
        self._partial: Path | None = None
        kind, _, address = str(target).partition("=")
        if kind == "spawn":
            self._spawn_viewer()
        elif kind == "connect":
            self.rec.connect_grpc(address or DEFAULT_URL)
        else:
            self.path = check_output_file(target, (".rrd",), "rerun recording")
            self._partial = partial_path(self.path)
            self.rec.save(self._partial)
        self._contexts: dict[Task, tuple] = {}  # the AnnotationContext last logged per task

    def _spawn_viewer(self) -> None:
        """Start a viewer (rerun reuses one already listening), and fail now, in one line, when none can
        run: rerun itself would only find out when the run ends, and say so in a dozen log lines."""
        if not _accepts("127.0.0.1", SPAWN_PORT):
            try:
                self.rec.spawn(port=SPAWN_PORT, connect=False)  # waits until the viewer listens (or gives up)
            except RuntimeError as e:  # e.g. no viewer executable on PATH
                reason = str(e).strip().splitlines()[0]
                raise OutputPathError(f"--rerun spawn: cannot start the rerun viewer: {reason}") from None
            if not _accepts("127.0.0.1", SPAWN_PORT):
                raise OutputPathError(f"--rerun spawn: the rerun viewer did not start (nothing listens on port "
                                      f"{SPAWN_PORT}); record to a file with --rerun out.rrd")
        self.rec.connect_grpc(DEFAULT_URL)

    def _write(self, task: Task, output: TaskOutput, new_frame: bool) -> None:
        rr, rec = self.rr, self.rec
        rec.set_time("frame", sequence=output.frame_index)
        rec.set_time("source_time", duration=max(0.0, output.timestamp_s))
        if new_frame:
            h, w = output.image.shape[:2]
            camera = self.camera_for((h, w))
            rec.log("camera", rr.Pinhole(focal_length=[camera.fx, camera.fy], principal_point=[camera.cx, camera.cy],
                                         width=w, height=h))
            if self.raw_images:
                rec.log("camera/image", rr.Image(output.image, color_model="BGR"))
            else:
                rec.log("camera/image", rr.EncodedImage(contents=jpeg(output.image).tobytes(), media_type="image/jpeg"))
        definition(task).log_rerun(self, task, output)
        rec.log(f"telemetry/{task.value}/latency_ms", rr.Scalars([output.latency_s * 1000.0]))

    def failure_message(self) -> str:
        return f"logging to rerun ({self.path or 'viewer'}) failed: {self._failure}"

    def annotations(self, task: Task, id2label, shift: int) -> None:
        """The label names (and 'no segment' at 0 when shifted), logged again only when they change."""
        key = (id(id2label), shift)
        if self._contexts.get(task) == key:
            return
        self._contexts[task] = key
        labels = [(int(i) + shift, str(name)) for i, name in dict(id2label or {}).items()]
        if shift:
            labels.append((0, "no segment"))
        self.rec.log("camera/segmentation", self.rr.AnnotationContext(labels), static=True)

    def publish_partial(self) -> bool:
        """Put the recording under its own name now (a first Ctrl-C): rerun goes on writing the open
        file, and a recording cut short reads up to its last complete message."""
        if not publish_partial_file(self._partial, self.path):
            return False
        self._partial = self.path
        return True

    def flush_now(self) -> None:
        """Hand what was logged to the file or viewer now (a second Ctrl-C ends the process next): rerun
        buffers rows in memory, and rows still there when the process ends are lost."""
        self.rec.flush(timeout_sec=5.0)

    def _finish(self) -> None:
        self.rec.flush()
        self.rec.disconnect()
        if self._partial is not None and self._partial != self.path:
            move_into_place(self._partial, self.path)


def check_target(target: str) -> None:
    """Fail now, in one line, for a --rerun target that cannot work (before any model loads): not FILE.rrd,
    spawn or connect[=URL]; connect with no viewer listening; spawn with neither a display for a new viewer
    nor a viewer already listening. rerun itself finds out only when the run ends, in a dozen log lines."""
    kind, _, address = str(target).partition("=")
    if kind == "spawn" and not address:
        headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
        if sys.platform.startswith("linux") and headless and not _accepts("127.0.0.1", SPAWN_PORT):
            raise OutputPathError("--rerun spawn: no display here for the rerun viewer (DISPLAY is unset): "
                                  "record to a file with --rerun out.rrd, or use --rerun connect=URL")
    elif kind == "connect":
        url = address or DEFAULT_URL
        if not _accepts(*_host_port(url)):
            raise OutputPathError(f"--rerun connect: no rerun viewer at {url}: start one (`rerun`), or record "
                                  "to a file with --rerun out.rrd")
    elif not str(target).lower().endswith(".rrd"):
        raise UsageError(f"--rerun takes FILE.rrd, spawn or connect[=URL], got {target!r}")


def _host_port(url: str) -> tuple[str, int]:
    """The host and port of a rerun gRPC URL (rerun+http://HOST:PORT/proxy, rerun+https://..., rerun://...)."""
    parts = urllib.parse.urlsplit(url.removeprefix("rerun+"))
    try:
        port = parts.port
    except ValueError:
        port = None
    if not parts.hostname or port is None and parts.scheme not in ("http", "https", "rerun"):
        raise UsageError(f"--rerun connect takes a viewer's URL such as {DEFAULT_URL}, got {url!r}")
    return parts.hostname, port or (80 if parts.scheme == "http" else 443)


def _accepts(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port (a viewer's gRPC server)."""
    try:
        socket.create_connection((host, port), timeout=3).close()
        return True
    except OSError:
        return False


__all__ = ["RerunSink", "check_target"]
