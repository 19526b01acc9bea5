"""Fakes shared by the tests: a frame source, a clock that moves only when told, a port nobody listens on."""

from __future__ import annotations

import socket
import threading
import time

import numpy as np
from media import index_frame

from livevision.sources import FrameSource, SourceInfo
from livevision.types import Frame


class FakeSource(FrameSource):
    """`count` frames at `fps`, each showing its index (media.read_index) at `size_wh`, or always
    `image` when given; live ones are paced by real time (`paced`); fails at frame `fail_at`."""

    def __init__(self, count, *, fps=30.0, live=False, paced=False, fail_at=None, size_wh=(64, 48),
                 image: np.ndarray | None = None, name: str = "fake"):
        self.count, self.paced, self.fail_at, self.size_wh, self.image = count, paced, fail_at, size_wh, image
        self.info = SourceInfo(name=name, is_live=live, fps=fps, frame_count=None if live else count)
        self.closed = threading.Event()

    def frames(self):
        for i in range(self.count):
            if self.closed.is_set():
                return
            if i == self.fail_at:
                raise RuntimeError(f"fake source failed at frame {i}")
            if self.paced:
                time.sleep(1.0 / self.info.fps)
            image = self.image if self.image is not None else index_frame(i, *self.size_wh)
            yield Frame(image, i, i / self.info.fps, time.monotonic())

    def close(self):
        self.closed.set()


class FakeClock:
    """Seconds that move only when told: `sleep` (recorded, e.g. reconnect waits) and `tick` (a frame)."""

    def __init__(self, start: float = 100.0):
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.t += seconds

    def tick(self, seconds: float = 1 / 30) -> None:
        self.t += seconds


def unused_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TakesTime:
    """`work` that "takes" `seconds` on a FakeClock each call (then runs it): a stage with a timing chosen
    by the test. Other attributes are `work`'s."""

    def __init__(self, work, clock: FakeClock, seconds: float):
        self.work, self.clock, self.seconds = work, clock, seconds
        self.calls = 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        self.clock.tick(self.seconds)
        return self.work(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.work, name)
