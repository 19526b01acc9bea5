"""Pick the right annotator for a result: depth, classification, or segmentation by kind."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..types import ClassificationResult, DepthResult, Result, SegmentationKind, SegmentationResult
from .base import Annotator, new_canvas
from .classification import ClassificationAnnotator
from .depth import DepthAnnotator
from .instance import InstanceSegmentationAnnotator
from .layout import PanelLayout
from .segmentation import SemanticSegmentationAnnotator
from .text import TextStyle, draw_title

_SEGMENTATION_KINDS = tuple(kind.value for kind in SegmentationKind)
# Panels that cannot shrink are placed first; the legend then lists what still fits.
_PANEL_ORDER = (DepthResult, ClassificationResult, SegmentationResult)


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
        title_style: TextStyle = TextStyle(),
    ):
        self.depth = depth or DepthAnnotator()
        self.classification = classification or ClassificationAnnotator()
        self.semantic = semantic or SemanticSegmentationAnnotator()
        self.instance = instance or InstanceSegmentationAnnotator()
        self.title_style = title_style

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

    def annotate(self, scene: np.ndarray, result: Result | Sequence[Result], *, title: str | None = None,
                 layout: PanelLayout | None = None) -> np.ndarray:
        """A new image with the result(s) drawn and an optional title; an empty sequence gives a copy.

        Several results are drawn in two passes: every layer first (depth colours, segment
        colours), then every panel (colour bar, top-k box, legend, title) over them, placed so
        that none covers another and no blend tints a panel. Pass an empty `layout` to learn
        where the panels went (layout.taken)."""
        results = result if isinstance(result, (list, tuple)) else (result,)
        canvas = new_canvas(scene)
        for item in results:
            canvas = self.annotator_for(item).draw_layer(canvas, item)
        layout = layout or PanelLayout(canvas.shape[:2])
        has_legend = any(self.annotator_for(item) is self.semantic for item in results)
        for item in sorted(results, key=lambda item: _PANEL_ORDER.index(type(item))):
            annotator = self.annotator_for(item)
            if annotator is self.depth:
                annotator.draw_panel(canvas, item, layout, prefer_bottom=has_legend)
            else:
                annotator.draw_panel(canvas, item, layout)
        if title:
            draw_title(canvas, title, layout, self.title_style)
        return canvas


def draw_result(scene: np.ndarray, result: Result | Sequence[Result],
                annotator: ResultAnnotator | None = None) -> np.ndarray:
    """scene with result(s) drawn by `annotator` (a fresh default ResultAnnotator when None)."""
    return (annotator or ResultAnnotator()).annotate(scene, result)
