"""The browser test harness on its own, without livevision's server: counter frames (livevision.testing.
counter_video) read back after JPEG, scaling, colour blends and livevision's own rendering; the Y4M
Chromium plays as its camera; the page-side reader against the Python one; and headless Chromium
(tests/browser.py) showing the fake camera in a page and carrying it over WebRTC, in one page and
between two browsers."""

from __future__ import annotations

import base64

import cv2
import numpy as np
import pytest
from browser import (chromium, grab_frame, latencies_ms, new_page, probe_frames, read_counter_in_page, serve_pages,
                     wait_for_video)

from livevision.render.palette import Palette
from livevision.testing import counter_video
from livevision.testing.counter_video import counter_frame, lag_frames, read_counter, write_y4m

PAGE = """<!doctype html><html><body>
<video id="local" autoplay muted playsinline></video>
<video id="returned" autoplay muted playsinline></video>
<canvas id="still"></canvas>
<script>
const local = document.getElementById("local"), returned = document.getElementById("returned");
let sender = null, receiver = null;
async function openCamera() {
  const stream = await navigator.mediaDevices.getUserMedia({video: true});
  local.srcObject = stream;
  await local.play();
  return stream;
}
// Offers and answers carry every candidate (no trickle), as aiortc's do. Without a network interface
// WebRTC will use, gathering never completes: fail then, not hang.
async function described(pc) {
  await pc.setLocalDescription();
  if (pc.iceGatheringState !== "complete") {
    await new Promise((done, fail) => {
      pc.addEventListener("icegatheringstatechange", () => pc.iceGatheringState === "complete" && done());
      setTimeout(() => fail(new Error("ICE gathering did not complete in 5 s: no usable interface")), 5000);
    });
  }
  return pc.localDescription.toJSON();
}
window.sendCamera = async () => {
  const stream = await openCamera();
  sender = new RTCPeerConnection();
  stream.getTracks().forEach((track) => sender.addTrack(track, stream));
  return described(sender);
};
window.receive = async (offer) => {
  receiver = new RTCPeerConnection();
  receiver.ontrack = (event) => { returned.srcObject = event.streams[0]; };
  await receiver.setRemoteDescription(offer);
  return described(receiver);
};
window.accept = (answer) => sender.setRemoteDescription(answer);
window.loopback = async () => window.accept(await window.receive(await window.sendCamera()));
window.showStill = (dataUrl) => new Promise((done) => {
  const image = new Image();
  image.onload = () => {
    const canvas = document.getElementById("still");
    canvas.width = image.width; canvas.height = image.height;
    canvas.getContext("2d").drawImage(image, 0, 0);
    done(window.livevisionReadCounter(canvas));
  };
  image.src = dataUrl;
});
</script></body></html>"""


def _blend_with_a_colour_mask(image: np.ndarray, rng: np.random.Generator, alpha: float = 0.5) -> np.ndarray:
    """image blended at alpha with blocks of segmentation colours (the palette's), as an overlay is."""
    colours = Palette.default().colors(rng.integers(0, 150, 48)).reshape(6, 8, 3)
    mask = cv2.resize(colours, image.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    return cv2.addWeighted(image, 1.0 - alpha, mask, alpha, 0.0)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_COLOR)


def test_counter_reads_back_through_jpeg_half_size_and_a_colour_blend():
    rng = np.random.default_rng(7)
    for index in [0, 1, 2, 1000, 2047, 4095, *rng.integers(0, 4096, 20).tolist()]:
        frame = counter_frame(index)
        assert read_counter(frame) == index
        half = cv2.resize(_jpeg(frame, 30), (320, 240), interpolation=cv2.INTER_AREA)
        assert read_counter(_blend_with_a_colour_mask(half, rng)) == index
        assert read_counter(cv2.resize(frame, (960, 720))) == index


def _with_column_swapped(frame: np.ndarray, column: int) -> np.ndarray:
    """frame with one column's two cells exchanged: that one bit flipped."""
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = counter_video._code_box(width, height)
    edges = np.round(np.linspace(x0, x1, counter_video.COLUMNS + 1)).astype(int)
    middle = round((y0 + y1) / 2)
    out = frame.copy()
    cells = out[y0:y1, edges[column] : edges[column + 1]]
    cells[:] = np.concatenate([cells[middle - y0 :], cells[: middle - y0]])
    return out


