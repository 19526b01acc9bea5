"""WindowSink: show frames in an OpenCV window, or do nothing (with one warning) when there is no display.

Threading: OpenCV's GUI (imshow, waitKey, destroyWindow) must be called from the thread that
created the window, and on macOS that must be the main thread. Call `write_view`, `poll` and `close`
from the main thread; the window is created by the first `write_view`, and a call from another thread
raises.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import re
import sys
import threading
from collections.abc import Mapping
from functools import lru_cache

import cv2
import numpy as np

from ..errors import UsageError
from .base import Sink
from .errors import DisplayUnavailableError, SinkError

logger = logging.getLogger(__name__)

NO_KEY = -1
QUIT_KEY = ord("q")  # what poll() returns when the window was closed with its X button
WINDOW_MODES = ("optional", "required")
NO_DISPLAY_WARNING = "no display: not showing a window; processing goes on into the other outputs"


@lru_cache(maxsize=1)
def _opencv_has_gui() -> bool:
    """False for opencv-python-headless and other builds without a GUI backend."""
    match = re.search(r"^\s*GUI:\s*(\S+)", cv2.getBuildInformation(), re.MULTILINE)
    return not (match and match.group(1).upper() == "NONE")


def _system_library(name: str) -> ctypes.CDLL | None:
    """A system C library by its short name ("xcb", "X11"), or None when it is not there."""
    path = ctypes.util.find_library(name)
    if not path:
        return None
    try:
        return ctypes.CDLL(path)
    except OSError:
        return None


def _x11_reachable(display: str) -> bool | None:
    """Whether an X server answers at `display` (via libxcb); None when libxcb is not found.

    OpenCV's Qt backend aborts the whole process when DISPLAY names a server it cannot reach
    (e.g. an expired ssh -X session), so this is checked before creating a window.
    """
    lib = _system_library("xcb")
    if lib is None:
        return None
    lib.xcb_connect.restype = ctypes.c_void_p
    lib.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    lib.xcb_connection_has_error.restype = ctypes.c_int
    lib.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    lib.xcb_disconnect.restype = None
    lib.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = lib.xcb_connect(display.encode(), None)
    try:
        return lib.xcb_connection_has_error(conn) == 0
    finally:
        lib.xcb_disconnect(conn)


def _x11_screen_wh(display: str) -> tuple[int, int] | None:
    """The (width, height) of the X server's default screen (via libX11); None when unknown."""
    lib = _system_library("X11") if display else None
    if lib is None:
        return None
    lib.XOpenDisplay.restype = ctypes.c_void_p
    lib.XOpenDisplay.argtypes = [ctypes.c_char_p]
    for fn in (lib.XDefaultScreen, lib.XCloseDisplay):
        fn.argtypes = [ctypes.c_void_p]
    lib.XDisplayWidth.argtypes = lib.XDisplayHeight.argtypes = [ctypes.c_void_p, ctypes.c_int]
    dpy = lib.XOpenDisplay(display.encode())
    if not dpy:
        return None
    try:
        screen = lib.XDefaultScreen(dpy)
        return int(lib.XDisplayWidth(dpy, screen)), int(lib.XDisplayHeight(dpy, screen))
    finally:
        lib.XCloseDisplay(dpy)


#: The largest window when the screen's size is unknown (not X11).
FALLBACK_SCREEN_WH = (1280, 720)
#: Room left for the window frame, title bar and panels.
SCREEN_MARGIN_WH = (80, 120)


