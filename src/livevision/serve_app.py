"""`livevision serve`: a page where visitors allow their own webcam; their frames come over WebRTC, through
the tasks they pick among the server's, and the annotated video goes back to them (livevision.webrtc).

For demos on a machine with no camera of its own: a GPU server, a lab workstation, a notebook in the
cloud. Loopback by default; on another address, the page asks for a token, and is served over HTTPS (a
browser gives its camera to no other page): the user's certificate, or one made up at start.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from . import interrupts
from .errors import UsageError

log = logging.getLogger("livevision")

DEFAULT_LISTEN = "127.0.0.1:8080"


def add_serve_parser(commands, add_task_and_models, add_model_arguments) -> argparse.ArgumentParser:
    serve = commands.add_parser(
        "serve", help="serve a page where visitors run the models on their own webcam (WebRTC)",
        description="Serve a page where visitors allow their webcam: their frames come over WebRTC, run through "
        "the tasks they pick among --task, and the annotated video goes back to them. Models load once, "
        "shared by every visitor; a slow model lowers the rate of results, never that of the video. Needs "
        "pip install 'livevision[webrtc]'.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
        "  livevision serve --task segmentation                      # http://localhost:8080/\n"
        "  livevision serve --task depth --task classification --listen 0.0.0.0:8443   # https, with a token\n")
    add_task_and_models(serve)
    net = serve.add_argument_group("serving")
    net.add_argument("--listen", default=DEFAULT_LISTEN, metavar="[HOST:]PORT",
                     help=f"where to serve the page (default {DEFAULT_LISTEN}: this machine only; 0.0.0.0:PORT "
                     "for every interface, then with a token and HTTPS)")
    net.add_argument("--token", metavar="TOKEN",
                     help="what the page asks for (?token= in the URL); made up for any address but loopback; "
                     "'none': serve without (a warning off loopback)")
    net.add_argument("--max-clients", type=int, default=4, metavar="N",
                     help="visitors at once (default 4); the next one is told the server is full")
    net.add_argument("--certfile", type=Path, help="HTTPS certificate (PEM; the key in it or in --keyfile); "
                     "default off loopback: one made up at start, which browsers accept after a warning")
    net.add_argument("--keyfile", type=Path, help="the private key of --certfile, if not in it")
    net.add_argument("--ice-server", action="append", default=[], metavar="URL",
                     help="STUN or TURN server for visitors behind NAT (stun:host:3478; repeatable); default "
                     "none: host candidates, enough on a LAN or loopback")
    net.add_argument("--no-hud", action="store_true", help="no telemetry overlay on the returned video")
    add_model_arguments(serve)
    return serve


def cmd_serve(args: argparse.Namespace, model_options) -> int:
    """The command: options checked, models loaded (once), then served until Ctrl-C."""
    from .stream import parse_tasks
    from .web.addresses import access_token, is_loopback, parse_address
    from .webrtc import require_aiortc

    require_aiortc()
    tasks = parse_tasks(",".join(args.task or ["depth"]))
    host, port = parse_address(args.listen, "--listen")
    if args.max_clients < 1:
        raise UsageError("--max-clients must be at least 1")
    if args.keyfile and not args.certfile:
        raise UsageError("--keyfile goes with --certfile")
    for url in args.ice_server:
        if url.split(":", 1)[0] not in ("stun", "stuns", "turn", "turns"):
            raise UsageError(f"--ice-server {url!r}: expected stun:HOST[:PORT] or turn:HOST[:PORT]")
    token = access_token(host, port, args.token, "--token")
    tls = _tls(args, host)
    options = model_options(args, tasks)
    models = options.load(tasks)
    return _serve(models, tasks, options, host=host, port=port, token=token, tls=tls, args=args,
                  loopback=is_loopback(host))


def _tls(args: argparse.Namespace, host: str):
    from .web.addresses import is_loopback, network_addresses
    from .web.tls import self_signed_context, tls_context

    if args.certfile:
        return tls_context(args.certfile, args.keyfile)
    if is_loopback(host):
        return None  # browsers treat http://localhost as secure
    names = [host] if host not in ("0.0.0.0", "::") else network_addresses(ipv6=host == "::")
    context, fingerprint = self_signed_context([*names, "localhost"])
    log.warning("HTTPS with a certificate made up now (browsers warn once; give yours with --certfile). "
                "Its SHA-256 fingerprint: %s", fingerprint)
    return context


def _serve(models: dict, tasks, options, *, host, port, token, tls, args, loopback: bool) -> int:
    from .webrtc.visitors import VisitorServer

    names = {t: _shown_name(options.models.get(t) or getattr(models[t], "name", None)) for t in tasks}
    stream_options = dict(depth_stabilize=options.depth_stabilize, track=options.track)
    with interrupts.deferred(lambda: None):
        server = VisitorServer({t: models[t] for t in tasks}, host=host, port=port, token=token,
                               max_clients=args.max_clients, ice_servers=args.ice_server, tls=tls, names=names,
                               hud=not args.no_hud, stream_options=stream_options)
        try:
            urls = server.server.urls
            log.info("serving %s to %d visitor%s at once: open %s", ", ".join(t.value for t in tasks),
                     args.max_clients, "" if args.max_clients == 1 else "s", " or ".join(urls))
            if not loopback and token is None:
                log.warning("no token: anyone who can reach port %d can use the models", server.server.port)
            while not interrupts.requested():
                time.sleep(0.2)
            log.info("stopping: closing %d visitor connection%s", server.peers.count,
                     "" if server.peers.count == 1 else "s")
        finally:
            server.close()
    interrupts.raise_if_requested()
    return 0


def _shown_name(spec) -> str | None:
    """What the page shows of a model: its Hub id, or a local folder's name only (not the server's paths)."""
    if spec is None:
        return None
    return Path(spec).name if Path(spec).exists() else str(spec)
