"""WebViewSink: the annotated view in a browser, as an MJPEG stream over HTTP (`livevision run --serve 8080`).

For machines without a display (a robot, a server reached over ssh) and for showing a demo on another
screen. Pages:

- ``/``: a page with the live view;
- ``/stream.mjpg``: ``multipart/x-mixed-replace`` JPEG frames, each as soon as it is written;
- ``/frame.jpg``: the latest frame, once (for scripts).

The server runs on its own threads; `write_view(view, index)` only swaps in the newest view. A frame is
JPEG-encoded on a client's thread when first asked for, and the encoding is shared with the other
clients, so nobody watching costs nothing and a slow client skips frames instead of slowing the run.
It listens on 127.0.0.1 unless given another host (``0.0.0.0`` for every interface; `urls` then lists the
machine's network addresses, for the other machines).

Access: with a `token`, every page asks for it, as ``?token=...`` in the URL (the page passes it on
to its stream) or an ``Authorization: Bearer ...`` header: none gives 401, a wrong one 403. It is
compared in constant time. `livevision run` makes one up for any address other than loopback
(`--serve-token` gives your own; `--serve-token none` serves without, with a warning): anyone who
can reach the port would otherwise see the camera.
"""

from __future__ import annotations

import hmac
import http.server
import ipaddress
import logging
import secrets
import socket
import socketserver
import threading
import urllib.parse

import cv2
import numpy as np

from ..errors import UsageError
from .base import Sink
from .errors import OutputPathError, SinkError

logger = logging.getLogger(__name__)

