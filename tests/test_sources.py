"""Sources, the capture thread and the streaming API, with synthetic media and fakes."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from fakes import FakeSource as _FakeSource
from media import index_frame, read_index, write_avi

import livevision
from livevision.sources import CapturePolicy, CaptureThread, SourceError, open_source, to_bgr8
from livevision.stream import stream
from livevision.types import Task


def FakeSource(count, *, fps=100.0, **kwargs):
    """fakes.FakeSource of indexed 160x48 frames, 100 fps unless told."""
    return _FakeSource(count, fps=fps, size_wh=(160, 48), **kwargs)


def _capture_threads():
    return [t for t in threading.enumerate() if t.name.startswith("capture:")]


def test_video_file_in_order_with_its_timing(tmp_path):
    path = write_avi(tmp_path / "clip.avi", 12, fps=25)
    with open_source(str(path)) as source:
        assert not source.info.is_live and source.info.fps == pytest.approx(25)
        assert source.info.frame_count == 12
        frames = list(source.frames())
    assert [read_index(f.image) for f in frames] == list(range(12))
    assert [f.index for f in frames] == list(range(12))
    assert [f.timestamp_s for f in frames] == pytest.approx([i / 25 for i in range(12)], abs=1e-3)


def test_images_folder_glob_and_single(tmp_path):
    for i in range(3):
        cv2.imwrite(str(tmp_path / f"img_{i}.png"), index_frame(i))
    folder = open_source(str(tmp_path))
    assert [read_index(f.image) for f in folder.frames()] == [0, 1, 2]
    glob_source = open_source(str(tmp_path / "img_[12].png"))
    assert [read_index(f.image) for f in glob_source.frames()] == [1, 2]
    single = open_source(tmp_path / "img_2.png")
    assert [read_index(f.image) for f in single.frames()] == [2]


@pytest.mark.parametrize("image", [
    np.full((20, 30), 200, np.uint8),                      # grayscale
    np.full((20, 30, 4), 200, np.uint8),                   # BGRA
    np.full((20, 30, 3), 200 * 257, np.uint16),            # 16-bit
])
def test_odd_images_become_bgr8(image, tmp_path):
    out = to_bgr8(image)
    assert out.shape == (20, 30, 3) and out.dtype == np.uint8 and int(out[0, 0, 0]) == 200
    cv2.imwrite(str(tmp_path / "odd.png"), image)
    frame = next(open_source(tmp_path / "odd.png").frames())
    assert frame.image.shape == (20, 30, 3)


@pytest.mark.parametrize("spec, message", [
    ("missing.mp4", "no such file or folder"),
    ("ftp://example.com/x.mp4", "unsupported URL scheme 'ftp'"),
    ("nothing-*.png", "no images match"),
])
def test_bad_sources(spec, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SourceError, match=message):
        open_source(spec)


def test_camera_that_does_not_open():
    with pytest.raises(SourceError, match="camera 57 could not be opened"):
        open_source("57")


def test_unreadable_video(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 10)
    with pytest.raises(SourceError, match="could not be opened as a video"):
        open_source(bad)


def test_queue_policy_drops_nothing():
    capture = CaptureThread(FakeSource(50), CapturePolicy.QUEUE).start()
    got = []
    while (frame := capture.read(timeout=5)) is not None:
        got.append(frame.index)
        time.sleep(0.001)
    capture.stop()
    assert got == list(range(50)) and capture.frames_dropped == 0


def test_latest_policy_keeps_only_the_newest_frame():
    source = FakeSource(40, live=True, fps=200, paced=True)
    capture = CaptureThread(source).start()
    assert capture.policy is CapturePolicy.LATEST
    got = []
    while (frame := capture.read(timeout=5)) is not None:
        got.append(frame.index)
        time.sleep(0.03)  # a slow consumer
    capture.stop()
    assert got == sorted(got) and len(set(got)) == len(got)
    assert capture.frames_dropped == 40 - len(got) and capture.frames_dropped > 0
    assert got[-1] == 39  # the newest frame is always delivered


def test_stream_yields_typed_packets_and_stops_on_break():
    fake_model = lambda image: float(image.mean())  # noqa: E731
    packets = []
    for packet in stream(FakeSource(1000), Task.DEPTH, models={Task.DEPTH: fake_model}):
        packets.append(packet)
        if len(packets) == 5:
            break
    assert [p.index for p in packets] == list(range(5))
    assert packets[0].result == pytest.approx(float(packets[0].image.mean()))
    deadline = time.monotonic() + 5
    while _capture_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _capture_threads() == []


def test_source_error_reaches_the_caller_and_threads_stop():
    with pytest.raises(RuntimeError, match="failed at frame 3"):
        for _ in stream(FakeSource(10, fail_at=3), "depth", models={Task.DEPTH: lambda im: 0}):
            pass
    time.sleep(0.05)
    assert _capture_threads() == []


def test_model_error_reaches_the_caller_and_threads_stop():
    def broken(image):
        raise ValueError("model exploded")

    with pytest.raises(ValueError, match="model exploded"):
        for _ in stream(FakeSource(10), "depth", models={Task.DEPTH: broken}):
            pass
    time.sleep(0.05)
    assert _capture_threads() == []


def test_several_tasks_per_frame():
    models = {Task.DEPTH: lambda im: "d", Task.CLASSIFICATION: lambda im: "c"}
    packet = next(iter(stream(FakeSource(3), "depth,classification", models=models)))
    assert packet.results == {Task.DEPTH: "d", Task.CLASSIFICATION: "c"}
    with pytest.raises(AttributeError):
        packet.result


def test_public_api_exports_stream():
    assert livevision.stream is stream
