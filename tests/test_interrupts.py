"""Ctrl-C and SIGTERM while processing: outputs finalized, stats written, the right exit code."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction

import pytest
from media import decode, make_source, probe, read_index

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory):
    return make_source(tmp_path_factory.mktemp("media") / "long.mp4", 1500, Fraction(25), 60.0, size_wh=(160, 96))


def _start(tmp_path, clip, model_folder, cache, pacing="every", launcher=("-m", "livevision")):
    out, results, stats = tmp_path / "out.mp4", tmp_path / "out.jsonl", tmp_path / "stats.json"
    proc = subprocess.Popen(
        [sys.executable, *launcher, "run", "--task", "depth", "--source", str(clip),
         "--model", str(model_folder), "--cache-dir", str(cache), "--pacing", pacing,
         "--output", str(out), "--results", str(results), "--stats", str(stats), "--no-display",
         "--view", "side_by_side"],  # the original on the left keeps the frame index readable
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    partial = results.with_name(results.name + ".partial.jsonl")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # wait until it is well into the video
        if partial.exists() and partial.read_text().count("\n") >= 15:
            break
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    return proc, out, results, stats


@pytest.mark.parametrize("sig, code, pacing", [(signal.SIGINT, 130, "every"), (signal.SIGTERM, 143, "every"),
                                               (signal.SIGINT, 130, "simulate-live")])
def test_signal_finalizes_outputs(sig, code, pacing, long_clip, tiny_model, exported, model_cache, tmp_path):
    exported("depth_anything")  # export outside the timed part
    proc, out, results, stats = _start(tmp_path, long_clip, tiny_model("depth_anything"), model_cache, pacing)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err
    lines = results.read_text().splitlines()
    records = [json.loads(line) for line in lines]  # every line complete
    assert len(records) >= 15
    info = probe(out)  # the video is playable, with its audio
    assert info["codec"] == "h264" and info["audio"]
    _, frames = decode(out)
    assert len(frames) >= len(records) and len(frames) < 1500
    indices = [read_index(f) for f in frames]
    if pacing == "every":
        assert indices == list(range(len(frames)))  # in order, none lost up to the last written frame
    else:  # a frame simulate-live skips (a busy machine) keeps its slot with the view shown before it
        assert indices[0] == 0 and all(a <= b <= slot for slot, (a, b) in enumerate(zip(indices, indices[1:]), 1))
        assert len(set(indices)) >= len(records)
    assert info["duration_s"] == pytest.approx(len(frames) / 25, abs=0.1)
    summary = json.loads(stats.read_text())
    assert summary["frames"]["displayed"] >= len(records)
    assert not [p.name for p in tmp_path.iterdir() if "partial" in p.name or p.name.endswith(".part")]


# Runs livevision's CLI with the video sink's clean-up made slow: it marks a file when the clean-up starts,
# then sleeps (native code busy finalizing, as far as the signal handling can tell), then marks another
# file if the clean-up ever finishes.
_SLOW_CLEAN_UP = """
import pathlib, sys, time
from livevision.cli import main
from livevision.sinks import video
started, finished = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
real_close = video.VideoSink._close
def slow_close(self):
    started.touch()
    time.sleep(15)
    finished.touch()
    real_close(self)
