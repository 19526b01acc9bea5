"""`livevision run` with several sources end to end (app_multi), on synthetic clips and a tiny model: each
source's own files, one results file for all, the stats of each, and what a missing or failing source does."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
import sys
import threading
import time
from fractions import Fraction

import pytest
from cli_runner import run_cli
from fakes import FakeSource
from media import decode, make_source, read_index

from livevision.app import run
from livevision.render.mosaic import WAITING_BGR
from livevision.options import LoadOptions, ModelOptions, OutputOptions, RunOptions, SourceOptions
from livevision.sources.base import SourceError
from livevision.types import Task

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    """Two files of different lengths (12 and 8 frames), each frame showing its index."""
    folder = tmp_path_factory.mktemp("clips")
    return [make_source(folder / f"{name}.mp4", n, Fraction(25), None, size_wh=(160, 96))
            for name, n in (("front", 12), ("back", 8))]


def _run(tiny_model, model_cache, *args):
    return run_cli("run", "--task", "depth", "--model", tiny_model("depth_anything"), "--no-display",
                   "--cache-dir", model_cache, *args)


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _without_latency(lines):
    return [{k: v for k, v in line.items() if k != "latency_ms"} for line in lines]


def test_each_source_gets_its_video_and_one_results_file_holds_both(tiny_model, model_cache, clips, tmp_path):
    videos = tmp_path / "videos"
    videos.mkdir()
    results, stats = tmp_path / "all.jsonl", tmp_path / "all.json"
    done = _run(tiny_model, model_cache, "--source", clips[0], "--source", clips[1], "--output", videos,
                "--results", results, "--stats", stats, "--depth-stabilize", "smooth")
    assert done.returncode == 0, done.stderr
    for clip, frames in zip(clips, (12, 8)):
        fps, decoded = decode(videos / f"{clip.stem}.mp4")
        assert fps == pytest.approx(25) and len(decoded) == frames
    lines = _lines(results)
    by_source = {str(clip): [line for line in lines if line["source"] == str(clip)] for clip in clips}
    assert [len(v) for v in by_source.values()] == [12, 8] and len(lines) == 20
    # each source's results are what a run of that source alone writes (its own depth smoothing over time)
    alone = tmp_path / "alone.jsonl"
    assert _run(tiny_model, model_cache, "--source", clips[1], "--results", alone, "--depth-stabilize",
                "smooth").returncode == 0
    assert {line["depth"]["stabilization"]["mode"] for line in lines} == {"smooth"}
    assert _without_latency(by_source[str(clips[1])]) == _without_latency(_lines(alone))
    summary = json.loads(stats.read_text())
    assert summary["tasks"] == ["depth"] and summary["models"]["frames"]["inferred"]["depth"] == 20
    sections = summary["sources"]
    assert list(sections) == [str(c) for c in clips]
    assert [s["frames"]["inferred"]["depth"] for s in sections.values()] == [12, 8]
    assert all(s["fault"] is None for s in sections.values())


def test_a_source_placeholder_writes_a_results_file_per_source(tiny_model, model_cache, clips, tmp_path):
    done = _run(tiny_model, model_cache, "--source", clips[0], "--source", clips[1],
                "--results", tmp_path / "r_{source}.jsonl", "--stats", tmp_path / "{index}.json", "--max-frames", 5,
                "--output", tmp_path / "{source}.mp4")
    assert done.returncode == 0, done.stderr
    for i, (clip, frames) in enumerate(zip(clips, (5, 5))):  # --max-frames: each source's first 5
        assert len(decode(tmp_path / f"{clip.stem}.mp4")[1]) == frames  # (not padded to the frames read ahead)
        lines = _lines(tmp_path / f"r_{clip.stem}.jsonl")
        assert [line["index"] for line in lines] == list(range(frames))
        assert {line["source"] for line in lines} == {str(clip)}
        assert json.loads((tmp_path / f"{i}.json").read_text())["source"] == str(clip)  # its own stats


def test_a_missing_source_is_skipped_with_one_line(tiny_model, model_cache, clips, tmp_path):
    missing = tmp_path / "gone.mp4"
    done = _run(tiny_model, model_cache, "--source", missing, "--source", clips[1],
                "--results", tmp_path / "{source}.jsonl", "--stats", tmp_path / "all.json")
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "gone.mp4" in line]
    assert len(warnings) == 1 and "skipped" in warnings[0] and "no such file" in warnings[0]
    assert len(_lines(tmp_path / "back.jsonl")) == 8 and not (tmp_path / "gone.jsonl").exists()
    sections = json.loads((tmp_path / "all.json").read_text())["sources"]
    assert "no such file" in sections[str(missing)]["fault"] and sections[str(clips[1])]["fault"] is None


def test_no_source_that_opens_is_one_line(tmp_path):
    done = run_cli("run", "--no-display", "--source", tmp_path / "a.mp4", "--source", tmp_path / "b.mp4",
                   "--cache-dir", tmp_path / "cache", env={"HF_HOME": str(tmp_path / "hf")})
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr  # one line naming each source and why
    assert "none of the 2 sources could be opened" in lines[0] and "b.mp4: no such file" in lines[0]


@pytest.mark.parametrize("args, message", [
    (["--require-all"], "gone.mp4: no such file"),
    (["--output", "{folder}/missing/{source}.mp4"], "does not exist"),
    (["--output", "{folder}/one.mp4"], "put {source} or {index}"),
])
def test_a_bad_source_or_output_stops_the_run_before_the_models_load(args, message, clips, tmp_path):
    """The model named does not exist: its error would come if the run got as far as loading it."""
    out = tmp_path / "out"
    out.mkdir()
    args = [str(a).replace("{folder}", str(out)) for a in args]
    done = run_cli("run", "--no-display", "--source", clips[0], "--source", tmp_path / "gone.mp4", "--source",
                   clips[1], "--model", tmp_path / "no-such-model", "--results", out / "r.jsonl", *args,
                   "--cache-dir", tmp_path / "cache", env={"HF_HOME": str(tmp_path / "hf")})
    lines = done.stderr.strip().splitlines()
    assert done.returncode != 0 and message in lines[-1] and "no-such-model" not in done.stderr, done.stderr
    assert list(out.iterdir()) == []


class FailingSource(FakeSource):
    """A camera that gives up reconnecting at frame 3 (`failed` is set then)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.failed = threading.Event()

    def frames(self):
        for frame in super().frames():
            if frame.index == 3:
                self.failed.set()
                raise SourceError(f"{self.info.name}: gave up reconnecting")
            yield frame


