"""`--reconnect`, `--reconnect-timeout` and `--wait-for-camera` through the CLI.

Streams: `livevision run` in a subprocess reads a Motion-JPEG AVI from an HTTP server on
127.0.0.1 that drops the connection midway, then answers 503 (down) for a while, then serves
the clip again. What each request gets is scripted, so the number of reconnection attempts is
exact and no test waits on a clock. Cameras: no device here, so `main()` runs in-process with
the camera's capture replaced by a fake one and the reconnect waits by a fake clock, the way
tests/test_source_faults.py drives VideoCaptureSource.
"""

from __future__ import annotations

import json
import re

import cv2
import pytest
from cli_runner import run_cli
from clip_server import ClipServer
from fakes import FakeClock
from media import decode, index_frame, read_index, write_avi

import livevision.sources.open as open_module
from livevision.cli import main
from livevision.sources import VideoCaptureSource

pytestmark = pytest.mark.timeout(120)

FRAMES = 30  # in the served clip


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory) -> bytes:
    return write_avi(tmp_path_factory.mktemp("clip") / "clip.avi", FRAMES, fps=25).read_bytes()


@pytest.fixture
def serve(clip_bytes):
    servers = []

    def start(plans):
        servers.append(ClipServer(clip_bytes, plans, name="dropping-server"))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def depth_model(tiny_model) -> str:
    return str(tiny_model("depth_anything"))


def run_stream(url, model, cache, tmp_path, *options):
    """`livevision run` on the stream with results and stats; (process, results lines, stats or None)."""
    results, stats = tmp_path / "r.jsonl", tmp_path / "stats.json"
    done = run_cli("run", "--task", "depth", "--source", url, "--model", model, "--precision", "fp32",
                   "--no-display", "--cache-dir", str(cache), "--results", str(results), "--stats", str(stats),
                   *options)
    lines = [json.loads(line) for line in results.read_text().splitlines()] if results.exists() else None
    return done, lines, json.loads(stats.read_text()) if stats.exists() else None


def frames_before_the_drop(stderr: str, limit: str) -> int:
    found = re.search(rf"stopped delivering frames after (\d+) frames; reconnecting \(limit: {re.escape(limit)}\)",
                      stderr)
    assert found, stderr
    return int(found.group(1))


def one_error_line(stderr: str) -> str:
    """The run's error: exactly one `livevision: error:` line, the last one, and no traceback."""
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("livevision: error:")]
    assert len(errors) == 1 and lines[-1] == errors[0] and "Traceback" not in stderr, stderr
    return errors[0]


# ---- streams ---------------------------------------------------------------------------------


