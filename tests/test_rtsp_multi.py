"""Several rtsp:// sources in one MultiStream against a real RTSP server (GStreamer's, tests/rtsp_server.py).

Three live H.264 mounts (/cam0, /cam1, /cam2) at 15 fps read together while one of them is killed: the
others keep their rate, the killed one reconnects (indices carry on, timestamps jump over the outage) or,
when it never comes back, ends alone; the results file (written from the MultiStream loop, and by
`livevision run` with three --source) keeps every line written before the drop and shows the gap on the
killed source only; after the whole server restarts every source comes back. Skipped where
the server cannot run (no gi, gst-rtsp-server or x264enc). Every wait is bounded; nothing asserts how long
anything took (rates are bounded by what the measured windows allow, generously).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass

import pytest
from cli_runner import run_cli
from rtsp_server import RtspServer, skip_without_rtsp, wait_for

from livevision.sinks import ResultsSink
from livevision.sources import ReconnectPolicy
from livevision.stream_multi import MultiStream
from livevision.types import ClassificationResult, Task

pytestmark = pytest.mark.timeout(90)

FPS = 15
MOUNTS = ("cam0", "cam1", "cam2")
OUTAGE_S = 1.5
QUICK = ReconnectPolicy(max_attempts=8, initial_backoff_s=0.2, max_backoff_s=1.0)


@pytest.fixture
def rtsp(tmp_path):
    skip_without_rtsp()
    server = RtspServer(MOUNTS, fps=FPS, log_path=tmp_path / "rtsp-server.log")
    yield server
    server.stop()


def mean_model(image) -> ClassificationResult:
    """A fast stand-in model with a real result type: the image's mean as its one score."""
    return ClassificationResult((0,), ("mean",), (float(image.mean()) / 255,))


def slow_model(image) -> ClassificationResult:
    """Slower than the three cameras' frames come together (8 a second against 45), and than one camera's
    (15): the shared model is always busy, every camera has a frame waiting, and the order the model takes
    them in decides which of them get results."""
    time.sleep(0.12)
    return mean_model(image)


@dataclass(frozen=True)
class Seen:
    at: float  # time.monotonic() when the packet came
    source: int
    index: int
    timestamp_s: float
    result_of: int | None  # the frame its (one task's) result was computed on; None before the first


class MultiReader:
    """Iterates a MultiStream on a thread of its own (closing it at the end), noting each packet and how
    the iteration ended; `on_packet(packet)` is called for each in that thread."""

    def __init__(self, ms: MultiStream, on_packet=None):
        self.ms, self.on_packet = ms, on_packet
        self.seen: list[Seen] = []
        self.error: BaseException | None = None
        self.ended = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            with self.ms:
                for packet in self.ms:
                    result_of = next((out.frame_index for out in packet.outputs.values()), None)
                    self.seen.append(Seen(time.monotonic(), packet.source_index, packet.index, packet.timestamp_s,
                                          result_of))
                    if self.on_packet is not None:
                        self.on_packet(packet)
        except BaseException as exc:  # noqa: BLE001 - kept for the test to assert on
            self.error = exc
        finally:
            self.ended.set()

    def of(self, source: int) -> list[Seen]:
        return [s for s in list(self.seen) if s.source == source]

    def counts(self) -> list[int]:
        return [len(self.of(i)) for i in range(len(self.ms.names))]

    def results(self) -> list[int]:
        """The results each source has had (the frames they were computed on, each counted once)."""
        return [len({s.result_of for s in self.of(i)} - {None}) for i in range(len(self.ms.names))]

    def wait_for_each(self, count: int = 5) -> None:
        """Until every source has had `count` packets (or the iteration ended)."""
        wait_for(lambda: min(self.counts()) >= count or self.ended.is_set(), f"{count} packets from each source")

    def close(self):
        self.ms.stop()
        self.thread.join(timeout=20)
        assert not self.thread.is_alive(), "the MultiStream did not stop within 20 s of stop()"


def read_mounts(rtsp, model, reconnect=QUICK) -> tuple[list[str], MultiStream, MultiReader]:
    """Every mount read live in one MultiStream with `model` for classification: (their URLs, the MultiStream,
    its reader)."""
    urls = [rtsp.url(m) for m in MOUNTS]
    ms = MultiStream.open(urls, "classification", models={"classification": model}, pacing="live",
                          reconnect=reconnect)
    return urls, ms, MultiReader(ms)


def between(seen: list[Seen], start: float, end: float) -> int:
    return sum(1 for s in seen if start <= s.at <= end)


