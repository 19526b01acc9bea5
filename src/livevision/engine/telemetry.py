"""Rates measured over a sliding window of event times."""

from __future__ import annotations

import collections
import time
from typing import Callable


class RateMeter:
    """Events per second over the last `window_s` seconds: (n - 1) intervals / their span."""

    def __init__(self, window_s: float = 2.0, clock: Callable[[], float] = time.monotonic):
        self.window_s = window_s
        self._clock = clock
        self._times: collections.deque[float] = collections.deque()

    def tick(self, at: float | None = None) -> None:
        now = self._clock() if at is None else at
        self._times.append(now)
        while len(self._times) > 2 and now - self._times[0] > self.window_s:
            self._times.popleft()

    @property
    def rate(self) -> float | None:
        if len(self._times) < 2:
            return None
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else None
