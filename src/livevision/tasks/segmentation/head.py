"""The segmentation head: per-pixel logits (SegFormer...) or mask-classification queries (MaskFormer,
Mask2Former) -> SegmentationResult at frame size, with the HF pipeline's options."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ...types import PreparedInput, SegmentationResult, Task
from ..labels import normalize_id2label
from .mask_classification import PIPELINE_DEFAULTS, postprocess_mask_classification
from .semantic import postprocess_semantic

if TYPE_CHECKING:
    from ...models.registry import Architecture


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


class SegmentationHead:
    """Per-pixel logits or mask-classification queries -> SegmentationResult at frame size."""

    task = Task.SEGMENTATION

    def __init__(self, architecture: "Architecture", config: Mapping[str, Any],
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
