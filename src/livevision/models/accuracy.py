"""The accuracy gate: does a faster variant (INT8, FP16, a rewritten graph) still give FP32's answers?

`check_agreement(task, reference_outputs, candidate_outputs)` compares a candidate's raw model
outputs with FP32's on the same inputs (the calibration frames) and returns an AgreementReport.
Every threshold lives in `THRESHOLDS` (each task's own, in tasks/<task>/accuracy.py, with the reason
for its value, and the metrics they bound). They are the contract that
lets `--precision auto` pick a variant without asking: never loosen one to let a variant pass --
a variant that fails stays unused (or, when asked for explicitly, is used with a loud warning).

Each metric is taken on the *worst* frame (lowest correlation, highest error...), not averaged:
a variant has to be right on every frame it was checked on, since a live overlay shows each one.
(Top-1 agreement, a yes/no per frame, is the fraction of frames that agree.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..tasks.registry import TASKS, definition
from ..types import Task
from .thresholds import Threshold


#: Each task's bounds (tasks/<task>/accuracy.py), read by the gate at call time.
THRESHOLDS: dict[Task, tuple[Threshold, ...]] = {task: found.gate().THRESHOLDS for task, found in TASKS.items()}

# Raw outputs of one frame: {output name: array} (as ORT names them) or a list in the model's order.
FrameOutputs = Mapping[str, np.ndarray] | Sequence[np.ndarray]


@dataclass(frozen=True)
class AgreementReport:
    """passed: every threshold holds. metrics: metric -> value over the frames (see Threshold.over_frames;
    metrics without a threshold, for reports: mean over frames). thresholds: "min_<metric>" /
    "max_<metric>" -> bound. failed: the metrics that broke their bound (or "shape" / "finite")."""

    passed: bool
    metrics: dict
    thresholds: dict
    failed: tuple[str, ...] = field(default_factory=tuple)
    frames: int = 0

    @property
    def reason(self) -> str:
        if self.passed:
            return "agrees with fp32"
        parts = []
        for name in self.failed:
            value = self.metrics.get(name)
            bound = self.thresholds.get(f"min_{name}", self.thresholds.get(f"max_{name}"))
            parts.append(f"{name}={_fmt(value)} (bound {_fmt(bound)})" if bound is not None else name)
        return "disagrees with fp32: " + ", ".join(parts)

    def to_dict(self) -> dict:
        return {"passed": self.passed, "metrics": dict(self.metrics), "thresholds": dict(self.thresholds),
                "failed": list(self.failed), "frames": self.frames, "reason": self.reason}


def thresholds_for(task: Task | str) -> dict[str, float]:
    """{"min_<metric>" / "max_<metric>": bound} for a task: what reports show."""
    return {t.key: t.bound for t in THRESHOLDS[Task.parse(task)]}


def check_agreement(task: Task | str, reference_outputs, candidate_outputs) -> AgreementReport:
    """Compare a candidate's raw outputs with FP32's, frame by frame.

    reference_outputs, candidate_outputs: one FrameOutputs per frame (a list), or one FrameOutputs for
    a single frame. Outputs read: depth `predicted_depth` (B, H, W); classification `logits` (B, C);
    segmentation `logits` (B, C, H, W), or for MaskFormer / Mask2Former `class_queries_logits`
    (B, Q, C+1) and `masks_queries_logits` (B, Q, H, W), compared through the semantic map
    argmax_c sum_q softmax(class_q)[c] * sigmoid(mask_q). Lists are read in that order.
    """
    task = Task.parse(task)
    refs, cands = _frames(reference_outputs), _frames(candidate_outputs)
    if len(refs) != len(cands) or not refs:
        raise ValueError("need the same non-zero number of reference and candidate frames, "
                         f"got {len(refs)} and {len(cands)}")
    thresholds = THRESHOLDS[task]
    gate = definition(task).gate()
    bounds = {t.key: t.bound for t in thresholds}
    per_frame: dict[str, list[float]] = {t.metric: [] for t in thresholds}
    for ref, cand in zip(refs, cands):
        ref_arrays, cand_arrays = gate.gate_outputs(ref), gate.gate_outputs(cand)
        for r, c in zip(ref_arrays, cand_arrays):
            if r.shape != c.shape:
                return AgreementReport(False, {"shape": f"{c.shape} != fp32 {r.shape}"}, bounds, ("shape",), len(refs))
            if not np.all(np.isfinite(c)):
                return AgreementReport(False, {"finite": False}, bounds, ("finite",), len(refs))
        for name, value in gate.gate_metrics(ref_arrays, cand_arrays).items():
            per_frame.setdefault(name, []).append(value)
    metrics: dict[str, float] = {}
    for name, values in per_frame.items():  # gated metrics as their threshold says; the others (reports): mean
        gated = next((t for t in thresholds if t.metric == name), None)
        if gated is None or gated.over_frames == "mean":
            metrics[name] = float(np.mean(values))
        else:
            metrics[name] = float(min(values) if gated.higher_is_better else max(values))
    failed = tuple(t.metric for t in thresholds if not t.holds(metrics[t.metric]))
    return AgreementReport(not failed, metrics, bounds, failed, len(refs))


def _frames(outputs) -> list:
    if isinstance(outputs, Mapping):
        return [outputs]
    outputs = list(outputs)
    if outputs and isinstance(outputs[0], np.ndarray):  # one frame given as a list of arrays
        return [outputs]
    return outputs


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
