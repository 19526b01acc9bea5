"""InstanceSegmentationAnnotator: instance and panoptic segments as translucent fills, outlines and labels."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from ...types import Segment, SegmentationResult, ValueEnum
from ...render.base import fit_map, new_canvas
from ...render.layout import PanelLayout
from ...render.palette import Palette, object_color
from ...render.text import Font, TextStyle, contrasting_text_bgr, draw_text_box
from ..detection.captions import object_caption

logger = logging.getLogger(__name__)

BGR = tuple[int, int, int]
_MAX_SEGMENTS = 255  # segments share one uint8 index map (0 = none)


class ColorLookup(ValueEnum):
    """What picks a segment's colour. CLASS is stable from frame to frame (segment ids are per-frame
    numbers from post-processing); SEGMENT tells neighbouring instances of one class apart."""

    CLASS = "class"
    SEGMENT = "segment"


@dataclass(frozen=True)
class InstanceLabel:
    """A label as drawn: its text, the segment it names, where its box sits and its colour."""

    segment_id: int
    text: str
    top_left_xy: tuple[int, int]
    color_bgr: BGR


@dataclass(frozen=True)
class _Shape:
    segment: Segment
    color_bgr: BGR
    box_xywh: tuple[int, int, int, int]
    area_px: int
    contours: tuple[np.ndarray, ...]


class InstanceSegmentationAnnotator:
    """Draws an "instance" or "panoptic" SegmentationResult.

    opacity: fill strength over the scene (pixels in no segment are untouched).
    color_lookup: what colours a segment the stream does not track; a tracked one (track_id) has its track
        id's colour, the same in every frame.
    outline_thickness_px: None = about 1 px per 360 rows of the image.
    show_scores: append the score to each label ("person 0.92"); a tracked segment's label has its id
        ("person #3 0.92"), and one with a distance shows it instead of the score ("person #3 2.4 m").
    Segments are painted largest first, so small ones stay visible on top; at most 255 are drawn.
    """

    def __init__(
        self,
        *,
        opacity: float = 0.45,
        color_lookup: ColorLookup = ColorLookup.CLASS,
        palette: Palette | None = None,
        show_outlines: bool = True,
        outline_thickness_px: int | None = None,
        show_labels: bool = True,
        show_scores: bool = True,
        text_style: TextStyle = TextStyle(background_opacity=0.75),
    ):
        if not 0.0 <= opacity <= 1.0:
            raise ValueError(f"opacity must be in [0, 1], got {opacity}")
        self.opacity = float(opacity)
        self.color_lookup = ColorLookup(color_lookup)
        self.palette = palette or Palette.default()
        self.show_outlines = show_outlines
        self.outline_thickness_px = outline_thickness_px
        self.show_labels = show_labels
        self.show_scores = show_scores
        self.text_style = text_style
        self._last: tuple[SegmentationResult, tuple[int, int], list[_Shape], np.ndarray, np.ndarray] | None = None

    def _color(self, segment: Segment) -> BGR:
        if segment.track_id is not None:  # the object's colour in every frame, as its detection box's
            return object_color(self.palette, segment.track_id, segment.label_id)
        key = segment.label_id if self.color_lookup is ColorLookup.CLASS else segment.id
        return self.palette.color(key)

    def _prepare(self, result: SegmentationResult, image_hw: tuple[int, int]):
        """(shapes, colour image, mask of pixels in no segment), cached per result."""
        if self._last is not None and self._last[0] is result and self._last[1] == tuple(image_hw):
            return self._last[2:]
        shapes: list[_Shape] = []
        masks: list[np.ndarray] = []
        for segment in result.segments:
            mask = np.asarray(segment.mask)
            mask = mask.view(np.uint8) if mask.dtype == np.bool_ else (mask != 0).view(np.uint8)
            mask = fit_map(mask, image_hw, f"segment {segment.id} mask", cv2.INTER_NEAREST)
            x, y, w, h = cv2.boundingRect(mask)
            if w == 0 or h == 0:
                continue
            contours, _ = cv2.findContours(mask[y : y + h, x : x + w], cv2.RETR_EXTERNAL,
                                           cv2.CHAIN_APPROX_SIMPLE, offset=(x, y))
            # 1-px polygon simplification: looks the same, and thick outlines cost per vertex.
            contours = [cv2.approxPolyDP(c, 1.0, True) for c in contours]
            area_px = cv2.countNonZero(mask[y : y + h, x : x + w])
            shapes.append(_Shape(segment, self._color(segment), (x, y, w, h), area_px, tuple(contours)))
            masks.append(mask)
        order = sorted(range(len(shapes)), key=lambda i: -shapes[i].area_px)
        if len(order) > _MAX_SEGMENTS:
            logger.debug("drawing the %d largest of %d segments", _MAX_SEGMENTS, len(order))
            order = order[:_MAX_SEGMENTS]
        shapes = [shapes[i] for i in order]
        masks = [masks[i] for i in order]

        # One uint8 index map: 0 = no segment, k = shapes[k - 1]; largest painted first.
        index = np.zeros(image_hw, np.uint8)
        lut = np.zeros((256, 1, 3), np.uint8)
        for k, (shape, mask) in enumerate(zip(shapes, masks), start=1):
            x, y, w, h = shape.box_xywh
            index[y : y + h, x : x + w][mask[y : y + h, x : x + w] != 0] = k
            lut[k, 0] = shape.color_bgr
        colored = cv2.applyColorMap(index, lut)
        outside = (index == 0).view(np.uint8)
        self._last = (result, tuple(image_hw), shapes, colored, outside)
        return shapes, colored, outside

    def _label_text(self, segment: Segment) -> str:
        return object_caption(segment.label, segment.score, segment.track_id, segment.depth,
                              show_score=self.show_scores)

    def labels(self, result: SegmentationResult, image_hw: tuple[int, int] | None = None) -> tuple[InstanceLabel, ...]:
        """The labels annotate() draws for result (largest segment first), without drawing."""
        if image_hw is None:
            image_hw = np.asarray(result.label_map).shape[:2]
        shapes, _, _ = self._prepare(result, image_hw)
        font = Font.for_height(image_hw[0], self.text_style)
        out = []
        for shape in shapes:
            x, y, _, _ = shape.box_xywh
            # Above the box when there is room, else just inside its top edge.
            top = y - font.line_height_px if y >= font.line_height_px else y
            out.append(InstanceLabel(shape.segment.id, self._label_text(shape.segment), (x, top), shape.color_bgr))
        return tuple(out)

    def draw_layer(self, canvas: np.ndarray, result: SegmentationResult) -> np.ndarray:
        """canvas with the segments filled, outlined and labelled (a new array when filled)."""
        image_hw = canvas.shape[:2]
        shapes, colored, outside = self._prepare(result, image_hw)
        if not shapes:
            return canvas
        if self.opacity > 0.0:
            blended = cv2.addWeighted(canvas, 1.0 - self.opacity, colored, self.opacity, 0.0)
            cv2.copyTo(canvas, outside, blended)
            canvas = blended
        if self.show_outlines:
            thickness = self.outline_thickness_px or max(1, image_hw[0] // 360)
            for shape in shapes:
                cv2.polylines(canvas, shape.contours, True, shape.color_bgr, thickness, cv2.LINE_8)
        if self.show_labels:
            font = Font.for_height(image_hw[0], self.text_style)
            for label in self.labels(result, image_hw):
                draw_text_box(canvas, label.text, label.top_left_xy, font, self.text_style,
                              background_bgr=label.color_bgr, color_bgr=contrasting_text_bgr(label.color_bgr))
        return canvas

    def draw_panel(self, canvas: np.ndarray, result: SegmentationResult, layout: PanelLayout) -> None:
        """Instances are labelled where they are: no panel."""

    def annotate(self, scene: np.ndarray, result: SegmentationResult) -> np.ndarray:
        """A new (H, W, 3) uint8 image with the segments filled, outlined and labelled."""
        return self.draw_layer(new_canvas(scene), result)