def test_read_counter_is_none_without_a_valid_code():
    frame = counter_frame(1234)
    height, width = frame.shape[:2]
    x0, y0, x1, y1 = counter_video._code_box(width, height)
    erased = frame.copy()
    erased[y0:y1, x0:x1] = 128
    noise = np.random.default_rng(0).integers(0, 256, frame.shape, np.uint8)
    for name, image in [("code erased", erased), ("grey", np.full_like(frame, 128)), ("noise", noise),
                        ("mirrored", cv2.flip(frame, 1)), ("too small", frame[:40, :60])]:
        assert read_counter(image) is None, name
    for column in range(counter_video.COLUMNS):  # any one bit flipped: the CRC or a fixed end fails
        assert read_counter(_with_column_swapped(frame, column)) is None, column
    for index in range(counter_video.MAX_COUNT):  # no code mirrored or upside down reads as another
        bits = counter_video.code_bits(index)
        assert counter_video._decode(bits[::-1]) is None and counter_video._decode([1 - b for b in bits]) is None
    code_mirrored = frame.copy()
    code_mirrored[y0:y1, x0:x1] = frame[y0:y1, x0:x1][:, ::-1]
    assert read_counter(code_mirrored) is None
    with pytest.raises(ValueError, match="BGR"):
        read_counter(np.zeros((480, 640, 2), np.uint8))


def test_counter_frame_and_write_y4m_reject_what_they_cannot_code(tmp_path):
    for index in (-1, counter_video.MAX_COUNT):
        with pytest.raises(ValueError, match="0..4095"):
            counter_frame(index)
    with pytest.raises(ValueError, match="even"):
        write_y4m(tmp_path / "odd.y4m", 2, (641, 480))
    with pytest.raises(ValueError, match="1..4096"):
        write_y4m(tmp_path / "none.y4m", 0)
    assert lag_frames(local=2, remote=148, count=150) == 4


