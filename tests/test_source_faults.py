"""Sources under faults: unplugged cameras, dropped streams, damaged and empty files, frames
that change size, odd pixel formats and very large frames.

No hardware and no network: cameras and streams are fake captures injected through
`capture_factory` (with a fake clock and sleep, so backoff is checked exactly), plus a real
HTTP server on 127.0.0.1 for OpenCV's own stream reading. Damaged files are real files,
written here and then cut or overwritten.
"""

from __future__ import annotations

import itertools
import logging
import re
import subprocess
import threading
import time
from fractions import Fraction

import cv2
import numpy as np
import pytest
from clip_server import ClipServer
from fakes import FakeClock
from media import decode, index_frame, make_source, read_index, write_avi

from livevision.app import Renderer
from livevision.options import ViewMode
from livevision.errors import UsageError
from livevision.render import HudAnnotator, ResultAnnotator
from livevision.sinks import VideoSink
from livevision.sinks.ffmpeg import find_ffmpeg
from livevision.sources import CaptureThread, FrameSource, SourceError, SourceInfo, VideoCaptureSource, open_source
from livevision.sources.reconnect import ReconnectPolicy
from livevision.stream import Stream
from livevision.types import DepthKind, DepthResult, Frame, Task

pytestmark = pytest.mark.timeout(60)
FW, FH = 128, 72  # fake camera frames: index_frame needs at least 128 px of width


# ---- fakes ---------------------------------------------------------------------------------


class FakeCapture:
    """A cv2.VideoCapture stand-in that plays `frames` (an image, or None for a read that fails),
    then fails every read. `get` answers what a real capture would."""

    def __init__(self, frames, *, opened=True, fps=25.0, count=0, clock=None):
        self.frames, self.opened, self.fps, self.count, self.clock = list(frames), opened, fps, count, clock
        self.pos = 0
        self.released = False
        self.settings: dict[int, float] = {}

    def isOpened(self):
        return self.opened and not self.released

    def read(self):
        if self.released or not self.opened or self.pos >= len(self.frames):
            return False, None
        image = self.frames[self.pos]
        self.pos += 1
        if self.clock is not None:
            self.clock.tick()
        return image is not None, image

    def grab(self):
        return self.read()[0]

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: self.fps, cv2.CAP_PROP_FRAME_COUNT: float(self.count),
                cv2.CAP_PROP_FRAME_WIDTH: float(FW), cv2.CAP_PROP_FRAME_HEIGHT: float(FH),
                cv2.CAP_PROP_POS_MSEC: self.pos * 1000.0 / self.fps}.get(prop, 0.0)

    def set(self, prop, value):
        self.settings[prop] = value
        return True

    def release(self):
        self.released = True


class FakeDevice:
    """A camera or stream across reopenings. `sessions` says what each open finds: a number of
    frames delivered before the drop, or None for an open that fails (unplugged, server down).
    Frames carry a running number in their pixels, so order and gaps can be read back."""

    def __init__(self, sessions, clock=None):
        self.sessions = list(sessions)
        self.clock = clock
        self.targets: list = []
        self.captures: list[FakeCapture] = []
        self._next = 0

    def __call__(self, target):
        self.targets.append(target)
        plan = self.sessions.pop(0) if self.sessions else None
        if plan is None:
            cap = FakeCapture([], opened=False)
        else:
            cap = FakeCapture([index_frame(self._next + i, FW, FH) for i in range(plan)], clock=self.clock)
            self._next += plan
        self.captures.append(cap)
        return cap


def camera(sessions, policy=None, *, target=0, clock=None, sleep=None):
    clock = clock or FakeClock()
    device = FakeDevice(sessions, clock)
    live_name = f"camera {target}" if isinstance(target, int) else target
    source = VideoCaptureSource(target, is_live=True, name=live_name, reconnect=policy, capture_factory=device,
                                clock=clock.now, sleep=sleep or clock.sleep)
    return source, device, clock


def take(source: FrameSource) -> tuple[list[Frame], BaseException | None]:
    """All frames a source yields until it ends or fails, and the error if it failed."""
    frames: list[Frame] = []
    try:
        for frame in source.frames():
            frames.append(frame)
    except SourceError as exc:
        return frames, exc
    return frames, None


