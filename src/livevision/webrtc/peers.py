"""The peer connections of one server: admitted up to a limit, answered in one HTTP round trip (the offer
carries the browser's ICE candidates and the answer the server's: no trickle ICE), and closed, with what
they hold, when the browser leaves: the connection fails or closes (a browser gone without a word fails ICE's
consent checks within about 30 s), it is not connected CONNECT_TIMEOUT_S after the answer, or what owns it
drops it (the page says "bye", no frame came for a while).

    peers = Peers(loop_thread, max_clients=4, ice_servers=[])
    answer = peers.answer(offer_dict, setup)   # from an HTTP handler thread; setup(pc) adds tracks, etc.
    peers.close()
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from typing import Awaitable, Callable

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InvalidAccessError, InvalidStateError, OperationError

from ..errors import LiveVisionError, UsageError
from ..web.server import Request
from .loop import LoopThread

log = logging.getLogger(__name__)

ANSWER_TIMEOUT_S = 15.0  # negotiation, candidate gathering included
CONNECT_TIMEOUT_S = 20.0  # answered but still not connected (no route between the two): dropped
CLOSE_TIMEOUT_S = 60.0  # closing every peer at shutdown (a visitor's model frame included)


class Full(LiveVisionError):
    """Every place is taken (max_clients)."""


class BadOffer(LiveVisionError):
    """An offer that is not an SDP offer."""


def media_lines(sdp: str) -> list[tuple[str, str]]:
    """(kind, direction) of each m= section of an SDP ("video", "recvonly"); sendrecv where none is said."""
    found = []
    for section in sdp.split("\nm=")[1:]:
        kind = section.split(" ", 1)[0].strip()
        direction = next((d for d in ("sendrecv", "sendonly", "recvonly", "inactive") if f"a={d}" in section),
                         "sendrecv")
        found.append((kind, direction))
    return found


class Peer:
    """One browser's connection and what to close with it (`on_close`, coroutines run once, in order, after
    the connection itself)."""

    def __init__(self, key: int, pc: RTCPeerConnection):
        self.key, self.pc = key, pc
        self.on_close: list[Callable[[], Awaitable[None]]] = []
        self.check_offer: Callable[[], None] | None = None  # after the offer is read: may raise BadOffer
        self.closed = asyncio.Event()


class Peers:
    """At most `max_clients` connections at once; `answer(offer, setup)` admits one (or raises Full),
    `setup(peer)` (a coroutine, on the loop) attaches its tracks and channels before the answer is made."""

    def __init__(self, loop: LoopThread, *, max_clients: int, ice_servers: list[str] | None = None):
        self.loop, self.max_clients = loop, max_clients
        self.ice_servers = list(ice_servers or [])
        self._lock = threading.Lock()
        self._peers: dict[int, Peer] = {}
        self._reserved = 0
        self._closed = False
        self._keys = itertools.count(1)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._peers)

    @property
    def browser_ice_servers(self) -> list[dict]:
        """The ICE servers as a page's RTCPeerConnection takes them."""
        return [{"urls": url} for url in self.ice_servers]

    def configuration(self) -> RTCConfiguration:
        # Given explicitly: aiortc's default asks a public STUN server, which a closed network never answers.
        return RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in self.ice_servers])

    def answer(self, offer: dict | None, setup: Callable[[Peer], Awaitable[None]],
               media: Callable[[list[tuple[str, str]]], str | None] | None = None) -> dict:
        """The SDP answer ({"sdp", "type"}) to a browser's offer, from any thread but the loop's. media: given
        the offer's media_lines, what is wrong with them (None: nothing); each m= line costs a decoder thread,
        so the owner says which it takes."""
        if not offer or offer.get("type") != "offer" or not isinstance(offer.get("sdp"), str):
            raise BadOffer("expected a JSON object {\"sdp\": ..., \"type\": \"offer\"}")
        wrong = media(media_lines(offer["sdp"])) if media is not None else None
        if wrong:
            raise BadOffer(wrong)
        with self._lock:
            if self._closed:
                raise Full("the server is shutting down")
            if len(self._peers) + self._reserved >= self.max_clients:
                raise Full(f"all {self.max_clients} places are taken: try again when someone leaves")
            self._reserved += 1  # until the peer is registered (then it counts in _peers)
        reserved = [True]
        try:
            return self.loop.run(self._answer(offer, setup, reserved), ANSWER_TIMEOUT_S)
        finally:
            with self._lock:
                if reserved[0]:
                    self._reserved -= 1

    def respond(self, request: Request, setup: Callable[[Peer], Awaitable[None]],
                media: Callable[[list[tuple[str, str]]], str | None], offer: dict | None = None) -> bool:
        """`answer` for a POST /offer: the answer (200), or the reason as JSON {"error"}: 503 full, 400 a bad
        offer or choice (UsageError from `setup`), 504 no answer in time. Whether it answered. offer: the
        request's JSON when the caller has read it already."""
        try:
            answer = self.answer(request.json() if offer is None else offer, setup, media)
        except Full as exc:
            request.send_json(503, {"error": str(exc)})
        except (BadOffer, UsageError) as exc:
            request.send_json(400, {"error": str(exc)})
        except TimeoutError as exc:
            request.send_json(504, {"error": f"the connection could not be set up: {exc}"})
        else:
            request.send_json(200, answer)
            return True
        return False

    async def _answer(self, offer: dict, setup: Callable[[Peer], Awaitable[None]], reserved: list) -> dict:
        with self._lock:
            if self._closed:
                raise Full("the server is shutting down")
            peer = Peer(next(self._keys), RTCPeerConnection(self.configuration()))
            self._peers[peer.key] = peer
            self._reserved -= 1
            reserved[0] = False
        try:
            await setup(peer)

            @peer.pc.on("connectionstatechange")
            async def on_state() -> None:
                if peer.pc.connectionState in ("failed", "closed"):  # aiortc has no "disconnected"
                    await self.drop(peer)

            try:
                await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            except (ValueError, KeyError, IndexError, AttributeError, OperationError, InvalidAccessError,
                    InvalidStateError) as exc:  # aiortc on SDP it cannot read or answer
                raise BadOffer(f"the offer's SDP could not be used: {exc}") from None
            if peer.check_offer is not None:
                peer.check_offer()
            await peer.pc.setLocalDescription(await peer.pc.createAnswer())
            asyncio.ensure_future(self._connected_or_dropped(peer))
            return {"sdp": peer.pc.localDescription.sdp, "type": peer.pc.localDescription.type, "id": peer.key}
        except BaseException:
            await self.drop(peer)
            raise

    async def _connected_or_dropped(self, peer: Peer) -> None:
        """Drop `peer` unless it connects within CONNECT_TIMEOUT_S (aiortc waits for ever for a browser whose
        checks never arrive: a firewall, a tunnel that carries TCP only)."""
        deadline = asyncio.get_running_loop().time() + CONNECT_TIMEOUT_S
        while peer.pc.connectionState != "connected" and not peer.closed.is_set():
            if asyncio.get_running_loop().time() > deadline:
                log.info("a browser did not connect within %g s: dropped", CONNECT_TIMEOUT_S)
                await self.drop(peer)
                return
            await asyncio.sleep(0.5)

    async def drop(self, peer: Peer) -> None:
        """Close `peer`, then everything attached to it, once."""
        with self._lock:
            if self._peers.pop(peer.key, None) is None:
                return
        await peer.pc.close()  # first: no more frames come in while its parts close
        for close in peer.on_close:
            try:
                await close()
            except Exception:  # one part failing to close must not keep the others open
                log.exception("closing a peer's part")
        peer.closed.set()
        log.info("a browser left (%d connected)", self.count)

    async def _drop_all(self) -> None:
        with self._lock:
            peers = list(self._peers.values())
        await asyncio.gather(*(self.drop(p) for p in peers), return_exceptions=True)

    def close(self) -> None:
        """Refuse new connections and close every one (from any thread but the loop's)."""
        with self._lock:
            self._closed = True
        self.loop.run(self._drop_all(), CLOSE_TIMEOUT_S)
