"""Sinks: video file (H.264 + audio), results JSONL, raw arrays, window without display, progress bar.

Synthetic videos carry their frame index as a row of black/white blocks (one bit each) that
survives H.264, so order and drops can be checked exactly after decoding.
"""

from __future__ import annotations

import ctypes.util
import io
import json
import logging
import os
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from livevision.errors import LiveVisionError, UsageError
from livevision.sinks import (
    RESULTS_SCHEMA_VERSION,
    DisplayUnavailableError,
    EncoderError,
    NullSink,
    OutputPathError,
    ProgressBar,
    RawArraySink,
    ResultsSink,
    SinkError,
    VideoSink,
    WindowSink,
    result_record,
)
from livevision.sinks.base import SourceTimeline
from livevision.sinks.ffmpeg import as_fraction
from livevision.tasks.depth.formats import decode_depth_png
from livevision.sinks.window import NO_DISPLAY_WARNING, display_problem
from livevision.types import ClassificationResult, DepthKind, DepthResult, Segment, SegmentationResult
from media import H, W, decode, index_frame, make_source, probe, read_frames, read_index

pytestmark = pytest.mark.timeout(120)

def ffmpeg_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("ffmpeg-")]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if "partial" in p.name or p.name.endswith(".part"))


# ---- VideoSink ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fps, audio_s",
    [
        (Fraction(25), 3.0),  # audio longer than the video: cut
        (Fraction(30000, 1001), None),  # no audio track in the source
        (Fraction(30000, 1001), 0.4),  # audio shorter than the video: padded, no frame lost
    ],
    ids=["25fps-audio", "ntsc-noaudio", "ntsc-short-audio"],
)
def test_video_sink_h264_fps_audio_and_order(tmp_path, fps, audio_s):
    n = 30
    src = make_source(tmp_path / "src.mp4", n, fps, audio_s)
    cap = cv2.VideoCapture(str(src))
    src_fps = cap.get(cv2.CAP_PROP_FPS)  # a float, as the sources will pass it
    out = tmp_path / "out.mp4"
    with VideoSink(out, src_fps, audio_from=src) as sink:
        assert sink.fps == fps  # snapped back to the exact rational
        for frame in read_frames(cap):
            sink.write_frame(frame)
    cap.release()
    assert sink.frames_written == n

    info = probe(out)
    assert info["codec"] == "h264"
    assert info["pix_fmt"] == "yuv420p"
    assert info["wh"] == (W, H)
    assert info["audio"] is (audio_s is not None)
    assert info["duration_s"] == pytest.approx(n / fps, abs=0.03)
    out_fps, frames = decode(out)
    assert out_fps == pytest.approx(float(fps), rel=1e-6)
    assert [read_index(f) for f in frames] == list(range(n))
    assert leftovers(tmp_path) == []
    assert ffmpeg_threads() == []


def test_video_sink_odd_size_is_padded(tmp_path):
    out = tmp_path / "odd.mp4"
    with VideoSink(out, 25) as sink:
        for i in range(5):
            sink.write_frame(index_frame(i, W + 1, H + 1))
        assert sink.output_wh == (W + 2, H + 2)
    assert probe(out)["wh"] == (W + 2, H + 2)
    _, frames = decode(out)
    assert [read_index(f) for f in frames] == list(range(5))


def test_video_sink_odd_size_crop(tmp_path):
    out = tmp_path / "odd.mp4"
    with VideoSink(out, 25, odd_size="crop") as sink:
        for i in range(3):
            sink.write_frame(index_frame(i, W + 1, H + 1))
    assert probe(out)["wh"] == (W, H)


def test_video_sink_resizes_frames_of_another_size(tmp_path, caplog):
    out = tmp_path / "mixed.mp4"
    with caplog.at_level(logging.WARNING, logger="livevision.sinks.video"), VideoSink(out, 25) as sink:
        sink.write_frame(index_frame(0))
        sink.write_frame(cv2.resize(index_frame(1), (W * 2, H * 2), interpolation=cv2.INTER_NEAREST))
        sink.write_frame(cv2.resize(index_frame(2), (W * 2, H * 2), interpolation=cv2.INTER_NEAREST))
    assert sum("differs from the first frame" in r.getMessage() for r in caplog.records) == 1
    _, frames = decode(out)
    assert [f.shape for f in frames] == [(H, W, 3)] * 3
    assert [read_index(f) for f in frames] == [0, 1, 2]


