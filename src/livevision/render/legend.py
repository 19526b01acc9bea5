"""Legends: which classes a frame shows, as colour swatches with names, rendered once and cached."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from .primitives import Sprite, SpriteCanvas
from .text import FONT_FACE, Font, TextStyle

BGR = tuple[int, int, int]


@dataclass(frozen=True)
class LegendEntry:
    """One class in a legend. area_fraction: share of the frame's pixels, 0..1."""

    label_id: int
    name: str
    color_bgr: BGR
    area_fraction: float


@dataclass(frozen=True)
class Legend:
    """The entries shown (largest area first) and how many more classes were left out ("+k more")."""

    entries: tuple[LegendEntry, ...]
    hidden_count: int = 0

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.entries)

    @property
    def lines(self) -> tuple[str, ...]:
        """The text lines drawn, in order."""
        more = (f"+{self.hidden_count} more",) if self.hidden_count else ()
        return self.names + more


def legend_sprite(legend: Legend, image_height_px: int, style: TextStyle) -> Sprite:
    """The legend as a Sprite; cached by what it shows (names, colours, +k), not by areas."""
    items = tuple((entry.name, entry.color_bgr) for entry in legend.entries)
    return _legend_sprite(items, legend.hidden_count, image_height_px, style)


@lru_cache(maxsize=64)
def _legend_sprite(items: tuple[tuple[str, BGR], ...], hidden_count: int, image_height_px: int,
                   style: TextStyle) -> Sprite:
    font = Font.for_height(image_height_px, style)
    pad = font.padding_px
    row_h = font.text_height_px + font.baseline_px + pad
    swatch = font.text_height_px + font.baseline_px
    texts = [name for name, _ in items] + ([f"+{hidden_count} more"] if hidden_count else [])
    text_w = max((font.text_width_px(t) for t in texts), default=0)
    width = pad + swatch + pad + text_w + pad
    height = pad + row_h * len(texts)
    canvas = SpriteCanvas((width, height), style.background_bgr, style.background_opacity)
    for row, text in enumerate(texts):
        top = pad + row * row_h
        if row < len(items):
            canvas.fill((pad, top, pad + swatch, top + swatch), items[row][1])
        baseline_y = top + font.text_height_px
        canvas.text(text, (pad + swatch + pad, baseline_y), FONT_FACE, font.scale, style.color_bgr,
                    font.thickness_px)
    return canvas.build()
