"""The peer connections of one server: admitted up to a limit, answered in one HTTP round trip (the offer
carries the browser's ICE candidates and the answer the server's: no trickle ICE), and closed, with what
they hold, when the browser leaves (the page says "bye", the connection fails or closes, or no frame comes
for IDLE_S).

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

from ..errors import LiveVisionError
from .loop import LoopThread

log = logging.getLogger(__name__)

ANSWER_TIMEOUT_S = 15.0  # negotiation, candidate gathering included
DISCONNECTED_GRACE_S = 5.0  # a connection "disconnected" this long (a browser gone without a word) is closed


class Full(LiveVisionError):
    """Every place is taken (max_clients)."""


class BadOffer(LiveVisionError):
    """An offer that is not an SDP offer."""


class Peer:
    """One browser's connection and what to close with it (`on_close`, coroutines run once, in order)."""

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
        self._keys = itertools.count(1)

    @property
    def count(self) -> int:
        with self._lock:
            return len(self._peers)

    def configuration(self) -> RTCConfiguration:
        # Given explicitly: aiortc's default asks a public STUN server, which a closed network never answers.
        return RTCConfiguration(iceServers=[RTCIceServer(urls=url) for url in self.ice_servers])

    def answer(self, offer: dict | None, setup: Callable[[Peer], Awaitable[None]]) -> dict:
        """The SDP answer ({"sdp", "type"}) to a browser's offer, from any thread but the loop's."""
        if not offer or offer.get("type") != "offer" or not isinstance(offer.get("sdp"), str):
            raise BadOffer("expected a JSON object {\"sdp\": ..., \"type\": \"offer\"}")
        with self._lock:
            if len(self._peers) + self._reserved >= self.max_clients:
                raise Full(f"all {self.max_clients} places are taken: try again when someone leaves")
            self._reserved += 1
        try:
            return self.loop.run(self._answer(offer, setup), ANSWER_TIMEOUT_S)
        finally:
            with self._lock:
                self._reserved -= 1

    async def _answer(self, offer: dict, setup: Callable[[Peer], Awaitable[None]]) -> dict:
        peer = Peer(next(self._keys), RTCPeerConnection(self.configuration()))
        with self._lock:
            self._peers[peer.key] = peer
        try:
            await setup(peer)

            @peer.pc.on("connectionstatechange")
            async def on_state() -> None:
                state = peer.pc.connectionState
                if state in ("failed", "closed"):
                    await self.drop(peer)
                elif state == "disconnected":
                    await asyncio.sleep(DISCONNECTED_GRACE_S)
                    if peer.pc.connectionState == "disconnected":
                        await self.drop(peer)

            try:
                await peer.pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            except (ValueError, KeyError, IndexError, AttributeError) as exc:  # aiortc's parser on bad SDP
                raise BadOffer(f"the offer's SDP could not be read: {exc}") from None
            if peer.check_offer is not None:
                peer.check_offer()
            await peer.pc.setLocalDescription(await peer.pc.createAnswer())
            return {"sdp": peer.pc.localDescription.sdp, "type": peer.pc.localDescription.type, "id": peer.key}
        except BaseException:
            await self.drop(peer)
            raise

    async def drop(self, peer: Peer) -> None:
        """Close `peer` and everything attached to it, once."""
        with self._lock:
            if self._peers.pop(peer.key, None) is None:
                return
        for close in peer.on_close:
            try:
                await close()
            except Exception:  # one part failing to close must not keep the others open
                log.exception("closing a peer's part")
        await peer.pc.close()
        peer.closed.set()
        log.info("a browser left (%d connected)", self.count)

    async def _drop_all(self) -> None:
        with self._lock:
            peers = list(self._peers.values())
        await asyncio.gather(*(self.drop(p) for p in peers), return_exceptions=True)

    def close(self) -> None:
        """Close every connection (from any thread but the loop's)."""
        self.loop.run(self._drop_all(), ANSWER_TIMEOUT_S)