def window_size(frame_wh: tuple[int, int], screen_wh: tuple[int, int] | None) -> tuple[int, int]:
    """The frame's size, scaled down (keeping its aspect ratio) to fit the screen less a margin."""
    w, h = frame_wh
    sw, sh = screen_wh or FALLBACK_SCREEN_WH
    room_w, room_h = max(160, sw - SCREEN_MARGIN_WH[0]), max(120, sh - SCREEN_MARGIN_WH[1])
    scale = min(1.0, room_w / w, room_h / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def display_problem(
    environ: Mapping[str, str] | None = None, platform: str | None = None, *, probe_x11: bool = True
) -> str | None:
    """Why no window can be shown, or None when one can.

    macOS / Windows: always try. Linux and other Unixes: DISPLAY or WAYLAND_DISPLAY must be set;
    with DISPLAY only, the X server must answer (probe_x11, skipped when libxcb is not found).
    """
    environ = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if not _opencv_has_gui():
        return "this OpenCV build has no GUI support (opencv-python-headless?)"
    if platform.startswith(("win", "darwin", "cygwin")):
        return None
    if environ.get("WAYLAND_DISPLAY"):
        return None
    display = environ.get("DISPLAY")
    if not display:
        return "neither DISPLAY nor WAYLAND_DISPLAY is set"
    if probe_x11 and _x11_reachable(display) is False:
        return f"cannot connect to the X display {display!r}"
    return None


def _point_qt_at_system_fonts() -> None:
    """opencv-python's Qt looks for fonts in cv2/qt/fonts, a folder its wheels do not ship (cv2 sets
    QT_QPA_FONTDIR there when imported), and prints five warnings when the first window opens. Point it
    at the system's fonts where they exist; a QT_QPA_FONTDIR that names a real folder is kept."""
    current = os.environ.get("QT_QPA_FONTDIR")
    if not sys.platform.startswith("linux") or (current and os.path.isdir(current)):
        return
    for folder in ("/usr/share/fonts", "/usr/local/share/fonts"):
        if os.path.isdir(folder):
            os.environ["QT_QPA_FONTDIR"] = folder
            return


class WindowSink(Sink):
    """An OpenCV window. write_view(view, index) shows the view; poll(wait_ms) pumps the GUI and returns
    the key pressed (-1 for none): call it after each view, as cv2.imshow needs cv2.waitKey to draw.

    mode "optional": without a display, log one warning and become a no-op (poll returns -1).
    mode "required": without a display, raise DisplayUnavailableError.
    Closing the window with its X button makes poll return QUIT_KEY (ord("q")) and `closed_by_user` True.
    Keys are returned as `waitKey(1) & 0xFF`, so compare with ord("q"), ord(" "), 27 (Esc) and so on.
    """

    def __init__(self, title: str = "livevision", *, mode: str = "optional") -> None:
        if mode not in WINDOW_MODES:
            raise UsageError(f"invalid window mode {mode!r}: choose optional or required")
        self.title = title
        self.mode = mode
        self.closed_by_user = False
        self._thread: int | None = None
        self._shown_hw: tuple[int, int] | None = None  # the size of the views shown, which the window fits
        problem = display_problem()
        self.enabled = problem is None
        if problem is not None:
            if mode == "required":
                raise DisplayUnavailableError(f"cannot open a window: {problem}")
            logger.warning("%s (%s)", NO_DISPLAY_WARNING, problem)

    @staticmethod
    def available() -> bool:
        """Whether a window can be shown here (a display and an OpenCV build with GUI support)."""
        return display_problem() is None

    def write_view(self, view: np.ndarray, index: int) -> None:
        """Show `view` (BGR uint8); the window shows it at the next poll()."""
        if not self.enabled or self._closed or self.closed_by_user:
            return
        me = threading.get_ident()
        if self._thread is None:
            self._thread = me
            _point_qt_at_system_fonts()  # read when the first window creates the Qt application
            cv2.namedWindow(self.title, cv2.WINDOW_NORMAL | cv2.WINDOW_KEEPRATIO)
        elif self._thread != me:
            raise SinkError("WindowSink.write_view must be called from the thread that created the window "
                            "(main thread)")
        if view.shape[:2] != self._shown_hw:
            # Qt opens a resizable window at a default 400x300 or so: size it to the frame, within the screen;
            # again when the views change size (a mosaic growing as cameras start, one camera full size).
            self._shown_hw = view.shape[:2]
            screen = _x11_screen_wh(os.environ.get("DISPLAY", "")) if sys.platform.startswith("linux") else None
            cv2.resizeWindow(self.title, *window_size((view.shape[1], view.shape[0]), screen))
        cv2.imshow(self.title, view)

    def poll(self, wait_ms: int = 1) -> int:
        """Pump the GUI for `wait_ms` without showing a new frame (e.g. while paused); return the key
        pressed, -1 for none, QUIT_KEY once the window was closed."""
        if not self.enabled or self._closed or self._thread is None:
            return NO_KEY
        if self.closed_by_user:
            return QUIT_KEY
        if self._thread != threading.get_ident():
            raise SinkError("WindowSink.poll must be called from the thread that created the window (main thread)")
        key = cv2.waitKey(max(1, int(wait_ms)))
        if cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
            self.closed_by_user = True
            return QUIT_KEY
        return NO_KEY if key == -1 else key & 0xFF

    def _close(self) -> None:
        if self.enabled and self._thread is not None and not self.closed_by_user:
            try:
                cv2.destroyWindow(self.title)
                cv2.waitKey(1)  # let the GUI process the destroy event
            except cv2.error as e:  # pragma: no cover - window already gone
                logger.debug("destroyWindow: %s", e)


__all__ = ["WindowSink", "display_problem", "NO_KEY", "QUIT_KEY", "NO_DISPLAY_WARNING"]
