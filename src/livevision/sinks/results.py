"""ResultsSink: per-frame results as JSON Lines (.jsonl / .ndjson), one object per line.

Schema, version RESULTS_SCHEMA_VERSION = 3, published as a JSON Schema in results.schema.json
(next to this module). Every line is one JSON object:

    {"schema": 3, "index": 123, "timestamp": 4.92, "task": "depth", "model": "<id>", "source": "<file>",
     ...record, ...extra}

- index: frame index in the source (int, from 0); timestamp: seconds since the start of the source.
- source: the frame's image file (folders and globs), else the video file, URL or camera as given
  (null when unknown). Version 1 had no source; version 3 added detection lines and, on segments,
  track_id and depth (version 2 rejected them).
- task: "depth", "classification", "segmentation" or "detection" (or any name the caller gives a task).
- model: the model id or folder that produced the result.
- record, by result type (see `result_record`):
  - classification: ``"top_k": [{"label": str, "class_id": int, "score": float}, ...]``, best first.
  - segmentation: ``"segmentation_kind": "semantic" | "instance" | "panoptic"``,
    ``"segments": [{"id", "label", "label_id", "score", "area_px", "track_id", "depth"}, ...]`` (empty for
    semantic; track_id and depth as detection's), and
    for semantic only ``"classes": [{"label", "label_id", "area_px"}, ...]``: the pixel count of
    each class present in the label map, largest first (pixels labelled -1 are not counted).
  - detection: ``"detections": [{"label", "class_id", "score", "box", "track_id", "depth"}, ...]``: box
    [xmin, ymin, xmax, ymax] in frame pixels (2 decimals); track_id the object's id over time (null when
    the stream does not track); depth null, or ``{"value", "units", "position"}`` from a depth model on
    the same stream: value in metres (units "m") or the model's unitless relative value (units
    "relative", never metres), position [x, y, z] metres in the camera frame (null for relative depth).
  - depth: ``"depth": {"min", "median", "max", "kind", "units"}``: statistics of the finite
    values (null when there are none); kind "metric" (units "m") or "relative" (units
    "relative": inverse depth, larger is nearer). The median is exact up to 2**18 pixels and
    taken over a regular subsample above that (its cost: see BENCHMARKS.md, section "Measurements
    behind design choices").
    When the stream stabilized the values over time: ``"stabilization": {"mode", "scale", "shift",
    "reset"}`` (values = scale * the model's + shift, then averaged in mode "smooth"; reset: a first
    frame or a scene cut, the model's own values).
- extra: whatever keyword arguments the caller passed to `write_line` (JSON-safe values; numpy
  scalars and small arrays are converted). They cannot replace the keys above.

Floats are written with 7 significant digits (float32 precision), timestamps to the microsecond. NaN and infinity never
appear: the writer refuses them (strict JSON).

Several tasks on the same frame: one line per (frame, task), with the same index and timestamp.
Readers group by "index". This keeps a single flat line shape for every task and needs no new API:
call `write_line` once per task.

`write_result(task, output)` (the ResultSink contract, what `livevision run` calls) writes the line of a
TaskOutput: its frame, the model named for the task at construction, and ``latency_ms``.

The file is written to its partial path (``out.jsonl.partial.jsonl``, see sinks._paths) and renamed to
`path` on close, also after an exception or Ctrl-C; each line is flushed as it is written, so a live reader
can follow the partial file.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ..tasks.registry import definition_of
from ..types import Result, Task, TaskOutput
from ._paths import check_output_file, move_into_place, partial_path, publish_partial_file, remove_quietly
from .base import Sink
from .errors import SinkError

logger = logging.getLogger(__name__)

RESULTS_SCHEMA_VERSION = 3
SUPPORTED_RESULTS_EXTENSIONS: tuple[str, ...] = (".jsonl", ".ndjson")
STDOUT = "-"  # ResultsSink's path for standard output

_RESERVED = ("schema", "index", "timestamp", "task", "model", "source")


def json_float(x: float) -> float | None:
    """A float with 7 significant digits; None for NaN/inf."""
    x = float(x)
    if not math.isfinite(x):
        return None
    return float(f"{x:.7g}")


def _timestamp(t: float) -> float:
    t = float(t)
    if not math.isfinite(t):
        raise ValueError(f"timestamp_s must be finite, got {t}")
    return round(t, 6)


def result_record(result: Result) -> dict[str, Any]:
    """The JSON-safe fields of one result (see the module docstring for the schema): its task's record
    (tasks/<task>/formats.py)."""
    return definition_of(result).record(result)


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray) and obj.size <= 4096:
        return obj.tolist()
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


class ResultsSink(Sink):
    """Write one JSON line per frame and task to `path` (.jsonl or .ndjson); see the module docstring.

    The file appears under `path` on close (also after an exception); until then it is its partial_path.
    path "-" writes the lines to standard output as they come (livevision's messages go to stderr),
    for piping into another program.
    model_names: {task: the model id or folder that computes it}, the "model" of write_result's lines.
    """

    def __init__(self, path: str | os.PathLike[str], model_names: Mapping[Task, str] | None = None) -> None:
        self.lines_written = 0
        self.model_names = dict(model_names or {})
        if str(path) == STDOUT:
            self.path: Path = Path(STDOUT)
            self._partial = None
            self._file = sys.stdout
            return
        self.path = check_output_file(path, SUPPORTED_RESULTS_EXTENSIONS, "results file")
        self._partial = partial_path(self.path)
        self._file = open(self._partial, "w", encoding="utf-8", newline="\n")

    def write_result(self, task: Task, output: TaskOutput) -> None:
        """The line of one task's result, named after its model, with its latency."""
        self.write_line(output.frame_index, output.timestamp_s, task, self.model_names.get(task, "unknown"),
                        output.result, source=output.source, latency_ms=round(output.latency_s * 1000, 2))

    def write_line(
        self,
        index: int,
        timestamp_s: float,
        task: str | Task,
        model: str,
        result: Result,
        /,
        source: str | os.PathLike[str] | None = None,
        **extra: Any,
    ) -> None:
        """Append the line for one frame's result of one task. Flushed before returning.

        extra: more JSON-safe fields for this line (e.g. latency_ms=4.2); they cannot reuse the
        schema's keys.
        """
        if self._closed:
            raise SinkError(f"write to closed ResultsSink {str(self.path)!r}")
        clash = [k for k in extra if k in _RESERVED]
        if clash:
            raise ValueError(f"extra fields cannot replace {', '.join(clash)}")
        obj: dict[str, Any] = {
            "schema": RESULTS_SCHEMA_VERSION,
            "index": int(index),
            "timestamp": _timestamp(timestamp_s),
            "task": task.value if isinstance(task, Task) else str(task),
            "model": str(model),
            "source": None if source is None else os.fspath(source),
        }
        record = result_record(result)
        clash = [k for k in extra if k in record]
        if clash:
            raise ValueError(f"extra fields cannot replace {', '.join(clash)}")
        obj.update(record)
        obj.update(extra)
        try:
            line = json.dumps(obj, allow_nan=False, ensure_ascii=False, separators=(",", ":"), default=_json_default)
        except (TypeError, ValueError) as e:
            raise ValueError(f"results line for frame {index} is not JSON-safe: {e}") from None
        self._file.write(line + "\n")  # one call per complete line
        self._file.flush()
        self.lines_written += 1

    def publish_partial(self) -> bool:
        """Put the lines written so far under the file's name now (a first Ctrl-C), so that they are
        found even if the process is ended before close(); writing goes on in the same file."""
        if not publish_partial_file(self._partial, self.path):
            return False
        self._partial = self.path
        return True

    def _close(self) -> None:
        if self._partial is None:  # standard output: every line was flushed whole; not ours to close
            self._file.flush()
            return
        try:
            self._file.close()
            _drop_incomplete_last_line(self._partial)
            move_into_place(self._partial, self.path)
        except BaseException:
            if self._partial != self.path:  # a published file is the user's results now
                remove_quietly(self._partial)
            raise


def _drop_incomplete_last_line(path: Path) -> None:
    """Truncate after the last newline, in case a write was cut short (disk full, hard interrupt)."""
    size = path.stat().st_size
    if size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        chunk = 1 << 16
        end = size
        while end > 0:
            start = max(0, end - chunk)
            f.seek(start)
            pos = f.read(end - start).rfind(b"\n")
            if pos >= 0:
                f.truncate(start + pos + 1)
                break
            end = start
        else:
            f.truncate(0)
    logger.warning("%s: dropped an incomplete last line", path)


__all__ = ["ResultsSink", "result_record", "json_float", "RESULTS_SCHEMA_VERSION", "SUPPORTED_RESULTS_EXTENSIONS"]
