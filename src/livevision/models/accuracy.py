"""The accuracy gate: does a faster variant (INT8, FP16, a rewritten graph) still give FP32's answers?

`check_agreement(task, reference_outputs, candidate_outputs)` compares a candidate's raw model
outputs with FP32's on the same inputs (the calibration frames) and returns an AgreementReport.
Every threshold lives in `THRESHOLDS`, with the reason for its value. They are the contract that
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

from ..types import Task


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


# Depth: pixels whose FP32 value is below this fraction of the frame's largest |value| are left out of
# AbsRel (they still count in the correlation): relative models output disparity, which is ~0 on sky
# and far walls, where any absolute error is an unbounded relative one.
DEPTH_ABS_REL_FLOOR = 0.01

# Classification: a candidate's top-1 class counts as agreeing when FP32 gives it a probability within
# this of FP32's own top-1 (a tie: on an uncertain frame -- synthetic calibration frames often are --
# either label is FP32's answer to within its own rounding). The probability gate below still applies.
CLASSIFICATION_TIE_PROB = 0.01

# Classification: how many classes a run shows with their scores (the top-k default of the
# classification head, the overlay and --results).
SHOWN_CLASSES = 5

THRESHOLDS: dict[Task, tuple[Threshold, ...]] = {
    Task.DEPTH: (
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
    ),
    Task.CLASSIFICATION: (
        Threshold(
            "top1_agreement", 0.95, True,
            "fraction of frames whose top-1 class is FP32's (or one FP32 scores within CLASSIFICATION_TIE_PROB "
            "of its top-1: a tie FP32 itself cannot break): with fewer than 20 calibration frames this means "
            "every frame must agree (19/20 = 0.95 is the first allowed miss).",
            over_frames="mean",
        ),
        Threshold(
            "top1_prob_diff", 0.05, False,
            "largest change of the softmax probability of FP32's top-1 class: the shown score moves by at "
            "most 5 points, so the gate also sees damage that has not flipped a label on these few frames yet.",
        ),
        Threshold(
            "top5_prob_diff", 0.05, False,
            "largest change of any score a run shows: the softmax probability of each class in FP32's or the "
            "candidate's top SHOWN_CLASSES, worst frame. The top-1 bound alone let a variant move the 2nd-5th "
            "scores by 0.19 and still pass as 'the same answers'; the shown top-5 moves by at most 5 points too. "
            "(Their order is reported, as top5_same_order, not gated: near-equal scores swap places under any "
            "rounding, FP32's own included.)",
        ),
    ),
    Task.SEGMENTATION: (
        Threshold(
            "pixel_agreement", 0.97, True,
            "fraction of pixels of the argmax label map equal to FP32's, worst frame: segment interiors "
            "must be identical; 3% leaves room for the one-pixel band along boundaries, where FP32 itself "
            "is near a tie and any rounding flips a label.",
        ),
    ),
}

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
    bounds = {t.key: t.bound for t in thresholds}
    per_frame: dict[str, list[float]] = {t.metric: [] for t in thresholds}
    for ref, cand in zip(refs, cands):
        ref_arrays, cand_arrays = _select(task, ref), _select(task, cand)
        for r, c in zip(ref_arrays, cand_arrays):
            if r.shape != c.shape:
                return AgreementReport(False, {"shape": f"{c.shape} != fp32 {r.shape}"}, bounds, ("shape",), len(refs))
            if not np.all(np.isfinite(c)):
                return AgreementReport(False, {"finite": False}, bounds, ("finite",), len(refs))
        for name, value in _frame_metrics(task, ref_arrays, cand_arrays).items():
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


_OUTPUT_NAMES = {
    Task.DEPTH: ("predicted_depth",),
    Task.CLASSIFICATION: ("logits",),
}
_MASK_OUTPUTS = ("class_queries_logits", "masks_queries_logits")


def _select(task: Task, frame: FrameOutputs) -> list[np.ndarray]:
    if isinstance(frame, Mapping):
        if task is Task.SEGMENTATION:
            names = _MASK_OUTPUTS if all(n in frame for n in _MASK_OUTPUTS) else ("logits",)
        else:
            names = _OUTPUT_NAMES[task]
        missing = [n for n in names if n not in frame]
        if missing:
            raise ValueError(f"{task.value} outputs lack {missing}; got {sorted(frame)}")
        return [np.asarray(frame[n]) for n in names]
    arrays = [np.asarray(a) for a in frame]
    if task is Task.SEGMENTATION and len(arrays) >= 2 and arrays[0].ndim == 3 and arrays[1].ndim == 4:
        return arrays[:2]
    return arrays[:1]


def _frame_metrics(task: Task, ref: list[np.ndarray], cand: list[np.ndarray]) -> dict[str, float]:
    if task is Task.DEPTH:
        return _depth_metrics(ref[0].astype(np.float64), cand[0].astype(np.float64))
    if task is Task.CLASSIFICATION:
        return _classification_metrics(ref[0].astype(np.float64), cand[0].astype(np.float64))
    if len(ref) == 2:
        ref_map, cand_map = _mask_classification_labels(*ref), _mask_classification_labels(*cand)
    else:
        ref_map, cand_map = ref[0].argmax(axis=1), cand[0].argmax(axis=1)
    return {"pixel_agreement": float(np.mean(ref_map == cand_map))}


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


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _classification_metrics(ref: np.ndarray, cand: np.ndarray) -> dict[str, float]:
    ref2, cand2 = ref.reshape(-1, ref.shape[-1]), cand.reshape(-1, cand.shape[-1])
    rows = np.arange(len(ref2))
    ref_probs, cand_probs = _softmax(ref2), _softmax(cand2)
    top, cand_top = ref2.argmax(axis=-1), cand2.argmax(axis=-1)
    exact = top == cand_top
    tied = ref_probs[rows, top] - ref_probs[rows, cand_top] <= CLASSIFICATION_TIE_PROB
    diff = float(np.max(np.abs(ref_probs[rows, top] - cand_probs[rows, top])))
    k = min(SHOWN_CLASSES, ref2.shape[-1])
    ref_top5, cand_top5 = _top_k(ref_probs, k), _top_k(cand_probs, k)
    shown = np.zeros(ref_probs.shape, dtype=bool)  # the classes either of them shows, per frame
    shown[rows[:, None], ref_top5] = shown[rows[:, None], cand_top5] = True
    top5_diff = float(np.max(np.abs(ref_probs - cand_probs), where=shown, initial=0.0))
    same_order = np.all(ref_top5 == cand_top5, axis=-1)
    return {"top1_agreement": float(np.mean(exact | tied)), "top1_prob_diff": diff,
            "top5_prob_diff": top5_diff, "top1_exact": float(np.mean(exact)),
            "top5_same_order": float(np.mean(same_order))}


def _top_k(probs: np.ndarray, k: int) -> np.ndarray:
    """(rows, k) class indices, highest probability first."""
    return np.argsort(-probs, axis=-1, kind="stable")[:, :k]


def _mask_classification_labels(class_logits: np.ndarray, mask_logits: np.ndarray) -> np.ndarray:
    """(B, Q, C+1), (B, Q, H, W) -> (B, H, W): the semantic map as transformers' post-processing builds it
    (the last class is "no object" and is dropped after the softmax)."""
    probs = _softmax(class_logits.astype(np.float64))[..., :-1]
    masks = 1.0 / (1.0 + np.exp(-mask_logits.astype(np.float64)))
    return np.einsum("bqc,bqhw->bchw", probs, masks).argmax(axis=1)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
