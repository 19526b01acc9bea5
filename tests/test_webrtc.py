"""`livevision serve` and the web view over WebRTC, with a Python WebRTC peer (aiortc) as the visitor's
browser: annotated frames come back, a slow model builds no backlog, visitors pick tasks, the server is full at
--max-clients, a visitor who leaves frees everything, and the token is asked for. (The real browser:
test_webrtc_browser.py.)"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

pytest.importorskip("aiortc")

from webrtc_client import Visitor, grey_frame, post_json, wait_until

from livevision.predictor import load_model
from livevision.sinks.web import WebViewSink
from livevision.types import Task
from livevision.webrtc.frames import PushSource
from livevision.webrtc.visitors import VisitorServer

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def models(tiny_model, model_cache):
    return {Task.SEGMENTATION: load_model(tiny_model("segformer"), Task.SEGMENTATION, cache_dir=model_cache),
            Task.CLASSIFICATION: load_model(tiny_model("resnet"), Task.CLASSIFICATION, cache_dir=model_cache)}


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code


def _coloured(image: np.ndarray) -> float:
    """Share of pixels with a colour (the source is grey: a segmentation overlay colours it)."""
    spread = image.max(axis=2).astype(int) - image.min(axis=2).astype(int)
    return float((spread > 40).mean())


def _threads() -> set[str]:
    """The threads running, but the asyncio loops' pools (a few threads each loop keeps, not one per visitor)."""
    return {t.name for t in threading.enumerate() if not t.name.startswith(("asyncio_", "livevision-closing_"))}


def test_annotated_frames_come_back_and_leaving_frees_everything(models):
    before = {t.name for t in threading.enumerate()}
    with VisitorServer(models, port=0) as server:
        worker = server.models.workers[Task.SEGMENTATION]
        with_server = _threads()
        with Visitor(server.url) as visitor:
            status, answer = visitor.connect()
            assert status == 200, answer
            assert visitor.wait_for_frames(30), "no annotated frame came back"
            assert server.peers.count == 1
            image = visitor.returned[-1][1]
            assert image.shape == (240, 320, 3)
            assert _coloured(image) > 0.3, "the segmentation overlay is missing"
            assert wait_until(lambda: visitor.messages and visitor.messages[-1]["frames_in"] > 0)
            figures = visitor.messages[-1]
            assert figures["tasks"] == ["segmentation"] and figures["visitors"] == 1
            assert figures["inference_ms"]["segmentation"]["p50"] > 0
            assert any(name.startswith("livevision-visitor") for name in _threads())
        # the browser left: its connection, its threads and its place in the shared worker go
        assert wait_until(lambda: server.peers.count == 0), "the visitor's connection was not closed"
        assert wait_until(lambda: _threads() <= with_server), _threads() - with_server
        assert worker._telemetry == {} and not worker._busy
    assert wait_until(lambda: {t.name for t in threading.enumerate()} <= before), _threads() - before


def test_visitors_pick_tasks_over_the_data_channel(models):
    with VisitorServer(models, port=0) as server, Visitor(server.url, tasks=["classification"]) as visitor:
        assert visitor.connect()[0] == 200
        assert wait_until(lambda: any(m.get("tasks") == ["classification"] and m.get("frames_in")
                                      for m in visitor.messages))
        assert visitor.wait_for_frames(10)
        assert _coloured(visitor.returned[-1][1]) < 0.3  # a label panel, no colours over the frame
        visitor.send({"tasks": ["segmentation", "classification"]})
        both = {"segmentation", "classification"}
        assert wait_until(lambda: visitor.messages[-1].get("inference_ms", {}).keys() == both)
        visitor.send({"tasks": ["depth"]})  # not among the server's
        assert wait_until(lambda: any("pick one or more of segmentation, classification" in (m.get("error") or "")
                                 for m in visitor.messages))
        assert visitor.messages[-1]["tasks"] == ["segmentation", "classification"]


class SlowModel:
    """A model that takes `seconds` a frame and returns the classification of its wrapped model."""

    def __init__(self, model, seconds: float):
        self.model, self.seconds, self.calls = model, seconds, 0

    def __call__(self, image):
        self.calls += 1
        time.sleep(self.seconds)
        return self.model(image)


def test_a_slow_model_lowers_the_rate_of_results_not_of_the_video(models):
    slow = SlowModel(models[Task.CLASSIFICATION], 0.5)
    with VisitorServer({Task.CLASSIFICATION: slow}, port=0) as server, Visitor(server.url) as visitor:
        assert visitor.connect()[0] == 200
        assert visitor.wait_for_frames(5)
        start, calls = visitor.count, slow.calls
        time.sleep(3)
        returned, inferred = visitor.count - start, slow.calls - calls
        # the video comes back near the camera's 30 fps, the model runs at most 2 a second on the newest frame
        assert returned > 3 * inferred + 10, (returned, inferred)
        figures = visitor.messages[-1]
        assert figures["result_age_ms"]["classification"]["p95"] < 2000  # newest frame to the model: no backlog