class WatchingSource(FakeSource):
    """From its frame 5 (once `after` is set), looks for `watched` before each frame: seen_at, the first
    frame it was there. It runs at most a few frames ahead of the packets played (its bounded queues)."""

    def __init__(self, *args, watched, after, **kwargs):
        super().__init__(*args, **kwargs)
        self.watched, self.after, self.seen_at = watched, after, None

    def frames(self):
        for frame in super().frames():
            if frame.index == 5:
                assert self.after.wait(10)
            if frame.index >= 5 and self.seen_at is None and self.watched.exists():
                self.seen_at = frame.index
            yield frame


def test_a_source_failing_midway_ends_alone_its_outputs_finished_at_once(tiny_model, model_cache, tmp_path,
                                                                        caplog):
    broken = FailingSource(10, name="yard", size_wh=(160, 96))
    other = WatchingSource(40, name="door", size_wh=(160, 96), watched=tmp_path / "0.jsonl", after=broken.failed)
    options = RunOptions(
        tasks=(Task.DEPTH,), source=SourceOptions(sources=(broken, other), pacing="every"),
        model=ModelOptions(models={Task.DEPTH: str(tiny_model("depth_anything"))},
                           load_options=LoadOptions(cache_dir=model_cache, live=True)),
        output=OutputOptions(display=False, progress=False, results=tmp_path / "{index}.jsonl",
                             stats=tmp_path / "all.json"))
    with caplog.at_level(logging.WARNING, logger="livevision"):
        assert run(options) == 0
    assert [line["index"] for line in _lines(tmp_path / "0.jsonl")] == [0, 1, 2]
    assert [line["index"] for line in _lines(tmp_path / "1.jsonl")] == list(range(40))
    assert other.seen_at is not None  # the failed source's results were finished while the other ran on
    sections = json.loads((tmp_path / "all.json").read_text())["sources"]
    assert sections["yard"]["fault"] == "yard: gave up reconnecting" and sections["door"]["fault"] is None
    said = [r.getMessage() for r in caplog.records if "yard" in r.getMessage()]
    assert len(said) == 1 and said[0].startswith("source 0 (yard) failed: yard: gave up reconnecting; 1 other")


