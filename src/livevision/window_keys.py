"""The window and its keys in `livevision run`: q / Esc quit, space pauses, v changes the view, s saves a
snapshot of what the window shows."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from . import interrupts
from .sinks import WindowSink

if TYPE_CHECKING:
    from .app import Renderer
    from .stream import Packet

log = logging.getLogger(__name__)

KEY_QUIT, KEY_ESC, KEY_PAUSE, KEY_VIEW, KEY_SNAPSHOT = ord("q"), 27, ord(" "), ord("v"), ord("s")
PAUSE_POLL_MS = 30  # while paused, how long each wait for a key is (the GUI stays responsive, no busy loop)
SNAPSHOT_NAME = re.compile(r"livevision_\d{6,}\.png")  # a snapshot's file name (the s key): see snapshot


class KeyWindow:
    """The window and its keys: shows each view (with the HUD when draw_hud is given), and acts on the keys:
    v changes the view, s saves a snapshot of what the window shows, space pauses, q / Esc quit."""

    def __init__(self, window: WindowSink, renderer: Renderer, snapshot_dir: Path, draw_hud=None):
        self.window, self.renderer, self.snapshot_dir, self.draw_hud = window, renderer, snapshot_dir, draw_hud

    def show(self, view: np.ndarray, packet: Packet) -> bool:
        """Show the view and act on the key pressed; True to quit."""
        shown = view if self.draw_hud is None else self.draw_hud(view)  # snapshots save what the window shows
        self.window.write_view(shown, packet.index)
        key = self.window.poll(1)
        if key == KEY_VIEW:
            self.renderer.next_view()
        return act_on_key(key, self.window, shown, packet.index, self.snapshot_dir)


def act_on_key(key: int, window: WindowSink, shown: np.ndarray, index: int, snapshot_dir: Path) -> bool:
    """The keys every window takes, for `key` pressed while `shown` (frame `index`) is in `window`: s saves a
    snapshot, space pauses; True to quit (q / Esc, or while paused: closing the window or Ctrl-C)."""
    if key == KEY_SNAPSHOT:
        snapshot(shown, index, snapshot_dir)
    elif key == KEY_PAUSE:
        key = pause(window, shown, index, snapshot_dir)
    return key in (KEY_QUIT, KEY_ESC)


def pause(window: WindowSink, view: np.ndarray, index: int, snapshot_dir: Path) -> int:
    """Hold the shown view until space (resume) or q / Esc / closing the window / Ctrl-C (quit); s saves
    it meanwhile. Returns the key that ended the pause (KEY_QUIT for Ctrl-C)."""
    while not interrupts.requested():  # Ctrl-C is deferred in the loop: look for it here too
        key = window.poll(PAUSE_POLL_MS)
        if key == KEY_SNAPSHOT:
            snapshot(view, index, snapshot_dir)
        elif key in (KEY_PAUSE, KEY_QUIT, KEY_ESC):
            return key
    return KEY_QUIT


def snapshot(view: np.ndarray, index: int, folder: Path) -> None:
    """Save the view (frame `index`) into `folder` (--snapshot-dir), made on the first snapshot (as --arrays
    makes its folder). Its name: SNAPSHOT_NAME."""
    path = folder / f"livevision_{index:06d}.png"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        saved = cv2.imwrite(str(path), view)
    except (cv2.error, OSError):
        saved = False
    if saved:
        log.info("snapshot saved to %s", path)
    else:  # a snapshot is a convenience: the run goes on
        log.warning("could not save a snapshot to %s", path)