def test_one_stream_killed_and_served_again_reconnects_while_the_others_keep_their_rate(rtsp, caplog):
    urls, ms, reader = read_mounts(rtsp, slow_model)
    try:
        reader.wait_for_each(5)
        first = reader.results()
        wait_for(lambda: sum(reader.results()) >= sum(first) + 24 or reader.ended.is_set(), "24 results")
        shares = [n - f for n, f in zip(reader.results(), first)]
        with caplog.at_level("INFO", logger="livevision"):
            rtsp.kill("cam1")
            wait_for(lambda: f"{urls[1]} stopped delivering frames" in caplog.text or reader.ended.is_set(),
                     "cam1's drop")
            down_from = time.monotonic()
            time.sleep(OUTAGE_S / 2)  # what cam1 read before the drop has gone through by now
            down_count = len(reader.of(1))
            time.sleep(OUTAGE_S / 2)
            down_to, count_before_back = time.monotonic(), len(reader.of(1))
            rtsp.start("cam1")
            wait_for(lambda: len(reader.of(1)) >= count_before_back + 5 or ms.faults or reader.ended.is_set(),
                     "cam1's packets once it is back")
        assert not reader.ended.is_set() and not ms.faults, (reader.error, ms.faults)
        summary = ms.summary()["sources"]
    finally:
        reader.close()
    assert reader.error is None and ms.faults == {}
    # the busy model serves the source that has waited longest first: the cameras take turns, a third of
    # the results each (8, 8, 8 measured, also on a loaded machine; newest first gave 12, 0, 12 or 12, 6, 6)
    assert max(shares) - min(shares) <= 3, shares
    # the others go on at their rate while cam1 is down (a third of what 15 fps gives: a loaded machine)
    for other in (0, 2):
        assert between(reader.of(other), down_from, down_to) >= FPS * (down_to - down_from) / 3, reader.counts()
    # cam1's packets stop while it is down, then come back: its frames numbered on from where they stopped,
    # its timestamps jumping over the outage, there and only there
    assert count_before_back == down_count
    dropped_at = re.search(rf"{re.escape(urls[1])} stopped delivering frames after (\d+) frames", caplog.text)
    assert re.search(rf"{re.escape(urls[1])} is back after .*; going on from frame {dropped_at.group(1)}\b",
                     caplog.text), caplog.text
    cam1 = reader.of(1)
    assert [s.index for s in cam1] == sorted({s.index for s in cam1})
    steps = [b.timestamp_s - a.timestamp_s for a, b in zip(cam1, cam1[1:])]
    assert steps.index(max(steps)) == down_count - 1 and max(steps) >= OUTAGE_S / 2, steps
    assert [ms.streams[i].source.reconnects for i in range(3)] == [0, 1, 0]
    assert [summary[url]["reconnects"] for url in urls] == [0, 1, 0]
    assert [summary[url]["fault"] for url in urls] == [None, None, None]


def test_a_stream_that_never_comes_back_ends_alone_and_the_others_go_on(rtsp, caplog):
    urls, ms, reader = read_mounts(rtsp, mean_model, ReconnectPolicy(max_attempts=2, initial_backoff_s=0.2,
                                                                     max_backoff_s=0.2))
    going_on = lambda sources, since: min(reader.counts()[i] - since[i] for i in sources) >= FPS  # noqa: E731
    try:
        reader.wait_for_each(5)
        with caplog.at_level("INFO", logger="livevision"):
            rtsp.kill("cam1")  # and never served again
            wait_for(lambda: 1 in ms.faults or reader.ended.is_set(), "cam1 to give up")
            at_fault = reader.counts()
            wait_for(lambda: going_on((0, 2), at_fault) or reader.ended.is_set(),
                     "a second of packets from each of the others after cam1 gave up")
            faults_then = dict(ms.faults)
            rtsp.kill("cam2")  # a second one gives up: the last goes on alone
            wait_for(lambda: 2 in ms.faults or reader.ended.is_set(), "cam2 to give up")
            at_second = reader.counts()
            wait_for(lambda: going_on((0,), at_second) or reader.ended.is_set(), "a second of cam0's packets")
        assert not reader.ended.is_set(), reader.error  # the run goes on to the end of the test
    finally:
        reader.close()
    assert reader.error is None
    assert list(faults_then) == [1] and urls[1] in ms.faults[1] and "\n" not in ms.faults[1]
    assert reader.counts()[1] == at_fault[1] and reader.counts()[2] == at_second[2]
    failed = [r for r in caplog.records if "failed" in r.getMessage()]
    assert [r.levelname for r in failed] == ["WARNING", "WARNING"], caplog.text
    assert [r.getMessage() for r in failed] == [f"source 1 ({urls[1]}) failed: {ms.faults[1]}; 2 other sources go on",
                                                f"source 2 ({urls[2]}) failed: {ms.faults[2]}; 1 other source goes on"]
    summary = ms.summary()["sources"]
    assert [summary[url]["fault"] for url in urls] == [None, ms.faults[1], ms.faults[2]]