@pytest.mark.parametrize("ext, codec", [(".mkv", "h264"), (".mov", "h264"), (".avi", "mjpeg")])
def test_video_sink_other_containers(tmp_path, ext, codec):
    src = make_source(tmp_path / "src.mp4", 10, Fraction(25), 1.0)
    out = tmp_path / f"out{ext}"
    with VideoSink(out, 25, audio_from=src) as sink:
        for i in range(10):
            sink.write_frame(index_frame(i))
    info = probe(out)
    assert info["codec"] == codec
    assert info["audio"]
    _, frames = decode(out)
    assert [read_index(f) for f in frames] == list(range(10))
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("interrupt", [RuntimeError("boom"), KeyboardInterrupt()], ids=["exception", "ctrl-c"])
def test_interrupted_write_leaves_playable_video_and_complete_results(tmp_path, interrupt):
    fps = Fraction(25)
    src = make_source(tmp_path / "src.mp4", 50, fps, 2.0)
    out = tmp_path / "out.mp4"
    results = tmp_path / "out.jsonl"
    depth = DepthResult(np.ones((4, 4), np.float32), DepthKind.METRIC)
    with pytest.raises(type(interrupt)):
        with VideoSink(out, fps, audio_from=src) as video, ResultsSink(results) as res:
            for i in range(50):
                video.write_frame(index_frame(i))
                res.write_line(i, i / 25, "depth", "tiny", depth)
                if i == 11:
                    raise interrupt
    assert leftovers(tmp_path) == []
    assert ffmpeg_threads() == []
    info = probe(out)
    assert info["audio"]
    assert info["duration_s"] == pytest.approx(12 / 25, abs=0.03)
    _, frames = decode(out)
    assert [read_index(f) for f in frames] == list(range(12))
    text = results.read_text()
    assert text.endswith("\n")
    lines = [json.loads(line) for line in text.splitlines()]
    assert [r["index"] for r in lines] == list(range(12))


def _fake_ffmpeg(tmp_path: Path, body: str) -> Path:
    """A stand-in ffmpeg that lists libx264 for -encoders and runs `body` otherwise."""
    exe = tmp_path / "fake-ffmpeg"
    exe.write_text(
        '#!/bin/sh\ncase "$*" in *-encoders*) echo " V....D libx264  fake H.264"; exit 0;; esac\n' + body + "\n"
    )
    exe.chmod(0o755)
    return exe


@pytest.mark.skipif(sys.platform == "win32", reason="shell-script fake ffmpeg")
def test_write_raises_promptly_when_ffmpeg_dies(tmp_path):
    exe = _fake_ffmpeg(tmp_path, 'head -c 100000 >/dev/null; echo "fake ffmpeg: simulated crash" >&2; exit 3')
    out = tmp_path / "out.mp4"
    sink = VideoSink(out, 25, ffmpeg_exe=exe)
    with pytest.raises(EncoderError, match="simulated crash") as err:
        for i in range(200):  # 27 kB per frame; the fake stops reading after ~4 frames
            sink.write_frame(index_frame(i))
    assert "exit code 3" in str(err.value) and str(out) in str(err.value)
    assert sink.frames_written < 200
    sink.close()  # already cleaned up: no second error
    assert not out.exists() and leftovers(tmp_path) == []
    assert ffmpeg_threads() == []


@pytest.mark.skipif(sys.platform == "win32", reason="shell-script fake ffmpeg")
@pytest.mark.timeout(30)
def test_write_gives_up_on_a_hung_ffmpeg(tmp_path):
    # The fake stays alive, never reading, for longer than this test may run: only the sink's own
    # write timeout can end the write (without it, the test hangs into pytest-timeout), and the
    # sink must kill the hung process itself (exit code -9), not wait for it to end.
    exe = _fake_ffmpeg(tmp_path, "exec sleep 300")
    sink = VideoSink(tmp_path / "out.mp4", 25, ffmpeg_exe=exe, write_timeout_s=0.5)
    with pytest.raises(EncoderError, match=r"took no data for 0\.5 s") as err:
        for i in range(50):  # the 64 kB pipe is full after 3 frames
            sink.write_frame(index_frame(i))
    assert f"exit code -{signal.SIGKILL.value}" in str(err.value)
    assert leftovers(tmp_path) == []
    assert ffmpeg_threads() == []


