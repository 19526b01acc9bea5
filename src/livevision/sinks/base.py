"""The sink contract: what every output takes, and the lifecycle every sink shares.

Two protocols, and every sink implements one of them (NullSink, for benchmarks, both):

- ViewSink, `write_view(view, index)`: every rendered view, with the index of its source frame
  (the video or image file, the window, the web view);
- ResultSink, `write_result(task, output)`: each task's result once, with the frame it was computed on
  (the results file, raw arrays, rerun, MCAP, Foxglove).

Every sink is a `Sink`: an idempotent `close()` and use as a context manager.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Protocol, runtime_checkable

import numpy as np

from ..types import Task, TaskOutput

logger = logging.getLogger(__name__)


@runtime_checkable
class ViewSink(Protocol):
    """Takes every rendered view (BGR uint8), with the index of the source frame it shows."""

    def write_view(self, view: np.ndarray, index: int) -> None: ...


@runtime_checkable
class ResultSink(Protocol):
    """Takes each task's result once, with the frame it was computed on (TaskOutput)."""

    def write_result(self, task: Task, output: TaskOutput) -> None: ...


class Sink:
    """Base class: subclasses implement `write_view` or `write_result`, and `_close()`; `close()` runs
    `_close()` once.

    Leaving a `with` block closes the sink, also on an exception or KeyboardInterrupt: what was
    written so far is finalized (a shorter, playable video; a results file ending on a complete
    line). If closing fails while another exception is already propagating, the close error is
    logged and the original exception propagates.
    """

    _closed: bool = False

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Finish the output. Idempotent: later calls do nothing."""
        if self._closed:
            return
        self._closed = True
        self._close()

    def _close(self) -> None:  # pragma: no cover - overridden
        pass

    def __enter__(self):
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        if exc_type is None:
            self.close()
            return False
        try:
            self.close()
        except Exception as close_error:
            logger.error("closing %s after %s failed too: %s", type(self).__name__, exc_type.__name__, close_error)
        return False


class SourceTimeline:
    """`write_view` for files on the source's timeline (the video, an image): a source frame the live
    modes never showed keeps its slot, with the view shown before it, so that the video has the source's
    frame rate and duration. Subclasses implement `write_frame(frame)` (append one frame) and count
    `frames_written`."""

    _last: tuple[np.ndarray, int] | None = None  # the last view written and its frame index

    def write_frame(self, frame: np.ndarray) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def write_view(self, view: np.ndarray, index: int) -> None:
        if self._last is not None:
            last_view, last_index = self._last
            self._repeat(last_view, index - last_index - 1)
        self._repeat(view, 1)
        self._last = (view, index)

    def pad_to(self, frames: int) -> None:
        """The source ended after `frames` frames: the ones after the last shown (skipped by the live modes
        at the end) get their slots too, with the last view."""
        if self._last is not None:
            last_view, last_index = self._last
            self._repeat(last_view, frames - last_index - 1)

    def _repeat(self, view: np.ndarray, times: int) -> None:
        for _ in range(times):
            self.write_frame(view)
