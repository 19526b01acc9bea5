"""Pacing: which frames get inferred when a model is slower than its source.

| mode          | default for          | behaviour                                                  |
|---------------|----------------------|------------------------------------------------------------|
| live          | cameras and streams  | capture keeps only the newest frame; at most one frame in  |
|               |                      | flight per model; every captured frame is shown with the   |
|               |                      | latest result of each task, marked with its age            |
| every         | files and images     | every frame inferred, in order; decode, pre-processing,    |
|               |                      | inference, post-processing and output overlap              |
| simulate-live | files, opt-in        | the file plays at its own frame rate, as a camera would,   |
|               |                      | and is paced like `live`                                   |

`max_fps` / per-task rates cap how often a task starts an inference (by source time in
`every`, by the clock in the live modes); frames in between reuse the latest result.
"""

from __future__ import annotations

import math

from ..errors import UsageError
from ..sources import SourceInfo
from ..types import ValueEnum


class Pacing(ValueEnum):
    LIVE = "live"
    EVERY = "every"
    SIMULATE_LIVE = "simulate-live"

    @classmethod
    def parse(cls, value: "str | Pacing | None", info: SourceInfo) -> "Pacing":
        """The mode asked for, or the default for the source (live for cameras and streams,
        every for files). simulate-live needs a file."""
        if value is None:
            return cls.LIVE if info.is_live else cls.EVERY
        try:
            pacing = cls(value.value if isinstance(value, Pacing) else str(value).strip().lower())
        except ValueError:
            raise UsageError(f"unknown pacing {value!r}: choose live, every or simulate-live") from None
        if pacing is cls.SIMULATE_LIVE and info.is_live:
            raise UsageError(f"simulate-live plays a file as a camera would; {info.name} is already live")
        return pacing


class RateLimiter:
    """At most `rate_hz` starts per second: `ready(t)` once `1 / rate_hz` has passed since
    the last `started(t)`. `rate_hz=None` never limits."""

    def __init__(self, rate_hz: float | None):
        if rate_hz is not None and not (rate_hz > 0 and math.isfinite(rate_hz)):
            raise UsageError(f"a rate must be a positive number of frames per second, got {rate_hz!r}")
        self.interval_s = 1.0 / rate_hz if rate_hz else 0.0
        self._last: float | None = None

    def ready(self, t: float) -> bool:
        # A small tolerance, so a 10 Hz cap on a 30 fps source takes every third frame
        # even when 3 frame intervals add up to 0.0999999 s.
        return self._last is None or t - self._last >= self.interval_s - 1e-6

    def started(self, t: float) -> None:
        self._last = t
