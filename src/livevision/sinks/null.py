"""A sink that accepts anything and keeps nothing: for benchmarks and soak tests."""

from __future__ import annotations

from typing import Any

from .base import Sink


class NullSink(Sink):
    """Counts writes and drops them. `write` returns -1, like WindowSink when no key was pressed."""

    def __init__(self) -> None:
        self.frames_written = 0

    def write(self, *args: Any, **kwargs: Any) -> int:
        self.frames_written += 1
        return -1