def test_the_server_is_full_at_max_clients_and_a_place_frees_when_one_leaves(models):
    with VisitorServer(models, port=0, max_clients=1) as server:
        first = Visitor(server.url)
        assert first.connect()[0] == 200
        with Visitor(server.url) as second:
            status, answer = second.connect()
            assert status == 503 and "all 1 places are taken" in answer["error"]
        first.close()
        assert wait_until(lambda: server.peers.count == 0)
        with Visitor(server.url) as third:
            assert third.connect()[0] == 200 and third.wait_for_frames(3)


def test_the_token_is_asked_for_on_the_page_and_the_offer(models):
    with VisitorServer(models, port=0, token="s3cret") as server:
        base = server.url.split("?")[0]
        assert server.url.endswith("?token=s3cret")
        assert _get(base) == 401 and _get(base + "?token=s3cre") == 403 and _get(server.url) == 200
        assert post_json(base + "offer", {"sdp": "x", "type": "offer"})[0] == 401
        assert post_json(base + "offer", {"sdp": "x", "type": "offer"}, {"Authorization": "Bearer nope"})[0] == 403
        with Visitor(server.url, token="wrong") as refused:
            assert refused.connect()[0] == 403
        assert server.peers.count == 0
        with Visitor(server.url, token="s3cret") as visitor:
            assert visitor.connect()[0] == 200 and visitor.wait_for_frames(3)


def test_bad_offers_get_a_message(models):
    with VisitorServer(models, port=0) as server:
        base = server.url
        assert post_json(base + "offer", {"type": "answer", "sdp": ""}) == \
            (400, {"error": 'expected a JSON object {"sdp": ..., "type": "offer"}'})
        status, body = post_json(base + "offer", {"type": "offer", "sdp": "v=0 nonsense"})
        assert status == 400 and body["error"]
        with Visitor(server.url, tasks=["nope"]) as visitor:
            status, body = visitor.connect()
            assert status == 400 and "unknown task" in body["error"]
        assert wait_until(lambda: server.peers.count == 0)


def test_push_source_keeps_the_newest_frame_only():
    source = PushSource("camera")
    for n in range(5):
        source.push(grey_frame(n), time_s=n / 30)
    frames = source.frames()
    first = next(frames)
    assert first.index == 4 and first.timestamp_s == pytest.approx(4 / 30) and source.overtaken == 4
    stop = threading.Event()
    threading.Timer(0.3, stop.set).start()
    assert source.next_frame(stop) is None  # a frame read is not read again: the reader waits for a new one
    reader = source.reader()
    source.push(grey_frame(5), time_s=5 / 30)
    assert source.overtaken == 4  # the frame read was not overtaken
    assert next(reader.frames()).index == 5
    reader.close()  # a reader's close leaves the source open
    source.push(grey_frame(6), time_s=6 / 30)
    assert next(frames).index == 6
    source.close()
    assert next(frames, None) is None


def test_view_track_sends_the_newest_view():
    import asyncio

    from livevision.webrtc.frames import ViewTrack

    async def sent() -> list[int]:
        track = ViewTrack(asyncio.get_running_loop())
        values = []
        for batch in ((10, 20, 30), (40,), (50, 60)):
            for value in batch:
                track.publish(np.full((16, 16, 3), value, np.uint8), value / 100)
            frame = await track.recv()
            values.append(int(round(frame.to_ndarray(format="bgr24").mean())))
        assert track.overtaken == 3 and track.sent == 3
        track.stop()
        return values

    assert asyncio.run(sent()) == [30, 40, 60]


def test_the_web_view_is_served_over_webrtc_beside_mjpeg():
    with WebViewSink(port=0) as web:
        assert web.webrtc is not None
        view = np.zeros((96, 128, 3), np.uint8)
        view[:, :, 2] = 200
        stop = threading.Event()

        def write() -> None:
            while not stop.is_set():
                web.write_view(view, 0)
                time.sleep(1 / 30)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            with Visitor(web.url, camera=False) as viewer:
                status, answer = viewer.connect()
                assert status == 200, answer
                assert viewer.wait_for_frames(10)
                received = viewer.returned[-1][1]
                assert received.shape == view.shape and abs(float(received[:, :, 2].mean()) - 200) < 10
            assert wait_until(lambda: web.webrtc.peers.count == 0)
            assert _get(web.url + "frame.jpg") == 200  # MJPEG and its frame kept beside
        finally:
            stop.set()
            writer.join()


