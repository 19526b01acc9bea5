"""rtsp:// sources against a real RTSP server (GStreamer's, tests/rtsp_server.py), not a scripted one.

Live H.264 from /cam0 and /cam1 at 15 fps: frames arrive, a stream killed mid-run and served again is
reconnected by the policy with the run going on (indices carry on, timestamps jump over the outage), and a
reader of one mount goes on while the other mount is down. Skipped where the server cannot run (no gi,
gst-rtsp-server or x264enc). Every wait is bounded; nothing asserts how long anything took.
"""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from cli_runner import run_cli
from rtsp_server import RtspServer, skip_without_rtsp, wait_for

from livevision.sources import ReconnectPolicy, open_source

pytestmark = pytest.mark.timeout(120)

FPS = 15
QUICK = ReconnectPolicy(max_attempts=8, initial_backoff_s=0.2, max_backoff_s=1.0)


@pytest.fixture
def rtsp(tmp_path):
    skip_without_rtsp()
    server = RtspServer(("cam0", "cam1"), fps=FPS, log_path=tmp_path / "rtsp-server.log")
    yield server
    server.stop()


class Reader:
    """Reads a source's frames in a thread: their indices and timestamps, and how it ended."""

    def __init__(self, source):
        self.source, self.indices, self.stamps, self.error = source, [], [], None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            for frame in self.source.frames():
                self.indices.append(frame.index)
                self.stamps.append(frame.timestamp_s)
        except BaseException as exc:  # noqa: BLE001 - kept for the test to assert on
            self.error = exc

    def close(self):
        self.source.close()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "the reader did not stop within 15 s of close()"


def _in_order(indices: list[int]) -> bool:
    """Whether a reader's frame indices so far are 0, 1, 2... (a copy first: its thread may be appending)."""
    seen = list(indices)
    return seen == list(range(len(seen)))


def test_frames_arrive_from_an_rtsp_url(rtsp):
    opened_at = time.monotonic()
    source = open_source(rtsp.url("cam0"), reconnect=QUICK, stream_timeout_s=5)
    assert source.info.is_live and source.info.fps == FPS and source.info.size_wh == (160, 120)
    reader = Reader(source)
    wait_for(lambda: len(reader.indices) >= 2 * FPS or reader.error, f"{2 * FPS} frames")
    reader.close()
    produced = FPS * (time.monotonic() - opened_at) + FPS  # what the live source made (one second spare)
    count = len(reader.indices)
    # every frame read counted once, in order: a live stream's frames, never more than it produced
    assert reader.indices == list(range(count)) and 2 * FPS <= count <= produced
    assert reader.stamps == sorted(reader.stamps) and reader.error is None and source.reconnects == 0


def _run_on_cam0(rtsp, tiny_model, model_cache, results, *, max_frames: int, reconnect: int):
    """`livevision run` of a tiny depth model on cam0 in `every`, its results to `results`."""
    return run_cli("run", "--task", "depth", "--source", rtsp.url("cam0"), "--model", tiny_model("depth_anything"),
                   "--precision", "fp32", "--no-display", "--cache-dir", model_cache, "--pacing", "every",
                   "--results", results, "--max-frames", max_frames, "--reconnect", reconnect)


def test_a_killed_stream_is_reconnected_and_the_run_goes_on(rtsp, tiny_model, model_cache, tmp_path):
    results = tmp_path / "r.jsonl"
    partial = tmp_path / "r.jsonl.partial.jsonl"  # each line flushed as it is written (sinks.results)
    lines_now = lambda: partial.read_text().count("\n") if partial.exists() else 0  # noqa: E731
    outage = {}

    def kill_and_restart():  # once the run has written 10 results: the mount goes for 1.5 s
        wait_for(lambda: lines_now() >= 10, "10 results before the kill", timeout_s=60)
        outage["written_before"] = lines_now()
        rtsp.kill("cam0")
        time.sleep(1.5)
        rtsp.start("cam0")

    killer = threading.Thread(target=kill_and_restart, daemon=True)
    killer.start()
    done = _run_on_cam0(rtsp, tiny_model, model_cache, results, max_frames=60, reconnect=8)
    killer.join(timeout=30)
    assert done.returncode == 0, done.stderr
    drops = re.findall(rf"stream {re.escape(rtsp.url('cam0'))} stopped delivering frames after (\d+) frames; "
                       r"reconnecting \(limit: 8 attempts\)", done.stderr)
    assert len(drops) == 1, done.stderr  # reported once, in one line
    dropped_at = int(drops[0])
    assert re.search(rf"stream {re.escape(rtsp.url('cam0'))} is back after \d+\.\d s \(\d+ reconnection attempts?\); "
                     rf"going on from frame {dropped_at}\b", done.stderr), done.stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    # nothing written before the drop is lost; indices carry on across it (no gap in them) ...
    assert outage["written_before"] <= dropped_at < 60
    assert [r["index"] for r in lines] == list(range(60))
    # ... and the timestamps (seconds since the first frame) jump over the outage, there and only there
    stamps = [r["timestamp"] for r in lines]
    steps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(step >= 0 for step in steps)
    assert steps.index(max(steps)) == dropped_at - 1 and max(steps) >= 0.75  # the mount was gone 1.5 s