def test_the_results_file_keeps_what_was_written_and_shows_the_gap_on_the_killed_source(
        rtsp, tiny_model, model_cache, tmp_path, caplog):
    urls = [rtsp.url(m) for m in MOUNTS]
    model = tiny_model("depth_anything")
    ms = MultiStream.open(urls, "depth", model=model, cache_dir=model_cache, precision="fp32", device="cpu",
                          pacing="every", reconnect=QUICK)
    results = tmp_path / "r.jsonl"
    partial = tmp_path / "r.jsonl.partial.jsonl"  # each line flushed as it is written (sinks.results)
    sink = ResultsSink(results, {Task.DEPTH: str(model)})
    written: dict[tuple[int, Task], int] = {}  # (source, task) -> the frame of its last written result
    lines_of = [0, 0, 0]

    def write(packet):  # each result once per source and task, as run_loop writes them
        for task, output in packet.outputs.items():
            if written.get((packet.source_index, task)) != output.frame_index:
                written[(packet.source_index, task)] = output.frame_index
                sink.write_result(task, output)
                lines_of[packet.source_index] += 1

    reader = MultiReader(ms, on_packet=write)
    try:
        wait_for(lambda: min(lines_of) >= 10 or reader.ended.is_set(), "10 results from each source")
        with caplog.at_level("INFO", logger="livevision"):
            written_before = partial.read_text()
            rtsp.kill("cam1")
            # cam1 reads what it had buffered, then drops (`every` keeps each source's backlog)
            wait_for(lambda: f"{urls[1]} stopped delivering frames" in caplog.text or reader.ended.is_set(),
                     "cam1's drop")
            down_from, at_drop = time.monotonic(), list(lines_of)
            time.sleep(OUTAGE_S)
            rtsp.start("cam1")
            wait_for(lambda: f"{urls[1]} is back" in caplog.text or ms.faults or reader.ended.is_set(), "cam1 back")
            back_at, at_back = time.monotonic(), list(lines_of)
            wait_for(lambda: min(lines_of[i] - at_back[i] for i in range(3)) >= 10 or ms.faults
                     or reader.ended.is_set(), "10 more results from each source")
        assert not reader.ended.is_set() and not ms.faults, (reader.error, ms.faults)
    finally:
        reader.close()
        sink.close()
    assert reader.error is None and ms.faults == {}
    for other in (0, 2):  # the others' results go on while cam1 is away (a third of their rate at least)
        assert at_back[other] - at_drop[other] >= FPS * (back_at - down_from) / 3, (at_drop, at_back)
    text = results.read_text()
    assert text.startswith(written_before)  # nothing written before the drop is lost (nor reordered)
    lines = [json.loads(line) for line in text.splitlines()]
    assert {line["source"] for line in lines} == set(urls)
    dropped_at = int(re.search(rf"{re.escape(urls[1])} stopped delivering frames after (\d+) frames",
                               caplog.text).group(1))
    for i, url in enumerate(urls):
        mine = [line for line in lines if line["source"] == url]
        assert [line["index"] for line in mine] == list(range(len(mine)))  # every frame, in order
        stamps = [line["timestamp"] for line in mine]
        steps = [b - a for a, b in zip(stamps, stamps[1:])]
        assert min(steps) >= 0
        if i == 1:  # the gap, at the drop, as long as the outage (at least half of it)
            assert steps.index(max(steps)) == dropped_at - 1 and max(steps) >= OUTAGE_S / 2, steps
        else:  # none as long as the outage (a loaded machine's pauses stay well under it)
            assert max(steps) < OUTAGE_S, (url, steps)


def gaps(lines: list[dict], url: str) -> list[float]:
    """The steps between a source's consecutive timestamps in a results file, its indices checked whole."""
    mine = [line for line in lines if line["source"] == url]
    assert [line["index"] for line in mine] == list(range(len(mine))), url  # every frame, in order
    stamps = [line["timestamp"] for line in mine]
    return [b - a for a, b in zip(stamps, stamps[1:])]


