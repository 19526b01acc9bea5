"""Mosaic: the latest view of each of several sources (cameras) in one image, or one of them alone.

Sizes. Without size_wh, the mosaic gives every tile the size of the largest view seen (its width and its
height, each the largest of any source's), so each camera shows at its own resolution, as long as the
whole mosaic fits max_wh (default 1920x1080, a full-HD screen); past that, the tiles shrink together,
keeping their shape. The mosaic is never smaller than the largest view, so one source's mosaic is its
view, four 640x360 cameras give 1280x720 (tiles 640x360) and four 1080p ones 1920x1080 (tiles 960x540).
A view of another size or shape is fitted to its cell (scaled down or up, its shape kept, the rest black).
`render(focus=i)` has the mosaic's size too (the window, a video file keep theirs), source i fitted to it.
The window fits whatever it gets to the screen; past a screen's size, pixels only cost time (in the
window, the web view's JPEG encoder, a video file). The size can grow while sources start (their first
views come one by one): pass size_wh where it must stay the same (a video file); the cells then
divide size_wh, what is left over at the right and bottom is black.

Work per call. `update` only keeps a reference to the view; its tile (the view fitted to its cell, with
title and note) is drawn at the first `render` after it, once, and reused by every render until the next
update: a render is one copy of each tile into a new image. The views handed in must not be changed
afterwards (every annotator and Renderer returns a new image), and the images returned are never touched
again by the mosaic: a sink may keep them (the web view encodes on its own thread).
"""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from ..errors import OptionError
from .layout import PanelLayout
from .text import Font, TextStyle, draw_text_box, draw_title
from .views import grid

DEFAULT_MAX_WH = (1920, 1080)  # the default cap of the mosaic: a full-HD screen
EMPTY_WH = (640, 360)  # the size of a mosaic with no size_wh that has seen no view yet
WAITING_BGR = (40, 40, 40)  # a source without a view yet: dark grey, apart from the black of empty cells
NOTE_BGR = (0, 0, 160)  # the box behind a note (reconnecting, failed): dark red
NOTE_DIM = 0.5  # a marked source's last view is shown this bright: it is not live


