"""Drawing results onto frames: one `<Thing>Annotator` per kind of result, views and a HUD.

Every annotator has `annotate(scene, result) -> image`: scene is (H, W, 3) uint8 BGR, the return
value is a NEW image and scene is never modified.
"""

from .base import Annotator, Corner
from .colorbar import ColorBar
from .depth_range import RangeSmoothing
from .dispatch import ResultAnnotator, annotator_for, draw_result
from .hud import HudAnnotator
from .layout import PanelLayout
from .legend import Legend, LegendEntry
from .mosaic import Mosaic
from .palette import Palette
from .text import Font, TextStyle, draw_text_box
from .views import grid, side_by_side

# Each task's annotators live in its package (tasks/<task>/annotate*.py), which imports this one:
# they are found here on first use, not imported with it.
_TASK_ANNOTATORS = {
    "ClassificationAnnotator": "..tasks.classification.annotate",
    "PanelEntry": "..tasks.classification.annotate",
    "DepthAnnotator": "..tasks.depth.annotate",
    "ColorLookup": "..tasks.segmentation.annotate_instance",
    "InstanceLabel": "..tasks.segmentation.annotate_instance",
    "InstanceSegmentationAnnotator": "..tasks.segmentation.annotate_instance",
    "SemanticSegmentationAnnotator": "..tasks.segmentation.annotate_semantic",
}


def __getattr__(name: str):
    if name in _TASK_ANNOTATORS:
        import importlib

        return getattr(importlib.import_module(_TASK_ANNOTATORS[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "Annotator",
    "ClassificationAnnotator",
    "ColorBar",
    "ColorLookup",
    "Corner",
    "DepthAnnotator",
    "Font",
    "HudAnnotator",
    "InstanceLabel",
    "InstanceSegmentationAnnotator",
    "Legend",
    "LegendEntry",
    "Mosaic",
    "Palette",
    "PanelEntry",
    "PanelLayout",
    "RangeSmoothing",
    "ResultAnnotator",
    "SemanticSegmentationAnnotator",
    "TextStyle",
    "annotator_for",
    "draw_result",
    "draw_text_box",
    "grid",
    "side_by_side",
]
