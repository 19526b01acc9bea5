"""McapSink: frames and results as ROS 2 messages in an MCAP file (`--mcap out.mcap`).

Foxglove and `ros2 bag` open it; no ROS install is needed to write it (livevision[mcap]: the `mcap`
writer; the messages are encoded by ros2_messages). Topics and message types: see ros2_messages.
Chunks are compressed with zstd unless asked otherwise (`--mcap-compression`).

Like the video, it is written next to its final name and renamed into place when closed, or at the
first Ctrl-C (`publish_partial`). The file on disk is a readable MCAP at every moment, so that a
second Ctrl-C, which ends the process at once, still leaves one: each write of the mcap writer goes
to the file in one system call together with an end (DataEnd, a Footer without summary, the magic)
that the next write overwrites. Until close() writes the summary and index, mcap's reader reads such
a file from the start.

The messages are encoded and written, the chunks compressed, on the sink's own thread (RoboticsSink):
the run's thread only hands each result over; a recording keeps every message.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..types import Task, TaskOutput
from ._paths import check_output_file, move_into_place, partial_path, publish_partial_file
from .errors import SinkError
from .robotics import RoboticsSink, require
from .ros2_messages import DEFINITIONS


class McapSink(RoboticsSink):
    """compression of the chunks: "zstd" (default), "lz4" (faster, larger) or "none"."""

    def __init__(self, path: str | os.PathLike[str], *, compression: str = "zstd", **camera) -> None:
        writer_module = require("mcap.writer", "mcap", "--mcap")
        super().__init__(**camera)
        self.path = check_output_file(path, (".mcap",), "MCAP file")
        self._partial: Path = partial_path(self.path)
        kinds = {"lz4": writer_module.CompressionType.LZ4, "zstd": writer_module.CompressionType.ZSTD,
                 "none": writer_module.CompressionType.NONE}
        self._file = _ReadableMcap(self._partial, writer_module.MCAP0_MAGIC)
        # No CRCs: zlib.crc32 over every image takes longer than writing it (BENCHMARKS.md, section
        # "Measurements behind design choices").
        self._writer = writer_module.Writer(self._file, compression=kinds[compression], enable_crcs=False)
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
        """On the sink's thread: encode the result's messages and add them to the file."""
        for message in self.ros2_messages(output, new_frame):
            self._writer.add_message(self._channel(message.topic, message.schema), log_time=message.stamp_ns,
                                     data=message.data, publish_time=message.stamp_ns)
            self.messages_written += 1

    def failure_message(self) -> str:
        return f"writing {self.path} failed: {self._failure}"

    def publish_partial(self) -> bool:
        """Put the file under its own name now (a first Ctrl-C): it is readable whenever the process
        ends, and close() goes on writing it in place."""
        if self._failure is not None or not publish_partial_file(self._partial, self.path):
            return False
        self._partial = self.path
        return True

    def _finish(self) -> None:
        try:
            if self._failure is None:
                self._writer.finish()
                self._file.land_ending()
        except OSError as e:  # a full disk: the file keeps its provisional end, readable
            self._failure = e
        finally:
            self._file.close()
        if self._failure is not None:
            if self._partial == self.path:  # published at a Ctrl-C: what it holds is readable, keep it
                raise SinkError(f"writing {self.path} failed (it holds the messages written before): "
                                f"{self._failure}")
            raise SinkError(self.failure_message())
        move_into_place(self._partial, self.path)


class _ReadableMcap:
    """The file object the mcap writer writes to, keeping the file a readable MCAP after every write
    (see the module's docstring): each write (whole records) lands with the end after it, in one
    os.pwrite, where the previous write's end was. The writer's own end, from its DataEnd record on
    (its summary and footer, written by finish()), is kept and lands at `land_ending()`, so that a
    finish that fails half-way leaves the provisional end, and the last chunk, in place."""

    def __init__(self, path: Path, magic: bytes) -> None:
        from mcap.data_stream import RecordBuilder
        from mcap.opcode import Opcode
        from mcap.records import DataEnd, Footer

        builder = RecordBuilder()
        DataEnd(data_section_crc=0).write(builder)
        Footer(summary_start=0, summary_offset_start=0, summary_crc=0).write(builder)
        self._end = builder.end() + magic
        self._data_end = bytes([Opcode.DATA_END])
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        self._size = 0  # bytes of the writer's own records landed so far
        self._ending: list[bytes] | None = None  # the writer's end, from its DataEnd on

    def write(self, data) -> int:
        data = bytes(data)
        if self._ending is None and data[:1] == self._data_end:
            self._ending = []
        if self._ending is not None:
            self._ending.append(data)
        else:
            _pwrite_all(self._fd, data + self._end, self._size)
            self._size += len(data)
        return len(data)

    def tell(self) -> int:
        return self._size + sum(map(len, self._ending or ()))

    def land_ending(self) -> None:
        """Write the writer's end in place of the provisional one, which it outgrows."""
        tail = b"".join(self._ending or ())
        _pwrite_all(self._fd, tail, self._size)
        os.ftruncate(self._fd, self._size + len(tail))

    def close(self) -> None:
        os.close(self._fd)


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    """os.pwrite until every byte is written (a regular file takes it in one call but for a full disk)."""
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


__all__ = ["McapSink"]
