"""The window's keys in `livevision run`: q / Esc quit, space pauses, v changes the view, s saves a snapshot.

Most tests stand a scripted window in for WindowSink (keys handed out in order, frames recorded);
the last one drives the real OpenCV window on a virtual X server (Xvfb) with real key presses
(xdotool), and is skipped where those two programs are not installed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from fractions import Fraction

import cv2
import numpy as np
import pytest
from media import decode, make_source

from livevision import app, interrupts
from livevision import outputs as run_outputs
from livevision.options import LoadOptions, ModelOptions, OutputOptions, RunOptions, SourceOptions
from livevision.sinks.window import QUIT_KEY
from livevision.types import Task

pytestmark = pytest.mark.timeout(300)
W, H = 160, 96


class ScriptedWindow:
    """Stands in for WindowSink: poll() returns the scripted keys in order (-1 once they run out); every
    shown frame is kept, and `before_key` runs before each key is handed out. `polls`: the polls while
    paused (not the one after each shown frame)."""

    def __init__(self, keys, before_key=None):
        self.keys, self.before_key = list(keys), before_key
        self.shown: list[np.ndarray] = []
        self.polls = 0
        self._just_shown = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def _next_key(self) -> int:
        if self.before_key is not None:
            self.before_key(self)
        return self.keys.pop(0) if self.keys else -1

    def write_view(self, view: np.ndarray, index: int) -> None:
        self.shown.append(view.copy())
        self._just_shown = True

    def poll(self, wait_ms: int = 1) -> int:
        self.polls += not self._just_shown
        self._just_shown = False
        return self._next_key()


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_source(tmp_path_factory.mktemp("keys-media") / "clip.mp4", 20, Fraction(25), None, size_wh=(W, H))


def _run(window, clip, tiny_model, model_cache, tmp_path, monkeypatch, max_frames=None, **outputs) -> int:
    """app.run on the clip with `window` as its window; `outputs`: OutputOptions fields."""
    outputs = dict(dict(video=tmp_path / "out.mp4", results=tmp_path / "out.jsonl", snapshot_dir=tmp_path),
                   **outputs)
    monkeypatch.setattr(run_outputs, "WindowSink", lambda *args, **kwargs: window)
    return app.run(RunOptions(
        tasks=(Task.DEPTH,), source=SourceOptions(source=str(clip), pacing="every", max_frames=max_frames),
        model=ModelOptions(models={Task.DEPTH: str(tiny_model("depth_anything"))},
                           load_options=LoadOptions(cache_dir=model_cache, live=True)),
        output=OutputOptions(**outputs)))


def test_view_snapshot_pause_and_quit_keys(tiny_model, model_cache, clip, tmp_path, monkeypatch):
    k = ord
    #                 frame 0   1       2       3       (paused: 4 polls)        4   5
    window = ScriptedWindow([-1, k("v"), k("s"), k(" "), -1, k("s"), -1, k(" "), -1, k("q")])
    assert _run(window, clip, tiny_model, model_cache, tmp_path, monkeypatch) == 0

    assert len(window.shown) == 6 and window.polls == 4 and not window.keys
    assert [f.shape[1] for f in window.shown] == [W, W] + [2 * W] * 4  # v: overlay -> side by side
    snapshots = sorted(p.name for p in tmp_path.glob("livevision_*.png"))
    assert snapshots == ["livevision_000002.png", "livevision_000003.png"]  # one shown, one while paused
    assert np.array_equal(cv2.imread(str(tmp_path / "livevision_000002.png")), window.shown[2])
    assert np.array_equal(cv2.imread(str(tmp_path / "livevision_000003.png")), window.shown[3])
    # q ended the run early with every output complete: 6 frames, 6 results
    _, frames = decode(tmp_path / "out.mp4")
    assert len(frames) == 6
    assert [json.loads(line)["index"] for line in (tmp_path / "out.jsonl").read_text().splitlines()] == list(range(6))


@pytest.mark.parametrize("key", [27, QUIT_KEY], ids=["esc", "window-closed"])
def test_quitting_while_paused(key, tiny_model, model_cache, clip, tmp_path, monkeypatch):
    # Esc, or closing the window (WindowSink.poll then returns QUIT_KEY), ends a pause and the run
    window = ScriptedWindow([-1, ord(" "), -1, -1, key])
    assert _run(window, clip, tiny_model, model_cache, tmp_path, monkeypatch) == 0
    assert len(window.shown) == 2 and window.polls == 3
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2


def test_ctrl_c_while_paused_stops_and_finalizes(tiny_model, model_cache, clip, tmp_path, monkeypatch):
    # Signals are deferred inside the loop, so the pause itself must notice Ctrl-C
    def ctrl_c_once_paused(window):
        if len(window.keys) == 0 and window.polls == 1:
            signal.raise_signal(signal.SIGINT)

    window = ScriptedWindow([-1, -1, ord(" ")], before_key=ctrl_c_once_paused)
    with interrupts.graceful_interrupts(), pytest.raises(KeyboardInterrupt):
        _run(window, clip, tiny_model, model_cache, tmp_path, monkeypatch)
    assert window.polls == 1  # not a second wait after the signal
    _, frames = decode(tmp_path / "out.mp4")
    assert len(frames) == 3


def test_a_snapshot_that_cannot_be_saved_warns_and_the_run_goes_on(tiny_model, model_cache, clip, tmp_path,
                                                                   monkeypatch, caplog):
    folder = tmp_path / "snapshots"
    folder.mkdir()

    def take_the_folder_s_place(_window):  # after the run's checks: a file where the folder was
        if folder.is_dir():
            folder.rmdir()
            folder.write_text("not a folder any more")

    window = ScriptedWindow([ord("s")], before_key=take_the_folder_s_place)
    with caplog.at_level("WARNING", logger="livevision.app"):
        assert _run(window, clip, tiny_model, model_cache, tmp_path, monkeypatch, snapshot_dir=folder,
                    max_frames=3) == 0
    assert len(window.shown) == 3
    assert "could not save a snapshot" in caplog.text


def test_a_missing_snapshot_folder_is_made_on_the_first_snapshot(tiny_model, model_cache, clip, tmp_path,
                                                                   monkeypatch):
    """As --arrays makes its folder: --snapshot-dir need not exist (issue 12), and nothing is made before s."""
    folder = tmp_path / "new" / "snapshots"
    window = ScriptedWindow([-1, ord("s")])
    assert _run(window, clip, tiny_model, model_cache, tmp_path, monkeypatch, snapshot_dir=folder, max_frames=3) == 0
    assert [p.name for p in folder.iterdir()] == ["livevision_000001.png"]


def test_a_snapshot_folder_that_is_a_file_is_refused_before_the_run(clip, tmp_path, capsys):
    from livevision.cli import main

    (tmp_path / "taken").write_text("a file")
    code = main(["run", "--task", "depth", "--source", str(clip), "--snapshot-dir", str(tmp_path / "taken")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1 and len(err) == 1 and "taken" in err[0] and "not a folder" in err[0]


# --- the real window on a virtual display ---------------------------------------------------------


def _start_xvfb():
    """Xvfb on a free display number; returns (process, ":N")."""
    read, write = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                            pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        pytest.skip("Xvfb did not start")
    # Under load a client connecting right after -displayfd answered was once refused (Qt: "could not connect
    # to display"): wait until a client (xdotool) gets an answer.
    deadline = time.monotonic() + 60
    while subprocess.run(["xdotool", "getdisplaygeometry"], env={**os.environ, "DISPLAY": f":{number}"},
                         capture_output=True, timeout=30).returncode != 0:
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"Xvfb :{number} started but accepts no client")
        time.sleep(0.2)
    return proc, f":{number}"


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                    reason="needs Xvfb and xdotool (Debian packages xvfb, xdotool)")
def test_real_window_takes_keys_on_a_virtual_display(tiny_model, model_cache, tmp_path):
    from livevision.sinks.window import _opencv_has_gui

    if not _opencv_has_gui():
        pytest.skip("this OpenCV build has no GUI")
    long_clip = make_source(tmp_path / "long.mp4", 250, Fraction(25), None, size_wh=(W, H))
    xvfb, display = _start_xvfb()
    env = {**os.environ, "DISPLAY": display, "HF_HUB_OFFLINE": "1"}
    env.pop("WAYLAND_DISPLAY", None)
    video, log = tmp_path / "out.mp4", tmp_path / "stderr.txt"
    with open(log, "w") as stderr:  # a file, not a pipe nobody reads while the run goes on
        run = subprocess.Popen(
            [sys.executable, "-m", "livevision", "run", "--task", "depth", "--source", str(long_clip),
             "--model", str(tiny_model("depth_anything")), "--cache-dir", str(model_cache),
             "--pacing", "simulate-live", "--output", str(video), "--snapshot-dir", str(tmp_path)],
            env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        def xdotool(*args):
            return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=120)

        window_id, deadline = None, time.monotonic() + 120
        while window_id is None and run.poll() is None and time.monotonic() < deadline:
            found = xdotool("search", "--name", "^livevision$").stdout.split()
            if found:
                window_id = found[0]
            else:
                time.sleep(0.2)
        assert window_id is not None, f"no window appeared (exit code {run.poll()}): {log.read_text()}"
        assert xdotool("windowfocus", "--sync", window_id).returncode == 0
        time.sleep(0.5)
        xdotool("key", "s")
        deadline = time.monotonic() + 30
        while not list(tmp_path.glob("livevision_*.png")) and time.monotonic() < deadline:
            time.sleep(0.1)
        xdotool("key", "q")
        run.wait(timeout=120)
    finally:
        if run.poll() is None:
            run.kill()
        xvfb.terminate()
        xvfb.wait(timeout=10)
    assert run.returncode == 0, log.read_text()
    if os.path.isdir("/usr/share/fonts"):  # Qt is pointed at the system's fonts: no warnings about cv2's
        assert "QFontDatabase" not in log.read_text()
    snapshots = list(tmp_path.glob("livevision_*.png"))
    assert len(snapshots) == 1 and cv2.imread(str(snapshots[0])).shape == (H, W, 3)
    _, frames = decode(video)
    assert 0 < len(frames) < 250  # q stopped the run before the end of the 10 s clip, and the video is whole


@pytest.mark.parametrize("frame_wh, screen_wh, expected_wh", [
    ((1280, 720), (1024, 768), (944, 531)),  # too wide: 1024 less the 80 px margin, the height follows
    ((320, 240), (1024, 768), (320, 240)),  # fits: never scaled up
    ((720, 1280), (1920, 1080), (540, 960)),  # too tall: 1080 less the 120 px margin
    ((1920, 1080), None, (1067, 600)),  # screen size unknown: fits 1280x720 less the margin
    ((640, 480), (100, 100), (160, 120)),  # a tiny screen: never below 160x120
])
def test_window_size_fits_the_frame_in_the_screen_keeping_its_shape(frame_wh, screen_wh, expected_wh):
    """window_size alone, everywhere (the real-window test below needs Xvfb and xdotool)."""
    from livevision.sinks.window import window_size

    assert window_size(frame_wh, screen_wh) == expected_wh
    (w, h), (ew, eh) = frame_wh, expected_wh
    assert abs(ew / eh - w / h) < 0.01  # the frame's aspect ratio is kept


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                    reason="needs Xvfb and xdotool (Debian packages xvfb, xdotool)")
@pytest.mark.parametrize("frame_wh, expected_wh", [((1280, 720), (944, 531)), ((320, 240), (320, 240))])
def test_real_window_is_sized_to_the_frame_within_the_screen(frame_wh, expected_wh, tiny_model, model_cache,
                                                              tmp_path):
    """Qt opened every window at about 400x300 on a bare X server (issue 12): the window takes the frame's
    size, scaled down to fit the 1024x768 screen less a margin for the window frame."""
    from livevision.sinks.window import _opencv_has_gui, window_size

    if not _opencv_has_gui():
        pytest.skip("this OpenCV build has no GUI")
    assert window_size(frame_wh, (1024, 768)) == expected_wh
    clip = make_source(tmp_path / "clip.mp4", 100, Fraction(25), None, size_wh=frame_wh)  # 4 s: the window's life
    xvfb, display = _start_xvfb()
    env = {**os.environ, "DISPLAY": display, "HF_HUB_OFFLINE": "1"}
    env.pop("WAYLAND_DISPLAY", None)
    log = tmp_path / "stderr.txt"
    with open(log, "w") as stderr:
        run = subprocess.Popen(
            [sys.executable, "-m", "livevision", "run", "--task", "depth", "--source", str(clip), "--model",
             str(tiny_model("depth_anything")), "--cache-dir", str(model_cache), "--pacing", "simulate-live",
             "--precision", "fp32", "--no-hud"], env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        def xdotool(*args):
            return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=120)

        geometry, deadline = None, time.monotonic() + 120
        while run.poll() is None and time.monotonic() < deadline:
            found = xdotool("search", "--name", "^livevision$").stdout.split()
            if found:
                text = xdotool("getwindowgeometry", found[0]).stdout
                match = re.search(r"Geometry: (\d+)x(\d+)", text)
                if match and (int(match[1]), int(match[2])) != (0, 0):
                    geometry = (int(match[1]), int(match[2]))
                    if geometry == expected_wh:
                        break
            time.sleep(0.2)
    finally:
        run.kill()
        run.wait(timeout=30)
        xvfb.terminate()
        xvfb.wait(timeout=10)
    assert geometry == expected_wh, (geometry, log.read_text())


_RESIZING_SCRIPT = """
import sys, time
import numpy as np
from livevision.sinks.window import WindowSink
window = WindowSink("livevision")
for size in ((320, 240), (640, 240)):  # a mosaic growing from one camera to two side by side
    view = np.zeros((size[1], size[0], 3), np.uint8)
    for _ in range(60):
        window.write_view(view, 0)
        window.poll(20)
    print("shown", *size, flush=True)
    sys.stdin.readline()  # the test has looked at the window