CTRL_C_CHILD = """
import sys, time
import numpy as np
sys.path.insert(0, sys.argv[2])
from media import index_frame
from livevision.sinks import ResultsSink, VideoSink
from livevision.types import DepthKind, DepthResult

out, src = sys.argv[1], sys.argv[3]
depth = DepthResult(np.ones((4, 4), np.float32), DepthKind.METRIC)
with VideoSink(out + ".mp4", 25, audio_from=src) as video, ResultsSink(out + ".jsonl") as results:
    for i in range(10_000):
        video.write_frame(index_frame(i % 256))
        results.write_line(i, i / 25, "depth", "tiny", depth)
        if i == 20:
            print("ready", flush=True)
        time.sleep(0.002)
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_real_ctrl_c_finalizes_outputs(tmp_path):
    """SIGINT to the whole process group, as a terminal sends it: ffmpeg must not die with Python."""
    src = make_source(tmp_path / "src.mp4", 10, Fraction(25), 30.0)
    script = tmp_path / "child.py"
    script.write_text(CTRL_C_CHILD)
    child = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "out"), str(Path(__file__).parent), str(src)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background shell ignores it
    )  # fmt: skip
    try:
        assert child.stdout.readline().strip() == "ready", child.stderr.read()
        os.killpg(child.pid, signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert "KeyboardInterrupt" in err
    assert leftovers(tmp_path) == []
    _, frames = decode(tmp_path / "out.mp4")
    n = len(frames)
    assert n > 20 and [read_index(f) for f in frames] == [i % 256 for i in range(n)]
    assert probe(tmp_path / "out.mp4")["duration_s"] == pytest.approx(n / 25, abs=0.03)
    text = (tmp_path / "out.jsonl").read_text()
    assert text.endswith("\n")
    indices = [json.loads(line)["index"] for line in text.splitlines()]
    assert indices == list(range(len(indices))) and len(indices) in (n - 1, n)


@pytest.mark.skipif(sys.platform == "win32", reason="shell-script fake ffmpeg")
def test_close_reports_ffmpeg_failure(tmp_path):
    exe = _fake_ffmpeg(tmp_path, 'cat >/dev/null; echo "first line" >&2; echo "fake: muxer failed" >&2; exit 1')
    out = tmp_path / "out.mp4"
    sink = VideoSink(out, 25, ffmpeg_exe=exe)
    sink.write_frame(index_frame(0))
    with pytest.raises(EncoderError, match=r"exit code 1\): fake: muxer failed$"):
        sink.close()
    assert not out.exists() and leftovers(tmp_path) == []


def test_video_sink_rejects_bad_frames_and_fps(tmp_path):
    with pytest.raises(UsageError, match="fps"):
        VideoSink(tmp_path / "a.mp4", 0)
    with VideoSink(tmp_path / "a.mp4", 25) as sink:
        with pytest.raises(ValueError, match="frame"):
            sink.write_frame(np.zeros((8, 8, 3), np.float32))
        with pytest.raises(ValueError, match="frame"):
            sink.write_frame(np.zeros((8, 8, 2), np.uint8))
    assert not (tmp_path / "a.mp4").exists()  # no frame, no file


def test_audio_from_must_be_media(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n")
    with pytest.raises(SinkError, match="audio_from"):
        VideoSink(tmp_path / "out.mp4", 25, audio_from=text)
    with pytest.raises(SinkError, match="no such file"):
        VideoSink(tmp_path / "out.mp4", 25, audio_from=tmp_path / "missing.mp4")


def test_as_fraction():
    assert as_fraction(30000 / 1001) == Fraction(30000, 1001)
    assert as_fraction(24000 / 1001) == Fraction(24000, 1001)
    assert as_fraction("30000/1001") == Fraction(30000, 1001)
    assert as_fraction(25) == 25 and as_fraction(12.5) == Fraction(25, 2)
    for bad in (0, -1, float("nan"), "x"):
        with pytest.raises(UsageError):
            as_fraction(bad)


# ---- bad output paths ---------------------------------------------------------------------


def _make_sink(kind: str, path: Path):
    if kind == "video":
        return VideoSink(path.with_suffix(".mp4") if path.suffix == "" else path, 25)
    if kind == "results":
        return ResultsSink(path.with_suffix(".jsonl") if path.suffix == "" else path)
    return RawArraySink(path)


def _assert_path_error(err: pytest.ExceptionInfo, path: Path, reason: str) -> None:
    assert isinstance(err.value, LiveVisionError)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path.parent) in msg or str(path) in msg
    assert reason in msg


@pytest.mark.parametrize("kind", ["video", "results", "raw"])
def test_missing_parent_folder(tmp_path, kind):
    path = tmp_path / "nope" / "out"
    with pytest.raises(OutputPathError) as err:
        _make_sink(kind, path)
    _assert_path_error(err, path, "does not exist")


@pytest.mark.parametrize("kind", ["video", "results", "raw"])
def test_parent_is_a_file(tmp_path, kind):
    (tmp_path / "file.txt").write_text("x")
    path = tmp_path / "file.txt" / "out"
    with pytest.raises(OutputPathError) as err:
        _make_sink(kind, path)
    _assert_path_error(err, path, "is not a folder")


def _unwritable_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        fd, probe_path = tempfile.mkstemp(dir=folder)
    except OSError:
        return folder
    os.close(fd)
    os.unlink(probe_path)
    folder.chmod(0o755)  # root ignores the mode bits; try a folder the kernel refuses instead
    if sys.platform.startswith("linux"):
        try:
            fd, probe_path = tempfile.mkstemp(dir="/sys")
        except OSError:
            return Path("/sys")
        os.close(fd)
        os.unlink(probe_path)
    pytest.skip("no unwritable folder available (running as root?)")


@pytest.mark.parametrize("kind", ["video", "results", "raw"])
def test_unwritable_folder(tmp_path, kind):
    folder = _unwritable_folder(tmp_path)
    path = folder / "livevision-out"
    try:
        with pytest.raises(OutputPathError) as err:
            _make_sink(kind, path)
    finally:
        if folder.is_relative_to(tmp_path):
            folder.chmod(0o755)
    _assert_path_error(err, path, "not writable")


@pytest.mark.parametrize(
    "kind, name, supported",
    [
        ("video", "out.xyz", ".mp4, .mov, .mkv, .avi"),
        ("video", "out", ".mp4"),
        ("results", "out.json", ".jsonl, .ndjson"),
    ],
)
def test_unsupported_extension(tmp_path, kind, name, supported):
    path = tmp_path / name
    with pytest.raises(OutputPathError) as err:
        VideoSink(path, 25) if kind == "video" else ResultsSink(path)
    msg = str(err.value)
    assert str(path) in msg and "unsupported extension" in msg and supported in msg
    assert "\n" not in msg
    assert list(tmp_path.iterdir()) == []


def test_path_is_a_folder(tmp_path):
    (tmp_path / "x.mp4").mkdir()
    with pytest.raises(OutputPathError, match="is a folder"):
        VideoSink(tmp_path / "x.mp4", 25)


# ---- result_record and ResultsSink --------------------------------------------------------


def test_record_classification():
    r = ClassificationResult(class_ids=(3, 1), labels=("cat", "dog"), scores=(np.float32(0.9), 0.05))
    rec = result_record(r)
    assert rec == {
        "top_k": [
            {"label": "cat", "class_id": 3, "score": 0.9},
            {"label": "dog", "class_id": 1, "score": 0.05},
        ]
    }
    json.dumps(rec, allow_nan=False)


def test_record_semantic_segmentation():
    label_map = np.full((4, 5), 2, np.int32)
    label_map[0, :] = 0  # 5 px
    label_map[1, :2] = -1  # 2 px not counted
    rec = result_record(SegmentationResult("semantic", label_map, {0: "sky", 1: "road", 2: "tree"}))
    assert rec["segmentation_kind"] == "semantic"
    assert rec["segments"] == []
    assert rec["classes"] == [
        {"label": "tree", "label_id": 2, "area_px": 13},
        {"label": "sky", "label_id": 0, "area_px": 5},
    ]
    json.dumps(rec, allow_nan=False)


def test_record_instance_segmentation():
    mask_a = np.zeros((4, 4), bool)
    mask_a[:2, :2] = True
    mask_b = np.zeros((4, 4), bool)
    mask_b[3, :] = True
    segs = (Segment(1, 7, "person", 0.875, mask_a), Segment(2, 9, "car", np.float32(0.5), mask_b))
    seg_map = np.full((4, 4), -1, np.int32)
    rec = result_record(SegmentationResult("instance", seg_map, {7: "person", 9: "car"}, segs, seg_map))
    assert rec == {
        "segmentation_kind": "instance",
        "segments": [
            {"id": 1, "label": "person", "label_id": 7, "score": 0.875, "area_px": 4, "track_id": None, "depth": None},
            {"id": 2, "label": "car", "label_id": 9, "score": 0.5, "area_px": 4, "track_id": None, "depth": None},
        ],
    }


def test_record_depth_is_nan_safe():
    d = np.array([[1.0, 2.0, np.nan], [np.inf, 3.0, -np.inf]], np.float32)
    rec = result_record(DepthResult(d, DepthKind.METRIC))
    assert rec == {"depth": {"min": 1.0, "median": 2.0, "max": 3.0, "kind": "metric", "units": "m"}}
    empty = result_record(DepthResult(np.full((2, 2), np.nan, np.float32), DepthKind.RELATIVE))
    assert empty == {"depth": {"min": None, "median": None, "max": None, "kind": "relative", "units": "relative"}}
    json.dumps(empty, allow_nan=False)


def test_record_rejects_unknown_result():
    with pytest.raises(TypeError):
        result_record({"not": "a result"})


def test_results_sink_lines(tmp_path):
    path = tmp_path / "r.jsonl"
    cls = ClassificationResult((1,), ("dog",), (0.75,))
    depth = DepthResult(np.arange(6, dtype=np.float32).reshape(2, 3), DepthKind.RELATIVE)
    with ResultsSink(path) as sink:
        assert (tmp_path / "r.jsonl.partial.jsonl").exists() and not path.exists()
        sink.write_line(0, 0.0, "classification", "tiny-vit", cls, latency_ms=np.float32(4.5))
        sink.write_line(1, 0.04, "classification", "tiny-vit", cls)
        sink.write_line(1, 0.04, "depth", "tiny-dpt", depth)  # a second task on the same frame
        with pytest.raises(ValueError, match="index"):
            sink.write_line(2, 0.08, "depth", "tiny-dpt", depth, index=5)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert lines[0] == {
        "schema": RESULTS_SCHEMA_VERSION, "index": 0, "timestamp": 0.0, "task": "classification",
        "model": "tiny-vit", "source": None, "top_k": [{"label": "dog", "class_id": 1, "score": 0.75}],
        "latency_ms": 4.5,
    }  # fmt: skip
    assert [(r["index"], r["task"]) for r in lines] == [(0, "classification"), (1, "classification"), (1, "depth")]
    assert lines[2]["depth"] == {"min": 0.0, "median": 2.5, "max": 5.0, "kind": "relative", "units": "relative"}
    assert leftovers(tmp_path) == []
    with pytest.raises(SinkError):
        sink.write_line(3, 0.1, "depth", "tiny-dpt", depth)


# ---- RawArraySink -------------------------------------------------------------------------


def test_raw_metric_depth_png_and_npy(tmp_path):
    d = np.array([[0.5, 1.2345, np.nan], [70.0, 0.0, 3.0001]], np.float32)
    result = DepthResult(d, DepthKind.METRIC)
    with RawArraySink(tmp_path / "png", depth_format="png") as png_sink, RawArraySink(tmp_path / "npy") as npy_sink:
        written = png_sink.write_arrays(123, result)
        npy_sink.write_arrays(123, result)
    png_path = tmp_path / "png" / "frame_000123_depth.png"
    assert written == [png_path, tmp_path / "png" / "frame_000123_depth.json"]
    png = cv2.imread(str(png_path), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16
    assert png.tolist() == [[500, 1234, 0], [65535, 0, 3000]]  # mm; NaN and 0 -> 0; clipped at 65.535 m
    sidecar = json.loads(written[1].read_text())
    assert sidecar["units"] == "m" and sidecar["scale"] == 0.001
    back = decode_depth_png(png, sidecar)
    np.testing.assert_allclose(back[0, :2], d[0, :2], atol=0.0005)
    assert np.isnan(back[0, 2]) and np.isnan(back[1, 1])
    npy = np.load(tmp_path / "npy" / "frame_000123_depth.npy")
    np.testing.assert_array_equal(npy, d)
    assert leftovers(tmp_path / "png") == [] and leftovers(tmp_path / "npy") == []


def test_raw_relative_depth_png_and_npz(tmp_path):
    rng = np.random.default_rng(0)
    d = rng.uniform(10, 900, (6, 7)).astype(np.float32)
    d[0, 0] = np.nan
    result = DepthResult(d, DepthKind.RELATIVE)
    with RawArraySink(tmp_path / "a", depth_format="png") as a, RawArraySink(tmp_path / "b", depth_format="npz") as b:
        png_path, side = a.write_arrays(7, result)
        (npz_path,) = b.write_arrays(7, result)
    png = cv2.imread(str(png_path), cv2.IMREAD_UNCHANGED)
    sidecar = json.loads(side.read_text())
    assert sidecar["kind"] == "relative"
    back = decode_depth_png(png, sidecar)
    assert np.isnan(back[0, 0])
    np.testing.assert_allclose(back[1:], d[1:], atol=sidecar["scale"])
    with np.load(npz_path) as z:
        np.testing.assert_array_equal(z["depth"], d)
        assert str(z["kind"]) == "relative"


def test_raw_label_maps(tmp_path):
    labels = np.array([[0, 1, -1], [2, 2, 1]], np.int32)
    small = SegmentationResult("semantic", labels, {i: str(i) for i in range(150)})
    big = SegmentationResult("semantic", labels, {i: str(i) for i in range(300)})
    with RawArraySink(tmp_path / "out") as sink:
        (p8,) = sink.write_arrays(5, small)
        (p16,) = sink.write_arrays(6, big, name="ade")
        assert sink.write_arrays(7, ClassificationResult((1,), ("x",), (1.0,))) == []
    assert p8.name == "frame_000005_labels.png" and p16.name == "frame_000006_ade.png"
    a = cv2.imread(str(p8), cv2.IMREAD_UNCHANGED)
    b = cv2.imread(str(p16), cv2.IMREAD_UNCHANGED)
    assert a.dtype == np.uint8 and a.tolist() == [[0, 1, 255], [2, 2, 1]]
    assert b.dtype == np.uint16 and b.tolist() == [[0, 1, 65535], [2, 2, 1]]


def test_raw_folder_is_created_but_not_its_parent(tmp_path):
    RawArraySink(tmp_path / "new").close()
    assert (tmp_path / "new").is_dir()
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputPathError, match="not a folder"):
        RawArraySink(tmp_path / "f")


# ---- WindowSink, NullSink, ProgressBar ----------------------------------------------------


def test_display_problem_by_platform():
    if "GUI" in (display_problem({}, "linux") or ""):
        pytest.skip("OpenCV without GUI support")
    assert "DISPLAY" in display_problem({}, "linux")
    assert display_problem({"DISPLAY": ":0"}, "linux", probe_x11=False) is None
    assert display_problem({"WAYLAND_DISPLAY": "wayland-0"}, "linux") is None
    assert display_problem({}, "darwin") is None and display_problem({}, "win32") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 probe")
def test_unreachable_x_display_is_no_display():
    """Qt aborts the process on an unreachable DISPLAY, so it must count as no display."""
    if not ctypes.util.find_library("xcb"):
        pytest.skip("libxcb not installed: the probe is skipped")
    if "GUI" in (display_problem({}, "linux") or ""):
        pytest.skip("OpenCV without GUI support")
    if Path("/tmp/.X11-unix/X4242").exists():
        pytest.skip("an X server runs on :4242")
    assert display_problem({"DISPLAY": ":4242"}, "linux") == "cannot connect to the X display ':4242'"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="display detection by env is Linux-only")
def test_window_without_display(monkeypatch, caplog):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert WindowSink.available() is False
    with caplog.at_level(logging.WARNING, logger="livevision.sinks.window"):
        with WindowSink(mode="optional") as window:
            for i in range(3):
                window.write_view(index_frame(i), i)
            assert [window.poll(1) for _ in range(3)] == [-1, -1, -1]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and NO_DISPLAY_WARNING in warnings[0].getMessage()
    with pytest.raises(DisplayUnavailableError, match="cannot open a window"):
        WindowSink(mode="required")


def test_null_sink():
    with NullSink() as sink:
        sink.write_view(np.zeros((2, 2, 3), np.uint8), 0)
        sink.write_result("depth", None)
    assert sink.frames_written == 1 and sink.results_written == 1 and sink.closed


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_progress_bar_log_lines():
    clock, out = FakeClock(), io.StringIO()
    with ProgressBar(100, desc="in.mp4", stream=out, is_tty=False, log_interval_s=10, clock=clock) as bar:
        for _ in range(50):
            clock.t += 0.5  # 2 fps
            bar.update()
        assert bar.rate() == pytest.approx(2.0)
        assert bar.eta_s() == pytest.approx(25.0)
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 3  # at 10 s, 20 s, and the final line
    assert lines[0] == "in.mp4  20% 20/100 frames 2.0 fps ETA 0:00:40 elapsed 0:00:10"
    assert lines[-1].startswith("in.mp4  50% 50/100 frames 2.0 fps elapsed 0:00:25")


def test_progress_bar_tty_and_unknown_total():
    clock, out = FakeClock(), io.StringIO()
    bar = ProgressBar(None, stream=out, is_tty=True, clock=clock)
    for _ in range(10):
        clock.t += 0.25
        bar.update()
    bar.close()
    bar.close()
    text = out.getvalue()
    assert text.startswith("\r") and text.endswith("\n") and text.count("\n") == 1
    assert "10 frames 4.0 fps" in text and "ETA" not in text


class _LoopStream:
    """What the run loop (run_loop.play) uses of a Stream: its clock and telemetry, `read` frames read."""

    def __init__(self, read: int):
        from livevision.engine import SystemClock, Telemetry

        self.clock = SystemClock()
        self.stats = Telemetry(self.clock.now)
        for _ in range(read):
            self.stats.captured()


class _CountingSink(SourceTimeline):
    def __init__(self):
        self.frames_written = 0

    def write_frame(self, frame):
        self.frames_written += 1


def _play(indices, read, monkeypatch, interrupted=False):
    """Run run_loop.play over packets of these frame indices, with a video; returns (frames written, progress)."""
    from livevision import app, interrupts, run_loop
    from livevision.outputs import ViewTargets
    from livevision.stream import Packet
    from livevision.types import Frame, Task

    monkeypatch.setitem(interrupts._state, "requested", None)

    def packets():
        yield from (Packet(Frame(index_frame(i, 64, 48), i, i / 30, 0.0)) for i in indices)
        if interrupted:  # a Ctrl-C while the next frame was awaited: the stream stops
            interrupts._state["requested"] = signal.SIGINT

    sink, bar = _CountingSink(), ProgressBar(None, stream=io.StringIO())
    views = ViewTargets([sink], [], draw_hud=lambda view: view)
    run_loop.play(packets(), _LoopStream(read), app.Renderer((Task.DEPTH,)), views, [], None, bar, None)
    return sink.frames_written, bar.n


def test_progress_counts_the_frames_written_to_the_video(monkeypatch):
    """Issue 16: the live modes showed frames 3, 4 and 7 of 8 read: the video holds 5 frames (frames 5 and 6 repeat
    the view of 4; none stands for 0-2, before the first view), and the progress says 5, not the 8 read."""
    assert _play([3, 4, 7], read=8, monkeypatch=monkeypatch) == (5, 5)


def test_progress_after_a_ctrl_c_counts_the_frames_written_not_those_read_ahead(monkeypatch):
    """`every` reads ahead of what it shows: after a Ctrl-C the progress stays at the frames written."""
    assert _play([0, 1, 2], read=6, monkeypatch=monkeypatch, interrupted=True) == (3, 3)


# ---- publishing what was written at a first Ctrl-C ----------------------------------------------


def _top_level_boxes(path: Path) -> list[str]:
    data, boxes, at = path.read_bytes(), [], 0
    while at + 8 <= len(data):
        size = int.from_bytes(data[at : at + 4], "big")
        boxes.append(data[at + 4 : at + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[at + 8 : at + 16], "big")
        if size < 8:
            break
        at += size
    return boxes


def test_published_video_plays_while_written_and_the_finished_one_is_a_plain_mp4(tmp_path):
    out = tmp_path / "out.mp4"
    sink = VideoSink(out, 25)
    for i in range(60):
        sink.write_frame(index_frame(i))
    assert sink.publish_partial() and out.exists()
    assert leftovers(tmp_path) == []  # renamed, not copied
    # fragmented: it plays although ffmpeg is still writing it (fragments of at most a second)
    so_far = tmp_path / "so_far.mp4"
    deadline = time.monotonic() + 30
    while True:
        so_far.write_bytes(out.read_bytes())
        try:
            count = len(decode(so_far)[1])
        except AssertionError:
            count = 0
        if count >= 25 or time.monotonic() > deadline:
            break
    assert count >= 25 and _top_level_boxes(so_far)[:2] == ["ftyp", "moov"] and "moof" in _top_level_boxes(so_far)
    for i in range(60, 80):
        sink.write_frame(index_frame(i))
    sink.close()
    _, frames = decode(out)
    assert [read_index(f) for f in frames] == list(range(80))
    boxes = _top_level_boxes(out)
    assert "moof" not in boxes and boxes.index("moov") < boxes.index("mdat")  # plain MP4, index first
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize("published, suffix", [(True, ".mp4"), (False, ".mp4"), (False, ".avi")])
def test_end_now_leaves_every_frame_playable_and_no_ffmpeg_running(published, suffix, tmp_path):
    """A second Ctrl-C (VideoSink.end_now): ffmpeg writes what it holds and has exited when end_now returns; the
    file under the output's name plays every frame written, whether a first Ctrl-C published it or not."""
    out = tmp_path / f"out{suffix}"
    sink = VideoSink(out, 25)
    for i in range(30):
        sink.write_frame(index_frame(i))
    if published:
        assert sink.publish_partial()
    sink.end_now()
    assert sink._pipe.proc.poll() is not None, "ffmpeg still runs"
    _, frames = decode(out)
    assert [read_index(f) for f in frames] == list(range(30))
    assert leftovers(tmp_path) == []
    sink.close()  # nothing left to do