class Mosaic:
    """The latest rendered view of each source, one tile each in a grid (sources in order, row by row;
    columns = ceil(sqrt(n))), titled; `render(focus=i)` shows source i alone. See the module docstring
    for the sizes and the work per call."""

    def __init__(self, titles: Sequence[str], *, size_wh: tuple[int, int] | None = None,
                 max_wh: tuple[int, int] = DEFAULT_MAX_WH, title_style: TextStyle = TextStyle()):
        self.titles = [str(title) for title in titles]
        if not self.titles:
            raise OptionError("a mosaic needs at least one source")
        for name, wh in (("size_wh", size_wh), ("max_wh", max_wh)):
            if wh is not None and (len(wh) != 2 or min(wh) < 1):
                raise OptionError(f"{name} must be two positive numbers (width, height), got {wh}")
        self.size = None if size_wh is None else (int(size_wh[0]), int(size_wh[1]))
        self.max_wh = (int(max_wh[0]), int(max_wh[1]))
        self.title_style = title_style
        self.columns = math.ceil(math.sqrt(len(self.titles)))
        self.rows = math.ceil(len(self.titles) / self.columns)
        self._views: list[np.ndarray | None] = [None] * len(self.titles)
        self._notes: list[str | None] = [None] * len(self.titles)
        self._largest_wh = (0, 0)  # of the views seen
        self._tiles: dict[tuple[int, tuple[int, int]], np.ndarray] = {}  # (source, cell size) -> its tile

    def __len__(self) -> int:
        return len(self.titles)

    def update(self, index: int, view: np.ndarray) -> None:
        """Source `index`'s latest view ((H, W, 3) BGR uint8, any size); clears its note."""
        self._check_index(index)
        if not isinstance(view, np.ndarray) or view.dtype != np.uint8 or view.ndim != 3 or view.shape[2] != 3:
            raise ValueError(f"a view must be an (H, W, 3) uint8 BGR image, got {getattr(view, 'shape', view)}")
        self._views[index], self._notes[index] = view, None
        self._largest_wh = (max(self._largest_wh[0], view.shape[1]), max(self._largest_wh[1], view.shape[0]))
        self._forget(index)

    def mark(self, index: int, note: str | None) -> None:
        """Draw `note` ("reconnecting", "failed: ...") over source `index`'s tile, its last view dimmed,
        until the next update or mark(index, None)."""
        self._check_index(index)
        if note != self._notes[index]:
            self._notes[index] = note or None
            self._forget(index)

    def size_wh(self) -> tuple[int, int]:
        """The size of the image `render` returns now (see the module docstring)."""
        if self.size is not None:
            return self.size
        cell_w, cell_h = self._cell_wh()
        return self.columns * cell_w, self.rows * cell_h

    def tile_wh(self, focus: int | None = None) -> tuple[int, int]:
        """The size the tiles are drawn at (with focus: the whole image), their titles sized for its height:
        a HUD over the mosaic reads as large with HudAnnotator's text_for_height_px=tile_wh(focus)[1]."""
        return self._cell_wh() if focus is None else self.size_wh()

    def render(self, focus: int | None = None) -> np.ndarray:
        """A new (H, W, 3) image of size size_wh(): every source's tile, or (focus=i) source i's view alone,
        fitted to the whole image (scaled up or down, its shape kept) and titled."""
        if focus is not None:
            self._check_index(focus)
            return self._tile(focus, self.tile_wh(focus)).copy()  # a copy: the tile is reused, the image handed out
        cell_wh = self.tile_wh()
        image = grid([self._tile(i, cell_wh) for i in range(len(self))], columns=self.columns, cell_wh=cell_wh)
        width, height = self.size_wh()
        if image.shape[:2] == (height, width):
            return image
        return cv2.copyMakeBorder(image, 0, height - image.shape[0], 0, width - image.shape[1],
                                  cv2.BORDER_CONSTANT, value=0)

    def _cell_wh(self) -> tuple[int, int]:
        fixed = self.size or (None if self._largest_wh[0] else EMPTY_WH)  # EMPTY_WH: no view seen yet
        if fixed is not None:  # the cells divide it
            return max(1, fixed[0] // self.columns), max(1, fixed[1] // self.rows)
        # full-size cells, shrunk to fit max_wh, but never below one view's size
        width, height = self._largest_wh
        bound_w, bound_h = max(self.max_wh[0], width), max(self.max_wh[1], height)
        scale = min(1.0, bound_w / (self.columns * width), bound_h / (self.rows * height))
        return max(1, int(width * scale)), max(1, int(height * scale))

    def _tile(self, index: int, cell_wh: tuple[int, int]) -> np.ndarray:
        """Source `index` fitted to a cell of cell_wh, titled, with its note: drawn once per update."""
        key = (index, cell_wh)
        if key not in self._tiles:
            self._tiles[key] = self._draw_tile(index, cell_wh)
        return self._tiles[key]

    def _draw_tile(self, index: int, cell_wh: tuple[int, int]) -> np.ndarray:
        view, note, title = self._views[index], self._notes[index], self.titles[index]
        if view is None:
            tile = np.empty((cell_wh[1], cell_wh[0], 3), np.uint8)
            tile[:] = WAITING_BGR
            title = title if note else f"{title} (waiting)"
        else:
            tile = grid([_shrunk(view, cell_wh)], columns=1, cell_wh=cell_wh)  # fitted, its shape kept (a new image)
            if note:
                tile = cv2.convertScaleAbs(tile, alpha=NOTE_DIM)
        font = Font.for_height(cell_wh[1], self.title_style)  # draw_title's font too
        if title:  # cut in the middle: a path or URL keeps its start and its file name
            draw_title(tile, _fitted_text(title, font, cell_wh[0], middle=True), PanelLayout(tile.shape[:2]),
                       self.title_style)
        if note:
            _draw_note(tile, _fitted_text(note, font, cell_wh[0]), font, self.title_style)
        return tile

    def _forget(self, index: int) -> None:
        for key in [key for key in self._tiles if key[0] == index]:
            del self._tiles[key]

    def _check_index(self, index: int) -> None:
        if not 0 <= index < len(self):
            raise IndexError(f"source index {index} is out of range: the mosaic has {len(self)} sources")


def _shrunk(view: np.ndarray, cell_wh: tuple[int, int]) -> np.ndarray:
    """The view fitted to cell_wh (as grid fits it) where that is a shrink to between half and full size,
    by linear interpolation: five times as fast as grid's INTER_AREA there (1.2 against 6.4 ms, 720p to
    960x540), a little less smooth on the finest detail (one-pixel stripes at 3/4 size: a grey of std 70
    against 52, both beat); else the view, for grid to fit (INTER_AREA below half, where linear aliases)."""
    height, width = view.shape[:2]
    scale = min(cell_wh[0] / width, cell_wh[1] / height)
    if not 0.5 <= scale < 1:
        return view
    fitted_wh = (max(1, min(cell_wh[0], round(width * scale))), max(1, min(cell_wh[1], round(height * scale))))
    return cv2.resize(view, fitted_wh, interpolation=cv2.INTER_LINEAR)


def _fitted_text(text: str, font: Font, width_px: int, *, middle: bool = False) -> str:
    """text, cut short ("..." at its end, or in its middle) to leave a margin at either side of an image
    width_px wide."""
    room, fitted, kept = width_px - 4 * font.padding_px, text, len(text)
    while kept > 1 and font.text_width_px(fitted) > room:
        kept -= 1
        head = (kept + 1) // 2 if middle else kept
        fitted = text[:head].rstrip() + "..." + text[len(text) - (kept - head):]
    return fitted


def _draw_note(tile: np.ndarray, note: str, font: Font, style: TextStyle) -> None:
    """The note on a dark red box in the middle of the tile, in place."""
    height, width = tile.shape[:2]
    box_w = font.text_width_px(note) + 2 * font.padding_px
    where = ((width - box_w) // 2, (height - font.line_height_px) // 2)
    draw_text_box(tile, note, where, font, style, background_bgr=NOTE_BGR)