def test_reconnect_0_stops_the_run_when_the_stream_is_killed(rtsp, tiny_model, model_cache, tmp_path):
    results = tmp_path / "r.jsonl"
    partial = tmp_path / "r.jsonl.partial.jsonl"
    killer = threading.Thread(target=lambda: (wait_for(partial.exists, "the first result", 60), rtsp.kill("cam0")),
                              daemon=True)
    killer.start()
    done = _run_on_cam0(rtsp, tiny_model, model_cache, results, max_frames=600, reconnect=0)
    killer.join(timeout=30)
    assert done.returncode == 1, done.stderr
    found = re.search(rf"livevision: error: stream {re.escape(rtsp.url('cam0'))} stopped delivering frames "
                      r"\(connection lost\?\) after (\d+) frames$", done.stderr.strip())
    assert found, done.stderr
    lines = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["index"] for r in lines] == list(range(int(found.group(1))))  # all that came before is kept


def test_killing_one_mount_leaves_the_other_delivering(rtsp, caplog):
    readers = [Reader(open_source(rtsp.url(m), reconnect=QUICK, stream_timeout_s=5)) for m in ("cam0", "cam1")]
    cam0, cam1 = readers
    try:
        wait_for(lambda: min(len(r.indices) for r in readers) >= 5, "5 frames from each mount")
        with caplog.at_level("INFO", logger="livevision"):
            rtsp.kill("cam0")
            wait_for(lambda: "cam0 stopped delivering frames" in caplog.text or cam0.error, "cam0's drop")
            assert cam0.error is None, cam0.error
            down_at, cam1_at = len(cam0.indices), len(cam1.indices)
            # cam0 is gone (404 to each reconnection attempt) while cam1 goes on: two seconds of its frames
            wait_for(lambda: len(cam1.indices) >= cam1_at + 2 * FPS, "cam1's frames while cam0 is down")
            assert len(cam0.indices) == down_at and "cam1 stopped" not in caplog.text
            rtsp.start("cam0")
            wait_for(lambda: len(cam0.indices) >= down_at + 5, "cam0's frames once it is back")
        # numbered on across the outage (copies: the readers go on appending meanwhile)
        assert _in_order(cam0.indices) and _in_order(cam1.indices)
        assert cam0.source.reconnects == 1 and cam1.source.reconnects == 0
    finally:
        for reader in readers:
            reader.close()
    assert cam0.error is None and cam1.error is None


def test_a_reader_comes_back_after_the_whole_server_restarts(rtsp, caplog):
    reader = Reader(open_source(rtsp.url("cam1"), reconnect=QUICK, stream_timeout_s=2))
    try:
        wait_for(lambda: len(reader.indices) >= 5, "5 frames")
        with caplog.at_level("INFO", logger="livevision"):
            rtsp.kill_server()  # SIGKILL: no teardown, the connection just goes
            wait_for(lambda: "cam1 stopped delivering frames" in caplog.text or reader.error, "the drop")
            down_at = len(reader.indices)
            rtsp.restart_server()  # the same port
            wait_for(lambda: len(reader.indices) >= down_at + 5 or reader.error, "frames after the restart")
        assert reader.error is None and reader.source.reconnects == 1
        assert _in_order(reader.indices)
    finally:
        reader.close()
