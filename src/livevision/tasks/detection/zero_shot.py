"""Zero-shot object detection with text queries (OWL-ViT, OWLv2): logits (1, P, Q) and pred_boxes (1, P, 4)
-- one box per image patch P, one logit per patch and text query Q -- to the objects, as
`transformers.pipeline("zero-shot-object-detection")(image, candidate_labels=labels)` gives them.

The pipeline (transformers 4.57) runs the model once per label, each time with that label alone, and calls
the image processor's `post_process_object_detection(outputs, threshold, target_sizes=[[h, w]])`: the
score of a patch is the sigmoid of its (single) logit, its box (cx, cy, w, h relative to the model input)
goes to corners times (w, h, w, h) -- OWLv2: times max(h, w) on both axes, its boxes being relative to
the square the image was padded to (bottom and right) -- and the patches scoring above the threshold (0.1
by default) are kept, in patch order. The objects of all labels, label after label, are then sorted by
score, best first (Python's stable sort: equal scores keep that order), and cut to top_k when given.

Here the model runs once with every label: a query's logits do not depend on the other queries (each
query is encoded alone by the text tower, and each logit is that query's embedding against the patch's),
so column q of the one run is the pipeline's run for label q (tests check it). Every (label, patch) pair
is a candidate -- a patch can be two labels' object -- in the pipeline's order: label-major, then patch,
then a stable sort by descending score.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import UsageError
from ...types import Detection, DetectionResult, PreparedInput, Task

if TYPE_CHECKING:
    from ...models.registry import Architecture

#: transformers' ZeroShotObjectDetectionPipeline.postprocess default threshold.
ZERO_SHOT_THRESHOLD = 0.1

#: model_type -> what the boxes are relative to: the frame ("frame") or the square it is padded to ("square").
BOX_FRAME = {"owlvit": "frame", "owlv2": "square"}


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


def box_scale(model_type: str, frame_hw: tuple[int, int]) -> np.ndarray:
    """(4,) float32 factors for (x0, y0, x1, y1) relative corners: the frame's (w, h, w, h), or for OWLv2 the
    padded square's side on all four."""
    height, width = frame_hw
    if BOX_FRAME[model_type] == "square":
        side = max(height, width)
        return np.array([side, side, side, side], np.float32)
    return np.array([width, height, width, height], np.float32)


def zero_shot_candidates(logits, pred_boxes, frame_hw: tuple[int, int],
                         model_type: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (label, patch) candidate in the pipeline's order (see the module docstring): scores (K,) float32,
    label ids (K,) int64 (the query index), boxes (K, 4) float32 corners in frame pixels."""
    scores, boxes = np.asarray(logits), np.asarray(pred_boxes)
    if scores.ndim != 3 or scores.shape[0] != 1:
        raise ValueError(f"logits must have shape (1, num_patches, num_queries), got {scores.shape}")
    if boxes.shape != (1, scores.shape[1], 4):
        raise ValueError(f"pred_boxes must have shape (1, {scores.shape[1]}, 4), got {boxes.shape}")
    cx, cy, w, h = (boxes[0, :, i].astype(np.float32, copy=False) for i in range(4))
    half = np.float32(0.5)
    corners = np.stack([cx - half * w, cy - half * h, cx + half * w, cy + half * h], axis=-1)
    corners = corners * box_scale(model_type, frame_hw)
    by_label = _sigmoid(scores[0].astype(np.float32, copy=False)).T  # (Q, P): label-major, as the pipeline
    flat = by_label.reshape(-1)
    order = np.argsort(-flat, kind="stable")
    num_patches = scores.shape[1]
    return flat[order], (order // num_patches).astype(np.int64), corners[order % num_patches]


class ZeroShotDetectionHead:
    """logits and pred_boxes -> DetectionResult for the run's labels (the text queries), as the HF
    zero-shot-object-detection pipeline gives them. The labels are config["text_queries"] (the loader puts
    the run's there). threshold: None is 0.1, the pipeline's default; top_k: the best top_k objects (None: all)."""

    task = Task.DETECTION
    scoring = "zero_shot"  # no device post-processing graph (tasks.detection.device knows the others)

    def __init__(self, architecture: "Architecture", config: Mapping[str, Any], threshold: float | None = None,
                 top_k: int | None = None):
        labels = config.get("text_queries")
        if not labels:
            raise UsageError(f"{architecture.model_type} detects the objects its labels name: give them "
                             "(--labels \"person,cup\", labels=[...])")
        self.labels = tuple(labels)
        self.id2label = dict(enumerate(self.labels))
        self.model_type = architecture.model_type
        self.threshold = ZERO_SHOT_THRESHOLD if threshold is None else float(threshold)
        self.top_k = top_k

    def candidates(self, logits, pred_boxes, frame_hw: tuple[int, int]):
        """(scores, label ids, boxes) of every candidate, before the threshold (zero_shot_candidates)."""
        return zero_shot_candidates(logits, pred_boxes, frame_hw, self.model_type)

    def finish(self, scores: np.ndarray, labels: np.ndarray, boxes: np.ndarray) -> DetectionResult:
        """The candidates whose score exceeds the threshold (compared as float32), best first, top_k of them."""
        scores = np.asarray(scores, np.float32)
        kept = np.flatnonzero(scores > np.float32(self.threshold))[: self.top_k]
        detections = tuple(
            Detection(box=tuple(float(v) for v in boxes[i]), label_id=int(labels[i]),
                      label=self.labels[int(labels[i])], score=float(scores[i]))
            for i in kept)
        return DetectionResult(detections=detections, id2label=self.id2label)

    def postprocess(self, outputs: list[np.ndarray], prepared: PreparedInput) -> DetectionResult:
        return self.finish(*self.candidates(outputs[0], outputs[1], prepared.original_hw))
