"""WebViewSink: the annotated view in a browser, as an MJPEG stream over HTTP (`livevision run --serve 8080`).

For machines without a display (a robot, a server reached over ssh) and for showing a demo on another
screen. Pages:

- ``/``: a page with the live view;
- ``/stream.mjpg``: ``multipart/x-mixed-replace`` JPEG frames, each as soon as it is written;
- ``/frame.jpg``: the latest frame, once (for scripts);
- with ``livevision[webrtc]`` installed, ``/`` shows the view over WebRTC instead (less bandwidth, a latency
  that does not grow with a slow connection; livevision.webrtc.view), falling back to MJPEG, and ``/mjpeg``
  is the MJPEG page.

The server runs on its own threads; `write_view(view, index)` only swaps in the newest view. A frame is
JPEG-encoded on a client's thread when first asked for, and the encoding is shared with the other
clients, so nobody watching costs nothing and a slow client skips frames instead of slowing the run.
It listens on 127.0.0.1 unless given another host (``0.0.0.0`` for every interface; `urls` then lists the
machine's network addresses, for the other machines).

Access: with a `token`, every page asks for it, as ``?token=...`` in the URL (the page passes it on
to its stream) or an ``Authorization: Bearer ...`` header: none gives 401, a wrong one 403. It is
compared in constant time. `livevision run` makes one up for any address other than loopback
(`--serve-token` gives your own; `--serve-token none` serves without, with a warning): anyone who
can reach the port would otherwise see the camera.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from typing import Callable

import cv2
import numpy as np

from ..web.addresses import is_loopback, network_addresses, new_token, parse_address
from ..web.server import Request, WebServer
from .base import Sink
from .errors import SinkError

logger = logging.getLogger(__name__)

BOUNDARY = "livevision-frame"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>livevision</title>
<style>html,body{{margin:0;height:100%;background:#111}}img{{width:100%;height:100%;object-fit:contain}}</style>
</head><body><img src="/stream.mjpg{query}" alt="livevision live view"></body></html>
"""
WAIT_S = 0.5  # how often a waiting client checks whether the sink closed


class WebViewSink(Sink):
    """Serve written frames at http://host:port/ (port 0: a free port, see `url`).

    webrtc: also over WebRTC (the page at ``/``); None: where livevision[webrtc] is installed."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, *, quality: int = 80,
                 token: str | None = None, webrtc: bool | None = None) -> None:
        self.quality = int(quality)
        self.frames_written = 0
        self._changed = threading.Condition()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._jpeg: tuple[int, bytes] | None = None  # (seq, bytes) of the last encoded frame
        self._watchers: list[Callable[[np.ndarray], None]] = []  # told of each view (WebRTC tracks)
        self.server = WebServer(host, port, token=token)
        self.host, self.port, self.token = host, self.server.port, token
        for path, route in (("/", self._page), ("/index.html", self._page), ("/mjpeg", self._page),
                            ("/frame.jpg", self._frame_jpg), ("/stream.mjpg", self._stream)):
            self.server.route("GET", path, route)
        self.webrtc = None
        try:
            if webrtc or webrtc is None:
                from ..webrtc import available, require_aiortc

                if available():
                    from ..webrtc.view import ViewOverWebRTC

                    self.webrtc = ViewOverWebRTC(self, self.server)
                elif webrtc:
                    require_aiortc()
        except BaseException:
            self.server.close()
            raise

    @property
    def url(self) -> str:
        """Where to point a browser on this machine, with the token when there is one (`urls`: from
        other machines)."""
        return self.server.url

    @property
    def urls(self) -> list[str]:
        """Where browsers can open the view: for 0.0.0.0 / :: the machine's network addresses, then `url`."""
        return self.server.urls

    def watch(self, callback: Callable[[np.ndarray], None]) -> Callable[[], None]:
        """Call `callback(view)` with every view written from now on (on the writer's thread: keep it short);
        returns what stops it."""
        with self._changed:
            self._watchers.append(callback)

        def unwatch() -> None:
            with self._changed:
                if callback in self._watchers:
                    self._watchers.remove(callback)
        return unwatch

    def _page(self, request: Request) -> None:
        """The MJPEG page (its stream carries the token on)."""
        query = f"?token={urllib.parse.quote(self.token)}" if self.token else ""
        request.send(200, "text/html; charset=utf-8", PAGE.format(query=query).encode())

    def _frame_jpg(self, request: Request) -> None:
        latest = self._latest_jpeg(after=0, wait=False)
        if latest is None:
            request.send(503, "text/plain", b"no frame yet\n")
        else:
            request.send(200, "image/jpeg", latest[1])

    def _stream(self, request: Request) -> None:
        h = request.handler
        h.send_response(200)
        h.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        h.send_header("Cache-Control", "no-store")
        h.end_headers()
        seen = 0
        while True:
            latest = self._latest_jpeg(after=seen)
            if latest is None:
                return  # the sink closed
            seen, jpeg = latest
            h.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                          f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")

    def write_view(self, view: np.ndarray, index: int) -> None:
        """Make `view` (BGR uint8) the one clients get next; returns at once. (A live view: `index` is
        not needed.)"""
        if self._closed:
            raise SinkError("write to closed WebViewSink")
        with self._changed:
            self._frame, self._seq = view, self._seq + 1
            self._changed.notify_all()
            watchers = list(self._watchers)
        for tell in watchers:
            tell(view)
        self.frames_written += 1

    def _latest_jpeg(self, after: int, wait: bool = True) -> tuple[int, bytes] | None:
        """(seq, JPEG) of the newest frame, once there is one newer than `after` (waiting for it, unless
        not `wait`); None when the sink closed, or without `wait` when there is none."""
        with self._changed:
            while self._seq <= after and not self._closed:
                if not wait:
                    return None
                self._changed.wait(WAIT_S)
            if self._closed or self._frame is None:
                return None
            if self._jpeg is not None and self._jpeg[0] == self._seq:
                return self._jpeg
            seq, frame = self._seq, self._frame
        # Encoded outside the lock, so write_view() (the main loop) never waits for an encoder.
        ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:  # pragma: no cover
            return None
        jpeg = (seq, encoded.tobytes())
        with self._changed:
            if self._jpeg is None or self._jpeg[0] < seq:
                self._jpeg = jpeg
        return jpeg

    def _close(self) -> None:
        with self._changed:
            self._changed.notify_all()  # streaming clients see `closed` and end their responses
        self.server.close()  # first: no offer comes in while the viewers' connections close
        if self.webrtc is not None:
            self.webrtc.close()


__all__ = ["WebViewSink", "is_loopback", "network_addresses", "new_token", "parse_address"]
