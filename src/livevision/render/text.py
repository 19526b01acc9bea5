"""Text with a background box, sized for the image so it reads the same at 480p and at 4K."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

from .base import Corner, corner_origin
from .layout import PanelLayout
from .primitives import blend_rect

FONT_FACE = cv2.FONT_HERSHEY_SIMPLEX
REFERENCE_HEIGHT_PX = 720

BGR = tuple[int, int, int]


@dataclass(frozen=True)
class TextStyle:
    """How text looks. Sizes are relative, so one style serves every resolution.

    scale_at_720p: OpenCV font scale on a 720-pixel-high image; scaled linearly with height.
    min_scale: floor, so text stays legible on small frames (0.4 is ~9 px high).
    padding_em: box padding as a fraction of the text height.
    background_opacity: 0 = no box, 1 = opaque box.
    """

    scale_at_720p: float = 0.6
    min_scale: float = 0.4
    color_bgr: BGR = (255, 255, 255)
    background_bgr: BGR = (0, 0, 0)
    background_opacity: float = 0.6
    padding_em: float = 0.4


@dataclass(frozen=True)
class Font:
    """A TextStyle resolved for one image height: what cv2.putText needs, in pixels."""

    scale: float
    thickness_px: int
    text_height_px: int
    baseline_px: int
    padding_px: int

    @classmethod
    def for_height(cls, image_height_px: int, style: TextStyle = TextStyle()) -> "Font":
        scale = max(style.min_scale, style.scale_at_720p * image_height_px / REFERENCE_HEIGHT_PX)
        thickness = max(1, int(round(scale * 1.4)))
        (_, text_h), baseline = cv2.getTextSize("Hg", FONT_FACE, scale, thickness)
        padding = max(2, int(round(style.padding_em * text_h)))
        return cls(scale, thickness, text_h, baseline, padding)

    @property
    def line_height_px(self) -> int:
        """Height of one boxed line: text, descenders and padding above and below."""
        return self.text_height_px + self.baseline_px + 2 * self.padding_px

    def text_width_px(self, text: str) -> int:
        (width, _), _ = cv2.getTextSize(text, FONT_FACE, self.scale, self.thickness_px)
        return width

    def put(self, image: np.ndarray, text: str, top_left_xy: tuple[int, int], color_bgr: BGR) -> None:
        """Draw text (no box) whose padded line box starts at top_left_xy. Draws in place."""
        x, y = top_left_xy
        baseline_y = y + self.padding_px + self.text_height_px
        cv2.putText(
            image, text, (x + self.padding_px, baseline_y), FONT_FACE, self.scale,
            color_bgr, self.thickness_px, cv2.LINE_AA,
        )


def contrasting_text_bgr(background_bgr: Sequence[int]) -> BGR:
    """Black or white, whichever reads better on background_bgr (Rec. 601 luma)."""
    b, g, r = (float(c) for c in background_bgr)
    return (0, 0, 0) if 0.114 * b + 0.587 * g + 0.299 * r > 140 else (255, 255, 255)


def draw_text_box(
    image: np.ndarray,
    text: str,
    top_left_xy: tuple[int, int],
    font: Font,
    style: TextStyle = TextStyle(),
    *,
    background_bgr: BGR | None = None,
    color_bgr: BGR | None = None,
) -> tuple[int, int, int, int]:
    """Draw one line of text on a translucent box, in place; the box is kept inside the image.

    Returns the box as (x0, y0, x1, y1) pixels, x1/y1 exclusive.
    """
    height, width = image.shape[:2]
    box_w = font.text_width_px(text) + 2 * font.padding_px
    box_h = font.line_height_px
    x = int(min(max(0, top_left_xy[0]), max(0, width - box_w)))
    y = int(min(max(0, top_left_xy[1]), max(0, height - box_h)))
    background = style.background_bgr if background_bgr is None else background_bgr
    blend_rect(image, (x, y, x + box_w, y + box_h), background, style.background_opacity)
    font.put(image, text, (x, y), style.color_bgr if color_bgr is None else color_bgr)
    return x, y, x + box_w, y + box_h


def draw_text_lines(
    image: np.ndarray,
    lines: Sequence[str],
    corner: Corner,
    font: Font,
    style: TextStyle = TextStyle(),
    *,
    margin_px: int = 0,
) -> tuple[int, int, int, int]:
    """Draw lines as one translucent block in a corner of image, in place. Returns the block's box."""
    if not lines:
        return 0, 0, 0, 0
    height, width = image.shape[:2]
    line_h = font.text_height_px + font.baseline_px + font.padding_px
    block_w = max(font.text_width_px(line) for line in lines) + 2 * font.padding_px
    block_h = line_h * len(lines) + font.padding_px
    x, y = corner_origin((block_w, block_h), (width, height), corner, margin_px)
    blend_rect(image, (x, y, x + block_w, y + block_h), style.background_bgr, style.background_opacity)
    for i, line in enumerate(lines):
        font.put(image, line, (x, y + i * line_h), style.color_bgr)
    return x, y, x + block_w, y + block_h


def draw_title(image: np.ndarray, title: str, layout: PanelLayout, style: TextStyle = TextStyle()) -> None:
    """A one-line title box, in place: top centre, else bottom centre, else the first free corner
    of `layout`; over the top centre when nothing is free."""
    height, width = image.shape[:2]
    font = Font.for_height(height, style)
    box_wh = (font.text_width_px(title) + 2 * font.padding_px, font.line_height_px)
    margin = font.padding_px
    centre_x = (width - box_wh[0]) // 2
    places = [(centre_x, margin), (centre_x, height - margin - box_wh[1])]
    places += [corner_origin(box_wh, (width, height), corner, margin) for corner in Corner]
    where = layout.place("title", box_wh, places) or places[0]
    draw_text_box(image, title, where, font, style)
