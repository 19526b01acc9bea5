"""WebRTC for livevision's pages (needs `pip install 'livevision[webrtc]'`: aiortc):

- `livevision serve` (serve_app): a visitor's own webcam, sent from their browser, through the server's
  models, and the annotated video back (visitor, peers);
- the web view of `run --serve` over WebRTC beside MJPEG (view).

Frames cross between aiortc's asyncio loop (its own thread, loop.LoopThread) and livevision's threads through
one-slot mailboxes that keep the newest frame (frames.PushSource in, frames.ViewTrack out): a slow model
never builds a backlog anywhere.
"""

from __future__ import annotations

import importlib.util

from ..errors import MissingDependencyError


def available() -> bool:
    """Whether aiortc is installed."""
    return importlib.util.find_spec("aiortc") is not None


def require_aiortc() -> None:
    if not available():
        raise MissingDependencyError("WebRTC needs aiortc: pip install 'livevision[webrtc]'")