BOUNDARY = "livevision-frame"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>livevision</title>
<style>html,body{{margin:0;height:100%;background:#111}}img{{width:100%;height:100%;object-fit:contain}}</style>
</head><body><img src="/stream.mjpg{query}" alt="livevision live view"></body></html>
"""
WAIT_S = 0.5  # how often a waiting client checks whether the sink closed


def new_token() -> str:
    """A token for the web view: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(16)


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or a name) is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_addresses() -> list[str]:
    """This machine's addresses, loopback included: every interface's where psutil is installed, else
    those the host name resolves to and those the default routes leave from."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return [a.address for nic in psutil.net_if_addrs().values() for a in nic
                if a.family in (socket.AF_INET, socket.AF_INET6)]
    found = []
    try:
        found += [info[4][0] for info in socket.getaddrinfo(socket.gethostname(), None)]
    except OSError:
        pass
    # connect() on a UDP socket sends nothing: it only picks the route (to documentation addresses) and with
    # it the address this machine would send from.
    for family, probe in ((socket.AF_INET, "192.0.2.1"), (socket.AF_INET6, "2001:db8::1")):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as udp:
                udp.connect((probe, 9))
                found.append(udp.getsockname()[0])
        except OSError:
            pass
    return found


def network_addresses(ipv4: bool = True, ipv6: bool = False) -> list[str]:
    """The addresses other machines can reach this one at: no loopback, no IPv6 link-local (a browser
    needs its interface too); IPv4 first, each once."""
    kept: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for text in _host_addresses():
        try:
            address = ipaddress.ip_address(text.split("%", 1)[0])
        except ValueError:
            continue
        if address.is_loopback or address.is_unspecified or (address.is_link_local and address.version == 6):
            continue
        if (ipv4 if address.version == 4 else ipv6) and address not in kept:
            kept.append(address)
    return [str(a) for a in sorted(kept, key=lambda a: a.version)]


def parse_address(text: str, option: str = "--serve") -> tuple[str, int]:
    """"8080", ":8080", "0.0.0.0:8080" or "[::1]:8080" -> (host, port); host 127.0.0.1 when not given."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]") if sep else ""
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(f"{option} takes [HOST:]PORT, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise UsageError(f"{option}: port {port} is out of range (0-65535)")
    return host or "127.0.0.1", port


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    """The web view's pages (see the module docstring), for the WebViewSink its server serves."""

    @property
    def sink(self) -> WebViewSink:
        return self.server.sink

    def do_GET(self) -> None:  # noqa: N802 -- the http.server API
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if not self._allowed(urllib.parse.parse_qs(url.query).get("token", [None])[0]):
            return
        if path in ("/", "/index.html"):
            query = f"?token={urllib.parse.quote(self.sink.token)}" if self.sink.token else ""
            self._send(200, "text/html; charset=utf-8", PAGE.format(query=query).encode())
        elif path == "/frame.jpg":
            latest = self.sink._latest_jpeg(after=0, wait=False)
            if latest is None:
                self._send(503, "text/plain", b"no frame yet\n")
            else:
                self._send(200, "image/jpeg", latest[1])
        elif path == "/stream.mjpg":
            self._stream()
        else:
            self._send(404, "text/plain", b"not found\n")

    def _allowed(self, given: str | None) -> bool:
        """True when no token is needed or the right one came; else answers 401 / 403."""
        if self.sink.token is None:
            return True
        scheme, _, credentials = self.headers.get("Authorization", "").strip().partition(" ")
        if given is None and scheme.lower() == "bearer":  # auth schemes are case-insensitive (RFC 9110)
            given = credentials.strip()
        if given is None:
            self._send(401, "text/plain", b"this view needs its token: open the URL livevision printed\n",
                       {"WWW-Authenticate": 'Bearer realm="livevision"'})
            return False
        if not hmac.compare_digest(given.encode(), self.sink.token.encode()):
            self._send(403, "text/plain", b"wrong token\n")
            return False
        return True

    def _send(self, status: int, kind: str, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        seen = 0
        try:
            while True:
                latest = self.sink._latest_jpeg(after=seen)
                if latest is None:
                    return  # the sink closed
                seen, jpeg = latest
                self.wfile.write(f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                                 f"Content-Length: {len(jpeg)}\r\n\r\n".encode() + jpeg + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            return  # the browser went away

    def log_message(self, format: str, *args) -> None:  # noqa: A002 -- http.server's signature
        logger.debug("web view: " + format, *args)


class WebViewSink(Sink):
    """Serve written frames at http://host:port/ (port 0: a free port, see `url`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, *, quality: int = 80,
                 token: str | None = None) -> None:
        if token is not None and not token.strip():
            raise UsageError("--serve-token: an empty token would let anyone in")
        self.quality = int(quality)
        self.token = token
        self.frames_written = 0
        self._changed = threading.Condition()
        self._frame: np.ndarray | None = None
        self._seq = 0
        self._jpeg: tuple[int, bytes] | None = None  # (seq, bytes) of the last encoded frame
        try:
            self._server = (_Server6 if ":" in host else _Server)((host, port), _Handler)
        except OSError as e:
            raise OutputPathError(f"cannot serve the web view on {host}:{port}: {e.strerror or e}") from None
        self._server.sink = self
        self.host, self.port = host, self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="livevision-web", daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """Where to point a browser on this machine, with the token when there is one (`urls`: from
        other machines)."""
        shown = {"127.0.0.1": "localhost", "0.0.0.0": "localhost", "::1": "[::1]", "::": "[::1]"}.get(self.host)
        return self._url(shown or self.host)

    @property
    def urls(self) -> list[str]:
        """Where browsers can open the view: for 0.0.0.0 / :: the machine's network addresses (IPv4 ones
        too where the IPv6 socket takes IPv4), then this machine's `url`; for another host, `url`."""
        if self.host not in ("0.0.0.0", "::"):
            return [self.url]
        ipv4 = self.host == "0.0.0.0" or not self._server.socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
        return [*(self._url(a) for a in network_addresses(ipv4=ipv4, ipv6=self.host == "::")), self.url]

    def _url(self, host: str) -> str:
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        query = f"?token={urllib.parse.quote(self.token)}" if self.token else ""
        return f"http://{host}:{self.port}/{query}"

    def write_view(self, view: np.ndarray, index: int) -> None:
        """Make `view` (BGR uint8) the one clients get next; returns at once. (A live view: `index` is
        not needed.)"""
        if self._closed:
            raise SinkError("write to closed WebViewSink")
        with self._changed:
            self._frame, self._seq = view, self._seq + 1
            self._changed.notify_all()
        self.frames_written += 1

    def _latest_jpeg(self, after: int, wait: bool = True) -> tuple[int, bytes] | None:
        """(seq, JPEG) of the newest frame, once there is one newer than `after` (waiting for it, unless
        not `wait`); None when the sink closed, or without `wait` when there is none."""
        with self._changed:
            while self._seq <= after and not self._closed:
                if not wait:
                    return None
                self._changed.wait(WAIT_S)
            if self._closed or self._frame is None:
                return None
            if self._jpeg is not None and self._jpeg[0] == self._seq:
                return self._jpeg
            seq, frame = self._seq, self._frame
        # Encoded outside the lock, so write_view() (the main loop) never waits for an encoder.
        ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:  # pragma: no cover
            return None
        jpeg = (seq, encoded.tobytes())
        with self._changed:
            if self._jpeg is None or self._jpeg[0] < seq:
                self._jpeg = jpeg
        return jpeg

    def _close(self) -> None:
        with self._changed:
            self._changed.notify_all()  # streaming clients see `closed` and end their responses
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


__all__ = ["WebViewSink", "is_loopback", "network_addresses", "new_token", "parse_address"]
