"""Pick the right annotator for a result: depth, classification, or segmentation by kind."""

from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from ..types import ClassificationResult, DepthResult, SegmentationResult
from .base import Annotator
from .classification import ClassificationAnnotator
from .depth import DepthAnnotator
from .instance import InstanceSegmentationAnnotator
from .segmentation import SemanticSegmentationAnnotator

Result = Union[DepthResult, ClassificationResult, SegmentationResult]

_SEGMENTATION_KINDS = ("semantic", "instance", "panoptic")


def _check_segmentation_kind(result: SegmentationResult) -> str:
    if result.kind not in _SEGMENTATION_KINDS:
        raise ValueError(f"result.kind must be one of {', '.join(_SEGMENTATION_KINDS)}, got {result.kind!r}")
    return result.kind


def annotator_for(result: Result) -> Annotator:
    """A new annotator with default settings for this result's type (and segmentation kind).

    For video, keep one ResultAnnotator instead: the depth annotator's smoothed range is state.
    """
    if isinstance(result, DepthResult):
        return DepthAnnotator()
    if isinstance(result, ClassificationResult):
        return ClassificationAnnotator()
    if isinstance(result, SegmentationResult):
        if _check_segmentation_kind(result) == "semantic":
            return SemanticSegmentationAnnotator()
        return InstanceSegmentationAnnotator()
    raise TypeError(f"no annotator for results of type {type(result).__name__}")


class ResultAnnotator:
    """One annotator per kind of result, picked per call. Pass configured annotators to override
    the defaults. annotate() accepts one result or several (drawn in order, e.g. depth then
    classification)."""

    def __init__(
        self,
        *,
        depth: DepthAnnotator | None = None,
        classification: ClassificationAnnotator | None = None,
        semantic: SemanticSegmentationAnnotator | None = None,
        instance: InstanceSegmentationAnnotator | None = None,
    ):
        self.depth = depth or DepthAnnotator()
        self.classification = classification or ClassificationAnnotator()
        self.semantic = semantic or SemanticSegmentationAnnotator()
        self.instance = instance or InstanceSegmentationAnnotator()

    def annotator_for(self, result: Result) -> Annotator:
        if isinstance(result, DepthResult):
            return self.depth
        if isinstance(result, ClassificationResult):
            return self.classification
        if isinstance(result, SegmentationResult):
            return self.semantic if _check_segmentation_kind(result) == "semantic" else self.instance
        raise TypeError(f"no annotator for results of type {type(result).__name__}")

    def reset(self) -> None:
        """Forget per-stream state (the depth range)."""
        self.depth.reset()

    def annotate(self, scene: np.ndarray, result: Result | Sequence[Result]) -> np.ndarray:
        """A new image with the result(s) drawn; an empty sequence gives a copy of scene."""
        results = result if isinstance(result, (list, tuple)) else (result,)
        out = scene
        for item in results:
            out = self.annotator_for(item).annotate(out, item)
        return out.copy() if out is scene else out


def draw_result(scene: np.ndarray, result: Result | Sequence[Result],
                annotator: ResultAnnotator | None = None) -> np.ndarray:
    """scene with result(s) drawn by `annotator` (a fresh default ResultAnnotator when None)."""
    return (annotator or ResultAnnotator()).annotate(scene, result)
