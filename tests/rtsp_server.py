"""A real RTSP server for the tests: GStreamer's gst-rtsp-server on 127.0.0.1, in a process of its own.

The server runs under the system Python (`/usr/bin/python3`, which imports PyGObject; the venv's cannot),
this same file being its program. Each mount point (`/cam0`, `/cam1`...) serves a live `videotestsrc`
(its own pattern per mount, a clock drawn over it) encoded as H.264 with a keyframe every few frames, so a
reader that reconnects gets a picture again at once. The test drives it through `RtspServer`:

- `kill(mount)` removes the mount and closes the connection of every client reading it (the reader sees
  the stream end); until `start(mount)`, opening it gets 404. The other mounts go on.
- `kill_server()` ends the whole process (SIGKILL); `restart_server()` starts it again on the same port.

Every wait is bounded: a server that does not come up within its timeout fails the test instead of
hanging it. `skip_without_rtsp()` skips (one clear reason) where Python's gi, gst-rtsp-server or x264enc
are missing; `.ci/run` installs them where it can (Debian: gir1.2-gst-rtsp-server-1.0, python3-gi,
gstreamer1.0-plugins-base/good/ugly, gstreamer1.0-rtsp).
"""

from __future__ import annotations

import argparse
import functools
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

SYSTEM_PYTHON = "/usr/bin/python3"
PATTERNS = ("ball", "smpte", "snow", "pinwheel")  # one per mount, so their pictures differ


# ---- the test's side (the venv's Python) ------------------------------------------------------------


