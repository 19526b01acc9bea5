"""BENCHMARKS.md, "The visitor's webcam over WebRTC": glass-to-glass latency of `livevision serve` with headless
Chromium as the visitor, against the model's own latency, and the server's own view over WebRTC and MJPEG.

    python scripts/bench_webrtc.py [--seconds 120] [--out bench-cache/webrtc.json]

1. The model's own latency on a 640x480 frame, in this process: raw `session.run` (the limit) and the whole
   model call (pre-processing, session.run, post-processing), p50/p95.
2. The visitor: `livevision serve --task segmentation` (SegFormer-B0, full size, random weights: same compute),
   Chromium's fake camera playing counter frames (livevision.testing.counter_video) at 640x480, 30 fps.
   For every frame the returned <video> presents, the page reads its counter and the local preview's: the
   difference is the video's glass-to-glass latency (a frame = 33 ms). The result on that frame is older
   by its age, which the server measures on every frame (--stats' result_age_ms): the result's glass-to-glass
   latency is the sum. Its growth: the latencies and the HUD's result age in each quarter of the run. CPU of
   the serve process; bytes both ways from the page's getStats.
3. The server's own source (`run --serve`, a live source whose frames carry the wall clock, ms modulo 4096)
   viewed at ``/`` (WebRTC) and ``/mjpeg``: latency = the page's clock when a frame shows minus the frame's.
   On a slower link: `--netns NS --host ADDR --label -4mbit --only webrtc-view --only mjpeg-view` runs the
   server in network namespace NS (made beforehand: a veth pair, the namespace's end at ADDR, its egress
   shaped with `tc qdisc add dev VETH root tbf rate 4mbit burst 32kbit latency 400ms`).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
MODEL = ROOT / "bench-cache" / "hf" / "segformer"
CACHE = ROOT / "bench-cache" / "exports"
SIZE = (640, 480)
FPS = 30
CLOCK_WRAP = 4096  # the counter's range: clock codes are the wall clock in ms modulo this

# Per shown frame of a <video> (requestVideoFrameCallback) or an <img> (each animation frame, when its code
# changed): the page's wall clock and the code read.
CLOCK_PROBE_JS = """
window.clockProbe = (selector) => {
  const element = document.querySelector(selector), records = [];
  let last = null;
  const canvas = document.createElement("canvas");
  const read = () => {
    let source = element;
    if (!element.requestVideoFrameCallback) {  // an <img>: read through a canvas of its own size
      if (!element.naturalWidth) return;
      canvas.width = element.naturalWidth;
      canvas.height = element.naturalHeight;
      canvas.getContext("2d").drawImage(element, 0, 0);
      source = canvas;
    }
    const code = window.livevisionReadCounter(source);
    if (code !== null && code !== last) records.push({wall: Date.now(), code});
    last = code;
  };
  if (element.requestVideoFrameCallback) {
    const onFrame = () => { read(); element.requestVideoFrameCallback(onFrame); };
    element.requestVideoFrameCallback(onFrame);
  } else {
    const onFrame = () => { read(); requestAnimationFrame(onFrame); };
    requestAnimationFrame(onFrame);
  }
  return {take: () => records.splice(0, records.length)};
};
"""


def percentiles(values) -> dict:
    values = np.asarray(list(values), float)
    if not len(values):
        return {"p50": None, "p95": None, "n": 0}
    p50, p95 = np.percentile(values, [50, 95])
    return {"p50": round(float(p50), 1), "p95": round(float(p95), 1), "n": int(len(values))}


def model_latency(frame: np.ndarray, runs: int = 40) -> dict:
    from livevision.predictor import load_model

    model = load_model(MODEL, "segmentation", cache_dir=CACHE, precision="fp32", live=True)
    prepared = model.preprocess(frame)
    for _ in range(5):
        model(frame)
    raw, whole = [], []
    for _ in range(runs):
        started = time.perf_counter()
        model.infer(prepared)
        raw.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        model(frame)
        whole.append((time.perf_counter() - started) * 1000)
    return {"session_run_ms": percentiles(raw), "model_call_ms": percentiles(whole)}


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def start(command: list[str], module: bool = True, launcher: list[str] | None = None) -> tuple[subprocess.Popen, str]:
    """A livevision command (module=False: a script; launcher: what runs the command instead of python) that
    serves a page, once it says where (the first URL it logs)."""
    launcher = launcher or ([sys.executable, "-m", "livevision"] if module else [sys.executable])
    proc = subprocess.Popen([*launcher, *command], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    said = []
    for line in proc.stderr:
        said.append(line)
        if found := re.search(r"(https?://[^\s,]+)", line):
            return proc, found.group(1)
    raise SystemExit("the server ended before serving:\n" + "".join(said))


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(2)
    try:
        proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()


def quarters(times, values) -> list:
    """p50 of `values` in each quarter of the run (by `times`)."""
    times, values = np.asarray(times, float), np.asarray(values, float)
    if len(times) < 8:
        return []
    edges = np.linspace(times.min(), times.max(), 5)
    return [round(float(np.median(values[(times >= a) & (times <= b)])), 1) for a, b in zip(edges[:-1], edges[1:])]


def visitor_run(browser_mod, camera, seconds: float) -> dict:
    from livevision.testing.counter_video import lag_frames

    proc, url = start(["serve", "--task", "segmentation", "--model", str(MODEL), "--cache-dir", str(CACHE),
                       "--precision", "fp32", "--listen", "127.0.0.1:0"])
    try:
        with browser_mod.chromium(camera) as (browser,):
            page = browser_mod.new_page(browser)
            page.goto(url)
            page.wait_for_function("window.livevision.state === 'live' && "
                                   "Object.keys(window.livevision.server.inference_ms || {}).length > 0",
                                   timeout=120_000)
            page.wait_for_timeout(3000)  # past the first results
            page.evaluate("window.livevisionProbe.start('#remote', '#local')")
            cpu0, began, bytes0 = cpu_seconds(proc.pid), time.monotonic(), page.evaluate("window.livevision.figures")
            lags, ages = [], []
            while time.monotonic() - began < seconds:
                page.wait_for_timeout(1000)
                for r in page.evaluate("window.livevisionProbe.take()"):
                    if r["remote"] is not None and r["local"] is not None:
                        lags.append((r["t"], lag_frames(r["local"], r["remote"], camera.count) * 1000 / camera.fps))
                hud = " ".join(page.evaluate("window.livevision.server.hud || []"))
                if found := re.search(r"age (\d+) ms", hud):
                    ages.append((time.monotonic() - began, float(found.group(1))))
            elapsed = time.monotonic() - began
            cpu = (cpu_seconds(proc.pid) - cpu0) / elapsed
            server = page.evaluate("window.livevision.server")
            end_bytes = page.evaluate("window.livevision.figures")
            fps = page.evaluate("window.livevision.figures.fps")
    finally:
        stop(proc)
    return {"video_ms": percentiles(v for _, v in lags), "video_ms_by_quarter": quarters(*zip(*lags)) if lags else [],
            "result_age_ms": server["result_age_ms"]["segmentation"], "inference_ms": server["inference_ms"],
            "new_result_age_ms": server["new_result_age_ms"]["segmentation"],
            "hud_age_ms_by_quarter": quarters(*zip(*ages)) if ages else [], "returned_fps": fps,
            "frames_overtaken": server["frames_overtaken"], "frames_in": server["frames_in"],
            "server_cpu_cores": round(cpu, 2), "seconds": round(elapsed, 1),
            "kbit_s_up": round((end_bytes["bytesSent"] - bytes0["bytesSent"]) * 8 / elapsed / 1000, 1),
            "kbit_s_down": round((end_bytes["bytesReceived"] - bytes0["bytesReceived"]) * 8 / elapsed / 1000, 1)}


def clock_server(port: int, stats: Path, seconds: float, host: str = "127.0.0.1") -> None:
    """`livevision run --serve` on a live source whose frames carry the wall clock (ms modulo 4096), for
    `seconds`: the server whose own view the viewer runs watch."""
    import logging

    from livevision.app import run
    from livevision.options import LoadOptions, ModelOptions, OutputOptions, RunOptions, SourceOptions
    from livevision.sources.base import FrameSource, SourceInfo
    from livevision.testing.counter_video import counter_frame
    from livevision.types import Frame, Task

    class ClockSource(FrameSource):
        info = SourceInfo(name="clock", is_live=True, fps=FPS, size_wh=SIZE)

        def frames(self):
            began = time.monotonic()
            for index in range(int(seconds * FPS)):
                time.sleep(max(0.0, began + index / FPS - time.monotonic()))
                now = time.monotonic()
                code = int(time.time() * 1000) % CLOCK_WRAP
                yield Frame(counter_frame(code, SIZE), index, now - began, now, "clock")

    logging.basicConfig(level=logging.INFO, format="livevision: %(message)s")
    load = LoadOptions(live=True, cache_dir=CACHE, precision="fp32")
    options = RunOptions(tasks=(Task.SEGMENTATION,), source=SourceOptions(source="clock", pacing="live"),
                         model=ModelOptions(models={Task.SEGMENTATION: str(MODEL)}, load_options=load),
                         output=OutputOptions(display=False, serve=f"{host}:{port}", stats=stats))
    run(options, source=ClockSource())


def viewer_run(browser_mod, camera, seconds: float, path: str, netns: str | None = None,
               host: str = "127.0.0.1") -> dict:
    """The clock server's view at `path` ("" WebRTC, "mjpeg"): latency of each frame shown, the server's CPU,
    and the bytes per second (getStats for WebRTC; the MJPEG stream read beside for MJPEG). netns: run the
    server in that network namespace, at `host` (a link shaped by `tc` between it and the browser)."""
    from livevision.testing.counter_video import lag_frames

    stats = Path(tempfile.mkdtemp()) / "stats.json"
    port = _free_port()
    command = [__file__, "--clock-server", str(port), str(stats), str(seconds + 40), "--host", host]
    proc, url = start(["netns", "exec", netns, sys.executable, *command] if netns else command, module=False,
                      launcher=["ip"] if netns else None)
    base, _, query = url.partition("?")
    url_of = lambda page_path: base + page_path + ("?" + query if query else "")  # noqa: E731
    try:
        with browser_mod.chromium(camera) as (browser,):
            page = browser_mod.new_page(browser)
            page.add_init_script(CLOCK_PROBE_JS)
            page.goto(url_of(path))
            selector = "img" if path == "mjpeg" else "#remote"
            if path != "mjpeg":
                page.wait_for_function("window.livevision.state === 'live'", timeout=60_000)
            page.wait_for_timeout(3000)
            page.evaluate(f"window.probe = window.clockProbe({selector!r})")
            cpu0, began = cpu_seconds(proc.pid), time.monotonic()
            counted: list[int] = []
            if path == "mjpeg":  # beside the browser, on a thread: the page's probe goes on meanwhile
                import threading

                threading.Thread(target=lambda: counted.append(_count_mjpeg_bytes(url_of("stream.mjpg"), 10)),
                                 daemon=True).start()
            figures0 = page.evaluate("window.livevision && window.livevision.figures") if path != "mjpeg" else None
            lags = []
            while time.monotonic() - began < seconds:
                page.wait_for_timeout(1000)
                lags += [(r["wall"] / 1000, lag_frames(r["wall"] % CLOCK_WRAP, r["code"], CLOCK_WRAP))
                         for r in page.evaluate("window.probe.take()")]
            elapsed = time.monotonic() - began
            cpu = (cpu_seconds(proc.pid) - cpu0) / elapsed
            shown_fps = len(lags) / elapsed
            if path != "mjpeg":
                figures = page.evaluate("window.livevision.figures")
                kbit = (figures["bytesReceived"] - figures0["bytesReceived"]) * 8 / elapsed / 1000
            else:
                kbit = counted[0] * 8 / 10 / 1000 if counted else None
    finally:
        stop(proc)
    summary = json.loads(stats.read_text()) if stats.exists() else {}
    return {"video_ms": percentiles(v for _, v in lags), "video_ms_by_quarter": quarters(*zip(*lags)) if lags else [],
            "result_age_ms": (summary.get("result_age_ms") or {}).get("segmentation"), "shown_fps": round(shown_fps, 1),
            "new_result_age_ms": (summary.get("new_result_age_ms") or {}).get("segmentation"),
            "server_cpu_cores": round(cpu, 2), "kbit_s_down": kbit and round(kbit, 1), "seconds": round(elapsed, 1)}


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _count_mjpeg_bytes(url: str, seconds: float) -> int:
    """Bytes of /stream.mjpg read in `seconds` (a second client shares the server's encoding)."""
    read, deadline = 0, time.monotonic() + seconds
    with urllib.request.urlopen(url, timeout=30) as stream:
        while time.monotonic() < deadline:
            read += len(stream.read1(65536))
    return read


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-cache" / "webrtc.json")
    parser.add_argument("--only", choices=["model", "visitor", "webrtc-view", "mjpeg-view"], action="append")
    parser.add_argument("--netns", help="the server's views: run the server in this network namespace (made "
                        "beforehand, with a veth link to this one shaped by tc), at --host")
    parser.add_argument("--host", default="127.0.0.1", help="with --netns: the server's address in it")
    parser.add_argument("--label", default="", help="suffix for the results' names (e.g. the link's rate)")
    parser.add_argument("--clock-server", nargs=3, metavar=("PORT", "STATS", "SECONDS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.clock_server:
        port, stats, seconds = args.clock_server
        return clock_server(int(port), Path(stats), float(seconds), args.host)
    if not MODEL.is_dir():
        subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_models.py")], check=True)
    import browser as browser_mod
    from livevision.testing.counter_video import counter_frame

    camera = browser_mod.make_fake_camera(Path(tempfile.mkdtemp()), count=300, fps=FPS, size_wh=SIZE)
    only = set(args.only or ["model", "visitor", "webrtc-view", "mjpeg-view"])
    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    if "model" in only:
        results["model"] = model_latency(counter_frame(7, SIZE))
        print("model", results["model"], flush=True)
    if "visitor" in only:
        results["visitor"] = visitor_run(browser_mod, camera, args.seconds)
        print("visitor", results["visitor"], flush=True)
    for name, path in (("webrtc-view", ""), ("mjpeg-view", "mjpeg")):
        if name in only:
            results[name + args.label] = viewer_run(browser_mod, camera, args.seconds, path, args.netns, args.host)
            print(name + args.label, results[name + args.label], flush=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
