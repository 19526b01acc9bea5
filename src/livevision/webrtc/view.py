"""The web view of `run --serve` over WebRTC: each browser that opens ``/`` gets its own peer connection
carrying the newest view the sink was given (frames.ViewTrack), at most MAX_VIEWERS at once; the page falls
back to the MJPEG stream (``/stream.mjpg``, kept for curl and simple clients) when WebRTC cannot connect."""

from __future__ import annotations

import asyncio
import logging

from ..web.server import Request, WebServer
from .frames import ViewTrack
from .loop import LoopThread
from .pages import page
from .peers import Peer, Peers

log = logging.getLogger(__name__)

MAX_VIEWERS = 16  # each has its own encoder: about one core per ten 640x480 viewers


def _viewer_media(lines: list[tuple[str, str]]) -> str | None:
    """A viewer receives one video and sends nothing."""
    if lines != [("video", "recvonly")]:
        return "the offer must ask to receive one video and send nothing"
    return None


class ViewOverWebRTC:
    """Adds the WebRTC page (``/``) and ``POST /offer`` to a WebViewSink's server."""

    def __init__(self, sink, server: WebServer, *, ice_servers: list[str] | None = None):
        self.sink = sink
        self.loop = LoopThread("livevision-webrtc-view")
        self.peers = Peers(self.loop, max_clients=MAX_VIEWERS, ice_servers=ice_servers)
        config = {"iceServers": self.peers.browser_ice_servers}
        html = page("view", config).encode()
        for path in ("/", "/index.html"):
            server.route("GET", path, lambda request: request.send(200, "text/html; charset=utf-8", html))
        server.route("POST", "/offer", self._offer)

    def _offer(self, request: Request) -> None:
        self.peers.respond(request, self._setup, _viewer_media)

    async def _setup(self, peer: Peer) -> None:
        track = ViewTrack(asyncio.get_running_loop())

        # on the transceiver the browser offered to receive on (its one recvonly video: _viewer_media)
        peer.check_offer = lambda: peer.pc.addTrack(track)
        unwatch = self.sink.watch(lambda view: track.publish(view))

        async def close() -> None:
            unwatch()
            track.stop()

        peer.on_close.append(close)

    def close(self) -> None:
        """Every viewer's connection closed (the sink closes the server first)."""
        try:
            self.peers.close()
        finally:
            self.loop.close()
