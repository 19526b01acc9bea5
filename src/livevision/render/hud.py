"""HudAnnotator: a few status lines ("capture 30.0 fps", "age 120 ms") in a corner."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .base import Corner, new_canvas
from .text import Font, TextStyle, draw_text_lines


class HudAnnotator:
    """Draws text lines as one translucent block in `corner`. The caller formats the lines
    (units in the text: "depth 7.9 fps", "age 120 ms"); this only lays them out."""

    def __init__(self, *, corner: Corner = Corner.BOTTOM_LEFT, text_style: TextStyle = TextStyle()):
        self.corner = Corner(corner)
        self.text_style = text_style

    def annotate(self, scene: np.ndarray, lines: Sequence[str], *, text_for_height_px: int | None = None) -> np.ndarray:
        """A new (H, W, 3) uint8 image with the lines drawn; no lines gives a plain copy.
        text_for_height_px: the image height the text is sized for (default the scene's): a grid
        passes its tiles' height, so the HUD reads at the size of the tiles' titles."""
        if isinstance(lines, str):
            lines = [lines]
        canvas = new_canvas(scene)
        font = Font.for_height(text_for_height_px or canvas.shape[0], self.text_style)
        draw_text_lines(canvas, [str(line) for line in lines], self.corner, font, self.text_style,
                        margin_px=font.padding_px)
        return canvas
