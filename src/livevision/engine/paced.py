"""simulate-live: play a file at its own frame rate, as a camera would deliver it.

Frame i is due at i / fps after the first read. A read returns the newest due frame,
skipping older ones with `grab()` (no decoding) where the source can; when nothing new
is due yet it waits for the next frame's time. Skipped frames are counted as dropped,
as a camera's would be.
"""

from __future__ import annotations

import dataclasses
import math

from ..sources import FrameSource
from ..types import Frame
from .clock import Clock
from .telemetry import Telemetry


class PacedReader:
    def __init__(self, source: FrameSource, clock: Clock, telemetry: Telemetry, fps: float | None = None):
        fps = fps or source.info.fps
        if not fps or fps <= 0:
            fps = 30.0  # a file without a frame rate plays like a 30 fps camera
        self.fps = fps
        self.source, self.clock, self.telemetry = source, clock, telemetry
        self._frames = source.frames()
        self._next_index = 0
        self._t0: float | None = None

    def due_time(self, index: int) -> float:
        return self._t0 + index / self.fps

    def read(self) -> Frame | None:
        now = self.clock.now()
        if self._t0 is None:
            self._t0 = now
        due = math.floor((now - self._t0) * self.fps + 1e-9)
        while self._next_index < due:  # frames the reader was too slow for: dropped
            if not self._skip():
                return None
            self._next_index += 1
            self.telemetry.dropped()
        frame = next(self._frames, None)  # decoded ahead of its time when we are early
        if frame is None:
            return None
        self._next_index = frame.index + 1  # a damaged file may skip indices
        self.clock.sleep(self.due_time(frame.index) - self.clock.now())
        # Stamp the frame as a camera would have: at its due time, on the engine's clock.
        frame = dataclasses.replace(frame, captured_at=self.due_time(frame.index))
        self.telemetry.captured(frame.captured_at)
        return frame

    def _skip(self) -> bool:
        if self.source.supports_grab:
            return self.source.grab()
        return next(self._frames, None) is not None
