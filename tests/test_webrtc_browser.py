"""`livevision serve` driven by headless Chromium (tests/browser.py): its fake camera plays counter frames
(livevision.testing.counter_video), the visitor's page sends them over WebRTC, and the test reads the counter
back from the returned video: annotated frames come back, two browsers at once each get their own, leaving
frees the session, a full server and a wrong token are refused."""

from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("aiortc")

from browser import chromium, grab_frame, latencies_ms, new_page, probe_frames, wait_for_video
from webrtc_client import wait_until

from livevision.predictor import load_model
from livevision.testing.counter_video import counter_frame
from livevision.types import Task
from livevision.webrtc.visitors import VisitorServer

pytestmark = [pytest.mark.timeout(240), pytest.mark.browser]


@pytest.fixture(scope="module")
def models(tiny_model, model_cache):
    return {Task.SEGMENTATION: load_model(tiny_model("segformer"), Task.SEGMENTATION, cache_dir=model_cache),
            Task.CLASSIFICATION: load_model(tiny_model("resnet"), Task.CLASSIFICATION, cache_dir=model_cache)}


def _open(browser, url: str):
    """The visitor's page at `url`, once its returned video shows a frame."""
    page = new_page(browser)
    page.goto(url)
    page.wait_for_function("window.livevision && window.livevision.state === 'live'", timeout=30_000)
    wait_for_video(page, "#remote", timeout_s=30)
    # the first frames come back before the model's first result: wait until the server has shown results
    page.wait_for_function("Object.keys((window.livevision.server || {}).inference_ms || {}).length > 0",
                           timeout=30_000)
    page.wait_for_timeout(500)
    return page


def _returned_frame(page) -> tuple[np.ndarray, int]:
    """A returned frame whose counter reads (a frame or two may be mid-change), and its counter."""
    for _ in range(20):
        image, counter = grab_frame(page, "#remote")
        if counter is not None:
            return image, counter
        page.wait_for_timeout(100)
    raise AssertionError("no returned frame carried a readable counter")


def _annotated(image: np.ndarray, counter: int) -> float:
    """Mean difference (grey levels) between a returned frame and the camera frame it shows: a few levels
    of compression for the frame as sent, tens with the segmentation colours and the HUD over it."""
    source = counter_frame(counter, (image.shape[1], image.shape[0]))
    return float(np.abs(image.astype(int) - source.astype(int)).mean())


def test_the_page_sends_the_camera_and_shows_it_back_annotated(models, fake_camera):
    with VisitorServer(models, port=0) as server, chromium(fake_camera) as (browser,):
        page = _open(browser, server.url)
        image, counter = _returned_frame(page)
        assert image.shape == (480, 640, 3)
        assert _annotated(image, counter) > 15, "the returned frame carries no overlay"
        records = probe_frames(page, "#remote", "#local", seconds=2)
        shown = [r["remote"] for r in records if r["remote"] is not None]
        assert len(shown) > 10 and len(set(shown)) > 10, "the returned video is not moving"
        lags = latencies_ms(records, fake_camera)
        assert lags and max(lags) < 3000  # never a frame from the camera's future (that would wrap to ~5 s)
        # the visitor picks classification too: the server runs both for them
        page.check("input[value=classification]")
        assert wait_until(lambda: set(page.evaluate("window.livevision.server.tasks || []")) ==
                          {"segmentation", "classification"})
        server.close()  # the page says so at once, and a new start says the server cannot be reached
        page.wait_for_function("window.livevision.state === 'stopped'", timeout=10_000)
        assert page.text_content("#message") == "The server closed the connection."
        page.click("#toggle")
        page.wait_for_function("window.livevision.state === 'refused'", timeout=10_000)
        assert "cannot be reached" in page.text_content("#message")
        assert page.errors == []


def test_two_browsers_at_once_each_get_their_own_stream_and_leaving_frees_it(models, fake_camera):
    with VisitorServer(models, port=0) as server, chromium(fake_camera, count=2) as browsers:
        before = {t.name for t in threading.enumerate()}
        pages = [_open(browser, server.url) for browser in browsers]
        assert server.peers.count == 2
        for page in pages:
            image, counter = _returned_frame(page)
            assert _annotated(image, counter) > 15
        visitors = {t.name for t in threading.enumerate() if t.name.startswith("livevision-visitor")}
        assert len(visitors) == 2
        pages[0].goto("about:blank")  # the first visitor leaves; the second goes on
        assert wait_until(lambda: server.peers.count == 1)
        first = _returned_frame(pages[1])[1]
        assert wait_until(lambda: _returned_frame(pages[1])[1] != first)
        pages[1].context.close()  # the second closes their tab
        assert wait_until(lambda: server.peers.count == 0)
        assert wait_until(lambda: not any(t.name.startswith("livevision-visitor") for t in threading.enumerate()))
        worker = server.models.workers[Task.SEGMENTATION]
        assert worker._telemetry == {} and not worker._busy
        pools = ("asyncio_", "livevision-closing_")  # a few threads each pool keeps, not one per visitor
        assert {t.name for t in threading.enumerate() if not t.name.startswith(pools)} <= before


def test_a_full_server_and_a_wrong_token_are_refused_with_a_message(models, fake_camera):
    with VisitorServer(models, port=0, token="s3cret", max_clients=1) as server, \
            chromium(fake_camera, count=2) as (first, second):
        base = server.url.split("?")[0]
        refused = new_page(second)
        assert refused.goto(base + "?token=wrong").status == 403
        assert refused.goto(base).status == 401
        _open(first, server.url)
        full = new_page(second)
        full.goto(server.url)
        full.wait_for_function("window.livevision.state === 'full'", timeout=30_000)
        assert "all 1 places are taken" in full.evaluate("window.livevision.error")
        assert "all 1 places are taken" in full.text_content("#message")
        assert server.peers.count == 1


def test_the_servers_own_view_plays_over_webrtc_and_mjpeg(fake_camera):
    from livevision.sinks.web import WebViewSink

    stop = threading.Event()
    with WebViewSink(port=0) as web, chromium(fake_camera) as (browser,):
        def write() -> None:
            index = 0
            while not stop.is_set():
                web.write_view(counter_frame(index % 4096, (640, 480)), index)
                index += 1
                stop.wait(1 / 30)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            page = new_page(browser)
            page.goto(web.url)
            page.wait_for_function("window.livevision.state === 'live'", timeout=30_000)
            wait_for_video(page, "#remote", timeout_s=30)
            records = probe_frames(page, "#remote", None, seconds=1.5)
            assert len({r["remote"] for r in records if r["remote"] is not None}) > 10  # moving, readable
            mjpeg = new_page(browser)
            mjpeg.goto(web.url + "mjpeg")
            mjpeg.wait_for_function("document.querySelector('img').naturalWidth === 640", timeout=30_000)
        finally:
            stop.set()
            writer.join()
