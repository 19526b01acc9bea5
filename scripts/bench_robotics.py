"""What --rerun, --mcap and --foxglove cost per 1280x720 frame, and how much they write, into
BENCHMARKS.md between its `<!-- robotics:begin -->` / `<!-- robotics:end -->` markers.

Each output gets the same frames and results, as `livevision run` hands them over (the frame once,
then each task's result), 25 a second. Measured:
- write ms: the time `sink.write` takes in this process's thread, which is where a run pays for it
  (p50 / p95): it hands the result to the sink's own thread, which encodes and writes between frames,
  and waits only when that thread is QUEUE_FRAMES results behind;
- CPU ms: the process's CPU time (every thread, the closing included) per frame;
- MB/min: what a minute of 25 fps video makes: the file's size for MCAP and rerun, the messages'
  bytes for Foxglove (no viewer connected; a viewer adds the sending, on the server's threads).
Scenarios: "depth", a relative depth map (the default model's kind); "all", metric depth with its
point cloud, a semantic label map (150 classes) and a top-5 classification.
Outputs: the defaults (JPEG frames; depth as 16-bit PNG at every 2nd pixel, millimetres or a relative
model's levels; PNG label maps; zstd chunks for MCAP; points at most 80 columns), "--depth-stride 4"
(the defaults with a quarter-size depth map), and "raw" (--raw-images --mcap-compression none
--point-stride 1: full-size float32 depth and raw images, what every run wrote before the defaults
were made small).

The frames come from the benchmark video (bench-cache/media, made by scripts/bench.py) or, without
it, bench_models' photo-like synthetic frames. The depth and label maps are smooth, as models make
them (computed at 1/14 and 1/4 of the frame's size and upsampled, as the models' heads are). The
label map follows the frame's blue channel, texture included: over 100 of its 150 classes in each
frame, in small patches, a harder map to compress than a model's few regions.

    python scripts/bench_robotics.py [--frames 40] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from bench_models import synthetic_frame
from bench_sections import markers, write_section

from livevision.types import ClassificationResult, DepthKind, DepthResult, SegmentationResult, Task, TaskOutput

BEGIN, END = markers("robotics")
H, W = 720, 1280
FPS = 25  # the rate frames arrive at, as from a camera or the benchmark video played live
VIDEO = Path(__file__).resolve().parent.parent / "bench-cache" / "media" / "synthetic-1280x720-25fps-750.mp4"
OUTPUTS = ("mcap", "mcap --depth-stride 4", "mcap raw", "rerun", "rerun raw", "foxglove", "foxglove raw")
SCENARIOS = {"depth": "relative depth", "all": "metric depth + points + segmentation + top-5"}


def frames(count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VIDEO))
    out = []
    while len(out) < count and (read := cap.read())[0]:
        out.append(read[1])
    return out or [synthetic_frame(i) for i in range(count)]


def results(scenario: str, image: np.ndarray) -> list[tuple[Task, object]]:
    green = cv2.resize(image[..., 1].astype(np.float32), (W // 14, H // 14), interpolation=cv2.INTER_AREA)
    depth = cv2.resize(1.0 + green / 32.0, (W, H), interpolation=cv2.INTER_LINEAR)
    if scenario == "depth":
        return [(Task.DEPTH, DepthResult(depth=depth, kind=DepthKind.RELATIVE))]
    blue = cv2.resize(image[..., 0], (W // 4, H // 4), interpolation=cv2.INTER_AREA)
    labels = cv2.resize(blue.astype(np.int32) * 150 // 256, (W, H), interpolation=cv2.INTER_NEAREST)
    return [
        (Task.DEPTH, DepthResult(depth=depth, kind=DepthKind.METRIC)),
        (Task.SEGMENTATION, SegmentationResult(kind="semantic", label_map=labels.astype(np.int32),
                                               id2label={k: f"class {k}" for k in range(150)})),
        (Task.CLASSIFICATION, ClassificationResult(class_ids=np.arange(5), labels=tuple(f"c{k}" for k in range(5)),
                                                   scores=np.linspace(0.5, 0.1, 5))),
    ]


def make_sink(output: str, folder: Path):
    raw = output.endswith(" raw")
    options = dict(raw_images=True, point_stride=1) if raw else {}
    if "--depth-stride" in output:
        options["depth_stride"] = int(output.split()[-1])
    if output.startswith("mcap"):
        from livevision.sinks.mcap_sink import McapSink

        return McapSink(folder / "out.mcap", compression="none" if raw else "zstd", **options)
    if output.startswith("rerun"):
        from livevision.sinks.rerun_sink import RerunSink

        return RerunSink(str(folder / "out.rrd"), **options)
    from livevision.sinks.foxglove_sink import FoxgloveSink

    return FoxgloveSink(port=0, **options)


def measure(output: str, scenario: str, pictures: list[np.ndarray]) -> dict:
    payloads = [results(scenario, image) for image in pictures]
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        cpu = time.process_time()
        with make_sink(output, Path(tmp)) as sink:
            begin = time.perf_counter()
            for i, (image, items) in enumerate(zip(pictures, payloads)):
                time.sleep(max(0.0, begin + i / FPS - time.perf_counter()))  # frames come at the camera's rate
                started = time.perf_counter()
                for task, result in items:
                    sink.write_result(task, TaskOutput(result, i, i / FPS, 0.0, 0.05, image, "bench"))
                times.append((time.perf_counter() - started) * 1000)
        cpu_ms = (time.process_time() - cpu) * 1000 / len(pictures)
        written = getattr(sink, "bytes_written", None)
        if written is None:
            written = sum(os.path.getsize(Path(tmp) / name) for name in os.listdir(tmp))
    warm = times[3:]  # the first frames register channels and warm caches
    return {"output": output, "scenario": scenario, "p50": statistics.median(warm),
            "p95": statistics.quantiles(warm, n=20)[-1], "cpu_ms": cpu_ms,
            "mb_per_min": written / len(pictures) * FPS * 60 / 1e6}


def section(rows: list[dict], count: int, load: tuple[float, ...]) -> str:
    lines = [BEGIN, "## Robotics outputs: cost and size per 1280x720 frame", "",
             f"`python scripts/bench_robotics.py --frames {count}` on {datetime.date.today()}, {platform.machine()}, "
             f"{os.cpu_count()} cores, load average {load[0]:.1f} at the start and {os.getloadavg()[0]:.1f} at the "
             "end (other work on the machine slows the sinks' threads, and write ms grows once a thread falls "
             "behind: CPU ms is the steadier figure): frames arriving at 25 fps as "
             "`livevision run --rerun/--mcap/--foxglove` hands them over. write ms: `sink.write` in the run's "
             "thread, p50 / p95 (it hands the result to the sink's thread, which encodes and writes); CPU ms: the "
             "process's CPU time per frame, all threads; MB/min: per minute of 25 fps video (the file, or for "
             "Foxglove the messages sent). Defaults: JPEG frames, depth as 16-bit PNG at every 2nd pixel (640x360; "
             "metric: millimetres), PNG label maps, zstd MCAP chunks, points at most 80 columns (stride 16); "
             "raw: `--raw-images --mcap-compression none --point-stride 1` (full-size float32 depth, raw images). "
             "The label maps are the frame's texture, over 100 classes a frame: harder to compress than a "
             "model's. Targets: write stage under 10 ms per frame; under 200 MB per minute with depth + "
             "segmentation + points.", "",
             "| output | scenario | write ms p50 / p95 | CPU ms | MB/min |", "|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['output']} | {SCENARIOS[r['scenario']]} | {r['p50']:.1f} / {r['p95']:.1f}"
                     f"{' ✓' if r['p50'] <= 10.0 else ' ✗'} | {r['cpu_ms']:.1f} | {r['mb_per_min']:,.0f}"
                     f"{(' ✓' if r['mb_per_min'] < 200 else ' ✗') if r['scenario'] == 'all' else ''} |")
    return "\n".join(lines + ["", END])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--outputs", default=",".join(OUTPUTS), help=f"comma-separated, of: {', '.join(OUTPUTS)}")
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "BENCHMARKS.md"),
                        help="the page to write the section into ('-': print it only)")
    args = parser.parse_args()
    load = os.getloadavg()
    pictures = frames(args.frames)
    rows = [measure(output, scenario, pictures) for output in args.outputs.split(",") for scenario in SCENARIOS]
    text = section(rows, args.frames, load)
    print(text)
    if args.out != "-":
        write_section(Path(args.out), "robotics", text)


if __name__ == "__main__":
    main()
