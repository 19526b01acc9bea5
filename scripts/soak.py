#!/usr/bin/env python
"""Soak run: many frames through a tiny model in `live` mode; is anything growing?

Not a test (nothing is asserted and it takes minutes): it prints a table and a verdict next to
the targets, and can write them as the "Soak" section of a markdown file.

    python scripts/soak.py                          # 20,000 frames at 200 fps, prints the table
    python scripts/soak.py --out BENCHMARKS.md      # ... and replaces the "## Soak" section there
    python scripts/soak.py --frames 3000 --fps 0    # quicker: frames as fast as they can be made

A live source makes 640x480 frames (new arrays, like a camera) at `--fps`; `livevision.Stream`
runs a tiny random-weight Depth Anything V2 (livevision/testing/tiny_models.py, exported once into a temp
cache by a child process, so this process never imports torch) with `pacing="live"`; every
packet is rendered as `livevision run` would and written to a NullSink. Every `--window`
displayed frames it samples resident memory (VmRSS), Python and OS thread counts, and the p95
of the inference latency (pre + inference + post of the results that arrived in the window)
and of the result age (capture of the result's frame to its display).

Targets: RSS growth after the warm-up <= 20 MB; thread counts constant; latency p95 of the
last window not above the first window after warm-up (beyond noise).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

RSS_TARGET_MB = 20.0
LATENCY_GROWTH_TOLERANCE = 1.5  # last p95 / first p95 above this counts as growing


def _proc_status(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def rss_mb() -> float:
    return _proc_status("VmRSS") / 1024.0


def os_threads() -> int:
    return _proc_status("Threads")


def _export(model_name: str, folder: Path, cache: Path) -> None:
    """In a child process: build the tiny model and export it into `cache`."""
    from livevision.testing.tiny_models import build_tiny_model

    from livevision.models.export import export_model

    export_model(build_tiny_model(model_name, folder), "depth", cache_dir=cache)


def make_source(fps: float, size_wh: tuple[int, int]):
    from livevision.sources import FrameSource, SourceInfo
    from livevision.types import Frame

    class LiveFakeSource(FrameSource):
        """Endless frames, paced at `fps` on the wall clock (0: as fast as they can be made);
        each frame a new array, as a camera's would be."""

        def __init__(self):
            w, h = size_wh
            rng = np.random.default_rng(0)
            self.bases = [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(8)]
            self.info = SourceInfo(name=f"soak {w}x{h}@{fps:g}", is_live=True, fps=fps or None, size_wh=size_wh)
            self.closed = threading.Event()
            self.made = 0

        def frames(self):
            t0 = time.monotonic()
            i = 0
            while not self.closed.is_set():
                if fps:
                    wait = t0 + i / fps - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                now = time.monotonic()
                yield Frame(self.bases[i % len(self.bases)].copy(), i, now - t0, now)
                self.made = i = i + 1

        def close(self):
            self.closed.set()

    return LiveFakeSource()


def p95_ms(values: list[float]) -> float | None:
    return round(float(np.percentile(values, 95)) * 1000, 2) if values else None


def soak(args) -> dict:
    from livevision.app import Renderer
    from livevision.options import ViewMode
    from livevision.sinks import NullSink
    from livevision.stream import Stream
    from livevision.types import Task

    work = Path(tempfile.mkdtemp(prefix="livevision-soak-"))
    folder, cache = work / args.model, work / "cache"
    started = time.monotonic()
    subprocess.run([sys.executable, __file__, "--_export", args.model, str(folder), str(cache)], check=True)
    export_s = time.monotonic() - started

    load_before = os.getloadavg()[0]
    source = make_source(args.fps, args.size)
    stream = Stream.open(source, "depth", model=str(folder), cache_dir=cache, pacing="live")
    renderer = Renderer((Task.DEPTH,), ViewMode.OVERLAY)
    sink = NullSink()
    threads_before = (threading.active_count(), os_threads())

    rows = []
    latencies: list[float] = []
    ages: list[float] = []
    last_result_frame = -1
    window_started = time.monotonic()
    shown = 0
    for packet in stream:
        view = renderer.draw_hud(renderer.render(packet), stream.stats.hud_lines())  # as the window shows it
        sink.write_view(view, packet.index)
        out = packet.outputs.get(Task.DEPTH)
        if out is not None:
            ages.append(time.monotonic() - out.captured_at)
            if out.frame_index != last_result_frame:
                latencies.append(out.latency_s)
                last_result_frame = out.frame_index
        shown += 1
        if shown % args.window == 0:
            now = time.monotonic()
            rows.append({
                "frames": shown, "rss_mb": round(rss_mb(), 1), "py_threads": threading.active_count(),
                "os_threads": os_threads(), "display_fps": round(args.window / (now - window_started), 1),
                "inferred": len(latencies), "latency_p95_ms": p95_ms(latencies), "age_p95_ms": p95_ms(ages),
                "load": round(os.getloadavg()[0], 1),
            })
            print(_row_line(rows[-1]), flush=True)
            latencies, ages, window_started = [], [], now
        if shown >= args.frames:
            break  # leaving the loop stops every thread of the stream
    deadline = time.monotonic() + 5
    while threading.active_count() > threads_before[0] and time.monotonic() < deadline:
        time.sleep(0.05)  # the stream's threads wind down
    summary = stream.stats.summary()
    return {"rows": rows, "summary": summary, "export_s": export_s, "wall_s": time.monotonic() - started,
            "frames_made": source.made, "load": (load_before, os.getloadavg()[0]), "threads_before": threads_before,
            "threads_after": (threading.active_count(), os_threads()), "args": args}


