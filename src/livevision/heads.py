"""One typed head per task: what the model's raw outputs become, with that task's own options.

A Predictor picks its head once, when it is built (`head_for`), instead of asking which task it
runs on every frame:

    head = head_for(Task.SEGMENTATION, architecture, config, segmentation=SegmentationOptions(mode="instance"))
    result = head.postprocess(outputs, prepared)   # outputs in the order of architecture.outputs

Each head holds only what its task needs (labels, depth kind, thresholds). Its options come checked
(livevision.options.PostprocessOptions parses them where they enter): the heads trust them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol

import numpy as np

from .models.registry import Architecture
from .tasks.classification import normalize_id2label, postprocess_classification
from .tasks.depth import depth_kind, postprocess_depth
from .tasks.mask_classification import PIPELINE_DEFAULTS, postprocess_mask_classification
from .tasks.segmentation import postprocess_semantic
from .types import (
    ClassificationResult,
    DepthKind,
    DepthResult,
    PreparedInput,
    Result,
    SegmentationResult,
    Task,
)


@dataclass(frozen=True)
class ClassificationOptions:
    """top_k: how many classes, best first (None: all). function_to_apply: "softmax", "sigmoid" or
    "none" (raw logits); None: the HF pipeline's choice for the model (sigmoid for multi-label).
    Checked by PostprocessOptions, where the values enter."""

    top_k: int | None = 5
    function_to_apply: str | None = None


@dataclass(frozen=True)
class SegmentationOptions:
    """mode: for MaskFormer / Mask2Former, "panoptic" (the HF pipeline's default), "instance" or
    "semantic" (per-pixel-logit models such as SegFormer are always semantic). threshold,
    mask_threshold, overlap_mask_area_threshold: as in the HF post-processing, with the pipeline's
    defaults. Checked by PostprocessOptions, where the values enter."""

    mode: str = PIPELINE_DEFAULTS["mode"]
    threshold: float = PIPELINE_DEFAULTS["threshold"]
    mask_threshold: float = PIPELINE_DEFAULTS["mask_threshold"]
    overlap_mask_area_threshold: float = PIPELINE_DEFAULTS["overlap_mask_area_threshold"]


class Head(Protocol):
    task: Task

    def postprocess(self, outputs: list[np.ndarray], prepared: PreparedInput) -> Result: ...


class DepthHead:
    """predicted_depth -> DepthResult at frame size; `kind` says relative (near = large) or metric (metres)."""

    task = Task.DEPTH

    def __init__(self, architecture: Architecture, config: Mapping[str, Any]):
        self.model_type = architecture.model_type
        self.kind: DepthKind = depth_kind(config)

    def postprocess(self, outputs: list[np.ndarray], prepared: PreparedInput) -> DepthResult:
        return postprocess_depth(outputs[0], prepared, model_type=self.model_type, kind=self.kind)


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


class SegmentationHead:
    """Per-pixel logits (SegFormer...) or mask-classification queries (MaskFormer, Mask2Former) ->
    SegmentationResult at frame size."""

    task = Task.SEGMENTATION

    def __init__(self, architecture: Architecture, config: Mapping[str, Any],
                 options: SegmentationOptions | None = None):
        self.options = options or SegmentationOptions()
        self.id2label = normalize_id2label(config.get("id2label"))
        self.model_type = architecture.model_type
        self.mask_classification = architecture.is_mask_classification

    @property
    def mode(self) -> str:
        return self.options.mode if self.mask_classification else "semantic"

    def postprocess(self, outputs: list[np.ndarray], prepared: PreparedInput) -> SegmentationResult:
        if not self.mask_classification:
            return postprocess_semantic(outputs[0], prepared, id2label=self.id2label)
        o = self.options
        return postprocess_mask_classification(
            outputs[0], outputs[1], prepared, id2label=self.id2label, mode=o.mode, model_type=self.model_type,
            threshold=o.threshold, mask_threshold=o.mask_threshold,
            overlap_mask_area_threshold=o.overlap_mask_area_threshold,
        )


def head_for(task: Task, architecture: Architecture, config: Mapping[str, Any], *,
             classification: ClassificationOptions | None = None,
             segmentation: SegmentationOptions | None = None) -> Head:
    """The head of `task` for a model with this architecture and config.json."""
    if task is Task.DEPTH:
        return DepthHead(architecture, config)
    if task is Task.CLASSIFICATION:
        return ClassificationHead(config, classification)
    return SegmentationHead(architecture, config, segmentation)