def take_or_raise(source: FrameSource) -> list[Frame]:
    frames, error = take(source)
    if error is not None:
        raise error
    return frames


def _assert_no_engine_threads(bound_s=5.0):
    prefixes = ("capture:", "infer:", "pre:", "post:", "dispatch")
    deadline = time.monotonic() + bound_s
    while time.monotonic() < deadline:
        alive = [t.name for t in threading.enumerate() if t.name.startswith(prefixes) and t.is_alive()]
        if not alive:
            return
        time.sleep(0.01)
    assert alive == []


# ---- cameras -------------------------------------------------------------------------------


def test_unplugged_camera_stops_with_a_clear_message():
    device = FakeDevice([5])
    source = open_source(0, capture_factory=device)
    frames, error = take(source)
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    assert [read_index(f.image) for f in frames] == [0, 1, 2, 3, 4]
    assert str(error) == "camera 0 stopped delivering frames (unplugged?) after 5 frames"
    assert device.targets == [0] and device.captures[0].released  # no reopening, nothing left open


def test_camera_told_to_wait_is_reopened_with_backoff(caplog):
    source, device, clock = camera([3, None, None, None, 4], ReconnectPolicy.forever())
    with caplog.at_level(logging.INFO, logger="livevision"):
        frames = list(itertools.islice(source.frames(), 7))  # it would wait forever after these
    source.close()
    # indices and pixels run on across the outage; timestamps keep increasing
    assert [f.index for f in frames] == list(range(7))
    assert [read_index(f.image) for f in frames] == list(range(7))
    stamps = [f.timestamp_s for f in frames]
    assert all(b > a for a, b in zip(stamps, stamps[1:]))
    assert stamps[3] - stamps[2] >= 0.5 + 1 + 2 + 4  # the outage shows in the timestamps
    assert clock.sleeps[:4] == [0.5, 1.0, 2.0, 4.0]
    assert device.targets[:5] == [0] * 5 and source.reconnects == 1
    messages = [r.getMessage() for r in caplog.records]
    assert "camera 0 stopped delivering frames after 3 frames; reconnecting (limit: no limit)" in messages
    assert any(m.startswith("camera 0 is back after 7.5 s (4 reconnection attempts); going on from frame 3")
               for m in messages)


def test_waiting_camera_applies_its_size_and_rate_again_after_reopening():
    clock = FakeClock()
    device = FakeDevice([2, 2], clock)
    source = VideoCaptureSource(0, is_live=True, size_wh=(640, 480), fps=15, reconnect=ReconnectPolicy(),
                                capture_factory=device, clock=clock.now, sleep=clock.sleep)
    frames, error = take(source)
    # the camera was reopened once (a second capture that delivered frames), then gave up on the third open
    assert [f.index for f in frames] == [0, 1, 2, 3] and source.reconnects == 1
    assert len(device.captures) >= 2 and "did not come back" in str(error)
    for cap in device.captures[:2]:
        assert cap.settings == {cv2.CAP_PROP_FRAME_WIDTH: 640, cv2.CAP_PROP_FRAME_HEIGHT: 480, cv2.CAP_PROP_FPS: 15}


# ---- streams ---------------------------------------------------------------------------------


def test_streams_reconnect_by_default_and_cameras_do_not():
    device = FakeDevice([2, 3])
    stream_source = open_source("rtsp://127.0.0.1/cam", capture_factory=device)  # default: back after 0.5 s
    frames = list(itertools.islice(stream_source.frames(), 5))
    stream_source.close()
    assert [f.index for f in frames] == [0, 1, 2, 3, 4] and stream_source.reconnects == 1
    assert device.targets[:2] == ["rtsp://127.0.0.1/cam"] * 2
    with pytest.raises(SourceError, match=r"stream rtsp://127.0.0.1/cam stopped delivering frames "
                                          r"\(connection lost\?\) after 2 frames$"):
        take_or_raise(open_source("rtsp://127.0.0.1/cam", reconnect=False, capture_factory=FakeDevice([2, 3])))


def test_dropped_stream_gives_up_after_its_attempts():
    source, device, clock = camera([4], ReconnectPolicy(max_attempts=5), target="rtsp://127.0.0.1/cam")
    frames, error = take(source)
    assert [f.index for f in frames] == [0, 1, 2, 3]
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert str(error) == ("stream rtsp://127.0.0.1/cam stopped delivering frames (connection lost?) after 4 frames "
                          "and did not come back: 5 reconnection attempts over 15.5 s")
    assert len(device.targets) == 6 and all(c.released for c in device.captures)