def _mean(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 1) if values else None


def _row_line(row: dict) -> str:
    return ("| " + " | ".join(str(row[k]) for k in ("frames", "rss_mb", "py_threads", "os_threads", "display_fps",
                                                     "inferred", "latency_p95_ms", "age_p95_ms", "load")) + " |")


def report(result: dict) -> str:
    args, rows = result["args"], result["rows"]
    warming = [r for r in rows if r["frames"] <= args.warmup]
    warm = [r for r in rows if r["frames"] > args.warmup] or rows
    rss_start = (warming or rows)[-1 if warming else 0]["rss_mb"]  # at the end of the warm-up
    growth = round(rows[-1]["rss_mb"] - rss_start, 1)
    py_threads = sorted({r["py_threads"] for r in warm})
    os_thr = sorted({r["os_threads"] for r in warm})
    k = max(1, min(3, len(warm) // 2))  # compare the first and last few windows: one window is noisy
    first = {key: _mean([r[key] for r in warm[:k]]) for key in ("latency_p95_ms", "age_p95_ms")}
    last = {key: _mean([r[key] for r in warm[-k:]]) for key in ("latency_p95_ms", "age_p95_ms")}

    def grows(key):
        a, b = first[key], last[key]
        return a is not None and b is not None and b > a * LATENCY_GROWTH_TOLERANCE

    frames = result["summary"]["frames"]
    w, h = args.size
    lines = [
        "## Soak",
        "",
        f"`python scripts/soak.py --frames {args.frames} --fps {args.fps:g}` on {_dt.date.today().isoformat()}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs: a live {w}x{h} source at "
        f"{args.fps:g} fps (new arrays per frame), tiny random-weight `{args.model}` (ONNX Runtime, CPU), "
        "`pacing=\"live\"`, every packet rendered (overlay + HUD) into a NullSink. Sampled every "
        f"{args.window:,} displayed frames; the first {args.warmup:,} are the warm-up.",
        "",
        "| frames shown | RSS MB | Python threads | OS threads | display fps | results | inference latency p95 ms "
        "| result age p95 ms | load avg |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *(_row_line(r) for r in rows),
        "",
        f"- RSS growth after warm-up: **{growth:+.1f} MB** ({rss_start} → {rows[-1]['rss_mb']} MB; "
        f"target <= {RSS_TARGET_MB:g} MB): {'OK' if growth <= RSS_TARGET_MB else 'ABOVE TARGET'}.",
        f"- Threads after warm-up: Python {', '.join(map(str, py_threads))}; OS {', '.join(map(str, os_thr))}: "
        f"{'constant' if len(py_threads) == 1 and len(os_thr) == 1 else 'CHANGING'}. Before the stream: "
        f"{result['threads_before'][0]} Python / {result['threads_before'][1]} OS; after it ended: "
        f"{result['threads_after'][0]} / {result['threads_after'][1]}.",
        f"- Inference latency p95 (mean of the first {k} windows after warm-up → of the last {k}): "
        f"{first['latency_p95_ms']} → {last['latency_p95_ms']} ms: "
        f"{'GROWING' if grows('latency_p95_ms') else 'not growing'}; result age p95 {first['age_p95_ms']} → "
        f"{last['age_p95_ms']} ms: {'GROWING' if grows('age_p95_ms') else 'not growing'} "
        f"(growing = more than {LATENCY_GROWTH_TOLERANCE:g}x).",
        f"- Frames: {result['frames_made']:,} made, {frames['captured']:,} captured, {frames['displayed']:,} shown, "
        f"{frames['dropped']:,} dropped by the live capture (newer frame ready), "
        f"{sum(frames['inferred'].values()):,} inferred. Run: {result['wall_s']:.0f} s "
        f"(export {result['export_s']:.0f} s); load average {result['load'][0]:.1f} at the start, "
        f"{result['load'][1]:.1f} at the end (other processes share these CPUs: latencies include that).",
        "",
    ]
    return "\n".join(lines)


def replace_section(path: Path, section: str) -> None:
    """Put `section` (starting with "## Soak") in place of the file's "## Soak" section, or append it."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    pattern = re.compile(r"^## Soak\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text, count=1).rstrip("\n") + "\n"
    else:
        text = (text.rstrip("\n") + "\n\n" if text else "") + section
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def main(argv=None) -> int:
    if argv is None and len(sys.argv) == 5 and sys.argv[1] == "--_export":
        _export(sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=20_000, help="displayed frames to run (default 20,000)")
    parser.add_argument("--fps", type=float, default=200.0, help="source frame rate; 0: as fast as possible")
    parser.add_argument("--size", type=_size, default=(640, 480), help="frame size WxH (default 640x480)")
    parser.add_argument("--window", type=int, default=1000, help="frames per sample (default 1,000)")
    parser.add_argument("--warmup", type=int, default=2000, help="frames of warm-up (default 2,000)")
    parser.add_argument("--model", default="depth_anything_v2",
                        help="tiny model name from livevision.testing.tiny_models")
    parser.add_argument("--out", type=Path, help="markdown file whose '## Soak' section is replaced (or appended)")
    args = parser.parse_args(argv)
    if args.frames < 2 * args.window or args.warmup >= args.frames:
        parser.error("--frames must cover at least two windows and more than the warm-up")
    print("| frames shown | RSS MB | Python threads | OS threads | display fps | results | latency p95 ms | age p95 ms "
          "| load avg |")
    result = soak(args)
    section = report(result)
    print()
    print(section)
    if args.out:
        replace_section(args.out, section)
        print(f"wrote the Soak section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
