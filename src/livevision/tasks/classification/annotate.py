"""ClassificationAnnotator: a top-k panel with labels, score bars and percentages."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...types import ClassificationResult
from ...render.base import Corner, corner_origin, new_canvas
from ...render.layout import PanelLayout
from ...render.primitives import blend_rect
from ...render.text import Font, TextStyle

BGR = tuple[int, int, int]


@dataclass(frozen=True)
class PanelEntry:
    """One row of the panel: the (possibly shortened) label as drawn, and its score 0..1."""

    class_id: int
    label: str
    score: float

    @property
    def percent_text(self) -> str:
        return f"{100.0 * self.score:.1f}%"


def _shorten(label: str, max_chars: int) -> str:
    return label if len(label) <= max_chars else label[: max(1, max_chars - 3)].rstrip() + "..."


class ClassificationAnnotator:
    """Draws a ClassificationResult as a translucent panel in `corner`: one row per class (best
    first, at most top_k), a bar as wide as the score behind the label, and the percentage.

    max_label_chars: longer labels (ImageNet's "tabby, tabby cat") are cut and end in "...".
    """

    def __init__(
        self,
        *,
        top_k: int = 5,
        corner: Corner = Corner.TOP_LEFT,
        bar_bgr: BGR = (0, 160, 255),
        bar_opacity: float = 0.55,
        max_label_chars: int = 28,
        text_style: TextStyle = TextStyle(),
    ):
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1, got {top_k}")
        self.top_k = int(top_k)
        self.corner = Corner(corner)
        self.bar_bgr = bar_bgr
        self.bar_opacity = float(bar_opacity)
        self.max_label_chars = int(max_label_chars)
        self.text_style = text_style

    def entries(self, result: ClassificationResult) -> tuple[PanelEntry, ...]:
        """The rows the panel shows, best first."""
        rows = sorted(zip(result.scores, result.class_ids, result.labels), key=lambda r: -float(r[0]))
        return tuple(
            PanelEntry(int(class_id), _shorten(str(label), self.max_label_chars), float(score))
            for score, class_id, label in rows[: self.top_k]
        )

    def draw_layer(self, canvas: np.ndarray, result: ClassificationResult) -> np.ndarray:
        """Classification draws only a panel: canvas as it is."""
        return canvas

    def draw_panel(self, canvas: np.ndarray, result: ClassificationResult, layout: PanelLayout) -> None:
        """The top-k panel, in place, in `corner`, or the first free other corner (left out when none is)."""
        entries = self.entries(result)
        if not entries:
            return
        height, width = canvas.shape[:2]
        font = Font.for_height(height, self.text_style)
        pad = font.padding_px
        row_h = font.text_height_px + font.baseline_px + pad
        label_w = max(font.text_width_px(e.label) for e in entries)
        percent_w = font.text_width_px("100.0%")
        inner_w = max(label_w + 3 * pad + percent_w, 8 * font.text_height_px)
        panel_w = inner_w + 2 * pad
        panel_h = row_h * len(entries) + pad
        corners = [self.corner] + [c for c in Corner if c is not self.corner]
        places = [corner_origin((panel_w, panel_h), (width, height), corner, pad) for corner in corners]
        where = layout.place("top-k", (panel_w, panel_h), places)
        if where is None:
            return
        x0, y0 = where
        style = self.text_style
        blend_rect(canvas, (x0, y0, x0 + panel_w, y0 + panel_h), style.background_bgr, style.background_opacity)
        for row, entry in enumerate(entries):
            top = y0 + pad // 2 + row * row_h
            bar_w = int(round(min(max(entry.score, 0.0), 1.0) * inner_w))
            blend_rect(canvas, (x0 + pad, top + 1, x0 + pad + bar_w, top + row_h - 1), self.bar_bgr, self.bar_opacity)
            font.put(canvas, entry.label, (x0, top - pad // 2), style.color_bgr)
            percent_x = x0 + panel_w - 2 * pad - font.text_width_px(entry.percent_text)
            font.put(canvas, entry.percent_text, (percent_x, top - pad // 2), style.color_bgr)

    def annotate(self, scene: np.ndarray, result: ClassificationResult) -> np.ndarray:
        """A new (H, W, 3) uint8 image with the top-k panel."""
        canvas = new_canvas(scene)
        self.draw_panel(canvas, result, PanelLayout(canvas.shape[:2]))
        return canvas