video.VideoSink._close = slow_close
sys.exit(main(sys.argv[3:]))
"""


def test_second_ctrl_c_exits_during_a_slow_clean_up(long_clip, tiny_model, exported, model_cache, tmp_path):
    """The first Ctrl-C starts the clean-up; a second one while it is busy ends the process at once,
    without waiting for the clean-up to finish (the graceful path alone would wait it out)."""
    exported("depth_anything")
    started, finished = tmp_path / "close-started", tmp_path / "close-finished"
    proc, out, results, _ = _start(tmp_path, long_clip, tiny_model("depth_anything"), model_cache,
                                   launcher=["-c", _SLOW_CLEAN_UP, str(started), str(finished)])
    proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 60
    while not started.exists():  # the clean-up is under way
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert not finished.exists(), "the second Ctrl-C waited for the clean-up to finish"
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err
    # What the user keeps: the results so far as complete lines, and a video that plays them, under their
    # own names (published at the first Ctrl-C), and a message that said so.
    assert "already hold what was written so far" in err
    records = _complete_lines(results)
    assert len(records) >= 15 and [r["index"] for r in records] == list(range(len(records)))
    assert probe(out)["codec"] == "h264"  # playable as soon as livevision has ended
    _, frames = decode(out)
    assert [read_index(f) for f in frames] == list(range(len(frames))) and len(frames) >= 10


def _complete_lines(path) -> list[dict]:
    """The JSON lines of a results file the process was killed while writing: all but a cut last line."""
    return [json.loads(line) for line in path.read_text().split("\n")[:-1]]


def test_second_ctrl_c_keeps_a_playable_video(long_clip, tiny_model, exported, model_cache, tmp_path):
    """Two Ctrl-C 50 ms apart (issue 12): out.mp4 is there and plays the frames written so far, in order, the
    results file is there with complete lines, and the first Ctrl-C said so."""
    exported("depth_anything")
    proc, out, results, _ = _start(tmp_path, long_clip, tiny_model("depth_anything"), model_cache)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err
    assert probe(out)["codec"] == "h264"  # playable as soon as livevision has ended
    _, frames = decode(out)
    assert len(frames) >= 10 and [read_index(f) for f in frames] == list(range(len(frames)))
    # Whether the second signal ended the process or came after the clean-up, the first one said what is kept.
    assert "already hold what was written so far" in err, err
    records = _complete_lines(results)
    assert len(records) >= 10 and [r["index"] for r in records] == list(range(len(records)))


def test_a_signal_reaches_every_deferred_block_open_in_any_thread():
    """`livevision batch` runs files side by side: one Ctrl-C must stop every run, not the last one opened."""
    import os
    import threading

    from livevision import interrupts

    stopped, opened, release = [], threading.Barrier(3), threading.Event()

    def run(name: str) -> None:
        with interrupts.deferred(lambda: stopped.append(name)):
            opened.wait()
            release.wait(10)

    with interrupts.graceful_interrupts():
        threads = [threading.Thread(target=run, args=(name,)) for name in ("a", "b")]
        for thread in threads:
            thread.start()
        opened.wait()
        os.kill(os.getpid(), signal.SIGINT)  # handled in this (the main) thread: no exception, both called
        time.sleep(0.1)
        release.set()
        for thread in threads:
            thread.join()
        assert interrupts.requested()
    assert sorted(stopped) == ["a", "b"]


# Runs livevision's CLI with a depth model that never finishes its 21st frame (as a slow model's session.run):
# after the first Ctrl-C the run waits for it, so the second Ctrl-C always comes while the process is alive.
_STUCK_MODEL = """
import pathlib, sys, threading
import numpy as np
from livevision import predictor
from livevision.cli import main
from livevision.types import DepthKind, DepthResult, Task
stuck = pathlib.Path(sys.argv[1])

class StuckModel:
    name = "stuck-depth"
    calls = 0

    def __call__(self, image):
        self.calls += 1
        if self.calls > 20:
            stuck.touch()
            threading.Event().wait()
        return DepthResult(np.ones(image.shape[:2], np.float32), DepthKind.RELATIVE)

predictor.load_models = lambda tasks, *args, **kwargs: {Task.DEPTH: StuckModel()}
sys.exit(main(sys.argv[2:]))
"""


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = open(f"/proc/{entry}/stat").read()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _running(pid: int) -> bool:
    """Whether process `pid` exists and is not a zombie."""
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_double_ctrl_c_leaves_readable_outputs_stats_and_no_child(long_clip, tmp_path):
    """Issue 12: a second Ctrl-C while the first one's clean-up waits (here for a model that never returns)
    ends the process at once, and then: the MP4 plays every frame shown, right away (not finished later by
    a leftover ffmpeg), no ffmpeg runs any more, the stats file is there, and the first Ctrl-C said what is kept."""
    stuck, out, results, stats = (tmp_path / "stuck", tmp_path / "out.mp4", tmp_path / "out.jsonl",
                                  tmp_path / "stats.json")
    proc = subprocess.Popen(
        [sys.executable, "-c", _STUCK_MODEL, str(stuck), "run", "--task", "depth", "--source", str(long_clip),
         "--pacing", "every", "--output", str(out), "--results", str(results), "--stats", str(stats),
         "--no-display", "--view", "side_by_side"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    lines, told = [], threading.Event()

    def read_stderr():
        for line in proc.stderr:
            lines.append(line)
            if "already hold what was written so far" in line:
                told.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 120
        # The model is inside its 21st frame, and the loop has written all 20 before it (on a busy machine
        # it may still be writing the 20th when the model gets stuck).
        written = tmp_path / "out.jsonl.partial.jsonl"  # the results file while the run writes it, a line per frame
        while not (stuck.exists() and written.exists() and written.read_text().count("\n") == 20):
            assert proc.poll() is None and time.monotonic() < deadline, "".join(lines)
            time.sleep(0.02)
        ffmpegs = [pid for pid in _children(proc.pid) if "ffmpeg" in open(f"/proc/{pid}/cmdline").read()]
        assert ffmpegs, "no ffmpeg child found"
        proc.send_signal(signal.SIGINT)
        assert told.wait(60), "".join(lines)  # the first Ctrl-C was handled; its clean-up now waits
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        left_running = [pid for pid in ffmpegs if _running(pid)]
    finally:
        proc.kill()
        reader.join(10)
    err = "".join(lines)
    assert proc.returncode == -signal.SIGINT, err
    assert "Traceback" not in err
    assert left_running == [], "ffmpeg outlived livevision"
    summary = json.loads(stats.read_text())
    assert summary["frames"]["displayed"] == 20, summary
    assert probe(out)["codec"] == "h264"  # playable now, no waiting
    _, frames = decode(out)
    assert [read_index(f) for f in frames] == list(range(20))
    records = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["index"] for r in records] == list(range(20))
    assert not [p.name for p in tmp_path.iterdir() if "partial" in p.name or p.name.endswith(".part")]
