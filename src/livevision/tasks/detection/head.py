"""Object-detection post-processing in numpy: logits (1, Q, C) and pred_boxes (1, Q, 4) to the objects.

Reproduces `transformers.pipeline("object-detection")`, which calls its image processor's
`post_process_object_detection(outputs, threshold, target_sizes=[[frame_h, frame_w]])` (transformers
4.57), one of three scorings, by the config's model_type:

- "softmax" (DetrImageProcessor: DETR, Table Transformer; YolosImageProcessor: YOLOS): softmax over the
  C columns, the last ("no object") dropped, the best class of each query: its score and label; every
  query, in query order.
- "top100" (ConditionalDetrImageProcessor, DeformableDetrImageProcessor): sigmoid of every (query, class)
  pair, the top min(100, Q * C) of the flattened Q * C scores, best first: label = index % C, query =
  index // C (a query may come back with two labels).
- "topq" (RTDetrImageProcessor: RT-DETR, RT-DETRv2, D-FINE): the same with the top Q. (Its softmax branch,
  use_focal_loss=False, is never taken by the pipeline, which does not pass use_focal_loss.)

Then the boxes (cx, cy, w, h relative to the model's input) go to corners, (cx - 0.5 w, ...), times
(frame_w, frame_h, frame_w, frame_h) -- the frame's own size, whatever padding the pre-processing added,
as transformers does -- and the objects with score > threshold are kept, in that order. All in float32
as torch computes it; the threshold is compared as a float32, as torch compares a float32 tensor with a
Python number.

Ties: torch.topk leaves the order of equal scores unspecified; we take the lower flat index first (a
stable descending sort), which is also what ONNX TopK does (tasks.detection.device). Equal scores occur
in practice only where sigmoid saturates at 1.0 in float32 (logits above ~17).
YolosImageProcessorFast (used by transformers only where a model's preprocessor_config.json names it and
torchvision is installed) scores YOLOS as "top100"; the slow processor, which the Hub's YOLOS models name,
is the one reproduced here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...errors import UnsupportedModelError
from ...types import Detection, DetectionResult, PreparedInput, Task
from ..labels import label_for, normalize_id2label

if TYPE_CHECKING:
    from ...models.registry import Architecture

#: transformers' ObjectDetectionPipeline.postprocess default.
PIPELINE_THRESHOLD = 0.5

#: The top-k the Conditional / Deformable DETR processors keep before the threshold (their top_k default).
TOP_K = 100

#: model_type -> how its image processor scores the queries (see the module docstring).
SCORING = {
    "detr": "softmax", "table-transformer": "softmax", "yolos": "softmax",
    "conditional_detr": "top100", "deformable_detr": "top100",
    "rt_detr": "topq", "rt_detr_v2": "topq", "d_fine": "topq",
}


@dataclass(frozen=True)
class DetectionOptions:
    """threshold: the score an object must exceed (transformers' pipeline default, 0.5). Checked by
    PostprocessOptions, where the values enter."""

    threshold: float = PIPELINE_THRESHOLD


def scoring_for(model_type: str) -> str:
    """"softmax", "top100" or "topq" for a model_type; UnsupportedModelError for others."""
    if model_type not in SCORING:
        raise UnsupportedModelError(f"no object-detection post-processing for model type {model_type!r}: "
                                    f"supported are {', '.join(sorted(SCORING))}")
    return SCORING[model_type]


def top_k_count(scoring: str, num_queries: int, num_classes: int) -> int:
    """How many (query, class) pairs a top-k scoring keeps."""
    return min(TOP_K, num_queries * num_classes) if scoring == "top100" else num_queries


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(-x) is inf below x = -88: the score is 0 (torch: a denormal)
        return np.float32(1.0) / (np.float32(1.0) + np.exp(-x))


def _query_arrays(logits, pred_boxes) -> tuple[np.ndarray, np.ndarray]:
    """(Q, C) logits and (Q, 4) boxes as float32, from the model's (1, Q, C) and (1, Q, 4)."""
    scores, boxes = np.asarray(logits), np.asarray(pred_boxes)
    if scores.ndim != 3 or scores.shape[0] != 1 or scores.shape[2] < 1:
        raise ValueError(f"logits must have shape (1, num_queries, num_classes), got {scores.shape}")
    if boxes.shape != (1, scores.shape[1], 4):
        raise ValueError(f"pred_boxes must have shape (1, {scores.shape[1]}, 4), got {boxes.shape}")
    return scores[0].astype(np.float32, copy=False), boxes[0].astype(np.float32, copy=False)


def frame_boxes(pred_boxes: np.ndarray, frame_hw: tuple[int, int]) -> np.ndarray:
    """(Q, 4) relative (cx, cy, w, h) -> (Q, 4) corners in frame pixels, float32, as transformers computes them."""
    cx, cy, w, h = (pred_boxes[:, i] for i in range(4))
    half = np.float32(0.5)
    corners = np.stack([cx - half * w, cy - half * h, cx + half * w, cy + half * h], axis=-1)
    height, width = frame_hw
    return corners * np.array([width, height, width, height], np.float32)


def detection_candidates(logits, pred_boxes, frame_hw: tuple[int, int],
                         scoring: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every candidate transformers' post-processing thresholds, in its order: scores (K,) float32, label
    ids (K,) int64, boxes (K, 4) float32 corners in frame pixels."""
    class_logits, rel_boxes = _query_arrays(logits, pred_boxes)
    boxes = frame_boxes(rel_boxes, frame_hw)
    if scoring == "softmax":
        probs = _softmax(class_logits)[:, :-1]
        labels = probs.argmax(axis=-1)  # the first of equal maxima, as torch.max(dim)
        return probs[np.arange(len(probs)), labels], labels.astype(np.int64), boxes
    num_queries, num_classes = class_logits.shape
    flat = _sigmoid(class_logits).reshape(-1)
    order = np.argsort(-flat, kind="stable")[:top_k_count(scoring, num_queries, num_classes)]
    return flat[order], (order % num_classes).astype(np.int64), boxes[order // num_classes]


class DetectionHead:
    """logits and pred_boxes -> DetectionResult, as the HF object-detection pipeline reads them."""

    task = Task.DETECTION

    def __init__(self, architecture: "Architecture", config: Mapping[str, Any],
                 options: DetectionOptions | None = None):
        self.options = options or DetectionOptions()
        self.id2label = normalize_id2label(config.get("id2label"))
        self.model_type = architecture.model_type
        self.scoring = scoring_for(self.model_type)

    def candidates(self, logits, pred_boxes, frame_hw: tuple[int, int]):
        """(scores, label ids, boxes) of every candidate, before the threshold (detection_candidates)."""
        return detection_candidates(logits, pred_boxes, frame_hw, self.scoring)

    def finish(self, scores: np.ndarray, labels: np.ndarray, boxes: np.ndarray) -> DetectionResult:
        """The candidates whose score exceeds the threshold (as float32, as torch compares), in their order."""
        scores = np.asarray(scores, np.float32)
        kept = np.flatnonzero(scores > np.float32(self.options.threshold))
        detections = tuple(
            Detection(box=tuple(float(v) for v in boxes[i]), label_id=int(labels[i]),
                      label=label_for(self.id2label, int(labels[i])), score=float(scores[i]))
            for i in kept)
        return DetectionResult(detections=detections, id2label=self.id2label)

    def postprocess(self, outputs: list[np.ndarray], prepared: PreparedInput) -> DetectionResult:
        return self.finish(*self.candidates(outputs[0], outputs[1], prepared.original_hw))