"""


@pytest.mark.skipif(not (shutil.which("Xvfb") and shutil.which("xdotool")),
                    reason="needs Xvfb and xdotool (Debian packages xvfb, xdotool)")
def test_real_window_fits_views_that_change_size(tmp_path):
    """A mosaic grows as cameras start, and one camera full size has another shape: the window follows the
    views' size instead of squeezing them into the first one's."""
    from livevision.sinks.window import _opencv_has_gui

    if not _opencv_has_gui():
        pytest.skip("this OpenCV build has no GUI")
    xvfb, display = _start_xvfb()
    env = {**os.environ, "DISPLAY": display}
    env.pop("WAYLAND_DISPLAY", None)
    shower = subprocess.Popen([sys.executable, "-c", _RESIZING_SCRIPT], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    geometries = []
    try:
        for _ in range(2):
            assert shower.stdout.readline().startswith("shown"), "the window script ended early"
            found = subprocess.run(["xdotool", "search", "--name", "^livevision$"], env=env, capture_output=True,
                                   text=True, timeout=60).stdout.split()
            text = subprocess.run(["xdotool", "getwindowgeometry", found[0]], env=env, capture_output=True,
                                  text=True, timeout=60).stdout
            geometries.append(tuple(map(int, re.search(r"Geometry: (\d+)x(\d+)", text).groups())))
            shower.stdin.write("\n")
            shower.stdin.flush()
    finally:
        shower.kill()
        shower.wait(timeout=30)
        xvfb.terminate()
        xvfb.wait(timeout=10)
    assert geometries == [(320, 240), (640, 240)]