def test_what_a_page_sends_over_the_data_channel_cannot_break_its_connection(models):
    with VisitorServer(models, port=0) as server, Visitor(server.url) as visitor:
        assert visitor.connect()[0] == 200 and visitor.wait_for_frames(5)
        for junk in ("[" * 70000, '{"tasks": 5}', '{"tasks": true}', '{"tasks": [1, 2]}', "not json", '"text"'):
            visitor._loop.soon(visitor.channel.send, junk)
        visitor.send({"tasks": ["classification"]})
        assert wait_until(lambda: any(m.get("tasks") == ["classification"] and "frames_in" in m
                                      for m in visitor.messages))
        count = visitor.count
        assert wait_until(lambda: visitor.count > count + 10) and server.peers.count == 1


def test_offers_that_carry_other_media_are_refused(models):
    with VisitorServer(models, port=0) as server:
        sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=sendrecv\r\n"
        for extra in ("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "m=video 9 UDP/TLS/RTP/SAVPF 96\r\n"):
            status, body = post_json(server.url + "offer", {"type": "offer", "sdp": sdp + extra})
            assert status == 400 and "one video" in body["error"]
    with WebViewSink(port=0) as web:  # a viewer receives and sends nothing
        status, body = post_json(web.url + "offer", {"type": "offer", "sdp": sdp})
        assert status == 400 and "receive one video and send nothing" in body["error"]


def test_offers_must_be_json_and_loopback_answers_to_its_own_names_only(models):
    with VisitorServer(models, port=0) as server:
        request = urllib.request.Request(server.url + "offer", b'{"type": "offer"}', {"Content-Type": "text/plain"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 415
        rebound = urllib.request.Request(server.url, headers={"Host": f"attacker.example:{server.server.port}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(rebound, timeout=10)
        assert refused.value.code == 403
        assert _get(server.url.replace("localhost", "127.0.0.1")) == 200


class FailsOnSmallFrames:
    """A model that fails on frames narrower than 400 pixels, else is `model`."""

    def __init__(self, model):
        self.model = model

    def __call__(self, image):
        if image.shape[1] < 400:
            raise RuntimeError("this frame is too small for me")
        return self.model(image)


def test_a_model_error_stops_that_visitor_only(models):
    from webrtc_client import FakeCamera

    model = FailsOnSmallFrames(models[Task.CLASSIFICATION])
    with VisitorServer({Task.CLASSIFICATION: model}, port=0) as server, \
            Visitor(server.url, camera=FakeCamera(lambda n: grey_frame(n, (320, 240)))) as failing, \
            Visitor(server.url, camera=FakeCamera(lambda n: grey_frame(n, (640, 480)))) as fine:
        assert failing.connect()[0] == 200 and fine.connect()[0] == 200
        assert wait_until(lambda: any("too small for me" in (m.get("error") or "") for m in failing.messages))
        count = fine.count
        assert wait_until(lambda: fine.count > count + 30), "the other visitor's video stopped"
        assert fine.messages[-1]["error"] is None and fine.messages[-1]["inference_ms"]["classification"]["p50"] > 0


def test_a_browser_that_never_connects_is_dropped(monkeypatch):
    import livevision.webrtc.peers as peers

    monkeypatch.setattr(peers, "CONNECT_TIMEOUT_S", 1.0)
    with WebViewSink(port=0) as web:
        viewer = Visitor(web.url, camera=False)
        offer = viewer._loop.run(viewer._offer(), 30)
        status, _ = post_json(web.url + "offer", offer)  # answered, but the answer is never used
        assert status == 200 and web.webrtc.peers.count == 1
        assert wait_until(lambda: web.webrtc.peers.count == 0, timeout=15)
        viewer.close()


def test_closing_the_server_with_visitors_connected_ends_everything(models):
    before = {t.name for t in threading.enumerate()}
    server = VisitorServer(models, port=0)
    visitors = [Visitor(server.url) for _ in range(2)]
    try:
        for visitor in visitors:
            assert visitor.connect()[0] == 200 and visitor.wait_for_frames(3)
        server.close()
        assert server.peers.count == 0
        with pytest.raises(urllib.error.URLError):  # the page is closed: refused
            post_json(server.url + "offer", {"type": "offer", "sdp": "x"})
    finally:
        for visitor in visitors:
            visitor.close()
    assert wait_until(lambda: {t.name for t in threading.enumerate()} <= before), \
        {t.name for t in threading.enumerate()} - before
