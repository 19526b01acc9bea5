"""A WebRTC peer in Python (aiortc) playing a visitor's browser, for tests that need no Chromium: it sends a
camera of synthetic frames (`frame_at(n)` -> BGR image, at `fps`), keeps the frames that come back and the
server's data-channel messages."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.error
import urllib.request
from fractions import Fraction

import numpy as np
from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from av import VideoFrame

from livevision.webrtc.loop import LoopThread


def wait_until(condition, timeout: float = 30.0) -> bool:
    """Whether `condition()` came true within `timeout` seconds (checked every 0.05 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def grey_frame(n: int, size_wh=(320, 240)) -> np.ndarray:
    """A flat grey frame with a bright square that moves with n."""
    w, h = size_wh
    image = np.full((h, w, 3), 96, np.uint8)
    x = (n * 4) % (w - 40)
    image[h // 2 - 20:h // 2 + 20, x:x + 40] = 230
    return image


class FakeCamera(MediaStreamTrack):
    kind = "video"

    def __init__(self, frame_at=grey_frame, fps: float = 30.0):
        super().__init__()
        self.frame_at, self.fps, self.sent = frame_at, fps, 0
        self._start = time.monotonic()

    async def recv(self) -> VideoFrame:
        await asyncio.sleep(max(0.0, self._start + self.sent / self.fps - time.monotonic()))
        frame = VideoFrame.from_ndarray(self.frame_at(self.sent), format="bgr24")
        frame.pts, frame.time_base = round(self.sent * 90000 / self.fps), Fraction(1, 90000)
        self.sent += 1
        return frame


def post_json(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict | str]:
    request = urllib.request.Request(url, json.dumps(body).encode(),
                                     {"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        text = e.read().decode()
        try:
            return e.code, json.loads(text)
        except ValueError:
            return e.code, text


class Visitor:
    """connect() -> (HTTP status, answer or error); `returned`: (time.monotonic(), BGR frame) of the frames
    that came back (the newest `keep`); `messages`: the server's JSON messages; send(dict); close()."""

    def __init__(self, base_url: str, *, token: str | None = None, tasks=None, camera: FakeCamera | bool | None = None,
                 receive: bool = True, keep: int = 50):
        self.base_url, self.token, self.tasks = base_url.split("?", 1)[0], token, tasks
        self.camera = FakeCamera() if camera is None else camera  # False: receive only (a viewer)
        self.receive, self.keep = receive, keep
        self.returned: list[tuple[float, np.ndarray]] = []
        self.count = 0
        self.messages: list[dict] = []
        self._lock = threading.Lock()
        self._loop = LoopThread("test-visitor")
        self.pc: RTCPeerConnection | None = None
        self.channel = None

    def connect(self) -> tuple[int, dict | str]:
        offer = self._loop.run(self._offer(), 30)
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        status, answer = post_json(self.base_url + "offer", {**offer, **({"tasks": self.tasks} if self.tasks else {})},
                                   headers)
        if status == 200:
            self._loop.run(self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"])), 30)
        return status, answer

    async def _offer(self) -> dict:
        self.pc = RTCPeerConnection()
        if self.camera is not False:  # a visitor talks to the server; a viewer only watches
            self.channel = self.pc.createDataChannel("control")
            self.channel.on("message", lambda m: self.messages.append(json.loads(m)))
        if self.camera is False:
            self.pc.addTransceiver("video", direction="recvonly")
        else:
            self.pc.addTransceiver(self.camera, direction="sendrecv")
        self.pc.on("track", self._on_track)
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return {"sdp": self.pc.localDescription.sdp, "type": "offer"}

    def _on_track(self, track) -> None:
        async def read() -> None:
            while True:
                try:
                    frame = await track.recv()
                except Exception:
                    return
                image = frame.to_ndarray(format="bgr24") if self.receive else None
                with self._lock:
                    self.count += 1
                    self.returned = [*self.returned[-(self.keep - 1):], (time.monotonic(), image)]
        asyncio.ensure_future(read())

    def wait_for_frames(self, n: int, timeout: float = 60.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count >= n:
                return True
            time.sleep(0.05)
        return False

    def send(self, message: dict) -> None:
        self._loop.soon(self.channel.send, json.dumps(message))

    def close(self) -> None:
        if self.pc is not None:
            self._loop.run(self.pc.close(), 30)
        self._loop.close()

    def __enter__(self) -> "Visitor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
