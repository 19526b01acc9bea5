"""FoxgloveSink: the same ROS 2 channels as `--mcap`, served live to Foxglove (`--foxglove [HOST:]PORT`).

livevision[foxglove] (foxglove-sdk) runs a Foxglove WebSocket server; open Foxglove and connect to
ws://HOST:PORT. Each channel carries CDR messages with its ros2msg schema (ros2_messages), so
Foxglove shows the image, depth, label map, point cloud and top-k as it shows a ROS 2 robot. It
listens on 127.0.0.1 unless given a host (0.0.0.0: every interface, no access control: anyone who
reaches the port sees the camera). A viewer that falls behind drops messages; the messages are
encoded on the sink's own thread (RoboticsSink), which the run waits for only when it is QUEUE_FRAMES
results behind.
"""

from __future__ import annotations

from ..types import Task, TaskOutput
from .errors import OutputPathError
from .robotics import RoboticsSink, require
from .ros2_messages import DEFINITIONS


class FoxgloveSink(RoboticsSink):
    def __init__(self, host: str = "127.0.0.1", port: int = 8765, **camera) -> None:
        self._foxglove = require("foxglove", "foxglove", "--foxglove")
        super().__init__(**camera)
        self._context = self._foxglove.Context()
        try:
            self._server = self._foxglove.start_server(name="livevision", host=host, port=port,
                                                       context=self._context)
        except Exception as e:  # the SDK raises its own error types for a port in use
            raise OutputPathError(f"cannot serve Foxglove on {host}:{port}: {e}") from None
        self.host, self.port = host, self._server.port
        self._channels: dict = {}
        self.messages_written = 0
        self.bytes_written = 0  # of the messages' CDR data, as logged to the server

    @property
    def url(self) -> str:
        return f"ws://{'localhost' if self.host in ('127.0.0.1', '0.0.0.0') else self.host}:{self.port}"

    def _write(self, task: Task, output: TaskOutput, new_frame: bool) -> None:
        for message in self.ros2_messages(output, new_frame):
            channel = self._channels.get(message.topic)
            if channel is None:
                schema = self._foxglove.Schema(name=message.schema, encoding="ros2msg",
                                               data=DEFINITIONS[message.schema].encode())
                channel = self._channels[message.topic] = self._foxglove.Channel(
                    message.topic, schema=schema, message_encoding="cdr", context=self._context)
            channel.log(message.data, log_time=message.stamp_ns)
            self.messages_written += 1
            self.bytes_written += len(message.data)

    def _finish(self) -> None:
        for channel in self._channels.values():
            channel.close()
        self._server.stop()


__all__ = ["FoxgloveSink"]
