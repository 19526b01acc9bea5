"""The accuracy gate for classification (models.accuracy): does a faster variant rank and score as FP32?"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ...models.thresholds import Threshold


# Classification: a candidate's top-1 class counts as agreeing when FP32 gives it a probability within
# this of FP32's own top-1 (a tie: on an uncertain frame -- synthetic calibration frames often are --
# either label is FP32's answer to within its own rounding). The probability gate below still applies.
CLASSIFICATION_TIE_PROB = 0.01

# Classification: how many classes a run shows with their scores (the top-k default of the
# classification head, the overlay and --results).
SHOWN_CLASSES = 5

THRESHOLDS = (
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
)


def gate_outputs(frame) -> list[np.ndarray]:
    """The outputs the gate compares: logits (by name, or the first output)."""
    if isinstance(frame, Mapping):
        if "logits" not in frame:
            raise ValueError(f"classification outputs lack ['logits']; got {sorted(frame)}")
        return [np.asarray(frame["logits"])]
    return [np.asarray(frame[0])]


def gate_metrics(ref: list[np.ndarray], cand: list[np.ndarray]) -> dict[str, float]:
    return _classification_metrics(ref[0].astype(np.float64), cand[0].astype(np.float64))


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