def test_dropped_stream_gives_up_after_its_time_limit():
    source, _, clock = camera([1], ReconnectPolicy(max_attempts=None, max_outage_s=10.0), target="rtsp://x/cam")
    frames, error = take(source)
    assert len(frames) == 1
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0, 2.5]  # the last wait is cut to the deadline
    assert str(error).endswith("did not come back: 5 reconnection attempts over 10.0 s")


@pytest.mark.parametrize("attempts, recovers", [(3, True), (2, False)])
def test_a_reopen_that_delivers_nothing_does_not_end_the_outage(attempts, recovers):
    # opens twice without a frame (a server that accepts and hangs up), then streams again
    source, _, clock = camera([2, 0, 0, 3], ReconnectPolicy(max_attempts=attempts), target="rtsp://x/cam")
    frames, error = take(source)
    if recovers:
        assert [f.index for f in frames] == [0, 1, 2, 3, 4] and source.reconnects == 1
        assert clock.sleeps[:3] == [0.5, 1.0, 2.0]
    else:
        assert [f.index for f in frames] == [0, 1] and source.reconnects == 0
        assert "2 reconnection attempts over 1.5 s" in str(error)


def test_each_outage_gets_the_whole_budget_again():
    source, _, clock = camera([2, None, 2, None, 2], ReconnectPolicy(max_attempts=2), target="rtsp://x/cam")
    frames, error = take(source)
    assert [f.index for f in frames] == list(range(6)) and source.reconnects == 2
    assert clock.sleeps == [0.5, 1.0, 0.5, 1.0, 0.5, 1.0]  # backoff starts afresh after each recovery
    assert str(error).endswith("after 6 frames and did not come back: 2 reconnection attempts over 1.5 s")


def test_give_up_reaches_the_stream_caller_and_threads_stop():
    source, _, _ = camera([6], ReconnectPolicy(max_attempts=2), target="rtsp://x/cam")
    packets = []
    with pytest.raises(SourceError, match="after 6 frames and did not come back: 2 reconnection attempts"):
        for packet in Stream(source, {Task.DEPTH: lambda image: 0.0}):
            packets.append(packet.index)
    assert packets == sorted(packets) and packets[-1] == 5  # live: the newest frame is always shown
    _assert_no_engine_threads()


class _Announced(logging.Handler):
    """Sets `event` when a livevision log message contains `text`."""

    def __init__(self, text: str):
        super().__init__(logging.DEBUG)
        self.text, self.event = text, threading.Event()

    def emit(self, record):
        if self.text in record.getMessage():
            self.event.set()


@pytest.mark.timeout(30)
def test_closing_interrupts_a_reconnect_wait():
    # the real sleep: an hour's wait that close() must cut short. Only an interrupted wait lets
    # stop() join the thread; a wait that close() cannot cut hangs here until pytest-timeout.
    device = FakeDevice([3])
    source = VideoCaptureSource("rtsp://x/cam", is_live=True, capture_factory=device,
                                reconnect=ReconnectPolicy(initial_backoff_s=3600, max_backoff_s=3600))
    waiting = _Announced("reconnection attempt 1 in 3600.0 s")  # logged just before the wait starts
    logger = logging.getLogger("livevision")
    level = logger.level
    logger.addHandler(waiting)
    logger.setLevel(logging.DEBUG)
    try:
        capture = CaptureThread(source).start()
        while capture.read(timeout=5).index < 2:  # the newest frame is always delivered
            pass
        assert waiting.event.wait(10)  # the drop was seen: waiting now
    finally:
        logger.removeHandler(waiting)
        logger.setLevel(level)
    assert device.captures[0].released
    capture.stop()  # joins the capture thread: returns only once the wait was cut short
    assert not capture.alive
    assert device.targets == ["rtsp://x/cam"]  # no attempt after the close


# ---- a real stream: OpenCV reading HTTP from 127.0.0.1 -------------------------------------


@pytest.fixture
def clip_bytes(tmp_path) -> bytes:
    return write_avi(tmp_path / "clip.avi", 30, fps=25).read_bytes()


