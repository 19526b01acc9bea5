"""The server of `livevision serve`: a page where visitors allow their camera, and for each of them a peer
connection that brings their frames in and takes the annotated video back (visitor.Visitor), on models
loaded once and shared by every visitor (engine.shared: a model serves the visitors' frames in the order
they came, one frame per visitor at a time).

Pages: ``/`` the visitor's page; ``POST /offer`` its SDP offer (JSON {sdp, type, tasks}) -> the answer, or
503 with a message when `max_clients` are connected; ``/status`` the visitors connected (JSON). Over the
page's data channel: {"tasks": [...]} picks tasks, {"bye": true} leaves; the server sends its figures each
second.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import ssl
from typing import Mapping

from aiortc.mediastreams import MediaStreamError

from ..engine.clock import SystemClock
from ..engine.shared import SharedModels
from ..errors import UsageError
from ..types import Task
from ..web.server import Request, WebServer
from .frames import ViewTrack
from .loop import LoopThread
from .pages import page
from .peers import BadOffer, Peer, Peers
from .visitor import Visitor

log = logging.getLogger(__name__)

IDLE_S = 10.0  # a visitor whose camera sends nothing this long has left
STATS_EVERY_S = 1.0


def _visitor_media(lines: list[tuple[str, str]]) -> str | None:
    """What is wrong with a visitor's offer: it sends one camera and takes the video back, over one data
    channel at most."""
    kinds = [kind for kind, _ in lines]
    if kinds.count("video") != 1 or kinds.count("application") > 1 or set(kinds) - {"video", "application"}:
        return "the offer must carry one video (the camera) and at most one data channel"
    return None


class VisitorServer:
    """Serves visitors at `server.url` until close(). models: ready models by task, in the order the page
    lists them (the first is what a visitor starts with); names: a name to show for each; stream_options:
    Stream's depth_stabilize and track for every visitor's stream."""

    def __init__(self, models: Mapping[Task, object], *, host: str = "127.0.0.1", port: int = 8080,
                 token: str | None = None, max_clients: int = 4, ice_servers: list[str] | None = None,
                 tls: ssl.SSLContext | None = None, names: Mapping[Task, str] | None = None,
                 renderer_options: dict | None = None, hud: bool = True, stream_options: dict | None = None):
        if max_clients < 1:
            raise UsageError("--max-clients must be at least 1")
        models = {Task.parse(t): m for t, m in models.items()}  # {"segmentation": model} too
        self.names = {t: (names or {}).get(t) or getattr(m, "name", type(m).__name__) for t, m in models.items()}
        self._closed = False
        self.renderer_options, self.hud = dict(renderer_options or {}), hud
        self.stream_options = dict(stream_options or {})  # Stream's depth_stabilize, track
        # a model error ends the visitor whose frame it was, not the task for everyone
        self.models = SharedModels(models, SystemClock(), isolate_errors=True)
        self.loop = LoopThread()
        # a leaving visitor's thread is joined here, not on the loop's pool, where the encoders run
        self._closer = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="livevision-closing")
        self.peers = Peers(self.loop, max_clients=max_clients, ice_servers=ice_servers)
        try:
            self.server = WebServer(host, port, token=token, tls=tls, option="--listen", what="the visitors' page")
        except BaseException:
            self._close_engine()
            raise
        self.server.route("GET", "/", self._page)
        self.server.route("GET", "/status", self._status)
        self.server.route("POST", "/offer", self._offer)

    @property
    def url(self) -> str:
        return self.server.url

    def _config(self) -> dict:
        return {"tasks": [{"task": t.value, "model": name} for t, name in self.names.items()],
                "iceServers": self.peers.browser_ice_servers,
                "maxClients": self.peers.max_clients}

    def _page(self, request: Request) -> None:
        request.send(200, "text/html; charset=utf-8", page("visitor", self._config()).encode())

    def _status(self, request: Request) -> None:
        request.send_json(200, {"visitors": self.peers.count, "max_clients": self.peers.max_clients})

    def _offer(self, request: Request) -> None:
        offer = request.json()
        tasks = (offer or {}).get("tasks") or [next(iter(self.names)).value]
        if self.peers.respond(request, lambda peer: self._setup(peer, tasks), _visitor_media, offer):
            log.info("a visitor joined (%d connected)", self.peers.count)

    async def _setup(self, peer: Peer, tasks: list) -> None:
        """A visitor's parts on `peer`, each closed with it: the returned track, the processing, the reader of
        their camera, the data channel's figures."""
        out = ViewTrack(asyncio.get_running_loop())
        visitor = Visitor(f"visitor {peer.key}", self.models, tasks, out.publish, self._renderer, hud=self.hud,
                          stream_options=self.stream_options)
        running: list[asyncio.Task] = []

        @peer.pc.on("track")
        def on_track(track) -> None:
            if track.kind == "video" and not running:
                peer.pc.addTrack(out)
                running.append(asyncio.ensure_future(self._read(track, visitor, peer)))

        @peer.pc.on("datachannel")
        def on_channel(channel) -> None:
            if any(getattr(task, "stats_channel", False) for task in running):
                channel.close()  # one control channel per visitor: each would cost a figures task
                return
            channel.on("message", lambda message: self._on_message(message, channel, visitor, peer))
            sender = asyncio.ensure_future(self._send_stats(channel, visitor, out))
            sender.stats_channel = True
            running.append(sender)

        def check_offer() -> None:
            if not running:
                raise BadOffer("the offer carries no video: the page sends the camera")
            visitor.start()

        async def close() -> None:
            for task in running:
                if task is not asyncio.current_task():
                    task.cancel()
            out.stop()
            await asyncio.get_running_loop().run_in_executor(self._closer, visitor.close)

        peer.check_offer = check_offer
        peer.on_close.append(close)

    async def _read(self, track, visitor: Visitor, peer: Peer) -> None:
        """The visitor's camera into their PushSource until it ends or sends nothing for IDLE_S."""
        try:
            while True:
                visitor.source.push(await asyncio.wait_for(track.recv(), IDLE_S))
        except (MediaStreamError, asyncio.TimeoutError):
            await self.peers.drop(peer)

    def _on_message(self, message, channel, visitor: Visitor, peer: Peer) -> None:
        try:
            self._answer_message(message, channel, visitor, peer)
        except Exception:  # anything a page sends is ignored rather than closing its connection (pyee re-raises)
            log.debug("%s: a message was ignored", visitor.name, exc_info=True)

    def _answer_message(self, message, channel, visitor: Visitor, peer: Peer) -> None:
        if not isinstance(message, str) or len(message) > 4096:
            return
        asked = json.loads(message)
        if not isinstance(asked, dict):
            return
        if asked.get("bye"):
            asyncio.ensure_future(self.peers.drop(peer))
        elif "tasks" in asked:
            try:
                reply = {"tasks": [t.value for t in visitor.choose(asked["tasks"] or [])]}
            except UsageError as exc:
                reply = {"error": str(exc), "tasks": [t.value for t in visitor.tasks]}
            if channel.readyState == "open":
                channel.send(json.dumps(reply))

    async def _send_stats(self, channel, visitor: Visitor, out: ViewTrack) -> None:
        while channel.readyState in ("connecting", "open"):
            if channel.readyState == "open":
                channel.send(json.dumps({**visitor.stats(), "frames_sent": out.sent, "visitors": self.peers.count}))
            await asyncio.sleep(STATS_EVERY_S)

    def _renderer(self, tasks: list[Task]):
        from ..app import Renderer

        return Renderer(tuple(tasks), **self.renderer_options)

    def _close_engine(self) -> None:
        try:
            self.loop.close()
        finally:
            self._closer.shutdown(wait=True)
            self.models.close()

    def close(self) -> None:
        """The page closed to new visitors, every visitor's connection closed, then the models' workers. Safe
        to call more than once."""
        if self._closed:
            return
        self._closed = True
        try:
            self.server.close()
            self.peers.close()
        finally:
            self._close_engine()

    def __enter__(self) -> "VisitorServer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
