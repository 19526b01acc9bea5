"""Honest telemetry: rates, stage latencies, result ages and drops, for the HUD and --stats.

Rates are (n - 1) intervals over their span in a sliding window, never n / span.
Percentiles are over the last `LatencyWindow.size` samples of each series, so a long run's
memory stays flat. All methods are thread-safe.
"""

from __future__ import annotations

import collections
import math
import threading
from typing import Callable

import numpy as np


class RateMeter:
    """Events per second over the last `window_s` seconds."""

    def __init__(self, window_s: float = 2.0):
        self.window_s = window_s
        self.count = 0
        self._times: collections.deque[float] = collections.deque()
        self._first: float | None = None
        self._last: float | None = None

    def tick(self, at: float) -> None:
        self.count += 1
        if self._first is None:
            self._first = at
        self._last = at
        self._times.append(at)
        while len(self._times) > 2 and at - self._times[0] > self.window_s:
            self._times.popleft()

    @property
    def rate(self) -> float | None:
        """The recent rate (sliding window)."""
        return _rate(len(self._times), self._times[0] if self._times else None,
                     self._times[-1] if self._times else None)

    @property
    def overall_rate(self) -> float | None:
        """The rate over the whole run."""
        return _rate(self.count, self._first, self._last)


def _rate(n: int, first: float | None, last: float | None) -> float | None:
    if n < 2 or first is None or last is None or last <= first:
        return None
    return (n - 1) / (last - first)


class LatencyWindow:
    """The last `size` durations of one series, in seconds."""

    size = 4096

    def __init__(self):
        self._values: collections.deque[float] = collections.deque(maxlen=self.size)
        self.count = 0

    def add(self, seconds: float) -> None:
        self._values.append(seconds)
        self.count += 1

    def percentiles_ms(self) -> dict[str, float] | None:
        if not self._values:
            return None
        p50, p95 = np.percentile(np.fromiter(self._values, float), [50, 95])
        return {"p50": round(float(p50) * 1000, 2), "p95": round(float(p95) * 1000, 2)}

    @property
    def last(self) -> float | None:
        return self._values[-1] if self._values else None


class Telemetry:
    """What the engine and the app measured. `clock` gives the times rates are measured on."""

    def __init__(self, clock: Callable[[], float]):
        self.clock = clock
        self._lock = threading.RLock()  # re-entrant: a second Ctrl-C writes the stats between two steps
        self.capture = RateMeter()
        self.display = RateMeter()
        self.inference: dict[str, RateMeter] = {}
        self.stages: dict[str, LatencyWindow] = {}
        self.ages: dict[str, LatencyWindow] = {}  # every shown frame
        self.new_ages: dict[str, LatencyWindow] = {}  # the first showing of each result
        self.frames_dropped = 0  # captured (or due) but never shown
        self.frames_skipped: dict[str, int] = {}  # shown without a fresh inference, per task
        self.placements: dict[str, dict | None] = {}  # per task: where its stages run (None: not a Predictor)

    def _series(self, table: dict, key: str, factory):
        with self._lock:
            if key not in table:
                table[key] = factory()
            return table[key]

    def captured(self, at: float | None = None) -> None:
        with self._lock:
            self.capture.tick(self.clock() if at is None else at)

    def displayed(self, at: float | None = None) -> None:
        with self._lock:
            self.display.tick(self.clock() if at is None else at)

    def dropped(self, n: int = 1) -> None:
        with self._lock:
            self.frames_dropped += n

    def inferred(self, task: str, at: float | None = None) -> None:
        meter = self._series(self.inference, task, RateMeter)
        with self._lock:
            meter.tick(self.clock() if at is None else at)

    def skipped(self, task: str) -> None:
        with self._lock:
            self.frames_skipped[task] = self.frames_skipped.get(task, 0) + 1

    def placed(self, task: str, report: dict | None) -> None:
        """Where `task`'s pre- and post-processing run, and for `--pre-post auto` the times measured
        (livevision.placement.Placement.report); None for a model that does not say."""
        with self._lock:
            self.placements[task] = report

    def stage(self, name: str, seconds: float) -> None:
        window = self._series(self.stages, name, LatencyWindow)
        with self._lock:
            window.add(seconds)

    def age(self, task: str, seconds: float, *, new: bool) -> None:
        """The age of the result shown for `task`: from the capture of its frame to now.
        new: this is the result's first showing (in the live modes a result stays on
        screen until the next one, so its age keeps growing until then)."""
        windows = [self._series(self.ages, task, LatencyWindow)]
        if new:
            windows.append(self._series(self.new_ages, task, LatencyWindow))
        with self._lock:
            for window in windows:
                window.add(seconds)

    def summary(self) -> dict:
        """A JSON-safe summary (the --stats file)."""
        with self._lock:
            return {
                "capture_fps": _round(self.capture.overall_rate),
                "display_fps": _round(self.display.overall_rate),
                "inference_fps": {t: _round(m.overall_rate) for t, m in self.inference.items()},
                "latency_ms": {name: w.percentiles_ms() for name, w in sorted(self.stages.items())},
                "result_age_ms": {t: w.percentiles_ms() for t, w in self.ages.items()},
                "new_result_age_ms": {t: w.percentiles_ms() for t, w in self.new_ages.items()},
                "frames": {
                    "captured": self.capture.count,
                    "displayed": self.display.count,
                    "dropped": self.frames_dropped,
                    "inferred": {t: m.count for t, m in self.inference.items()},
                    "shown_with_older_result": dict(self.frames_skipped),
                },
                "placement": {t: report for t, report in self.placements.items() if report is not None},
            }

    def hud_lines(self, *, age: bool = True) -> list[str]:
        """Short lines for the HUD: recent rates, and each task's latest latency and age. A figure not
        measured yet is left out (not "--"). age=False leaves the ages out: in `every` mode frames wait
        in the pipeline's queues by design, so capture-to-display says nothing about the results."""
        with self._lock:
            rates = [f"{name} {meter.rate:.1f}" for name, meter in (("capture", self.capture),
                                                                    ("display", self.display))
                     if meter.rate is not None]
            lines = [f"{'  '.join(rates)} fps"] if rates else []
            for task, meter in self.inference.items():
                latency = self.stages.get(f"{task}.inference")
                shown_age = self.ages.get(task) if age else None
                parts = [task if meter.rate is None else f"{task} {meter.rate:.1f} fps"]
                if latency is not None and latency.last is not None:
                    parts.append(f"{latency.last * 1000:.0f} ms")
                if shown_age is not None and shown_age.last is not None:
                    parts.append(f"age {shown_age.last * 1000:.0f} ms")
                lines.append("  ".join(parts))
            if self.frames_dropped:
                lines.append(f"dropped {self.frames_dropped}")
            return lines


def _round(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else round(value, 2)