def test_end_now_during_the_second_pass_keeps_the_first(tmp_path, monkeypatch):
    """A second Ctrl-C while the finishing pass runs: that ffmpeg is stopped (not waited for) and the complete
    first pass kept."""
    out = tmp_path / "out.mp4"
    sink = VideoSink(out, 25)
    for i in range(10):
        sink.write_frame(index_frame(i))
    real_popen = subprocess.Popen

    def popen_then_abort(args, **kwargs):  # a finishing pass that never ends; the second signal comes meanwhile
        proc = real_popen([sys.executable, "-c", "import time; time.sleep(600)"], **kwargs)

        def communicate(timeout=None):
            sink.end_now()
            assert proc.poll() is not None, "the finishing ffmpeg still runs"
            raise SystemExit(130)

        proc.communicate = communicate
        return proc

    monkeypatch.setattr("livevision.sinks.video.subprocess.Popen", popen_then_abort)
    with pytest.raises(SystemExit):
        sink.close()
    _, frames = decode(out)
    assert [read_index(f) for f in frames] == list(range(10))
    assert leftovers(tmp_path) == []


def test_published_results_keep_their_lines_and_the_file_goes_on(tmp_path):
    path = tmp_path / "r.jsonl"
    sink = ResultsSink(path)
    result = ClassificationResult(class_ids=(1,), labels=("a",), scores=(0.9,))
    sink.write_line(0, 0.0, "classification", "m", result)
    assert sink.publish_partial() and not sink.publish_partial()
    assert [json.loads(line)["index"] for line in path.read_text().splitlines()] == [0]
    sink.write_line(1, 0.04, "classification", "m", result)
    sink.close()
    assert [json.loads(line)["index"] for line in path.read_text().splitlines()] == [0, 1]
    assert leftovers(tmp_path) == []


