"""The web view: the annotated view as MJPEG over HTTP (`--serve`), for machines without a display."""

from __future__ import annotations

import ipaddress
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from fractions import Fraction

import cv2
import numpy as np
import pytest
from media import make_source

from livevision.errors import UsageError
from livevision.sinks.errors import OutputPathError
from livevision.sinks.web import BOUNDARY, WebViewSink, parse_address

pytestmark = pytest.mark.timeout(120)


def _frame(value: int) -> np.ndarray:
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:, :, 1] = value
    return frame


def _get(url: str | urllib.request.Request) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.headers["Content-Type"], r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read()


def test_page_latest_frame_and_not_found():
    with WebViewSink(port=0) as web:
        assert web.url == f"http://localhost:{web.port}/"
        status, kind, body = _get(web.url + "mjpeg")
        assert status == 200 and kind.startswith("text/html") and b'src="/stream.mjpg"' in body
        status, kind, body = _get(web.url)  # the WebRTC page where aiortc is installed, else the same
        assert status == 200 and kind.startswith("text/html") and b"/stream.mjpg" in body
        assert _get(web.url + "frame.jpg")[0] == 503  # nothing written yet
        web.write_view(_frame(200), 0)
        status, kind, body = _get(web.url + "frame.jpg")
        assert status == 200 and kind == "image/jpeg"
        decoded = cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR)
        assert decoded.shape == (48, 64, 3) and abs(int(decoded[..., 1].mean()) - 200) <= 3
        assert _get(web.url + "nope")[0] == 404


def _parts(response):
    """The JPEG frames of a multipart MJPEG response, decoded, as they arrive."""
    while line := response.readline():
        if line.strip() == f"--{BOUNDARY}".encode():
            headers = {}
            while header := response.readline().strip():
                name, _, value = header.decode().partition(":")
                headers[name.lower()] = value.strip()
            jpeg = response.read(int(headers["content-length"]))
            yield cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)


def test_stream_sends_each_new_frame_and_ends_when_the_sink_closes():
    web = WebViewSink(port=0)
    got: list[np.ndarray] = []
    connected, ended = threading.Event(), threading.Event()

    def client():
        with urllib.request.urlopen(web.url + "stream.mjpg", timeout=30) as response:
            assert response.headers["Content-Type"] == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
            connected.set()
            for frame in _parts(response):  # reads on until the server ends the response
                got.append(frame)
        ended.set()

    threading.Thread(target=client, daemon=True).start()
    assert connected.wait(10)
    values = (50, 150, 250)
    for k, value in enumerate(values, start=1):
        web.write_view(_frame(value), 0)
        deadline = time.monotonic() + 10
        while len(got) < k and time.monotonic() < deadline:  # the client has it before the next write
            time.sleep(0.01)
    web.close()  # a connected client must not keep it open
    assert ended.wait(10)
    assert [round(float(f[..., 1].mean()) / 10) * 10 for f in got] == list(values)


def test_ipv6_loopback():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        web = WebViewSink("::1", 0)
    except OutputPathError:
        pytest.skip("IPv6 loopback not available here")
    with web:
        assert web.url == f"http://[::1]:{web.port}/"
        assert _get(web.url)[0] == 200


def test_a_port_in_use_is_one_clear_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OutputPathError, match=f"cannot serve the web view on 127.0.0.1:{port}") as info:
            WebViewSink(port=port)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("text, expected", [
    ("8080", ("127.0.0.1", 8080)), (":8080", ("127.0.0.1", 8080)), ("0.0.0.0:80", ("0.0.0.0", 80)),
    ("[::1]:9000", ("::1", 9000)), ("localhost:0", ("localhost", 0)),
])
def test_parse_address(text, expected):
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["http", "host:", "70000", "a:b"])
def test_bad_addresses_are_usage_errors(text):
    with pytest.raises(UsageError, match="--serve"):
        parse_address(text)


