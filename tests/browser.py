"""Headless Chromium for tests: a fake camera that plays counter frames (livevision.testing.counter_video),
pages that read those counters in the browser, and a tiny loopback web server for test pages.

    camera = make_fake_camera(tmp_path)              # or the session fixture `fake_camera` (conftest)
    with serve_pages({"index.html": HTML}) as url, chromium(camera) as (browser,):
        page = new_page(browser)                     # COUNTER_JS and FRAME_PROBE_JS run in it first
        page.goto(url + "index.html")
        wait_for_video(page, "#local")
        read_counter_in_page(page, "#local")         # -> int | None
        records = probe_frames(page, "#returned", "#local", seconds=2)
        lags = latencies_ms(records, camera)

The browser is Debian's chromium driven by playwright's sync API (no `playwright install`); a test
calls these inside itself, so it skips cleanly (chromium_or_skip) where either is missing. Several
browsers at once: chromium(camera, count=2). The page must ask getUserMedia for the camera's size
(or no size): a different aspect ratio is cropped by Chromium, and the code no longer reads.
"""

from __future__ import annotations

import base64
import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from livevision.testing.counter_video import COUNTER_JS, FRAME_PROBE_JS, lag_frames, write_y4m

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
# playwright adds --headless, a fresh --user-data-dir and its own defaults (ps shows them all).
CHROMIUM_ARGS = (
    "--no-sandbox",  # root in a container: the sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",  # a returned <video> with sound tracks plays unmuted
    "--use-fake-ui-for-media-stream",  # getUserMedia is granted without a prompt
    "--use-fake-device-for-media-stream",
    # WebRTC leaves the loopback interface out: with only `lo` (or a server bound to 127.0.0.1) no
    # candidate pair would connect. Host candidates carry real addresses, not mDNS names, because
    # the page holds the camera permission (WebRtcHideLocalIpsWithMdns needs no switch).
    "--allow-loopback-in-peer-connection",
)


@dataclass(frozen=True)
class FakeCamera:
    """The Y4M Chromium plays as its camera, looping: frames 0..count-1 at fps (frame 0 shows twice
    at each loop)."""

    y4m: Path
    count: int
    fps: int
    size_wh: tuple[int, int]


def make_fake_camera(folder: Path, count: int = 150, fps: int = 30, size_wh=(640, 480)) -> FakeCamera:
    """A FakeCamera of `count` counter frames (150 at 30 fps: a 5-second loop, 69 MB at 640x480)."""
    return FakeCamera(write_y4m(Path(folder) / f"counter_{count}_{fps}.y4m", count, size_wh, fps), count, fps,
                      tuple(size_wh))


def chromium_or_skip() -> str:
    """The Chromium executable, or the test is skipped saying what is missing."""
    pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    for path in CHROMIUM_PATHS:
        if shutil.which(path):
            return path
    pytest.skip("no Chromium (apt-get install chromium): the browser tests are skipped")


@contextmanager
def chromium(camera: FakeCamera, count: int = 1, *, extra_args: tuple[str, ...] = ()) -> Iterator[list]:
    """`count` headless Chromium browsers (playwright Browser objects), each with its own fresh
    profile, all with `camera` as their webcam; closed on leaving."""
    executable = chromium_or_skip()
    from playwright.sync_api import sync_playwright

    args = [*CHROMIUM_ARGS, f"--use-file-for-fake-video-capture={camera.y4m}", *extra_args]
    with sync_playwright() as driver, ExitStack() as browsers:
        launched = []
        for _ in range(count):
            browser = driver.chromium.launch(executable_path=executable, headless=True, args=args)
            browsers.callback(browser.close)
            launched.append(browser)
        yield launched


def new_page(browser):
    """A page in a new context of `browser`, with livevisionReadCounter and livevisionProbe defined
    before any of its own scripts run. Its uncaught errors are kept in page.errors (a list of str)."""
    page = browser.new_context().new_page()
    page.add_init_script(COUNTER_JS + FRAME_PROBE_JS)
    page.errors = []
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    return page


def wait_for_video(page, selector: str, timeout_s: float = 10.0) -> None:
    """Until the <video> at selector shows a frame (its first one decoded)."""
    page.wait_for_function("(s) => { const v = document.querySelector(s); "
                           "return v !== null && v.readyState >= 2 && v.videoWidth > 0; }",
                           arg=selector, timeout=timeout_s * 1000)


def read_counter_in_page(page, selector: str) -> int | None:
    """The counter of the frame the <video> (or <canvas>) at selector shows now, read in the page."""
    return page.evaluate("(s) => window.livevisionReadCounter(document.querySelector(s))", selector)


_GRAB_JS = """(s) => {
  const element = document.querySelector(s);
  const canvas = document.createElement("canvas");
  canvas.width = element.videoWidth ?? element.width;
  canvas.height = element.videoHeight ?? element.height;
  canvas.getContext("2d").drawImage(element, 0, 0);
  return {png: canvas.toDataURL("image/png"), counter: window.livevisionReadCounter(canvas)};
}"""


def grab_frame(page, selector: str) -> tuple[np.ndarray, int | None]:
    """The frame the <video> at selector shows now, as a BGR array at its own size, and the counter
    read in the page from that same frame."""
    grabbed = page.evaluate(_GRAB_JS, selector)
    png = base64.b64decode(grabbed["png"].split(",", 1)[1])
    return cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR), grabbed["counter"]


def probe_frames(page, returned: str, local: str | None = None, seconds: float = 2.0) -> list[dict]:
    """livevisionProbe's records for every frame the returned <video> presents during `seconds`:
    {t (ms), remote, local, presented, width, height, receiveTime}."""
    page.evaluate("([r, l]) => window.livevisionProbe.start(r, l)", [returned, local])
    page.wait_for_timeout(seconds * 1000)  # waits while serving the driver's events
    page.evaluate("window.livevisionProbe.stop()")
    return page.evaluate("window.livevisionProbe.records()")


def latencies_ms(records: list[dict], camera: FakeCamera) -> list[float]:
    """Each record's returned frame's age when shown: how far the camera had gone on, in ms."""
    return [lag_frames(r["local"], r["remote"], camera.count) * 1000.0 / camera.fps
            for r in records if r["local"] is not None and r["remote"] is not None]


class _PageHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        body = self.server.pages.get(self.path.split("?", 1)[0].lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):  # quiet
        pass


@contextmanager
def serve_pages(pages: dict[str, str]) -> Iterator[str]:
    """An HTTP server on 127.0.0.1 (a free port) serving {name: html}; yields its base URL, ending in /.
    http://127.0.0.1 is a secure context: getUserMedia and WebRTC work there without TLS."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _PageHandler)
    server.pages = pages
    thread = threading.Thread(target=functools.partial(server.serve_forever, poll_interval=0.05), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
