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
from .peers import BadOffer, Full, Peer, Peers

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
        config = {"iceServers": [{"urls": url} for url in self.peers.ice_servers]}
        html = page("view", config).encode()
        for path in ("/", "/index.html"):
            server.route("GET", path, lambda request: request.send(200, "text/html; charset=utf-8", html))
        server.route("POST", "/offer", self._offer)

    def _offer(self, request: Request) -> None:
        try:
            answer = self.peers.answer(request.json(), self._setup, _viewer_media)
        except Full as exc:
            request.send_json(503, {"error": str(exc)})
        except BadOffer as exc:
            request.send_json(400, {"error": str(exc)})
        except TimeoutError as exc:
            request.send_json(504, {"error": f"the connection could not be set up: {exc}"})
        else:
            request.send_json(200, answer)

    async def _setup(self, peer: Peer) -> None:
        track = ViewTrack(asyncio.get_running_loop())

        def check_offer() -> None:  # the track goes on the transceiver the browser offered to receive on
            if not any(t.kind == "video" for t in peer.pc.getTransceivers()):
                raise BadOffer("the offer asks for no video")
            peer.pc.addTrack(track)

        peer.check_offer = check_offer
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
