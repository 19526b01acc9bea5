"""PanelLayout: where the panels of one frame go (legend, colour bar, top-k box, titles), so that
none covers another when several results share a frame."""

from __future__ import annotations

from typing import Iterable

Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, x1 / y1 exclusive


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class PanelLayout:
    """The boxes already taken on one image. A panel asks for the first of its candidate places
    whose visible part (a panel larger than the image is cut off) is free, and takes it."""

    def __init__(self, image_hw: tuple[int, int]):
        self.height, self.width = (int(v) for v in image_hw)
        self.taken: list[tuple[str, Box]] = []  # (what, its visible box), in placing order
        # the panels that will be drawn on this image (annotators' `panel`: "legend", ...), so that one
        # placed earlier can leave the place a later one wants (the depth colour bar yields to a legend)
        self.coming: set[str | None] = set()

    def _visible(self, box: Box) -> Box:
        x0, y0, x1, y1 = box
        return max(0, x0), max(0, y0), min(self.width, x1), min(self.height, y1)

    def fits(self, box: Box) -> bool:
        visible = self._visible(box)
        return not any(_overlaps(visible, other) for _, other in self.taken)

    def place(self, what: str, size_wh: tuple[int, int],
              candidates_xy: Iterable[tuple[int, int]]) -> tuple[int, int] | None:
        """The first candidate top-left where a box of size_wh fits, taken for `what`; None if none does."""
        width, height = size_wh
        for x, y in candidates_xy:
            box = (int(x), int(y), int(x) + width, int(y) + height)
            if self.fits(box):
                self.taken.append((what, self._visible(box)))
                return box[0], box[1]
        return None
