"""Cost and effect of depth stabilization (livevision.tasks.depth.stabilize) at 1280x720, written to
BENCHMARKS.md between its `<!-- stabilize:begin -->` / `<!-- stabilize:end -->` markers.

A synthetic relative depth sequence: a fixed scene seen through a model's arbitrary per-frame scale
(0.5..2) and shift (-0.5..0.5), plus 1 % noise, with a near object crossing the frame. Each mode's
time per frame (median, in this process's thread, like the stream's) and the flicker that leaves it
(FlickerMeter: the mean absolute change over still pixels / mean depth).

    python scripts/bench_stabilize.py [--frames 300] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from bench_sections import markers, write_section

from livevision.tasks.depth.stabilize import DepthStabilizer, FlickerMeter
from livevision.types import DepthKind, DepthResult

BEGIN, END = markers("stabilize")
H, W = 720, 1280


def sequence(frames: int, seed: int = 0):
    """(model depth, picture) per frame: the scene through a random scale and shift, an object moving."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:H, :W]
    scene = (1.0 + 3.0 * yy / H + 0.5 * np.sin(xx / 60.0)).astype(np.float32)
    for t in range(frames):
        truth = scene.copy()
        x0 = (40 + 16 * t) % (W - 200)
        truth[250:450, x0:x0 + 160] = 9.0
        picture = np.dstack([np.clip(truth * 25, 0, 255).astype(np.uint8)] * 3)
        scale, shift = rng.uniform(0.5, 2.0), rng.uniform(-0.5, 0.5)
        depth = scale * truth + shift + rng.normal(0, 0.01 * float(scene.mean()), truth.shape)
        yield depth.astype(np.float32), picture


def measure(mode: str, frames: int) -> dict:
    stabilizer, meter, times = DepthStabilizer(mode), FlickerMeter(), []
    for depth, picture in sequence(frames):
        result = DepthResult(depth, DepthKind.RELATIVE)
        started = time.perf_counter()
        result = stabilizer(result, picture)
        times.append(time.perf_counter() - started)
        meter.add(result.depth, picture)
    return {"mode": mode, "ms_p50": statistics.median(times[5:]) * 1e3,
            "ms_p95": float(np.percentile(times[5:], 95)) * 1e3, "flicker": meter.summary()["mean"]}


def section(rows: list[dict], frames: int) -> str:
    lines = [BEGIN, "## Depth stabilization: cost per 1280x720 frame and the flicker left", "",
             f"`python scripts/bench_stabilize.py --frames {frames}` on {datetime.date.today()}, "
             f"{platform.machine()}, OpenCV on one thread (as in a stream): a synthetic relative depth sequence "
             "(a fixed scene through a per-frame scale of 0.5-2 and shift of -0.5-0.5, 1 % noise, a near "
             "object crossing the frame). Flicker: FlickerMeter, the mean absolute change of depth over still "
             "pixels divided by the mean depth (what `--stats` reports as `depth_flicker`).", "",
             "| mode | ms per frame p50 / p95 (target <= 2) | flicker | flicker vs off |", "|---|---|---|---|"]
    off = next(r["flicker"] for r in rows if r["mode"] == "off")
    for r in rows:
        mark = "" if r["mode"] == "off" else (" ✓" if r["ms_p50"] <= 2.0 else " ✗")
        lines.append(f"| {r['mode']} | {r['ms_p50']:.2f} / {r['ms_p95']:.2f}{mark} | {r['flicker']:.4f} | "
                     f"{r['flicker'] / off:.3f} |")
    return "\n".join(lines + ["", END])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "BENCHMARKS.md"))
    args = parser.parse_args()
    cv2.setNumThreads(1)
    rows = [measure(mode, args.frames) for mode in ("off", "align", "smooth")]
    text = section(rows, args.frames)
    print(text)
    write_section(Path(args.out), "stabilize", text)


if __name__ == "__main__":
    main()
