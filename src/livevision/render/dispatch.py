"""Pick the right annotator for a result: each task's own (tasks/<task>/annotate.py), from the registry."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..tasks.registry import TASKS, definition_of
from .base import Annotator, new_canvas
from .layout import PanelLayout
from .text import TextStyle, draw_title


def annotator_for(result) -> Annotator:
    """A new annotator with default settings for this result's type (and segmentation kind).

    For video, keep one ResultAnnotator instead: the depth annotator's smoothed range is state.
    """
    task = definition_of(result)
    return task.annotators()[task.annotator_name(result)]


class ResultAnnotator:
    """One annotator per kind of result, picked per call: by name, as the tasks define them (depth,
    classification, semantic, instance). Pass configured annotators under those names to override the
    defaults. annotate() accepts one result or several (drawn in order, e.g. depth then classification)."""

    def __init__(self, *, title_style: TextStyle = TextStyle(), **annotators: Annotator):
        self.annotators: dict[str, Annotator] = {}
        for task in TASKS.values():
            self.annotators.update(task.annotators())
        unknown = sorted(set(annotators) - set(self.annotators))
        if unknown:
            raise TypeError(f"ResultAnnotator takes annotators named {', '.join(self.annotators)}, "
                            f"not {', '.join(unknown)}")
        self.annotators.update(annotators)
        self.title_style = title_style

    def __getattr__(self, name: str) -> Annotator:  # resultannotator.depth, .semantic, ...
        annotators = self.__dict__.get("annotators", {})
        if name in annotators:
            return annotators[name]
        raise AttributeError(name)

    def annotator_for(self, result) -> Annotator:
        task = definition_of(result)
        return self.annotators[task.annotator_name(result)]

    def reset(self) -> None:
        """Forget per-stream state (the depth range)."""
        for annotator in self.annotators.values():
            if hasattr(annotator, "reset"):
                annotator.reset()

    def annotate(self, scene: np.ndarray, result, *, title: str | None = None,
                 layout: PanelLayout | None = None) -> np.ndarray:
        """A new image with the result(s) drawn and an optional title; an empty sequence gives a copy.

        Several results are drawn in two passes: every layer first (depth colours, segment
        colours), then every panel (colour bar, top-k box, legend, title) over them, placed so
        that none covers another and no blend tints a panel: in the registry's task order (panels
        that cannot shrink first). Pass an empty `layout` to learn where the panels went (layout.taken)."""
        results: Sequence = result if isinstance(result, (list, tuple)) else (result,)
        canvas = new_canvas(scene)
        for item in results:
            canvas = self.annotator_for(item).draw_layer(canvas, item)
        layout = layout or PanelLayout(canvas.shape[:2])
        layout.coming = {getattr(self.annotator_for(item), "panel", None) for item in results}
        order = list(TASKS)
        for item in sorted(results, key=lambda item: order.index(definition_of(item).task)):
            self.annotator_for(item).draw_panel(canvas, item, layout)
        if title:
            draw_title(canvas, title, layout, self.title_style)
        return canvas


def draw_result(scene: np.ndarray, result, annotator: ResultAnnotator | None = None) -> np.ndarray:
    """scene with result(s) drawn by `annotator` (a fresh default ResultAnnotator when None)."""
    return (annotator or ResultAnnotator()).annotate(scene, result)
