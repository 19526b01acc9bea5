"""`livevision serve` as a user runs it: bad options get one line and a non-zero exit before any model loads;
the served page takes a visitor and Ctrl-C ends it cleanly; off loopback it is HTTPS with a token."""

from __future__ import annotations

import os
import re
import signal
import ssl
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

pytest.importorskip("aiortc")

from cli_runner import run_cli
from fakes import unused_port
from webrtc_client import Visitor

pytestmark = pytest.mark.timeout(240)


@pytest.mark.parametrize("args, message", [
    (["--listen", "nope"], "--listen takes [HOST:]PORT, got 'nope'"),
    (["--listen", "70000"], "--listen: port 70000 is out of range"),
    (["--max-clients", "0"], "--max-clients must be at least 1"),
    (["--keyfile", "key.pem"], "--keyfile goes with --certfile"),
    (["--ice-server", "http://example.org"], "--ice-server 'http://example.org': expected stun:"),
    (["--listen", "0.0.0.0:0", "--certfile", "missing.pem"], "--certfile missing.pem: cannot load the certificate"),
    (["--task", "nope"], "nope"),
    (["--token", " "], "--token: an empty token would let anyone in"),
])
def test_bad_options_are_one_line(args, message, tmp_path):
    done = run_cli("serve", "--model", tmp_path / "no-model-needed", *args, cwd=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def _start(tiny_model, model_cache, *args) -> tuple[subprocess.Popen, str, str]:
    """`livevision serve` on the tiny SegFormer in a process of its own, once it says where it serves: the
    process, the URL, what it said until then."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "livevision", "serve", "--task", "segmentation", "--model", str(tiny_model("segformer")),
         "--cache-dir", str(model_cache), "--precision", "fp32", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    said = []
    for line in proc.stderr:
        said.append(line)
        if found := re.search(r"open (\S+)", line):
            return proc, found.group(1), "".join(said)
    proc.wait(30)
    raise AssertionError("serve ended before serving: " + "".join(said))


def _stop(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode in (130, -signal.SIGINT), err
    assert "Traceback" not in err
    return err


def test_serve_takes_a_visitor_and_ctrl_c_ends_it(tiny_model, exported, model_cache):
    exported("segformer")
    port = unused_port()
    proc, url, _ = _start(tiny_model, model_cache, "--listen", str(port))
    try:
        assert url == f"http://localhost:{port}/"
        with urllib.request.urlopen(url, timeout=10) as page:
            html = page.read().decode()
        assert "segmentation" in html and "RTCPeerConnection" in html
        assert '"model": "segformer"' in html and str(tiny_model("segformer")) not in html  # no server path
        with Visitor(url) as visitor:
            assert visitor.connect()[0] == 200
            assert visitor.wait_for_frames(10)
    finally:
        err = _stop(proc)
    assert "a visitor joined (1 connected)" in err


def test_off_loopback_it_is_https_with_a_token(tiny_model, exported, model_cache):
    exported("segformer")
    port = unused_port()
    proc, url, said = _start(tiny_model, model_cache, "--listen", f"0.0.0.0:{port}")
    try:
        assert url.startswith("https://") and "?token=" in url
        local = f"https://127.0.0.1:{port}/"
        unverified = ssl._create_unverified_context()  # the certificate was made up at start
        with urllib.request.urlopen(local + "?" + url.split("?", 1)[1], timeout=10, context=unverified) as page:
            assert page.status == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(local, timeout=10, context=unverified)
        assert refused.value.code == 401
    finally:
        _stop(proc)
    assert "certificate made up now" in said and "SHA-256 fingerprint" in said


def test_without_aiortc_serve_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr("livevision.webrtc.available", lambda: False)
    done = run_cli("serve", cwd=tmp_path)
    assert done.returncode == 1 and done.stderr.strip() == \
        "livevision: error: WebRTC needs aiortc: pip install 'livevision[webrtc]'"
