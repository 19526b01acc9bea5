"""The depth colour bar: a vertical gradient at the right edge, near at the top, with labels.

Relative maps get "near" / "far" (their units mean nothing to a viewer); metric maps get ticks
in metres over the annotator's fixed range. Bars are rendered once per (image size, colour map,
range) and pasted as a Sprite every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache

import cv2
import numpy as np

from .primitives import Sprite, SpriteCanvas
from .text import FONT_FACE, Font, TextStyle


@dataclass(frozen=True)
class ColorBar:
    """A rendered colour bar. bar_xyxy is the gradient itself in image pixels (x1, y1 exclusive)."""

    sprite: Sprite
    top_left_xy: tuple[int, int]
    bar_xyxy: tuple[int, int, int, int]
    labels: tuple[str, ...]

    def paste(self, image: np.ndarray) -> None:
        self.sprite.paste(image, self.top_left_xy)

    def moved_to(self, top_left_xy: tuple[int, int]) -> "ColorBar":
        """The same bar with its panel's top-left corner at top_left_xy."""
        dx, dy = top_left_xy[0] - self.top_left_xy[0], top_left_xy[1] - self.top_left_xy[1]
        x0, y0, x1, y1 = self.bar_xyxy
        return replace(self, top_left_xy=tuple(top_left_xy), bar_xyxy=(x0 + dx, y0 + dy, x1 + dx, y1 + dy))


def metre_ticks(near_m: float, far_m: float, target_count: int = 5) -> tuple[float, ...]:
    """Tick values for [near_m, far_m]: both ends plus round values ({1, 2, 5} x 10^k) between."""
    span = far_m - near_m
    raw_step = span / max(1, target_count - 1)
    magnitude = 10.0 ** math.floor(math.log10(raw_step))
    step = min((m * magnitude for m in (1.0, 2.0, 5.0, 10.0)), key=lambda s: abs(math.log(s / raw_step)))
    first = math.ceil(near_m / step) * step
    inner = [
        v for v in np.arange(first, far_m, step)
        if v - near_m > 0.4 * step and far_m - v > 0.4 * step
    ]
    return (near_m, *(float(v) for v in inner), far_m)


def _format_metres(value_m: float) -> str:
    return f"{value_m:.3g} m"


@lru_cache(maxsize=16)
def build_colorbar(
    image_hw: tuple[int, int],
    colormap: int,
    metric_range_m: tuple[float, float] | None,
    style: TextStyle = TextStyle(),
) -> ColorBar:
    """Colour bar for an image of size image_hw; metric_range_m=None gives the near/far bar."""
    height, width = image_hw
    font = Font.for_height(height, style)
    bar_w = max(8, height // 45)
    bar_h = max(32, height // 2)
    pad = font.padding_px
    half_text = font.text_height_px // 2 + 1
    tick_len = max(3, bar_w // 3)

    if metric_range_m is None:
        values = (0.0, 1.0)  # positions as fractions of the bar, top to bottom
        labels = ("near", "far")
    else:
        near_m, far_m = metric_range_m
        ticks = metre_ticks(near_m, far_m)
        values = tuple((v - near_m) / (far_m - near_m) for v in ticks)
        labels = tuple(_format_metres(v) for v in ticks)

    label_w = max(font.text_width_px(label) for label in labels)
    panel_w = pad + label_w + pad + tick_len + bar_w + pad
    panel_h = bar_h + 2 * (pad + half_text)
    bar_x0 = panel_w - pad - bar_w
    bar_y0 = pad + half_text

    canvas = SpriteCanvas((panel_w, panel_h), style.background_bgr, style.background_opacity)
    gradient = np.linspace(255, 0, bar_h).round().astype(np.uint8)[:, None]  # top = 255 = near
    column = cv2.applyColorMap(gradient, colormap)
    canvas.image(np.repeat(column, bar_w, axis=1), (bar_x0, bar_y0))
    for value, label in zip(values, labels):
        y = bar_y0 + int(round(value * (bar_h - 1)))
        canvas.fill((bar_x0 - tick_len, y, bar_x0, y + max(1, font.thickness_px)), style.color_bgr)
        text_x = bar_x0 - tick_len - pad - font.text_width_px(label)
        canvas.text(label, (text_x, y + font.text_height_px // 2), FONT_FACE, font.scale,
                    style.color_bgr, font.thickness_px)

    margin = font.padding_px
    x = max(0, width - panel_w - margin)
    y = max(0, (height - panel_h) // 2)
    bar_xyxy = (x + bar_x0, y + bar_y0, x + bar_x0 + bar_w, y + bar_y0 + bar_h)
    return ColorBar(canvas.build(), (x, y), bar_xyxy, labels)
