"""The accuracy gate for depth (models.accuracy): does a faster variant's predicted_depth match FP32's?"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ...models.thresholds import Threshold


# Depth: pixels whose FP32 value is below this fraction of the frame's largest |value| are left out of
# AbsRel (they still count in the correlation): relative models output disparity, which is ~0 on sky
# and far walls, where any absolute error is an unbounded relative one.
DEPTH_ABS_REL_FLOOR = 0.01

THRESHOLDS = (
    Threshold(
        "pearson", 0.99, True,
        "Pearson correlation of predicted_depth with FP32's, per frame: >= 0.99 keeps >= 98% of the "
        "map's variance explained, so the rendered structure (edges, ordering of near and far) is the "
        "same; quantization that merely adds noise passes, blotches or banding do not.",
    ),
    Threshold(
        "abs_rel", 0.05, False,
        "mean |d - d_fp32| / |d_fp32| per frame: 5% is below the published FP32 error of these models "
        "against ground truth (AbsRel ~0.05-0.08 on NYU for Depth Anything metric / ZoeDepth), so a "
        "variant cannot add more error than the model already has; metric depth is read in metres, "
        "and 5% at 3 m is 15 cm.",
    ),
)


def gate_outputs(frame) -> list[np.ndarray]:
    """The outputs the gate compares: predicted_depth (by name, or the first output)."""
    if isinstance(frame, Mapping):
        if "predicted_depth" not in frame:
            raise ValueError(f"depth outputs lack ['predicted_depth']; got {sorted(frame)}")
        return [np.asarray(frame["predicted_depth"])]
    return [np.asarray(frame[0])]


def gate_metrics(ref: list[np.ndarray], cand: list[np.ndarray]) -> dict[str, float]:
    return _depth_metrics(ref[0].astype(np.float64), cand[0].astype(np.float64))


def _depth_metrics(ref: np.ndarray, cand: np.ndarray) -> dict[str, float]:
    r, c = ref.ravel(), cand.ravel()
    r_std, c_std = r.std(), c.std()
    if r_std == 0 or c_std == 0:
        # a flat map: correlation is undefined; agreement means the same constant
        pearson = 1.0 if np.allclose(r, c, rtol=1e-3, atol=1e-6) else 0.0
    else:
        pearson = float(np.mean((r - r.mean()) * (c - c.mean())) / (r_std * c_std))
    scale = np.abs(r).max()
    valid = np.abs(r) > DEPTH_ABS_REL_FLOOR * scale if scale > 0 else np.zeros_like(r, dtype=bool)
    abs_rel = float(np.mean(np.abs(c[valid] - r[valid]) / np.abs(r[valid]))) if valid.any() else 0.0
    return {"pearson": pearson, "abs_rel": abs_rel}