def test_write_y4m_holds_the_counter_frames_as_chromium_reads_them(tmp_path):
    path = write_y4m(tmp_path / "camera.y4m", 12, (320, 240), fps=15)
    header, _, body = path.read_bytes().partition(b"\n")
    assert header.split() == [b"YUV4MPEG2", b"W320", b"H240", b"F15:1", b"Ip", b"A1:1", b"C420jpeg"]
    frame_bytes = 320 * 240 * 3 // 2
    chunks = body.split(b"FRAME\n")
    assert chunks[0] == b"" and [len(c) for c in chunks[1:]] == [frame_bytes] * 12
    for index, chunk in enumerate(chunks[1:]):
        i420 = np.frombuffer(chunk, np.uint8).reshape(240 * 3 // 2, 320)
        assert read_counter(cv2.cvtColor(i420, cv2.COLOR_YUV2BGR_I420)) == index


@pytest.mark.needs_torch
@pytest.mark.parametrize("size_wh", [(640, 480), (320, 240)])
def test_counter_reads_through_livevision_overlays_and_hud(size_wh, tiny_model, model_cache):
    """Segmentation colours at alpha 0.5 with their legend, the top-k panel and a five-line HUD, from
    tiny models' real results: none covers the code (at 320x240 the legend and HUD nearly meet it)."""
    from livevision.app import Renderer
    from livevision.options import ViewMode
    from livevision.predictor import load_model
    from livevision.stream import Packet
    from livevision.types import Frame, Task, TaskOutput

    models = {Task.SEGMENTATION: load_model(tiny_model("segformer"), "segmentation", cache_dir=model_cache),
              Task.CLASSIFICATION: load_model(tiny_model("resnet"), "classification", cache_dir=model_cache)}
    renderer = Renderer(tuple(models), ViewMode.OVERLAY)
    hud = ["capture 30.0 fps", "segmentation 25.1 fps", "classification 30.0 fps", "age 120 ms", "webrtc 1.2 Mbit/s"]
    for index in range(0, 4096, 455):
        image = counter_frame(index, size_wh)
        outputs = {task: TaskOutput(model(image), index, 0.0, 0.0, 0.01) for task, model in models.items()}
        packet = Packet(Frame(image, index=index, timestamp_s=0.0, captured_at=0.0), outputs)
        shown = renderer.draw_hud(renderer.render(packet), hud)
        assert np.abs(shown.astype(int) - image).mean() > 20  # the overlay is there
        assert read_counter(shown) == index


def _data_url(image: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(cv2.imencode(".png", image)[1].tobytes()).decode()


@pytest.mark.browser
def test_page_reader_agrees_with_read_counter(fake_camera):
    """livevisionReadCounter on a canvas holding the same pixels as read_counter sees, the codes and the
    frames without one (None in Python, null in the page) alike."""
    rng = np.random.default_rng(3)
    frame = counter_frame(3001)
    stills = [frame, cv2.resize(frame, (1280, 960)), _with_column_swapped(frame, 9), cv2.flip(frame, 1),
              np.full_like(frame, 128)]
    stills += [_blend_with_a_colour_mask(cv2.resize(_jpeg(counter_frame(i), 30), (320, 240)), rng)
               for i in rng.integers(0, 4096, 4)]
    with serve_pages({"index.html": PAGE}) as url, chromium(fake_camera) as (browser,):
        page = new_page(browser)
        page.goto(url + "index.html")
        in_page = [page.evaluate("(u) => window.showStill(u)", _data_url(image)) for image in stills]
    in_python = [read_counter(image) for image in stills]
    assert in_page == in_python
    assert in_python[:5] == [3001, 3001, None, None, None] and None not in in_python[5:]


def _steps(counters: list[int], count: int) -> list[int]:
    return [(b - a) % count for a, b in zip(counters, counters[1:])]


@pytest.mark.browser
def test_fake_camera_plays_the_counter_frames_in_a_page(fake_camera):
    with serve_pages({"index.html": PAGE}) as url, chromium(fake_camera) as (browser,):
        page = new_page(browser)
        page.goto(url + "index.html")
        page.evaluate("openCamera().then(() => null)")
        wait_for_video(page, "#local")
        records = probe_frames(page, "#local", seconds=1.5)
        page.evaluate("document.getElementById('local').pause()")  # a still frame to grab and read twice
        image, counter = grab_frame(page, "#local")
        assert read_counter_in_page(page, "#local") == counter
        assert page.errors == []
    counters = [r["remote"] for r in records]
    assert None not in counters and len(set(counters)) >= 10, counters
    assert max(_steps(counters, fake_camera.count)) < fake_camera.count // 2, counters  # always onwards
    assert image.shape == (480, 640, 3)
    assert counter is not None and read_counter(image) == counter


@pytest.mark.browser
def test_webrtc_loopback_in_one_page_returns_the_camera_frames(fake_camera, record_property):
    """The camera over two RTCPeerConnections of one page (VP8, loopback): the returned frames read,
    in order, and never newer than the camera's newest frame shown beside them."""
    with serve_pages({"index.html": PAGE}) as url, chromium(fake_camera) as (browser,):
        page = new_page(browser)
        page.goto(url + "index.html")
        page.evaluate("window.loopback()")
        wait_for_video(page, "#returned")
        records = probe_frames(page, "#returned", "#local", seconds=2.0)
        assert page.errors == []
    read = [r for r in records if r["remote"] is not None]
    assert len(records) >= 10 and len(read) >= 0.9 * len(records), records
    assert max(_steps([r["remote"] for r in read], fake_camera.count)) < fake_camera.count // 2
    lags = latencies_ms(read, fake_camera)
    assert len(lags) == len(read) and max(lags) < 1000.0 * fake_camera.count / fake_camera.fps / 2
    record_property("loopback_latency_ms_median", float(np.median(lags)))


@pytest.mark.browser
def test_two_browsers_at_once_send_the_camera_over_webrtc(fake_camera):
    """One Chromium sends its camera, a second (another process, another profile) shows it; Python
    carries the offer and answer, as a signalling server would."""
    with serve_pages({"index.html": PAGE}) as url, chromium(fake_camera, count=2) as (sending, receiving):
        sender, receiver = new_page(sending), new_page(receiving)
        sender.goto(url + "index.html")
        receiver.goto(url + "index.html")
        offer = sender.evaluate("window.sendCamera()")
        sender.evaluate("(answer) => window.accept(answer)", receiver.evaluate("(o) => window.receive(o)", offer))
        wait_for_video(receiver, "#returned")
        records = probe_frames(receiver, "#returned", seconds=1.5)
        assert sender.errors == [] and receiver.errors == []
    counters = [r["remote"] for r in records if r["remote"] is not None]
    assert len(counters) >= 0.9 * len(records) and len(set(counters)) >= 10, records
    assert max(_steps(counters, fake_camera.count)) < fake_camera.count // 2