def test_livevision_run_with_three_streams_keeps_every_result_across_one_streams_drop(
        rtsp, tiny_model, model_cache, tmp_path):
    urls = [rtsp.url(m) for m in MOUNTS]
    results = tmp_path / "r.jsonl"
    partial = tmp_path / "r.jsonl.partial.jsonl"  # each line flushed as it is written (sinks.results)
    # --max-frames, each source's own: cam2 still runs when cam1 is back (in `every` a stream starts with a
    # backlog of the time the streams after it took to open, 2 s each: cam0's 90 frames end first)
    frames = 150

    def lines_now() -> list[dict]:
        text = partial.read_text() if partial.exists() else ""
        return [json.loads(line) for line in text.splitlines(keepends=True) if line.endswith("\n")]

    outage = {}

    def kill_and_restart():  # once every source has 10 results: cam1 goes for 1.5 s
        wait_for(lambda: min(sum(1 for line in lines_now() if line["source"] == url) for url in urls) >= 10,
                 "10 results from each source before the kill", timeout_s=60)
        outage["written_before"] = partial.read_text()
        rtsp.kill("cam1")
        time.sleep(OUTAGE_S)
        rtsp.start("cam1")

    killer = threading.Thread(target=kill_and_restart, daemon=True)
    killer.start()
    done = run_cli("run", "--task", "depth", *(a for url in urls for a in ("--source", url)),
                   "--model", tiny_model("depth_anything"), "--precision", "fp32", "--no-display",
                   "--cache-dir", model_cache, "--pacing", "every", "--results", results, "--max-frames", frames,
                   "--reconnect", 8)
    killer.join(timeout=30)
    assert done.returncode == 0, done.stderr
    assert "written_before" in outage, done.stderr
    drops = re.findall(rf"stream {re.escape(urls[1])} stopped delivering frames after (\d+) frames", done.stderr)
    assert len(drops) == 1 and "cam0 stopped" not in done.stderr and "cam2 stopped" not in done.stderr, done.stderr
    dropped_at = int(drops[0])
    assert re.search(rf"stream {re.escape(urls[1])} is back after .*; going on from frame {dropped_at}\b",
                     done.stderr), done.stderr
    text = results.read_text()
    assert text.startswith(outage["written_before"])  # nothing written before the drop is lost (nor reordered)
    lines = [json.loads(line) for line in text.splitlines()]
    assert sorted(sum(1 for line in lines if line["source"] == url) for url in urls) == [frames] * 3
    steps = gaps(lines, urls[1])  # the gap, at the drop, as long as the outage (at least half of it)
    assert steps.index(max(steps)) == dropped_at - 1 and max(steps) >= OUTAGE_S / 2, steps
    back = next(i for i, line in enumerate(lines) if line["source"] == urls[1] and line["index"] == dropped_at)
    assert urls[2] in {line["source"] for line in lines[back:]}  # it ran on through the whole outage
    for url in (urls[0], urls[2]):  # none of the others' steps as long as the outage
        assert max(gaps(lines, url)) < OUTAGE_S, url


def test_every_stream_comes_back_after_the_whole_server_restarts(rtsp, caplog):
    urls, ms, reader = read_mounts(rtsp, mean_model)
    try:
        reader.wait_for_each(5)
        with caplog.at_level("INFO", logger="livevision"):
            rtsp.kill_server()  # SIGKILL: no teardown, every connection just goes
            wait_for(lambda: all(f"{url} stopped delivering frames" in caplog.text for url in urls)
                     or reader.ended.is_set(), "every source's drop")
            down = reader.counts()
            time.sleep(OUTAGE_S)  # the server stays down a while: each source's attempts meet a closed port
            rtsp.restart_server()  # the same port
            wait_for(lambda: min(n - d for n, d in zip(reader.counts(), down)) >= 5 or ms.faults
                     or reader.ended.is_set(), "5 packets from each source after the restart")
        assert not reader.ended.is_set() and not ms.faults, (reader.error, ms.faults)
    finally:
        reader.close()
    assert reader.error is None and ms.faults == {}
    assert [s.source.reconnects for s in ms.streams] == [1, 1, 1]
    for i, url in enumerate(urls):  # each numbered on across the restart, from where it stopped
        dropped_at = re.search(rf"{re.escape(url)} stopped delivering frames after (\d+) frames", caplog.text)
        assert re.search(rf"{re.escape(url)} is back after .*; going on from frame {dropped_at.group(1)}\b",
                         caplog.text), caplog.text
        indices = [s.index for s in reader.of(i)]
        assert indices == sorted(set(indices))
