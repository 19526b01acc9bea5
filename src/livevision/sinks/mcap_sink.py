"""McapSink: frames and results as ROS 2 messages in an MCAP file (`--mcap out.mcap`).

Foxglove and `ros2 bag` open it; no ROS install is needed to write it (livevision[mcap]: the `mcap`
writer; the messages are encoded by ros2_messages). Topics and message types: see ros2_messages.
Like the video, it is written next to its final name and renamed into place when closed, also after
Ctrl-C, so an `.mcap` that exists is complete (its summary and index written).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..engine.running import TaskOutput
from ..types import Task
from ._paths import check_output_file, partial_path
from .robotics import RoboticsSink, require
from .ros2_messages import DEFINITIONS


class McapSink(RoboticsSink):
    """compression: "none" (default: a 720p frame's messages cost ~1 ms to write), "lz4" (~4 ms more
    per 720p image, smaller files) or "zstd" (smaller, slower)."""

    def __init__(self, path: str | os.PathLike[str], *, compression: str = "none", **camera) -> None:
        writer_module = require("mcap.writer", "mcap", "--mcap")
        super().__init__(**camera)
        self.path = check_output_file(path, (".mcap",), "MCAP file")
        self._partial: Path = partial_path(self.path)
        kinds = {"lz4": writer_module.CompressionType.LZ4, "zstd": writer_module.CompressionType.ZSTD,
                 "none": writer_module.CompressionType.NONE}
        self._file = open(self._partial, "wb")
        self._writer = writer_module.Writer(self._file, compression=kinds[compression])
        self._writer.start(profile="ros2", library="livevision")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self.messages_written = 0

    def _channel(self, topic: str, schema: str) -> int:
        if topic not in self._channels:
            if schema not in self._schemas:
                self._schemas[schema] = self._writer.register_schema(schema, "ros2msg", DEFINITIONS[schema].encode())
            self._channels[topic] = self._writer.register_channel(topic, "cdr", self._schemas[schema])
        return self._channels[topic]

    def _write(self, task: Task, output: TaskOutput, new_frame: bool) -> None:
        for message in self.ros2_messages(output, new_frame):
            self._writer.add_message(self._channel(message.topic, message.schema), log_time=message.stamp_ns,
                                     data=message.data, publish_time=message.stamp_ns)
            self.messages_written += 1

    def _close(self) -> None:
        try:
            self._writer.finish()
        finally:
            self._file.close()
        os.replace(self._partial, self.path)


__all__ = ["McapSink"]
