"""The HTTP server behind livevision's pages (the web view of `run --serve`, `livevision serve`): routes by
method and path, one access token for all of them, optional TLS, each request on its own thread.

    server = WebServer("127.0.0.1", 0, token=None)
    server.route("GET", "/", lambda request: request.send(200, "text/plain", b"hello"))
    print(server.url)
    ...
    server.close()

Access: with a `token`, every route asks for it, as ``?token=...`` in the URL or an ``Authorization: Bearer
...`` header: none gives 401, a wrong one 403, compared in constant time.
"""

from __future__ import annotations

import hmac
import http.server
import json
import logging
import socket
import socketserver
import ssl
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Callable

from ..errors import UsageError
from ..sinks.errors import OutputPathError
from .addresses import is_loopback, network_addresses

logger = logging.getLogger(__name__)

MAX_BODY = 64 << 10  # a POST body larger than this (an SDP offer is a few KB) is refused
REQUEST_TIMEOUT_S = 30  # a client silent this long mid-request (or mid-handshake) is dropped


@dataclass
class Request:
    """One request as a route sees it: `send` answers it; `handler.wfile` streams (MJPEG)."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: bytes
    handler: http.server.BaseHTTPRequestHandler

    def send(self, status: int, kind: str, body: bytes, headers: dict | None = None) -> None:
        h = self.handler
        h.send_response(status)
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.send_header("Content-Type", kind)
        h.send_header("Content-Length", str(len(body)))
        h.send_header("Cache-Control", "no-store")
        h.end_headers()
        h.wfile.write(body)

    def send_json(self, status: int, value) -> None:
        self.send(status, "application/json", json.dumps(value).encode())

    def json(self) -> dict | None:
        """The body as a JSON object, or None when it is not one."""
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            return None
        return value if isinstance(value, dict) else None


Route = Callable[[Request], None]


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    web: "WebServer"

    def handle_error(self, request, client_address) -> None:
        # a browser refusing the made-up certificate, plain http on the https port, a client gone: one line
        logger.debug("web: request from %s failed", client_address[0], exc_info=True)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    timeout = REQUEST_TIMEOUT_S

    def do_GET(self) -> None:  # noqa: N802 -- the http.server API
        self._dispatch("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._dispatch("POST")

    def _read_body(self, request: Request) -> bool:
        """A POST's JSON body into request.body (after the token check); else answers 413 / 415."""
        try:
            length = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            request.send(413, "text/plain", b"request body too large\n")
            return False
        # JSON only: another site's page can POST a form or text without asking (no CORS preflight), not JSON
        if self.headers.get_content_type() != "application/json":
            request.send(415, "text/plain", b"send application/json\n")
            return False
        request.body = self.rfile.read(length)
        return True

    def _dispatch(self, method: str) -> None:
        url = urllib.parse.urlsplit(self.path)
        request = Request(method, url.path, urllib.parse.parse_qs(url.query), b"", self)
        web = self.server.web
        if not (self._right_host(request, web) and self._allowed(request, web.token)):
            return
        if method == "POST" and not self._read_body(request):
            return
        route = web.routes.get((method, url.path))
        if route is None:
            known = any(path == url.path for _, path in web.routes)
            request.send(405 if known else 404, "text/plain", b"method not allowed\n" if known else b"not found\n")
            return
        try:
            route(request)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away
        except Exception as exc:  # a bug: the client gets a 500 and the log its trace, the server goes on
            logger.exception("web: %s %s", method, url.path)
            try:
                request.send(500, "text/plain", f"internal error: {type(exc).__name__}\n".encode())
            except OSError:
                pass

    def _right_host(self, request: Request, web: "WebServer") -> bool:
        """Without a token on loopback, only this machine's names: another site's page that renames itself
        to 127.0.0.1 (DNS rebinding) would otherwise read the view. 403 for any other Host."""
        if web.token is not None or not is_loopback(web.host):
            return True
        host = urllib.parse.urlsplit("//" + self.headers.get("Host", "")).hostname or ""
        if is_loopback(host):
            return True
        request.send(403, "text/plain", b"this page answers to localhost only\n")
        return False

    def _allowed(self, request: Request, token: str | None) -> bool:
        """True when no token is needed or the right one came; else answers 401 / 403."""
        if token is None:
            return True
        given = request.query.get("token", [None])[0]
        scheme, _, credentials = self.headers.get("Authorization", "").strip().partition(" ")
        if given is None and scheme.lower() == "bearer":  # auth schemes are case-insensitive (RFC 9110)
            given = credentials.strip()
        if given is None:
            request.send(401, "text/plain", b"this page needs its token: open the URL livevision printed\n",
                         {"WWW-Authenticate": 'Bearer realm="livevision"'})
            return False
        if not hmac.compare_digest(given.encode(), token.encode()):
            request.send(403, "text/plain", b"wrong token\n")
            return False
        return True

    def log_message(self, format: str, *args) -> None:  # noqa: A002 -- http.server's signature
        logger.debug("web: " + format, *args)


class WebServer:
    """Serves its routes at http(s)://host:port/ (port 0: a free port, see `url`) on its own threads."""

    def __init__(self, host: str = "127.0.0.1", port: int = 8080, *, token: str | None = None,
                 tls: ssl.SSLContext | None = None, option: str = "--serve", what: str = "the web view"):
        if token is not None and not token.strip():
            raise UsageError(f"{option}-token: an empty token would let anyone in")
        self.token, self.tls = token, tls
        self.routes: dict[tuple[str, str], Route] = {}
        try:
            self._server = (_Server6 if ":" in host else _Server)((host, port), _Handler)
        except OSError as e:
            raise OutputPathError(f"cannot serve {what} on {host}:{port}: {e.strerror or e}") from None
        if tls is not None:  # the handshake on the request's thread, not in accept()
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True,
                                                  do_handshake_on_connect=False)
        self._server.web = self
        self.host, self.port = host, self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="livevision-web", daemon=True)
        self._thread.start()

    def route(self, method: str, path: str, handler: Route) -> None:
        self.routes[(method, path)] = handler

    @property
    def url(self) -> str:
        """Where to point a browser on this machine, with the token when there is one (`urls`: from
        other machines)."""
        shown = {"127.0.0.1": "localhost", "0.0.0.0": "localhost", "::1": "[::1]", "::": "[::1]"}.get(self.host)
        return self._url(shown or self.host)

    @property
    def urls(self) -> list[str]:
        """Where browsers can open the pages: for 0.0.0.0 / :: the machine's network addresses (IPv4 ones
        too where the IPv6 socket takes IPv4), then this machine's `url`; for another host, `url`."""
        if self.host not in ("0.0.0.0", "::"):
            return [self.url]
        ipv4 = self.host == "0.0.0.0" or not self._server.socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
        return [*(self._url(a) for a in network_addresses(ipv4=ipv4, ipv6=self.host == "::")), self.url]

    def _url(self, host: str) -> str:
        host = f"[{host}]" if ":" in host and not host.startswith("[") else host
        query = f"?token={urllib.parse.quote(self.token)}" if self.token else ""
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}/{query}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


__all__ = ["Request", "WebServer"]
