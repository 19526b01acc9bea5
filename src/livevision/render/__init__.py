"""Drawing results onto frames: one `<Thing>Annotator` per kind of result, views and a HUD.

Every annotator has `annotate(scene, result) -> image`: scene is (H, W, 3) uint8 BGR, the return
value is a NEW image and scene is never modified.
"""

from .base import Annotator, Corner
from .classification import ClassificationAnnotator, PanelEntry
from .colorbar import ColorBar
from .depth import DepthAnnotator
from .depth_range import RangeSmoothing
from .dispatch import ResultAnnotator, annotator_for, draw_result
from .hud import HudAnnotator
from .instance import ColorLookup, InstanceLabel, InstanceSegmentationAnnotator
from .layout import PanelLayout
from .legend import Legend, LegendEntry
from .palette import Palette
from .segmentation import SemanticSegmentationAnnotator
from .text import Font, TextStyle, draw_text_box
from .views import grid, side_by_side

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
