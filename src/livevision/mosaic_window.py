"""The window of several sources (cameras) in one run: a Mosaic of their views and its keys, 1..9 show that
source alone, 0 or m the mosaic again, the rest as in window_keys; and ShowPacer, when a mosaic is worth
showing.

The loop, for every packet of every source::

    mosaic.update(packet.source_index, renderers[packet.source_index].render(packet))
    if pacer.due(packet.source_index, clock.now()):
        if mosaic_window.show():          # the window, and whatever else shows the mosaic:
            break                         # web_view.write_view(mosaic_window.last_view, ...)

Showing the mosaic at every packet of four cameras would be four times the window's work for the same
picture (each packet changes one tile): the pacer lets it through about once per frame period of the
fastest source.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from .render.mosaic import Mosaic
from .sinks import WindowSink
from .window_keys import KEY_VIEW, act_on_key

if TYPE_CHECKING:
    from .app import Renderer

KEY_MOSAIC = (ord("0"), ord("m"))  # back to the mosaic
KEY_FIRST_SOURCE = ord("1")  # 1..9: that source alone
DEFAULT_MAX_FPS = 60.0  # a screen's refresh: the most mosaics a second worth showing


class MosaicWindow:
    """The window of a Mosaic and its keys: 1..9 show that source alone, full size (`focus`, from the next
    show on); 0 or m the mosaic again; v changes the view of each renderer given; s saves a snapshot of
    what the window shows, space pauses, q / Esc quit, as KeyWindow. draw_hud: view -> view with the HUD
    (size its text with `mosaic.tile_wh(window.focus)`: as large as the titles)."""

    def __init__(self, window: WindowSink, mosaic: Mosaic, snapshot_dir: Path, *,
                 renderers: Sequence[Renderer] = (), draw_hud: Callable[[np.ndarray], np.ndarray] | None = None):
        self.window, self.mosaic, self.snapshot_dir = window, mosaic, snapshot_dir
        self.renderers, self.draw_hud = list(renderers), draw_hud
        self.focus: int | None = None  # the source shown alone, None for the mosaic
        self.shown = 0  # mosaics shown: their index (snapshots are named after it)
        self.last_view: np.ndarray | None = None  # what the window shows now

    def show(self) -> bool:
        """Show the mosaic (or the focused source) and act on the key pressed; True to quit."""
        view = self.mosaic.render(self.focus)
        shown = view if self.draw_hud is None else self.draw_hud(view)
        self.window.write_view(shown, self.shown)
        self.last_view, self.shown = shown, self.shown + 1
        key = self.window.poll(1)
        if key in KEY_MOSAIC:
            self.focus = None
        elif KEY_FIRST_SOURCE <= key < KEY_FIRST_SOURCE + min(9, len(self.mosaic)):
            self.focus = key - KEY_FIRST_SOURCE
        elif key == KEY_VIEW:
            for renderer in self.renderers:
                renderer.next_view()
        return act_on_key(key, self.window, shown, self.shown - 1, self.snapshot_dir)


class ShowPacer:
    """When to show a mosaic: at most about once per frame period of the fastest source, learned from when
    each source's packets come (a smoothed interval per source), and at most max_fps times a second (a file
    played as fast as it decodes needs no 300 shows a second). Until a source has sent two packets, every
    packet is shown. A show is let through from 3/4 of the period on, so that the fastest source's frames,
    which come a little early or late, are not skipped every other time."""

    SMOOTHING = 0.25  # weight of the newest interval in each source's smoothed one
    SLACK = 0.25  # how early in the period a show is let through

    def __init__(self, sources: int, *, max_fps: float | None = DEFAULT_MAX_FPS):
        self._last_packet: list[float | None] = [None] * sources
        self._interval: list[float | None] = [None] * sources
        self._min_period = 0.0 if not max_fps else 1.0 / max_fps
        self._last_show: float | None = None

    def period_s(self) -> float:
        """The frame period of the fastest source as learned so far (0 before any)."""
        return min((interval for interval in self._interval if interval is not None), default=0.0)

    def due(self, source_index: int, now: float) -> bool:
        """Count a packet of source `source_index` come at `now` (seconds, any clock); True when the mosaic
        should be shown now (counted as shown)."""
        last = self._last_packet[source_index]
        if last is not None:
            gap, smoothed = now - last, self._interval[source_index]
            self._interval[source_index] = gap if smoothed is None else smoothed + self.SMOOTHING * (gap - smoothed)
        self._last_packet[source_index] = now
        wait = max(self._min_period, (1 - self.SLACK) * self.period_s())
        if self._last_show is not None and now - self._last_show < wait:
            return False
        self._last_show = now
        return True