def test_a_dropped_stream_comes_back_and_the_run_goes_on(serve, clip_bytes, depth_model, model_cache, tmp_path):
    # cut halfway, down once, then back: the second attempt succeeds, within --reconnect 3
    server = serve([len(clip_bytes) // 2, "down", "full"])
    out = tmp_path / "out.mp4"
    done, lines, stats = run_stream(server.url, depth_model, model_cache, tmp_path, "--reconnect", "3",
                                    "--pacing", "every", "--output", str(out), "--view", "side_by_side", "--no-hud")
    assert done.returncode == 0, done.stderr
    first = frames_before_the_drop(done.stderr, "3 attempts")
    assert 0 < first < FRAMES
    assert re.search(rf"stream {re.escape(server.url)} is back after \d+\.\d s \(2 reconnection attempts\); "
                     rf"going on from frame {first}\b", done.stderr), done.stderr
    assert server.requests == 3
    # every frame of both connections was inferred and written, numbered on across the drop
    assert [r["index"] for r in lines] == list(range(first + FRAMES))
    stamps = [r["timestamp"] for r in lines]
    assert all(b >= a for a, b in zip(stamps, stamps[1:]))
    _, video = decode(out)  # the original is on the left: the server restarted the clip from its frame 0
    assert [read_index(f[:, : f.shape[1] // 2]) for f in video] == list(range(first)) + list(range(FRAMES))
    assert stats["source_faults"]["reconnects"] == 1
    assert stats["frames"]["captured"] == first + FRAMES


def test_reconnect_0_stops_at_the_first_drop(serve, clip_bytes, depth_model, model_cache, tmp_path):
    server = serve([len(clip_bytes) // 2, "full"])  # the stream would be back at once
    done, lines, stats = run_stream(server.url, depth_model, model_cache, tmp_path, "--reconnect", "0",
                                    "--pacing", "every")
    assert done.returncode == 1
    error = one_error_line(done.stderr)
    found = re.fullmatch(rf"livevision: error: stream {re.escape(server.url)} stopped delivering frames "
                         rf"\(connection lost\?\) after (\d+) frames", error)
    assert found, error
    assert "reconnecting" not in done.stderr and server.requests == 1
    delivered = int(found.group(1))
    assert 0 < delivered < FRAMES
    assert [r["index"] for r in lines] == list(range(delivered))  # what came before the drop is kept
    assert stats["source_faults"]["reconnects"] == 0


@pytest.mark.parametrize("options, limit", [
    (["--reconnect", "2"], "2 attempts"),
    # 1 s allows the attempts at 0.5 s and 1 s, the third would come at 2 s
    (["--reconnect-timeout", "1"], "1 s"),
    (["--reconnect", "50", "--reconnect-timeout", "1"], "50 attempts or 1 s"),
])
def test_a_stream_that_stays_away_gives_up_with_one_line(options, limit, serve, clip_bytes, depth_model, model_cache,
                                                        tmp_path):
    # down for two attempts, back on the third: a run that does not give up after two recovers (exit 0)
    server = serve([len(clip_bytes) // 2, "down", "down", "full"])
    done, lines, stats = run_stream(server.url, depth_model, model_cache, tmp_path, *options)  # live pacing
    assert done.returncode == 1, done.stderr
    first = frames_before_the_drop(done.stderr, limit)
    error = one_error_line(done.stderr)
    assert re.fullmatch(rf"livevision: error: stream {re.escape(server.url)} stopped delivering frames "
                        rf"\(connection lost\?\) after {first} frames and did not come back: "
                        rf"2 reconnection attempts over \d+\.\d s", error), error
    assert server.requests == 3  # the drop and two refused attempts; the stream's return was never asked for
    assert all(r["index"] < first for r in lines)  # live: the burst may end before a result is shown
    assert stats["source_faults"]["reconnects"] == 0 and stats["frames"]["captured"] == first


def test_wait_for_camera_does_not_mix_with_limits(tmp_path):
    for limit in (["--reconnect", "3"], ["--reconnect-timeout", "5"]):
        done = run_cli("run", "--source", "0", "--no-display", "--wait-for-camera", *limit,
                       "--cache-dir", str(tmp_path))
        assert done.returncode == 2
        assert "--wait-for-camera waits without limit" in one_error_line(done.stderr)


def test_a_negative_reconnect_count_is_a_usage_error(tmp_path):
    done = run_cli("run", "--source", "0", "--no-display", "--reconnect", "-1", "--cache-dir", str(tmp_path))
    assert done.returncode == 2 and "--reconnect must be 0 or more" in one_error_line(done.stderr)


# ---- cameras: in-process, with a fake capture and a fake clock --------------------------------


class FakeCapture:
    """Plays `count` indexed frames (None: without end), then fails every read; or cannot be opened."""

    def __init__(self, first: int, count: int | None, opened: bool = True):
        self.next, self.end, self.opened = first, None if count is None else first + count, opened

    def isOpened(self):
        return self.opened

    def read(self):
        if not self.opened or (self.end is not None and self.next >= self.end):
            return False, None
        self.next += 1
        return True, index_frame(self.next - 1)

    def grab(self):
        return self.read()[0]

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 30.0, cv2.CAP_PROP_FRAME_WIDTH: 128.0, cv2.CAP_PROP_FRAME_HEIGHT: 72.0}.get(prop, 0.0)

    def set(self, prop, value):
        return True

    def release(self):
        self.opened = False


class UnpluggedCamera:
    """Camera 0: 3 frames, then unplugged for `gone` opens, then back without end."""

    def __init__(self, gone: int):
        self.sessions = [3] + [0] * gone + [None]
        self.targets, self.delivered = [], 0

    def __call__(self, target):
        self.targets.append(target)
        plan = self.sessions.pop(0) if len(self.sessions) > 1 else self.sessions[0]
        if plan == 0:
            return FakeCapture(0, 0, opened=False)
        cap = FakeCapture(self.delivered, plan)
        self.delivered += plan or 0
        return cap


@pytest.fixture
def camera(monkeypatch):
    """camera(gone) -> (the fake camera 0, its clock), wired into open_source for main()."""

    def install(gone: int):
        device, clock = UnpluggedCamera(gone), FakeClock()

        def source(target, **kwargs):
            return VideoCaptureSource(target, **{**kwargs, "capture_factory": device, "clock": clock.now,
                                                 "sleep": clock.sleep})

        monkeypatch.setattr(open_module, "VideoCaptureSource", source)
        return device, clock

    return install


def run_camera(model, cache, tmp_path, *options) -> tuple[int, list[dict], dict]:
    results, stats = tmp_path / "r.jsonl", tmp_path / "stats.json"
    code = main(["run", "--task", "depth", "--source", "0", "--model", model, "--precision", "fp32", "--no-display",
                 "--pacing", "every", "--max-frames", "8", "--cache-dir", str(cache), "--results", str(results),
                 "--stats", str(stats), *options])
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    return code, lines, json.loads(stats.read_text())


def test_wait_for_camera_waits_past_every_default_limit(camera, depth_model, model_cache, tmp_path, caplog):
    # gone for 12 opens, ~80 s on the fake clock: more than the default 10 attempts a stream gets
    device, clock = camera(gone=12)
    with caplog.at_level("INFO", logger="livevision"):
        code, lines, stats = run_camera(depth_model, model_cache, tmp_path, "--wait-for-camera")
    assert code == 0, caplog.text
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0] + [8.0] * 9  # backoff capped at 8 s, never a give-up
    assert device.targets == [0] * 14
    messages = [r.getMessage() for r in caplog.records]
    assert "camera 0 stopped delivering frames after 3 frames; reconnecting (limit: no limit)" in messages
    assert "camera 0 is back after 79.5 s (13 reconnection attempts); going on from frame 3" in messages
    assert [r["index"] for r in lines] == list(range(8))  # the frames after the outage arrive
    assert stats["source_faults"]["reconnects"] == 1


def test_an_unplugged_camera_stops_the_run_without_wait_for_camera(camera, depth_model, model_cache, tmp_path,
                                                                   capsys):
    device, clock = camera(gone=1)  # would be back at the second open
    code, lines, stats = run_camera(depth_model, model_cache, tmp_path)
    assert code == 1
    assert one_error_line(capsys.readouterr().err) == (
        "livevision: error: camera 0 stopped delivering frames (unplugged?) after 3 frames")
    assert device.targets == [0] and clock.sleeps == []  # never reopened
    assert [r["index"] for r in lines] == [0, 1, 2] and stats["source_faults"]["reconnects"] == 0
