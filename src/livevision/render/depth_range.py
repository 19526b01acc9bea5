"""The display range of relative depth maps: robust percentiles smoothed over frames.

Per-frame min-max normalisation flickers: one outlier pixel or a small change of the model's
arbitrary scale re-colours the whole frame. Instead each new map contributes its 2nd and 98th
percentiles (taken on a strided subsample, ~14k values at 720p) to an exponential moving
average of the range:

    low  <- low  + smoothing * (p_low  - low)
    high <- high + smoothing * (p_high - high)

smoothing = 0.1 (the default) means the newest map moves the range 10% of the way to its own:
half of a sudden jump is absorbed after ~6.6 maps and 95% after ~28 (about 1 s at 30 fps,
3 s at 10 fps). The first map after construction or reset() sets the range directly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RangeSmoothing:
    """How the relative-depth display range follows the maps (see the module docstring)."""

    low_percentile: float = 2.0
    high_percentile: float = 98.0
    smoothing: float = 0.1
    subsample_stride_px: int = 8

    def __post_init__(self) -> None:
        if not 0.0 <= self.low_percentile < self.high_percentile <= 100.0:
            raise ValueError(
                "low_percentile and high_percentile must satisfy 0 <= low < high <= 100, "
                f"got {self.low_percentile}, {self.high_percentile}"
            )
        if not 0.0 < self.smoothing <= 1.0:
            raise ValueError(f"smoothing must be in (0, 1], got {self.smoothing}")
        if self.subsample_stride_px < 1:
            raise ValueError(f"subsample_stride_px must be >= 1, got {self.subsample_stride_px}")


class SmoothedRange:
    """State of the EMA range. update() once per NEW depth map; reset() when the scene or model changes."""

    def __init__(self, config: RangeSmoothing = RangeSmoothing()):
        self.config = config
        self._range: tuple[float, float] | None = None

    @property
    def current(self) -> tuple[float, float] | None:
        """(low, high) in the map's own units, or None before the first finite map."""
        return self._range

    def reset(self) -> None:
        self._range = None

    def update(self, values: np.ndarray) -> tuple[float, float] | None:
        """Fold one (H, W) map into the range and return it. Maps with no finite value leave it as is."""
        stride = self.config.subsample_stride_px
        sample = values[::stride, ::stride]
        sample = sample[np.isfinite(sample)]
        if sample.size == 0:
            return self._range
        p_low, p_high = np.percentile(sample, (self.config.low_percentile, self.config.high_percentile))
        if self._range is None:
            self._range = (float(p_low), float(p_high))
        else:
            low, high = self._range
            k = self.config.smoothing
            self._range = (low + k * (float(p_low) - low), high + k * (float(p_high) - high))
        return self._range


def non_degenerate(low: float, high: float) -> tuple[float, float]:
    """(low, high) widened around its middle when it is (nearly) empty, e.g. for a flat map."""
    span = high - low
    min_span = 1e-6 * max(1.0, abs(low), abs(high))
    if span >= min_span:
        return low, high
    middle = 0.5 * (low + high)
    return middle - 0.5 * min_span, middle + 0.5 * min_span
