"""DetectionAnnotator: each object's box and a caption ("person #3 2.4 m"), coloured by its track id (the
same colour in every frame) or else by its class."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ...render.base import new_canvas
from ...render.layout import Box, PanelLayout
from ...render.palette import Palette, object_color
from ...render.text import Font, TextStyle, contrasting_text_bgr, draw_text_box
from ...types import Detection, DetectionResult
from .captions import object_caption

BGR = tuple[int, int, int]


@dataclass(frozen=True)
class DetectionLabel:
    """A caption as drawn: the detection it names (its index in result.detections), its text, its box
    (x0, y0, x1, y1 pixels, x1 / y1 exclusive, inside the image) and its colour."""

    index: int
    text: str
    box_xyxy: Box
    color_bgr: BGR


@dataclass(frozen=True)
class _Shape:
    index: int
    detection: Detection
    box_xyxy: Box  # whole pixels clipped to the image, x1 / y1 exclusive, never empty
    color_bgr: BGR


def _shorten(label: str, max_chars: int) -> str:
    return label if len(label) <= max_chars else label[: max(1, max_chars - 3)].rstrip() + "..."


def _pixel_box(box, image_hw: tuple[int, int]) -> Box | None:
    """The whole pixels a (xmin, ymin, xmax, ymax) float box covers inside the image; None when it covers
    none (off-frame, zero area, or not finite)."""
    if len(box) != 4 or not all(math.isfinite(float(v)) for v in box):
        return None
    height, width = image_hw
    x0, y0 = max(0, math.floor(float(box[0]))), max(0, math.floor(float(box[1])))
    x1, y1 = min(width, math.ceil(float(box[2]))), min(height, math.ceil(float(box[3])))
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _outline(canvas: np.ndarray, box: Box, thickness: int, color_bgr: BGR) -> None:
    """A rectangle's outline `thickness` pixels wide, all inside box (x1 / y1 exclusive), in place."""
    x0, y0, x1, y1 = box
    canvas[y0 : min(y1, y0 + thickness), x0:x1] = color_bgr
    canvas[max(y0, y1 - thickness) : y1, x0:x1] = color_bgr
    canvas[y0:y1, x0 : min(x1, x0 + thickness)] = color_bgr
    canvas[y0:y1, max(x0, x1 - thickness) : x1] = color_bgr


class DetectionAnnotator:
    """Draws a DetectionResult: a box outline per object (drawn inside the box, so a box at the frame's edge
    keeps its whole outline) and a caption on the object's colour.

    box_thickness_px: None = 2 px at 360 rows, 3 at 720, 4 at 1080.
    show_scores: the score in captions of objects without a distance.
    max_label_chars: longer class names are cut and end in "...".
    Captions sit above their box, else just inside its top, below it, or inside its bottom: the first of
    those places no other caption took (the best-scoring objects choose first), always inside the frame.
    """

    def __init__(self, *, palette: Palette | None = None, box_thickness_px: int | None = None,
                 show_labels: bool = True, show_scores: bool = True, max_label_chars: int = 24,
                 text_style: TextStyle = TextStyle(background_opacity=0.75)):
        if box_thickness_px is not None and box_thickness_px < 1:
            raise ValueError(f"box_thickness_px must be >= 1, got {box_thickness_px}")
        self.palette = palette or Palette.default()
        self.box_thickness_px = box_thickness_px
        self.show_labels = show_labels
        self.show_scores = show_scores
        self.max_label_chars = int(max_label_chars)
        self.text_style = text_style

    def color(self, detection: Detection) -> BGR:
        return object_color(self.palette, detection.track_id, detection.label_id)

    def _shapes(self, result: DetectionResult, image_hw: tuple[int, int]) -> list[_Shape]:
        shapes = []
        for index, detection in enumerate(result.detections):
            box = _pixel_box(detection.box, image_hw)
            if box is not None:
                shapes.append(_Shape(index, detection, box, self.color(detection)))
        return shapes

    def caption(self, detection: Detection) -> str:
        return object_caption(_shorten(str(detection.label), self.max_label_chars), detection.score,
                              detection.track_id, detection.depth, show_score=self.show_scores)

    def labels(self, result: DetectionResult, image_hw: tuple[int, int]) -> tuple[DetectionLabel, ...]:
        """The captions draw_layer() draws and where, best-scoring object first, without drawing."""
        return self._labels(self._shapes(result, image_hw), image_hw)

    def _labels(self, shapes: list[_Shape], image_hw: tuple[int, int]) -> tuple[DetectionLabel, ...]:
        height, width = image_hw
        font = Font.for_height(height, self.text_style)
        placed = PanelLayout(image_hw)
        out = []
        for shape in sorted(shapes, key=lambda s: -float(s.detection.score)):
            text = self.caption(shape.detection)
            w, h = font.text_width_px(text) + 2 * font.padding_px, font.line_height_px
            x0, y0, _, y1 = shape.box_xyxy
            x = min(max(0, x0), max(0, width - w))
            places = [(x, min(max(0, y), max(0, height - h))) for y in (y0 - h, y0, y1, y1 - h)]
            if y0 < h:  # no room above: inside the top first
                places = places[1:]
            where = placed.place("caption", (w, h), places) or places[0]
            out.append(DetectionLabel(shape.index, text, (where[0], where[1], where[0] + w, where[1] + h),
                                      shape.color_bgr))
        return tuple(out)

    def _thickness(self, image_height: int) -> int:
        return self.box_thickness_px or max(2, image_height // 360 + 1)

    def draw_layer(self, canvas: np.ndarray, result: DetectionResult) -> np.ndarray:
        """canvas with the boxes and captions drawn, in place."""
        image_hw = canvas.shape[:2]
        shapes = self._shapes(result, image_hw)
        t = self._thickness(image_hw[0])
        for shape in sorted(shapes, key=lambda s: float(s.detection.score)):  # the best-scoring on top
            _outline(canvas, shape.box_xyxy, t, shape.color_bgr)
        if self.show_labels:
            font = Font.for_height(image_hw[0], self.text_style)
            for label in self._labels(shapes, image_hw):
                draw_text_box(canvas, label.text, label.box_xyxy[:2], font, self.text_style,
                              background_bgr=label.color_bgr, color_bgr=contrasting_text_bgr(label.color_bgr))
        return canvas

    def draw_panel(self, canvas: np.ndarray, result: DetectionResult, layout: PanelLayout) -> None:
        """Objects are labelled where they are: no panel."""

    def annotate(self, scene: np.ndarray, result: DetectionResult) -> np.ndarray:
        """A new (H, W, 3) uint8 image with the boxes and captions."""
        return self.draw_layer(new_canvas(scene), result)
