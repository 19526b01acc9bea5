"""A sink that accepts anything and keeps nothing: for benchmarks and soak tests."""

from __future__ import annotations

import numpy as np

from .base import Sink


class NullSink(Sink):
    """Both a ViewSink and a ResultSink: counts what it is given (`frames_written`, `results_written`)
    and drops it."""

    def __init__(self) -> None:
        self.frames_written = 0
        self.results_written = 0

    def write_view(self, view: np.ndarray, index: int) -> None:
        self.frames_written += 1

    def write_result(self, task, output) -> None:
        self.results_written += 1
