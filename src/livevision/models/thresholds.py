"""A bound of the accuracy gate (models.accuracy); each task's bounds live in tasks/<task>/accuracy.py."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Threshold:
    """metric must be >= bound (higher_is_better) or <= bound. over_frames: how per-frame values combine,
    "worst" (the lowest / highest frame) or "mean" (for a per-frame 0/1 outcome: the fraction of frames)."""

    metric: str
    bound: float
    higher_is_better: bool
    why: str
    over_frames: str = "worst"

    @property
    def key(self) -> str:
        return ("min_" if self.higher_is_better else "max_") + self.metric

    def holds(self, value: float) -> bool:
        if not np.isfinite(value):
            return False
        return value >= self.bound if self.higher_is_better else value <= self.bound
