"""The accuracy gate for detection (models.accuracy): does a faster variant find FP32's objects, with its
labels, scores and boxes?

The gate sees raw outputs only (logits (1, Q, C), pred_boxes (1, Q, 4)), not which of the head's scorings
the model uses (softmax with a last "no object" column, or sigmoid: tasks.detection.head). It reads
each query both ways, which covers either model: a query shows an object when its best column is not the
last one (a DETR query whose "no object" wins is background) and that class scores above the pipeline's
0.5 by softmax or by sigmoid; its confidence is the larger of the two. The same query of FP32 and of the
candidate (same model, same frame) is the same object, so no matching is needed.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ...models.thresholds import Threshold
from .head import PIPELINE_THRESHOLD

# A query within this of the threshold (its confidence), or a label within this of FP32's best class,
# is a tie FP32 itself cannot break: either answer is FP32's to within its own rounding.
DETECTION_TIE_SCORE = 0.05

THRESHOLDS = (
    Threshold(
        "detection_agreement", 0.95, True,
        "fraction of the objects shown by FP32 or the candidate (score above 0.5) that both show with the same "
        "label (ties: DETECTION_TIE_SCORE), mean over frames: with fewer than 20 calibration frames every "
        "object of every frame must agree.",
        over_frames="mean",
    ),
    Threshold(
        "box_iou", 0.9, True,
        "lowest IoU of an object's box with FP32's box of the same query, worst frame: a box that moves by "
        "more than about 5% of its size is a visibly different box on the overlay.",
    ),
    Threshold(
        "score_diff", 0.05, False,
        "largest change of a shown object's score (its FP32 label's softmax and sigmoid probabilities), "
        "worst frame: the shown score moves by at most 5 points, as classification's.",
    ),
)

_OUTPUTS = ("logits", "pred_boxes")


def gate_outputs(frame) -> list[np.ndarray]:
    """The outputs the gate compares: logits and pred_boxes (by name, or the first two outputs)."""
    if isinstance(frame, Mapping):
        missing = [n for n in _OUTPUTS if n not in frame]
        if missing:
            raise ValueError(f"detection outputs lack {missing}; got {sorted(frame)}")
        return [np.asarray(frame[n]) for n in _OUTPUTS]
    return [np.asarray(a) for a in list(frame)[:2]]


def _class_scores(logits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, C) logits -> (N, C - 1) confidences of the real classes (the larger of softmax and sigmoid) and
    (N,) whether the query is foreground (its best column is not the last)."""
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    softmax = shifted / shifted.sum(axis=-1, keepdims=True)
    sigmoid = 1.0 / (1.0 + np.exp(-logits))
    foreground = logits.argmax(axis=-1) != logits.shape[-1] - 1
    return np.maximum(softmax, sigmoid)[:, :-1], foreground


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of (N, 4) (cx, cy, w, h) boxes, row by row."""
    lo = np.maximum(a[:, :2] - a[:, 2:] / 2, b[:, :2] - b[:, 2:] / 2)
    hi = np.minimum(a[:, :2] + a[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2)
    inter = np.prod(np.clip(hi - lo, 0.0, None), axis=-1)
    union = np.prod(np.abs(a[:, 2:]), axis=-1) + np.prod(np.abs(b[:, 2:]), axis=-1) - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 1.0)


def gate_metrics(ref: list[np.ndarray], cand: list[np.ndarray]) -> dict[str, float]:
    ref_logits, cand_logits = (x[0].reshape(-1, x[0].shape[-1]).astype(np.float64) for x in (ref, cand))
    ref_boxes, cand_boxes = (x[1].reshape(-1, 4).astype(np.float64) for x in (ref, cand))
    ref_conf, ref_fg = _class_scores(ref_logits)
    cand_conf, cand_fg = _class_scores(cand_logits)
    rows = np.arange(len(ref_conf))
    ref_label, cand_label = ref_conf.argmax(axis=-1), cand_conf.argmax(axis=-1)
    ref_score, cand_score = ref_conf[rows, ref_label], cand_conf[rows, cand_label]
    ref_shown = ref_fg & (ref_score > PIPELINE_THRESHOLD)
    cand_shown = cand_fg & (cand_score > PIPELINE_THRESHOLD)
    shown = ref_shown | cand_shown
    if not shown.any():
        return {"detection_agreement": 1.0, "box_iou": 1.0, "score_diff": 0.0, "objects": 0.0}
    near_threshold = np.abs(ref_score - PIPELINE_THRESHOLD) <= DETECTION_TIE_SCORE
    label_tie = ref_score - ref_conf[rows, cand_label] <= DETECTION_TIE_SCORE
    agree = ((ref_shown == cand_shown) | near_threshold) & label_tie
    both = ref_shown & cand_shown
    iou = _iou(ref_boxes[both], cand_boxes[both])
    score_diff = np.abs(ref_conf - cand_conf)[rows, ref_label]
    return {"detection_agreement": float(np.mean(agree[shown])),
            "box_iou": float(iou.min()) if iou.size else 1.0,
            "score_diff": float(score_diff[shown].max()), "objects": float(shown.sum())}
