"""Classification post-processing in numpy: logits to the top-k classes.

Reproduces `transformers.pipeline("image-classification")` (pipelines/image_classification.py):
- scores: sigmoid when config.problem_type == "multi_label_classification" or num_labels == 1,
  softmax otherwise (the pipeline's "default" function_to_apply), computed in float32 with the
  pipeline's own formulas so ties fall the same way;
- order: the pipeline sorts all classes with Python's stable sort on the score, so equal scores
  keep ascending class id; we sort the same way (np.argsort(kind="stable")). This is the
  pipeline's order, not torch.topk's (which leaves ties unspecified);
- top_k larger than the number of classes is clipped; None returns every class.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...types import ClassificationResult, PreparedInput, Task
from ..labels import label_for, normalize_id2label

#: Values accepted for `function_to_apply` (as in the pipeline), besides None = the pipeline's default.
FUNCTIONS = ("softmax", "sigmoid", "none")


def scoring_function(problem_type: str | None, num_labels: int) -> str:
    """The pipeline's default function_to_apply: "sigmoid" or "softmax"."""
    if problem_type == "multi_label_classification" or num_labels == 1:
        return "sigmoid"
    return "softmax"


def postprocess_classification(
    logits: np.ndarray,
    *,
    id2label: Mapping[Any, str],
    top_k: int | None = 5,
    problem_type: str | None = None,
    function_to_apply: str | None = None,
) -> ClassificationResult:
    """Top-k classes of a (1, C) logits array, best first.

    id2label: config.json's id2label (int or str keys).
    problem_type: config.json's problem_type; picks sigmoid for "multi_label_classification".
    function_to_apply: override the choice: "softmax", "sigmoid" or "none" (raw logits).
    """
    arr = np.asarray(logits)
    shape = arr.shape
    if arr.ndim == 2 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 1 or arr.shape[0] < 1:
        raise ValueError(f"logits must have shape (1, num_labels), got {shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"logits must be a float array, got {arr.dtype}")
    if top_k is not None and (isinstance(top_k, bool) or int(top_k) < 1):
        raise ValueError(f"top_k must be a positive integer or None, got {top_k!r}")
    outputs = arr.astype(np.float32, copy=False)
    num_labels = outputs.shape[0]

    fn = function_to_apply.lower() if function_to_apply is not None else scoring_function(problem_type, num_labels)
    if fn == "softmax":
        maxes = np.max(outputs, axis=-1, keepdims=True)
        shifted_exp = np.exp(outputs - maxes)
        scores = shifted_exp / shifted_exp.sum(axis=-1, keepdims=True)
    elif fn == "sigmoid":
        scores = 1.0 / (1.0 + np.exp(-outputs))
    elif fn == "none":
        scores = outputs
    else:
        raise ValueError(f"function_to_apply must be one of {FUNCTIONS} or None, got {function_to_apply!r}")

    k = num_labels if top_k is None else min(int(top_k), num_labels)
    order = np.argsort(-scores, kind="stable")[:k]
    names = normalize_id2label(id2label)
    class_ids = tuple(int(i) for i in order)
    return ClassificationResult(
        class_ids=class_ids,
        labels=tuple(label_for(names, i) for i in class_ids),
        scores=tuple(float(scores[i]) for i in class_ids),
    )


@dataclass(frozen=True)
class ClassificationOptions:
    """top_k: how many classes, best first (None: all). function_to_apply: "softmax", "sigmoid" or
    "none" (raw logits); None: the HF pipeline's choice for the model (sigmoid for multi-label).
    Checked by PostprocessOptions, where the values enter."""

    top_k: int | None = 5
    function_to_apply: str | None = None


class ClassificationHead:
    """logits -> the top-k classes, as the HF image-classification pipeline ranks them."""

    task = Task.CLASSIFICATION

    def __init__(self, config: Mapping[str, Any], options: ClassificationOptions | None = None):
        self.options = options or ClassificationOptions()
        self.id2label = normalize_id2label(config.get("id2label"))
        self.problem_type = config.get("problem_type")

    def postprocess(self, outputs: list[np.ndarray], prepared: PreparedInput) -> ClassificationResult:
        return postprocess_classification(outputs[0], id2label=self.id2label, top_k=self.options.top_k,
                                          problem_type=self.problem_type,
                                          function_to_apply=self.options.function_to_apply)
