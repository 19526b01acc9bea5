"""What --rerun, --mcap and --foxglove cost per 1280x720 frame, written to BENCHMARKS.md between its
`<!-- robotics:begin -->` / `<!-- robotics:end -->` markers.

Each output gets the same frames and results, as `livevision run` hands them over (the frame once,
then each task's result), 25 a second, timed in this process's thread, which is where a run pays for
them (the MCAP writer's own thread works between frames):
- "depth": a relative depth map (the default model's kind);
- "metric": metric depth, with the point cloud at --point-stride 1 and 4;
- "all": metric depth (stride 4), a semantic label map (150 classes) and a top-5 classification.
The frames come from the benchmark video (bench-cache/media, made by scripts/bench.py) or, without
it, a synthetic picture. The Foxglove server has no viewer connected (a viewer adds the sending,
on the server's own threads).

    python scripts/bench_robotics.py [--frames 60] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from bench_sections import markers, write_section

from livevision.engine.running import TaskOutput
from livevision.types import ClassificationResult, DepthKind, DepthResult, SegmentationResult, Task

BEGIN, END = markers("robotics")
H, W = 720, 1280
FPS = 25  # the rate frames arrive at, as from a camera or the benchmark video played live
VIDEO = Path(__file__).resolve().parent.parent / "bench-cache" / "media" / "synthetic-1280x720-25fps-750.mp4"


def frames(count: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VIDEO))
    out = []
    while len(out) < count and (read := cap.read())[0]:
        out.append(read[1])
    if not out:  # no benchmark video here: a smooth synthetic picture
        yy, xx = np.mgrid[:H, :W]
        base = np.stack([xx * 255 // W, yy * 255 // H, (xx + yy) * 255 // (W + H)], axis=2).astype(np.uint8)
        out = [np.roll(base, 8 * i, axis=1) for i in range(count)]
    return (out * (count // len(out) + 1))[:count]


def results(scenario: str, image: np.ndarray, i: int) -> list[tuple[Task, object]]:
    h, w = image.shape[:2]
    depth = (1.0 + image[..., 1].astype(np.float32) / 64.0 + 0.01 * i)
    if scenario == "depth":
        return [(Task.DEPTH, DepthResult(depth=depth, kind=DepthKind.RELATIVE))]
    metric = [(Task.DEPTH, DepthResult(depth=depth, kind=DepthKind.METRIC))]
    if scenario.startswith("metric"):
        return metric
    labels = (image[..., 0].astype(np.int32) * 150 // 256).astype(np.int32)
    return metric + [
        (Task.SEGMENTATION, SegmentationResult(kind="semantic", label_map=labels,
                                               id2label={k: f"class {k}" for k in range(150)})),
        (Task.CLASSIFICATION, ClassificationResult(class_ids=np.arange(5), labels=tuple(f"c{k}" for k in range(5)),
                                                   scores=np.linspace(0.5, 0.1, 5))),
    ]


def make_sink(output: str, folder: Path, stride: int):
    camera = dict(point_stride=stride)
    if output.startswith("mcap"):
        from livevision.sinks.mcap_sink import McapSink

        return McapSink(folder / f"{output}.mcap", compression=output.split("-")[1], **camera)
    if output == "rerun":
        from livevision.sinks.rerun_sink import RerunSink

        return RerunSink(str(folder / "out.rrd"), **camera)
    from livevision.sinks.foxglove_sink import FoxgloveSink

    return FoxgloveSink(port=0, **camera)


def measure(output: str, scenario: str, pictures: list[np.ndarray]) -> dict:
    stride = 1 if scenario == "metric-1" else 4
    payloads = [results(scenario, image, i) for i, image in enumerate(pictures)]
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        with make_sink(output, Path(tmp), stride) as sink:
            begin = time.perf_counter()
            for i, (image, items) in enumerate(zip(pictures, payloads)):
                time.sleep(max(0.0, begin + i / FPS - time.perf_counter()))  # frames come at the camera's rate
                started = time.perf_counter()
                for task, result in items:
                    sink.write(task, TaskOutput(result, i, i / FPS, 0.0, 0.05, image, "bench"))
                times.append((time.perf_counter() - started) * 1000)
            closing = time.perf_counter()
        close_ms = (time.perf_counter() - closing) * 1000
    warm = times[3:]  # the first frames register channels and warm caches
    return {"output": output, "scenario": scenario, "p50": statistics.median(warm),
            "p95": statistics.quantiles(warm, n=20)[-1], "close_ms": close_ms}


def section(rows: list[dict], count: int) -> str:
    scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
    names = {"depth": "relative depth", "metric-1": "metric depth, points stride 1",
             "metric-4": "metric depth, points stride 4", "all": "metric (stride 4) + segmentation + top-5"}
    lines = [BEGIN, "## Robotics outputs: logging cost per 1280x720 frame", "",
             f"`python scripts/bench_robotics.py --frames {count}` on {datetime.date.today()}, {platform.machine()}: "
             "the time `sink.write` takes in the run's thread for the frame and its results (ms, p50 / p95), "
             "the way `livevision run --rerun/--mcap/--foxglove` hands them over, frames arriving at 25 fps "
             "(the MCAP writer runs on its own thread between them). Target: at most 5 ms per frame for each "
             "output. Foxglove with no viewer connected.", "",
             "| output | " + " | ".join(names[s] for s in scenarios) + " |", "|---" * (len(scenarios) + 1) + "|"]
    for output in dict.fromkeys(r["output"] for r in rows):
        cells = []
        for scenario in scenarios:
            r = next(x for x in rows if x["output"] == output and x["scenario"] == scenario)
            cells.append(f"{r['p50']:.1f} / {r['p95']:.1f}{' ✓' if r['p50'] <= 5.0 else ' ✗'}")
        lines.append(f"| {output} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", END])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "BENCHMARKS.md"))
    args = parser.parse_args()
    pictures = frames(args.frames)
    rows = [measure(output, scenario, pictures)
            for output in ("mcap-none", "mcap-lz4", "rerun", "foxglove")
            for scenario in ("depth", "metric-1", "metric-4", "all")]
    text = section(rows, args.frames)
    print(text)
    write_section(Path(args.out), "robotics", text)


if __name__ == "__main__":
    main()
