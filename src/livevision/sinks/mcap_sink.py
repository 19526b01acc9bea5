"""McapSink: frames and results as ROS 2 messages in an MCAP file (`--mcap out.mcap`).

Foxglove and `ros2 bag` open it; no ROS install is needed to write it (livevision[mcap]: the `mcap`
writer; the messages are encoded by ros2_messages). Topics and message types: see ros2_messages.
Like the video, it is written next to its final name and renamed into place when closed, also after
Ctrl-C, so an `.mcap` that exists is complete (its summary and index written).

The messages are encoded in the run's thread (about 1 ms for a 720p frame and its depth); the mcap
writer, which copies each message several times through its buffers (~10 ms for a 720p frame's
images), runs on a thread of its own behind a queue of QUEUE_FRAMES frames. When it falls further
behind, `write` waits: a recording keeps every message.
"""

from __future__ import annotations

import os
import queue
import threading
from pathlib import Path

from ..engine.running import TaskOutput
from ..types import Task
from ._paths import check_output_file, partial_path
from .errors import SinkError
from .robotics import RoboticsSink, require
from .ros2_messages import DEFINITIONS, Message

QUEUE_FRAMES = 8  # frames' messages waiting for the writer thread at most


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
        # No CRCs: zlib.crc32 over every 720p image (2.7 MB) took more time than writing it.
        self._writer = writer_module.Writer(self._file, compression=kinds[compression], enable_crcs=False)
        self._writer.start(profile="ros2", library="livevision")
        self._schemas: dict[str, int] = {}
        self._channels: dict[str, int] = {}
        self.messages_written = 0
        self._queue: queue.Queue[list[Message] | None] = queue.Queue(maxsize=QUEUE_FRAMES)
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._drain, name="livevision-mcap", daemon=True)
        self._thread.start()

    def _channel(self, topic: str, schema: str) -> int:
        if topic not in self._channels:
            if schema not in self._schemas:
                self._schemas[schema] = self._writer.register_schema(schema, "ros2msg", DEFINITIONS[schema].encode())
            self._channels[topic] = self._writer.register_channel(topic, "cdr", self._schemas[schema])
        return self._channels[topic]

    def _write(self, task: Task, output: TaskOutput, new_frame: bool) -> None:
        if self._failure is not None:
            raise SinkError(f"writing {self.path} failed: {self._failure}")
        messages = self.ros2_messages(output, new_frame)
        self._queue.put(messages)
        self.messages_written += len(messages)

    def _drain(self) -> None:
        """The writer thread: add each message, until the None that close() sends."""
        while (messages := self._queue.get()) is not None:
            if self._failure is not None:
                continue  # keep taking, so that write() never waits on a dead writer
            try:
                for message in messages:
                    self._writer.add_message(self._channel(message.topic, message.schema),
                                             log_time=message.stamp_ns, data=message.data,
                                             publish_time=message.stamp_ns)
            except BaseException as exc:  # raised in the run's thread at its next write or close
                self._failure = exc

    def _close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        try:
            if self._failure is None:
                self._writer.finish()
        finally:
            self._file.close()
        if self._failure is not None:
            raise SinkError(f"writing {self.path} failed: {self._failure}")
        os.replace(self._partial, self.path)


__all__ = ["McapSink"]