@functools.cache
def missing_rtsp_support() -> str | None:
    """Why no RTSP server can run here (one line), or None when it can (checked once a session)."""
    if not Path(SYSTEM_PYTHON).exists():
        return f"no {SYSTEM_PYTHON} to run GStreamer's RTSP server"
    try:
        done = subprocess.run([SYSTEM_PYTHON, __file__, "--check"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "checking for GStreamer's RTSP server took over 30 s"
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        return f"GStreamer's RTSP server cannot run: {lines[-1] if lines else 'exit code %d' % done.returncode}"
    return None


def skip_without_rtsp() -> None:
    import pytest

    reason = missing_rtsp_support()
    if reason:
        pytest.skip(f"{reason} (install python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-ugly)")


def wait_for(condition, what: str, timeout_s: float = 30.0) -> None:
    """Wait until condition() holds, polling; an AssertionError naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


def describe(url: str, timeout_s: float = 2.0) -> int:
    """The status code of an RTSP DESCRIBE of `url` (0 when there is no answer)."""
    host_port = url.split("://", 1)[1].split("/", 1)[0]
    host, port = host_port.rsplit(":", 1)
    request = f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n".encode()
    try:
        with socket.create_connection((host, int(port)), timeout=timeout_s) as conn:
            conn.sendall(request)
            answer = conn.recv(4096).decode("latin-1")
    except OSError:
        return 0
    parts = answer.split(" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[0] == "RTSP/1.0" and parts[1].isdigit() else 0


class RtspServer:
    """GStreamer's RTSP server in a subprocess, serving `mounts` (names without the slash) at `fps`."""

    def __init__(self, mounts=("cam0", "cam1"), *, fps: int = 15, size_wh=(160, 120), log_path: Path | None = None,
                 start_timeout_s: float = 20.0):
        self.mounts, self.fps, self.size_wh = tuple(mounts), fps, size_wh
        self.start_timeout_s = start_timeout_s
        self.log_path = log_path
        self.port = 0  # chosen by the first start, kept by restarts
        self._proc: subprocess.Popen | None = None
        self._lines: queue.Queue[str] = queue.Queue()
        self.start_server()

    def url(self, mount: str) -> str:
        return f"rtsp://127.0.0.1:{self.port}/{mount}"

    # -- the process --

    def start_server(self) -> None:
        command = [SYSTEM_PYTHON, __file__, "--port", str(self.port), "--mounts", ",".join(self.mounts),
                   "--fps", str(self.fps), "--size", "%dx%d" % self.size_wh]
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self._proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                      text=True, bufsize=1, env={**os.environ, "GST_DEBUG": "0"})
        if log is not subprocess.DEVNULL:
            log.close()
        self._lines = queue.Queue()
        threading.Thread(target=self._read_lines, args=(self._proc, self._lines), daemon=True).start()
        ready = self._answer("ready", self.start_timeout_s)
        self.port = int(ready.split()[1])
        for mount in self.mounts:
            self.wait_served(mount)

    @staticmethod
    def _read_lines(proc: subprocess.Popen, lines: queue.Queue) -> None:
        for line in proc.stdout:
            lines.put(line.strip())
        lines.put("exited")

    def _answer(self, prefix: str, timeout_s: float) -> str:
        """The server's next line, which must start with `prefix`, within `timeout_s`."""
        try:
            line = self._lines.get(timeout=timeout_s)
        except queue.Empty:
            self.kill_server()
            raise TimeoutError(f"the RTSP server did not answer {prefix!r} within {timeout_s} s") from None
        if not line.startswith(prefix):
            self.kill_server()
            raise RuntimeError(f"the RTSP server answered {line!r}, not {prefix!r} (its log: {self.log_path})")
        return line

    def kill_server(self) -> None:
        """End the whole server at once (SIGKILL): every client's connection drops."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGKILL)
            self._proc.wait(timeout=10)

    def restart_server(self) -> None:
        self.kill_server()
        self.start_server()

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        try:
            self._proc.stdin.write("quit\n")
            self._proc.stdin.flush()
            self._proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            self.kill_server()

    # -- one mount --

    def _command(self, line: str, timeout_s: float = 10.0) -> None:
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()
        self._answer(f"ok {line}", timeout_s)

    def kill(self, mount: str) -> None:
        """Stop serving `mount`: its readers are disconnected and it answers 404 until start(mount)."""
        self._command(f"kill {mount}")

    def start(self, mount: str) -> None:
        """Serve `mount` again (after kill) and wait until it answers."""
        self._command(f"start {mount}")
        self.wait_served(mount)

    def wait_served(self, mount: str, timeout_s: float | None = None) -> None:
        """Until a DESCRIBE of `mount` gets 200; TimeoutError after `timeout_s` (the start timeout)."""
        deadline = time.monotonic() + (timeout_s or self.start_timeout_s)
        while (status := describe(self.url(mount))) != 200:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.url(mount)} did not answer DESCRIBE with 200 (last: {status})")
            time.sleep(0.1)

    def __enter__(self) -> RtspServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


# ---- the server's side (the system Python, with gi) ----------------------------------------------------


def _pipeline(pattern: str, fps: int, width: int, height: int) -> str:
    return (f"( videotestsrc is-live=true pattern={pattern} ! video/x-raw,width={width},height={height},"
            f"framerate={fps}/1 ! timeoverlay ! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast "
            f"key-int-max={fps} threads=1 ! rtph264pay name=pay0 pt=96 config-interval=1 )")


def _serve(args: argparse.Namespace) -> None:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    width, height = (int(v) for v in args.size.split("x"))
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    mounts = server.get_mount_points()
    factories, readers = {}, {}  # mount -> factory; client -> the mount it asked for
    for i, name in enumerate(args.mounts.split(",")):
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(_pipeline(PATTERNS[i % len(PATTERNS)], args.fps, width, height))
        factory.set_shared(False)  # each reader its own pipeline: closing one leaves the others alone
        factories[name] = factory
        mounts.add_factory(f"/{name}", factory)

    def note_mount(client, context):
        readers[client] = context.uri.abspath.strip("/").split("/")[0]

    def connected(_server, client):
        client.connect("describe-request", note_mount)
        client.connect("setup-request", note_mount)
        client.connect("closed", lambda c: readers.pop(c, None))

    server.connect("client-connected", connected)
    loop = GLib.MainLoop()

    def command(channel, condition):
        line = sys.stdin.readline()
        if not line or line.strip() == "quit":
            loop.quit()
            return False
        verb, name = (line.split() + [""])[:2]
        if verb == "kill":
            mounts.remove_factory(f"/{name}")
            for client in [c for c, mount in readers.items() if mount == name]:
                client.close()
        elif verb == "start":
            mounts.add_factory(f"/{name}", factories[name])
        print(f"ok {line.strip()}", flush=True)
        return True

    GLib.io_add_watch(GLib.IOChannel.unix_new(sys.stdin.fileno()), GLib.PRIORITY_DEFAULT,
                      GLib.IOCondition.IN | GLib.IOCondition.HUP, command)
    if server.attach(None) == 0:
        sys.exit(f"could not listen on 127.0.0.1:{args.port}")
    print(f"ready {server.get_bound_port()}", flush=True)
    loop.run()


def _check() -> None:
    """Exit 0 when this Python can serve H.264 over RTSP; else the reason on stderr."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import Gst, GstRtspServer  # noqa: F401

    Gst.init(None)
    for element in ("videotestsrc", "timeoverlay", "x264enc", "rtph264pay"):
        if Gst.ElementFactory.find(element) is None:
            sys.exit(f"no GStreamer element {element}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--mounts", default="cam0,cam1")
    parser.add_argument("--fps", type=int, default=15)
    parser.add_argument("--size", default="160x120")
    args = parser.parse_args()
    _check() if args.check else _serve(args)


if __name__ == "__main__":
    main()