@pytest.mark.parametrize("presses", [1, 2])
def test_ctrl_c_stops_every_source_and_finishes_every_output(presses, tiny_model, exported, model_cache, tmp_path):
    """One Ctrl-C: every output finished. Two, 50 ms apart: the process quits at once (said once), every video
    still plays the frames written, in order, and the stats file has every source."""
    exported("depth_anything")  # export outside the part that waits
    long = [make_source(tmp_path / f"{name}.mp4", 600, Fraction(25), None, size_wh=(160, 96))
            for name in ("left", "right")]
    out = tmp_path / "out"
    out.mkdir()
    results = out / "all.jsonl"
    proc = subprocess.Popen(
        [sys.executable, "-m", "livevision", "run", "--task", "depth", "--model", str(tiny_model("depth_anything")),
         "--cache-dir", str(model_cache), "--source", str(long[0]), "--source", str(long[1]), "--no-display",
         "--output", str(out), "--results", str(results), "--stats", str(out / "all.json"),
         "--view", "side_by_side"],  # the original on the left keeps the frame index readable
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    partial = results.with_name(results.name + ".partial.jsonl")
    deadline = time.monotonic() + 120
    while not (partial.exists() and partial.read_text().count("\n") >= 30) and time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    if presses == 2:
        time.sleep(0.05)
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in ((130,) if presses == 1 else (130, -signal.SIGINT)) and "Traceback" not in err, err
    assert err.count("quitting now") <= presses - 1, err  # a second Ctrl-C is said once, not once a source
    if presses == 2:
        results = results if results.exists() else partial
    lines = [json.loads(line) for line in results.read_text().splitlines()]  # every line complete
    for clip in long:
        written = [line["index"] for line in lines if line["source"] == str(clip)]
        _, frames = decode(out / f"{clip.stem}.mp4")  # playable, in order, stopped early
        assert [read_index(f) for f in frames] == list(range(len(frames))) and 0 < len(frames) < 600
        assert written == list(range(len(written))) and len(frames) >= len(written) > 0
    assert set(json.loads((out / "all.json").read_text())["sources"]) == {str(c) for c in long}
    if presses == 1:
        assert not [p.name for p in out.iterdir() if "partial" in p.name]


class RecordingWindow:
    """Stands in for the WindowSink: keeps what it is shown, hands out the scripted keys (-1 once none left)."""

    def __init__(self, keys=()):
        self.keys, self.shown = [ord(k) for k in keys], []

    def __call__(self, title):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        pass

    def write_view(self, view, index):
        self.shown.append(view)

    def poll(self, wait_ms=1):
        return self.keys.pop(0) if self.keys else -1


def _fake_run(tiny_model, model_cache, sources, tmp_path, **output):
    return RunOptions(
        tasks=(Task.DEPTH,), source=SourceOptions(sources=tuple(sources), pacing="every"),
        model=ModelOptions(models={Task.DEPTH: str(tiny_model("depth_anything"))},
                           load_options=LoadOptions(cache_dir=model_cache, live=True)),
        output=OutputOptions(progress=False, results=tmp_path / "{index}.jsonl", **output))


def test_the_window_shows_every_source_in_one_mosaic(tiny_model, model_cache, tmp_path, monkeypatch):
    window = RecordingWindow()
    monkeypatch.setattr("livevision.app_multi.WindowSink", window)
    cameras = [FakeSource(10, name=f"cam{i}", size_wh=(64, 48)) for i in range(2)]
    missing = str(tmp_path / "gone.mp4")
    assert run(_fake_run(tiny_model, model_cache, [cameras[0], missing, cameras[1]], tmp_path, hud=False)) == 0
    assert window.shown and all(view.shape == (96, 128, 3) for view in window.shown)  # 2 x 2 cells of 64 x 48
    last = window.shown[-1].astype(int)  # sources row by row: cam0 | gone.mp4, cam1 | (empty)
    gone = last[:48, 64:].reshape(-1, 3)
    reddish = gone[:, 2] > gone[:, 1] + 40  # the note's box ("failed: ...") over the waiting grey
    assert (gone == WAITING_BGR).all(axis=1).any() and reddish.any()
    assert last[:48, :64].std() > 0 and last[48:, :64].std() > 0 and last[48:, 64:].max() == 0
    assert [len(_lines(tmp_path / f"{i}.jsonl")) for i in (0, 2)] == [10, 10]


def test_q_in_the_window_ends_the_run_and_finishes_every_output(tiny_model, model_cache, tmp_path, monkeypatch):
    window = RecordingWindow(keys="q")
    monkeypatch.setattr("livevision.app_multi.WindowSink", window)
    cameras = [FakeSource(200, name=f"cam{i}", size_wh=(64, 48)) for i in range(2)]
    assert run(_fake_run(tiny_model, model_cache, cameras, tmp_path)) == 0
    assert len(window.shown) == 1
    assert sum(len(_lines(tmp_path / f"{i}.jsonl")) for i in range(2)) < 400  # both finished, early


def test_the_web_view_shows_the_mosaic_without_a_window(tiny_model, model_cache, tmp_path, monkeypatch):
    web = RecordingWindow()
    web.urls = ["http://127.0.0.1:0/"]
    monkeypatch.setattr("livevision.app_multi.web_view", lambda address, token: web)
    cameras = [FakeSource(10, name=f"cam{i}", size_wh=(64, 48)) for i in range(2)]
    assert run(_fake_run(tiny_model, model_cache, cameras, tmp_path, display=False, serve="0")) == 0
    assert web.shown and all(view.shape == (48, 128, 3) for view in web.shown)  # 1 x 2 cells of 64 x 48


def test_a_live_source_without_frames_is_marked_on_its_tile_until_its_next_frame():
    import numpy as np
    from fakes import FakeClock

    from livevision.app_multi import STALLED_S, _SharedView
    from livevision.render.mosaic import Mosaic

    clock, mosaic = FakeClock(), Mosaic(["cam0", "cam1", "clip.mp4"])
    view = _SharedView(mosaic, None, None, None, clock, live={0, 1})
    frame = np.zeros((36, 64, 3), np.uint8)
    for index in range(3):
        view.show(index, frame)
    clock.tick(STALLED_S + 0.4)
    view.show(0, frame)  # cam1 (live) has sent nothing since: marked; the file (ended) is not
    assert mosaic.notes() == [None, "no frame for 2 s", None]
    view.show(1, frame)
    assert mosaic.notes() == [None, None, None]  # back: the mark goes with its next frame
    view.fail(0, "gave up reconnecting")
    clock.tick(STALLED_S + 1)
    view.show(1, frame)
    assert mosaic.notes() == ["failed: gave up reconnecting", None, None]  # failed stays failed