def test_progress_line_shortens_the_name_and_keeps_the_figures():
    out, clock = io.StringIO(), FakeClock()
    name = "/very/long/folder/of/recordings/2026-12-01/camera-front-left/session-0042/clip.mp4"
    bar = ProgressBar(200, desc=name, stream=out, is_tty=True, clock=clock)
    clock.t += 2.0
    bar.update(50)
    line = bar.text(80)
    assert len(line) <= 79
    assert " 25% " in line and "50/200 frames" in line and "fps" in line and "ETA" in line
    assert "..." in line and line.startswith("/very/") and "clip.mp4" in line
    assert bar.text(200).startswith(name)  # room enough: the whole name


# ---- one convention for files being written -----------------------------------------------------


def test_every_file_is_written_under_one_partial_name_and_moved_into_place(tmp_path, monkeypatch):
    from livevision.sinks import _paths

    assert _paths.partial_path(tmp_path / "out.mp4") == tmp_path / "out.mp4.partial.mp4"
    assert _paths.partial_path(tmp_path / "out.mp4", ".video") == tmp_path / "out.mp4.video.partial.mp4"
    _paths.atomic_write_text(tmp_path / "stats.json", "{}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.json"]

    def full_disk(partial, path):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(_paths, "move_into_place", full_disk)
    with pytest.raises(OSError):
        _paths.atomic_write_bytes(tmp_path / "frame.png", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stats.json"]  # no partial file left behind


def test_the_image_formats_written_are_image_formats_read():
    from livevision.sinks import IMAGE_OUTPUT_EXTENSIONS
    from livevision.sources.images import IMAGE_EXTENSIONS

    assert set(IMAGE_OUTPUT_EXTENSIONS) <= IMAGE_EXTENSIONS