def test_run_serves_the_view(tiny_model, model_cache, tmp_path):
    clip = make_source(tmp_path / "clip.mp4", 40, Fraction(25), None, size_wh=(64, 48))
    run = subprocess.Popen(
        [sys.executable, "-m", "livevision", "run", "--task", "depth", "--model", str(tiny_model("depth_anything")),
         "--source", str(clip), "--no-display", "--pacing", "simulate-live", "--serve", "127.0.0.1:0",
         "--cache-dir", str(model_cache)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    try:
        url = None
        for line in run.stderr:
            if "web view at " in line:
                url = line.split("web view at ", 1)[1].strip()
                break
        assert url and url.startswith("http://localhost:")
        status = 503
        while status == 503 and run.poll() is None:  # until the first frame is shown
            status, kind, body = _get(url + "frame.jpg")
        assert status == 200 and kind == "image/jpeg"
        assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape == (48, 64, 3)
        run.stderr.read()
        assert run.wait(timeout=60) == 0
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        run.stderr.close()


# ---- access: the token ----------------------------------------------------------------------------


def _at(url: str, path: str, token: str | None = None) -> str:
    """url's page `path`, with ?token= when given (url may carry a token already: it is replaced)."""
    base = url.split("?", 1)[0]
    return base + path + (f"?token={token}" if token is not None else "")


def test_every_page_asks_for_the_token():
    with WebViewSink(port=0, token="s3cret") as web:
        assert web.url == f"http://localhost:{web.port}/?token=s3cret"
        web.write_view(_frame(120), 0)
        for path in ("", "frame.jpg", "stream.mjpg"):
            try:
                urllib.request.urlopen(_at(web.url, path), timeout=10)
                raise AssertionError(f"/{path} answered without the token")
            except urllib.error.HTTPError as e:
                assert e.code == 401 and e.headers["WWW-Authenticate"].startswith("Bearer")
            assert _get(_at(web.url, path, "s3cre"))[0] == 403, path
            assert _get(_at(web.url, path, "S3CRET"))[0] == 403, path
        status, _, page = _get(_at(web.url, "mjpeg", "s3cret"))
        assert status == 200 and b'src="/stream.mjpg?token=s3cret"' in page
        status, kind, _ = _get(_at(web.url, "frame.jpg", "s3cret"))
        assert status == 200 and kind == "image/jpeg"
        bearer = urllib.request.Request(_at(web.url, "frame.jpg"), headers={"Authorization": "Bearer s3cret"})
        with urllib.request.urlopen(bearer, timeout=10) as r:
            assert r.status == 200
        with urllib.request.urlopen(_at(web.url, "stream.mjpg", "s3cret"), timeout=10) as r:
            assert next(_parts(r)).shape == (48, 64, 3)


def _status(url: str, headers: dict | None = None) -> int:
    return _get(urllib.request.Request(url, headers=headers or {}))[0]


def test_only_the_token_itself_opens_the_view():
    """A longer string that starts with the token, a wrong Bearer header: 403 on every page. A header
    with the right token opens them (the scheme's case does not matter), and a token in the URL is
    the one that counts when both come."""
    with WebViewSink(port=0, token="s3cret") as web:
        web.write_view(_frame(120), 0)
        for path in ("", "frame.jpg", "stream.mjpg"):
            for longer in ("s3cret0", "s3cretX", "s3cret%00", "s3cret%20", "s3cret%26x=1", "s3cret/"):
                assert _status(_at(web.url, path, longer)) == 403, (path, longer)
            for wrong in ("Bearer s3cre", "Bearer s3cret0", "Bearer S3CRET", "Bearer  x", "bearer s3cret0"):
                assert _status(_at(web.url, path), {"Authorization": wrong}) == 403, (path, wrong)
            # the right header beside a wrong token in the URL: the URL's wrong token counts
            assert _status(_at(web.url, path, "nope"), {"Authorization": "Bearer s3cret"}) == 403, path
        for right in ("Bearer s3cret", "bearer s3cret", "BEARER s3cret"):
            assert _status(_at(web.url, "frame.jpg"), {"Authorization": right}) == 200, right


def test_an_empty_token_is_refused():
    with pytest.raises(UsageError, match="empty token"):
        WebViewSink(port=0, token=" ")


def test_a_client_that_stops_reading_stalls_neither_the_run_nor_the_others():
    rng = np.random.default_rng(0)
    noisy = [rng.integers(0, 256, (480, 640, 3), dtype=np.uint8) for _ in range(4)]  # ~300 KB JPEGs
    with WebViewSink(port=0, token="t") as web:
        web.write_view(noisy[0], 0)
        stalled = socket.create_connection(("127.0.0.1", web.port), timeout=10)
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(b"GET /stream.mjpg?token=t HTTP/1.1\r\nHost: x\r\n\r\n")  # and never reads
        seen: list[float] = []
        with urllib.request.urlopen(_at(web.url, "stream.mjpg", "t"), timeout=10) as watching:
            parts = _parts(watching)
            for i in range(1, 40):  # far more than the stalled socket's buffers hold
                web.write_view(noisy[i % 4] // (1 + i % 3), 0)
                seen.append(float(next(parts).mean()))
        assert web.frames_written == 40 and len(seen) == 39
        stalled.close()


HOST_ADDRESSES = ["127.0.0.1", "192.168.1.5", "::1", "fe80::1%eth0", "2001:db8::5", "10.0.0.7", "192.168.1.5",
                  "0.0.0.0"]


def test_a_view_open_to_the_network_lists_the_addresses_other_machines_use(monkeypatch):
    monkeypatch.setattr("livevision.web.addresses._host_addresses", lambda: HOST_ADDRESSES)
    with WebViewSink("0.0.0.0", 0, token="t") as web:
        p = web.port
        assert web.urls == [f"http://192.168.1.5:{p}/?token=t", f"http://10.0.0.7:{p}/?token=t",
                            f"http://localhost:{p}/?token=t"]
    with WebViewSink("127.0.0.1", 0) as web:  # loopback, or a specific address: that one only
        assert web.urls == [f"http://localhost:{web.port}/"]
    with WebViewSink("localhost", 0) as web:
        assert web.urls == [f"http://localhost:{web.port}/"]
    if socket.has_ipv6:
        try:
            web = WebViewSink("::", 0)
        except OutputPathError:
            return  # no IPv6 here
        with web:
            p = web.port
            dual_stack = not web.server._server.socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
            ipv4 = [f"http://192.168.1.5:{p}/", f"http://10.0.0.7:{p}/"] if dual_stack else []
            assert web.urls == [*ipv4, f"http://[2001:db8::5]:{p}/", f"http://[::1]:{p}/"]


@pytest.mark.parametrize("psutil_installed", [True, False])
def test_the_listed_addresses_reach_the_view(monkeypatch, psutil_installed):
    """This machine's own addresses (every interface's with psutil, the resolved and routed ones without):
    none is loopback but the last, and each one serves the view."""
    from livevision.sinks.web import network_addresses

    try:
        import psutil  # noqa: F401
        every_interface = network_addresses()
    except ImportError:
        every_interface = None
    if psutil_installed and every_interface is None:
        pytest.skip("psutil is not installed")
    if not psutil_installed:
        monkeypatch.setitem(sys.modules, "psutil", None)  # import psutil fails
    with WebViewSink("0.0.0.0", 0, token="t") as web:
        web.write_view(_frame(120), 0)
        *network, local = web.urls
        assert local == web.url and len(network) == len(network_addresses())
        if every_interface is not None:  # without psutil, some of the addresses psutil finds, and only those
            assert set(network) <= {web.server._url(a) for a in every_interface}
            assert bool(network) == bool(every_interface)
        for url in network:
            host = urllib.parse.urlsplit(url).hostname
            assert not ipaddress.ip_address(host).is_loopback and ipaddress.ip_address(host).version == 4
            assert _get(_at(url, "frame.jpg", "t"))[0] == 200, url


def test_run_prints_the_network_addresses(tiny_model, model_cache, tmp_path, monkeypatch):
    from cli_runner import run_cli

    monkeypatch.setattr("livevision.web.addresses._host_addresses", lambda: HOST_ADDRESSES)
    clip = make_source(tmp_path / "clip.mp4", 2, Fraction(25), None, size_wh=(64, 48))
    done = run_cli("run", "--task", "depth", "--model", tiny_model("depth_anything"), "--source", clip,
                   "--no-display", "--serve", "0.0.0.0:0", "--serve-token", "t0k", "--cache-dir", model_cache,
                   "--precision", "fp32")
    assert done.returncode == 0, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "web view at " in line]
    urls = line.split("web view at ", 1)[1].split(", ")
    assert [urllib.parse.urlsplit(u).hostname for u in urls] == ["192.168.1.5", "10.0.0.7", "localhost"]
    assert all(u.endswith("/?token=t0k") for u in urls)


def test_is_loopback():
    from livevision.sinks.web import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.0.0.2")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("192.168.1.5")
    assert not is_loopback("myhost.local")


def test_a_token_is_made_up_off_loopback_and_none_warns(caplog):
    from livevision.outputs import web_view

    with web_view("127.0.0.1:0", None) as local:
        assert local.token is None
    with web_view("0.0.0.0:0", None) as shared:
        assert shared.token and len(shared.token) >= 20 and f"?token={shared.token}" in shared.url
        assert _get(_at(shared.url, "frame.jpg"))[0] == 401
    with web_view("0.0.0.0:0", "mine") as given:
        assert given.token == "mine"
    with caplog.at_level("WARNING", logger="livevision"):
        with web_view("0.0.0.0:0", "none") as open_view:
            assert open_view.token is None
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "without a token" in warnings[0]
