"""The accuracy gate for segmentation (models.accuracy): does a faster variant label the pixels as FP32?"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ...models.thresholds import Threshold
from .mask_classification import softmax


THRESHOLDS = (
    Threshold(
        "pixel_agreement", 0.97, True,
        "fraction of pixels of the argmax label map equal to FP32's, worst frame: segment interiors "
        "must be identical; 3% leaves room for the one-pixel band along boundaries, where FP32 itself "
        "is near a tie and any rounding flips a label.",
    ),
)

_MASK_OUTPUTS = ("class_queries_logits", "masks_queries_logits")


def gate_outputs(frame) -> list[np.ndarray]:
    """The outputs the gate compares: logits, or MaskFormer / Mask2Former's two query outputs (by name, or
    the first one or two outputs)."""
    if isinstance(frame, Mapping):
        names = _MASK_OUTPUTS if all(n in frame for n in _MASK_OUTPUTS) else ("logits",)
        missing = [n for n in names if n not in frame]
        if missing:
            raise ValueError(f"segmentation outputs lack {missing}; got {sorted(frame)}")
        return [np.asarray(frame[n]) for n in names]
    arrays = [np.asarray(a) for a in frame]
    if len(arrays) >= 2 and arrays[0].ndim == 3 and arrays[1].ndim == 4:
        return arrays[:2]
    return arrays[:1]


def gate_metrics(ref: list[np.ndarray], cand: list[np.ndarray]) -> dict[str, float]:
    """pixel_agreement of the argmax label maps (for query models, the semantic map built from the queries)."""
    if len(ref) == 2:
        ref_map, cand_map = _mask_classification_labels(*ref), _mask_classification_labels(*cand)
    else:
        ref_map, cand_map = ref[0].argmax(axis=1), cand[0].argmax(axis=1)
    return {"pixel_agreement": float(np.mean(ref_map == cand_map))}


def _mask_classification_labels(class_logits: np.ndarray, mask_logits: np.ndarray) -> np.ndarray:
    """(B, Q, C+1), (B, Q, H, W) -> (B, H, W): the semantic map as transformers' post-processing builds it
    (the last class is "no object" and is dropped after the softmax)."""
    probs = softmax(class_logits.astype(np.float64))[..., :-1]
    masks = 1.0 / (1.0 + np.exp(-mask_logits.astype(np.float64)))
    return np.einsum("bqc,bqhw->bchw", probs, masks).argmax(axis=1)
