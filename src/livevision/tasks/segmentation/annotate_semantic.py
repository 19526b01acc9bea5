"""SemanticSegmentationAnnotator: a translucent class-colour blend and a legend of the classes present."""

from __future__ import annotations

import logging

import cv2
import numpy as np

from ...types import SegmentationResult
from ...render.base import Corner, corner_origin, fit_map, new_canvas
from ...render.layout import PanelLayout
from ...render.legend import Legend, LegendEntry, legend_sprite
from ...render.palette import Palette, lut_for_offset_ids
from ...render.text import Font, TextStyle

logger = logging.getLogger(__name__)


def _class_name(id2label: dict[int, str], label_id: int) -> str:
    return id2label.get(label_id, f"class {label_id}")


class SemanticSegmentationAnnotator:
    """Draws a semantic SegmentationResult: each class in its palette colour at `opacity` over the
    scene (pixels labelled -1 are left untouched) and a legend in `legend_corner` listing the
    classes present, largest area first, at most `max_legend_entries` then "+k more".

    Fast path (class ids < 255, e.g. ADE20k, Cityscapes, COCO-stuff): ids + 1 become a uint8
    index, coloured with cv2.applyColorMap and counted with cv2.calcHist (its cost: BENCHMARKS.md, section
    "Measurements behind design choices").
    Larger id spaces fall back to numpy take/bincount.
    """

    panel = "legend"  # (render.layout.PanelLayout.coming)

    def __init__(
        self,
        *,
        opacity: float = 0.5,
        palette: Palette | None = None,
        show_legend: bool = True,
        max_legend_entries: int = 8,
        legend_corner: Corner = Corner.TOP_RIGHT,
        text_style: TextStyle = TextStyle(),
    ):
        if not 0.0 <= opacity <= 1.0:
            raise ValueError(f"opacity must be in [0, 1], got {opacity}")
        if max_legend_entries < 1:
            raise ValueError(f"max_legend_entries must be >= 1, got {max_legend_entries}")
        self.opacity = float(opacity)
        self.palette = palette or Palette.default()
        self.show_legend = show_legend
        self.max_legend_entries = int(max_legend_entries)
        self.legend_corner = Corner(legend_corner)
        self.text_style = text_style
        self._lut = lut_for_offset_ids(self.palette)
        self._last: tuple[SegmentationResult, tuple[int, int], np.ndarray, np.ndarray | None, np.ndarray] | None = None

    def _colored(self, result: SegmentationResult, image_hw: tuple[int, int]):
        """(colour image, mask of unlabelled pixels or None, per-id pixel counts indexed by id + 1)."""
        if self._last is not None and self._last[0] is result and self._last[1] == tuple(image_hw):
            return self._last[2:]
        label_map = np.asarray(result.label_map)
        if label_map.dtype != np.int32:
            label_map = label_map.astype(np.int32)
        label_map = fit_map(label_map, image_hw, "result.label_map", cv2.INTER_NEAREST)
        low, high, _, _ = cv2.minMaxLoc(label_map)
        if low < -1:
            raise ValueError(f"result.label_map must hold class ids >= -1, got {int(low)}")
        if high <= 254:
            index = cv2.convertScaleAbs(label_map, alpha=1.0, beta=1.0)  # id + 1, exact for ids >= -1
            colored = cv2.applyColorMap(index, self._lut)
            counts = cv2.calcHist([index], [0], None, [256], [0, 256]).ravel().astype(np.int64)
            unlabelled = (index == 0).view(np.uint8) if counts[0] else None
        else:
            shifted = label_map + 1
            counts = np.bincount(shifted.ravel())
            colored = np.take(self.palette.colors(np.arange(-1, len(counts) - 1)), shifted, axis=0)
            unlabelled = (shifted == 0).view(np.uint8) if counts[0] else None
        self._last = (result, tuple(image_hw), colored, unlabelled, counts)
        return colored, unlabelled, counts

    def legend(self, result: SegmentationResult) -> Legend:
        """The classes present in result (largest first), as drawn in the legend."""
        _, _, counts = self._colored(result, np.asarray(result.label_map).shape[:2])
        return self._legend_from_counts(result, counts)

    def _legend_from_counts(self, result: SegmentationResult, counts: np.ndarray,
                            max_entries: int | None = None) -> Legend:
        total = max(1, int(counts.sum()))
        present = np.flatnonzero(counts[1:]) # class ids present
        order = present[np.argsort(-counts[1:][present], kind="stable")]
        shown = order[: self.max_legend_entries if max_entries is None else max_entries]
        entries = tuple(
            LegendEntry(int(i), _class_name(result.id2label, int(i)), self.palette.color(int(i)),
                        float(counts[i + 1]) / total)
            for i in shown
        )
        return Legend(entries, hidden_count=len(order) - len(shown))

    def draw_layer(self, canvas: np.ndarray, result: SegmentationResult) -> np.ndarray:
        """canvas with the class colours blended in (a new array when opacity > 0)."""
        colored, unlabelled, _ = self._colored(result, canvas.shape[:2])
        if self.opacity > 0.0:
            blended = cv2.addWeighted(canvas, 1.0 - self.opacity, colored, self.opacity, 0.0)
            if unlabelled is not None:
                cv2.copyTo(canvas, unlabelled, blended)  # keep -1 pixels as they were
            canvas = blended
        return canvas

    def draw_panel(self, canvas: np.ndarray, result: SegmentationResult, layout: PanelLayout) -> None:
        """The legend, in place, in legend_corner. Where other panels leave too little room there, it
        lists fewer classes ("+k more"); only when a single class does not fit does it try the
        other corners, and it is left out when none is free."""
        if not self.show_legend:
            return
        image_hw = canvas.shape[:2]
        _, _, counts = self._colored(result, image_hw)
        margin = Font.for_height(image_hw[0], self.text_style).padding_px
        corners = [self.legend_corner] + [c for c in Corner if c is not self.legend_corner]
        for corner, entries in [(corners[0], n) for n in range(self.max_legend_entries, 0, -1)] + \
                [(c, 1) for c in corners[1:]]:
            legend = self._legend_from_counts(result, counts, entries)
            if not legend.entries:
                return
            sprite = legend_sprite(legend, image_hw[0], self.text_style)
            place = corner_origin(sprite.size_wh, image_hw[::-1], corner, margin)
            where = layout.place("legend", sprite.size_wh, [place])
            if where is not None:
                sprite.paste(canvas, where)
                return
        logger.debug("no room left for the legend")

    def annotate(self, scene: np.ndarray, result: SegmentationResult) -> np.ndarray:
        """A new (H, W, 3) uint8 image with the class colours blended in and the legend."""
        canvas = self.draw_layer(new_canvas(scene), result)
        self.draw_panel(canvas, result, PanelLayout(canvas.shape[:2]))
        return canvas