@pytest.fixture
def serve():
    servers = []

    def start(data, plans):
        servers.append(ClipServer(data, plans))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


def test_http_stream_cut_midway_reconnects_and_indices_carry_on(clip_bytes, serve, caplog):
    server = serve(clip_bytes, [len(clip_bytes) // 2, None])  # the first connection drops halfway
    source = open_source(server.url, reconnect=ReconnectPolicy(initial_backoff_s=0.01))
    with caplog.at_level(logging.WARNING, logger="livevision"):
        frames = take_or_raise(source)
    first = len(frames) - 30  # what the first connection delivered before the cut
    assert 0 < first < 30
    assert [f.index for f in frames] == list(range(first + 30))
    assert [read_index(f.image) for f in frames] == list(range(first)) + list(range(30))  # the server restarts
    stamps = [f.timestamp_s for f in frames]
    assert all(b >= a for a, b in zip(stamps, stamps[1:]))
    assert source.reconnects == 1 and server.requests == 2
    assert any(f"stopped delivering frames after {first} frames; reconnecting" in r.getMessage()
               for r in caplog.records)


def test_http_stream_whose_server_goes_away_ends_with_a_clear_message(clip_bytes, serve):
    server = serve(clip_bytes, [len(clip_bytes) // 2])
    source = open_source(server.url, reconnect=ReconnectPolicy(max_attempts=2, initial_backoff_s=0.01))
    server.stop()  # the reads already buffered still arrive; every reopen is refused
    frames, error = take(source)
    assert 0 < len(frames) < 30 and [f.index for f in frames] == list(range(len(frames)))
    assert re.fullmatch(rf"stream {re.escape(server.url)} stopped delivering frames \(connection lost\?\) after "
                        rf"{len(frames)} frames and did not come back: 2 reconnection attempts over \d+\.\d s",
                        str(error))


@pytest.mark.timeout(20)
def test_stalled_http_stream_times_out_as_a_drop(clip_bytes, serve):
    # The server holds the connection open, sending nothing, until the test ends: only the
    # source's own read timeout can end the read. Without it OpenCV waits its default 30 s, and
    # this test hangs into pytest-timeout.
    server = serve(clip_bytes, [("stall", len(clip_bytes) // 2)])
    source = open_source(server.url, reconnect=False, stream_timeout_s=0.5)
    frames, error = take(source)
    assert server.requests == 1  # one connection, which the server never closed
    assert 0 < len(frames) < 30
    assert str(error) == (f"stream {server.url} stopped delivering frames (connection lost?) "
                          f"after {len(frames)} frames")


# ---- files: damaged, truncated, empty -------------------------------------------------------


def _avi_frame_chunks(data: bytes) -> list[tuple[int, int]]:
    """(payload offset, size) of each video chunk ('00dc') in an AVI's movi list."""
    chunks, pos = [], data.index(b"movi") + 4
    end = data.find(b"idx1")
    while pos + 8 <= (end if end > 0 else len(data)):
        fourcc, size = data[pos : pos + 4], int.from_bytes(data[pos + 4 : pos + 8], "little")
        if fourcc == b"00dc":
            chunks.append((pos + 8, size))
        pos += 8 + size + (size & 1)
    return chunks


def test_damaged_frames_in_an_avi_are_skipped_and_counted(tmp_path, caplog):
    data = bytearray(write_avi(tmp_path / "clip.avi", 30, fps=25).read_bytes())
    chunks = _avi_frame_chunks(bytes(data))
    assert len(chunks) == 30
    for k in (10, 11, 12):  # wipe three JPEGs, keep the container intact
        offset, size = chunks[k]
        data[offset : offset + size] = bytes(size)
    (tmp_path / "damaged.avi").write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="livevision"):
        source = open_source(tmp_path / "damaged.avi")
        frames = take_or_raise(source)
    kept = [i for i in range(30) if i not in (10, 11, 12)]
    assert [f.index for f in frames] == kept  # the gap is where the damage was
    assert [read_index(f.image) for f in frames] == kept
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 25 for i in kept], abs=1e-3)
    assert source.frames_bad == 3 and source.frames_read == 27 and source.frames_missing == 3
    messages = [r.getMessage() for r in caplog.records]
    assert (f"{tmp_path / 'damaged.avi'}: 3 unreadable frames skipped before frame 13 (damaged data?); going on"
            in messages)
    assert (f"{tmp_path / 'damaged.avi'}: 3 unreadable frames skipped (damaged data); 27 of the 30 frames read"
            in messages)


def test_truncated_avi_ends_normally_with_a_warning(tmp_path, caplog):
    data = write_avi(tmp_path / "clip.avi", 30, fps=25).read_bytes()
    cut = _avi_frame_chunks(data)[18][0] + 100  # partway into frame 18
    path = tmp_path / "truncated.avi"
    path.write_bytes(data[:cut])
    with caplog.at_level(logging.WARNING, logger="livevision"):
        source = open_source(path)
        frames = take_or_raise(source)
    assert [read_index(f.image) for f in frames] == list(range(18)) == [f.index for f in frames]
    assert source.frames_missing == 12 and source.frames_bad == 0
    assert [r.getMessage() for r in caplog.records] == [
        f"{path} ended after 18 of the 30 frames its container lists: 12 missing (the file is truncated or damaged)"]


def test_truncated_h264_mp4_through_the_stream(tmp_path, caplog):
    clip = make_source(tmp_path / "clip.mp4", 30, Fraction(25), None)
    faststart = tmp_path / "faststart.mp4"  # the index first, so a cut tail leaves it readable
    subprocess.run([find_ffmpeg(), "-loglevel", "error", "-y", "-i", str(clip), "-c", "copy",
                    "-movflags", "+faststart", str(faststart)], check=True, timeout=60)
    data = faststart.read_bytes()
    path = tmp_path / "truncated.mp4"
    path.write_bytes(data[: int(len(data) * 0.6)])
    with caplog.at_level(logging.WARNING, logger="livevision"):
        packets = list(Stream(str(path), {Task.DEPTH: lambda image: float(image.mean())}))
    n = len(packets)
    assert 0 < n < 30
    assert [p.index for p in packets] == list(range(n)) == [read_index(p.image) for p in packets]
    assert all(p.is_fresh(Task.DEPTH) for p in packets)
    assert f"{path} ended after {n} of the 30 frames its container lists: {30 - n} missing" in caplog.text
    _assert_no_engine_threads()


def test_cut_mp4_without_its_index_cannot_be_opened(tmp_path):
    data = make_source(tmp_path / "clip.mp4", 30, Fraction(25), None).read_bytes()  # index at the end
    (tmp_path / "cut.mp4").write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceError, match="cut.mp4 could not be opened as a video"):
        open_source(tmp_path / "cut.mp4")


def test_zero_frame_video_is_a_clear_error(tmp_path):
    writer = cv2.VideoWriter(str(tmp_path / "empty.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 25, (160, 120))
    writer.release()
    with pytest.raises(SourceError, match=r"empty.avi contains no frames$"):
        open_source(tmp_path / "empty.avi")


def test_video_whose_every_frame_is_damaged_is_a_clear_error():
    factory = lambda target: FakeCapture([None] * 5, count=5)  # noqa: E731
    with pytest.raises(SourceError, match=r"^clip.mp4 contains no frames that can be decoded \(its container lists 5"):
        VideoCaptureSource("clip.mp4", is_live=False, capture_factory=factory)


def test_bad_frames_with_grab_and_read(caplog):
    image = lambda i: index_frame(i, FW, FH)  # noqa: E731
    plan = [image(0), None, None, image(3), image(4), image(5), None]
    source = VideoCaptureSource("clip.mp4", is_live=False, capture_factory=lambda t: FakeCapture(plan, count=7))
    frames = source.frames()
    assert next(frames).index == 0
    assert source.grab()  # grabbing skips over the bad frames too
    assert [f.index for f in frames] == [4, 5]
    assert source.frames_bad == 2 and source.frames_read == 4 and source.frames_missing == 3
    assert source.info.frame_count == 7 and source.info.size_wh == (FW, FH)


@pytest.mark.parametrize("limit, expected", [(3, [0]), (4, [0, 4])])
def test_a_long_run_of_bad_frames_ends_a_file_without_a_frame_count(limit, expected):
    plan = [index_frame(0, FW, FH), None, None, None, index_frame(4, FW, FH)]
    source = VideoCaptureSource("clip.mp4", is_live=False, max_consecutive_bad_frames=limit,
                                capture_factory=lambda t: FakeCapture(plan, count=0))
    assert [f.index for f in take_or_raise(source)] == expected
    assert source.frames_missing is None  # nothing to compare with


def test_reconnect_options_are_checked():
    with pytest.raises(UsageError, match="reconnect applies to cameras and streams"):
        VideoCaptureSource("clip.mp4", is_live=False, reconnect=ReconnectPolicy(),
                           capture_factory=lambda t: FakeCapture([index_frame(0, FW, FH)]))
    for bad in ({"max_attempts": 0}, {"max_outage_s": -1}, {"initial_backoff_s": 2, "max_backoff_s": 1},
                {"backoff_factor": 0.5}):
        with pytest.raises(UsageError, match=next(iter(bad))):
            ReconnectPolicy(**bad)
    assert [ReconnectPolicy().backoff_s(k) for k in range(1, 8)] == [0.5, 1, 2, 4, 8, 8, 8]
    assert ReconnectPolicy.forever().backoff_s(10_000) == 8.0


# ---- frames that change size -----------------------------------------------------------------


class ResizingSource(FrameSource):
    """Indexed frames whose size changes every `every` frames through `sizes_wh`."""

    def __init__(self, count, sizes_wh, *, every=3, live=False, fps=25.0):
        self.count, self.sizes_wh, self.every, self.paced = count, sizes_wh, every, live
        self.info = SourceInfo(name="resizing", is_live=live, fps=fps, frame_count=None if live else count,
                               size_wh=sizes_wh[0])

    def size_of(self, i):
        return self.sizes_wh[(i // self.every) % len(self.sizes_wh)]

    def frames(self):
        for i in range(self.count):
            if self.paced:  # like a camera: the live engine shows many of them
                time.sleep(1 / self.info.fps)
            yield Frame(index_frame(i, *self.size_of(i)), i, i / self.info.fps, time.monotonic())


SIZES = [(160, 96), (320, 180), (131, 77), (640, 360)]  # odd sizes too


def fake_depth(image):
    """A DepthResult at the frame's size, as a real depth model gives."""
    return DepthResult(image[:, :, 0].astype(np.float32) + 1.0, DepthKind.RELATIVE)


@pytest.mark.parametrize("pacing", ["every", "live"])
def test_size_changes_through_the_stream_renderers_and_video(pacing, tmp_path):
    source = ResizingSource(12, SIZES, live=pacing == "live", fps=100)
    renderer = Renderer((Task.DEPTH,), ViewMode.OVERLAY)
    out = tmp_path / "out.mp4"
    shown = []
    with VideoSink(out, 25) as video:
        for packet in Stream(source, {Task.DEPTH: fake_depth}, pacing=pacing):
            for view in ViewMode:
                renderer.view = view
                image = renderer.draw_hud(renderer.render(packet), ["capture 25 fps"])
                assert image.dtype == np.uint8 and image.ndim == 3
                if view is ViewMode.OVERLAY:
                    assert image.shape[:2] == packet.image.shape[:2]
                    video.write_frame(image)
            shown.append(packet.index)
    assert shown == sorted(shown) and shown[-1] == 11
    if pacing == "every":
        assert shown == list(range(12))
    first_w, first_h = source.size_of(shown[0])  # live: the first frame shown may not be frame 0
    _, frames = decode(out)
    assert len(frames) == len(shown) and {f.shape for f in frames} == {(first_h, first_w, 3)}  # fitted to it


def test_size_changes_through_a_real_predictor(exported):
    from livevision.predictor import Predictor

    depth = Predictor(exported("depth_anything"), Task.DEPTH)
    source = ResizingSource(8, SIZES, every=1)
    for packet in Stream(source, {Task.DEPTH: depth}):
        w, h = source.size_of(packet.index)
        assert packet.result.depth.shape == packet.image.shape[:2] == (h, w)
        assert np.isfinite(packet.result.depth).all()


# ---- grey, alpha, 16-bit and float pixels -----------------------------------------------------


@pytest.mark.parametrize("name, image, value", [
    ("grey.png", np.full((40, 60), 200, np.uint8), 200),
    ("grey16.png", np.full((40, 60), 200 * 257, np.uint16), 200),
    ("bgra.png", np.dstack([np.full((40, 60, 3), 200, np.uint8), np.full((40, 60), 7, np.uint8)]), 200),
    ("bgra16.png", np.full((40, 60, 4), 200 * 257, np.uint16), 200),
    ("bgr16.tiff", np.full((40, 60, 3), 200 * 257, np.uint16), 200),
    ("float.tiff", np.full((40, 60, 3), 0.5, np.float32), 128),
    ("grey_float.tiff", np.full((40, 60), 0.25, np.float32), 64),
])
def test_odd_image_files_become_bgr8(name, image, value, tmp_path):
    assert cv2.imwrite(str(tmp_path / name), image)
    frames = take_or_raise(open_source(tmp_path / name))
    assert len(frames) == 1
    assert frames[0].image.shape == (40, 60, 3) and frames[0].image.dtype == np.uint8
    assert int(frames[0].image[5, 5, 0]) == value


def test_odd_dtypes_and_channels_in_to_bgr8():
    from livevision.sources import to_bgr8

    ramp = np.arange(-5, 5, dtype=np.int32).reshape(2, 5) * 1000  # no agreed range: stretched
    out = to_bgr8(ramp)
    assert out.shape == (2, 5, 3) and out[0, 0, 0] == 0 and out[1, 4, 0] == 255
    assert to_bgr8(np.ones((2, 3), bool))[0, 0, 0] == 255
    assert to_bgr8(np.full((2, 3, 2), 90, np.uint8))[0, 0].tolist() == [90, 90, 90]  # grey + alpha
    assert to_bgr8(np.full((2, 3), np.nan, np.float32))[0, 0, 0] == 0
    with pytest.raises(ValueError, match="shape"):
        to_bgr8(np.zeros((2, 3, 4, 5), np.uint8))


@pytest.mark.parametrize("name, pix_fmt, codec", [
    ("grey16.mkv", "gray16le", "ffv1"),
    ("grey.mkv", "gray", "ffv1"),
    ("rgba.mov", "rgba", "png"),
    ("rgb48.mkv", "bgr48le", "ffv1"),
])
def test_odd_pixel_format_videos_become_bgr8(name, pix_fmt, codec, tmp_path):
    raw = b"".join(index_frame(i).tobytes() for i in range(6))
    subprocess.run([find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "bgr24",
                    "-s", "128x72", "-framerate", "25", "-i", "pipe:0", "-pix_fmt", pix_fmt, "-c:v", codec,
                    str(tmp_path / name)], input=raw, check=True, timeout=60)
    frames = take_or_raise(open_source(tmp_path / name))
    assert [f.index for f in frames] == list(range(6)) == [read_index(f.image) for f in frames]
    assert {(f.image.shape, f.image.dtype) for f in frames} == {((72, 128, 3), np.dtype(np.uint8))}


# ---- very large frames -------------------------------------------------------------------------


@pytest.mark.parametrize("size_wh", [(3840, 2160), (7680, 4320)])
def test_very_large_frames_through_a_predictor_and_the_renderers(size_wh, exported):
    from livevision.predictor import Predictor

    w, h = size_wh
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = np.linspace(0, 255, w, dtype=np.uint8)[None, :, None]  # a ramp: depth varies
    depth = Predictor(exported("depth_anything"), Task.DEPTH)
    result = depth(frame)
    assert result.depth.shape == (h, w) and result.depth.dtype == np.float32 and np.isfinite(result.depth).all()
    overlay = HudAnnotator().annotate(ResultAnnotator().annotate(frame, result), ["capture 30 fps", "depth 2 fps"])
    assert overlay.shape == frame.shape and overlay.dtype == np.uint8
    packets = list(Stream(ResizingSource(1, [size_wh]), {Task.DEPTH: depth}))
    assert len(packets) == 1 and packets[0].result.depth.shape == (h, w)
    packet = packets[0]
    for view, expected in [(ViewMode.OVERLAY, (h, w, 3)), (ViewMode.SIDE_BY_SIDE, (h, 2 * w, 3)),
                           (ViewMode.GRID, (h, w, 3))]:  # the frame and the depth tile, in one row of the frame's size
        renderer = Renderer((Task.DEPTH,), view)
        image = renderer.draw_hud(renderer.render(packet), ["capture 30 fps"])
        assert image.shape == expected and image.dtype == np.uint8
