"""What objects over time cost per 1280x720 frame, written to BENCHMARKS.md between its
`<!-- objects:begin -->` / `<!-- objects:end -->` markers: each object's distance from a metric depth map
(livevision.objects.distance, boxes and masks), drawing the detections (360p and 1080p), and the detection
task's outputs (a --results line, the ROS 2 messages --mcap and --foxglove send, their bytes), for 10 / 20 /
100 objects. The tracking step's own cost is in bench_tracking.py's section. Medians over many calls in
this process's thread, OpenCV on one thread (as in a stream).

    python scripts/bench_objects.py [--calls 50] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from bench_sections import markers, write_section

from livevision.objects.distance import attach_depth
from livevision.pointcloud import CameraIntrinsics
from livevision.tasks.registry import definition
from livevision.types import DepthKind, DepthResult, Detection, DetectionResult, Segment, SegmentationResult, Task
from livevision.types import SegmentationKind, TaskOutput

BEGIN, END = markers("objects")
H, W = 720, 1280
CAMERA = CameraIntrinsics.from_fov(W, H, 70.0)


def scene(n: int, seed: int = 0):
    """A metric depth map and n objects (boxes of 40-200 px, their elliptic masks), tracked and at depths."""
    rng = np.random.default_rng(seed)
    depth = (2.0 + 6.0 * np.mgrid[:H, :W][0] / H).astype(np.float32)
    detections, segments = [], []
    for i in range(n):
        w, h = rng.integers(40, 200, 2)
        x, y = rng.integers(0, W - w), rng.integers(0, H - h)
        depth[y:y + h, x:x + w] = rng.uniform(1.0, 6.0)
        mask = np.zeros((H, W), bool)
        cv2.ellipse(mask.view(np.uint8), (int(x + w // 2), int(y + h // 2)), (int(w // 2), int(h // 2)), 0, 0, 360,
                    1, -1)
        box = (float(x), float(y), float(x + w), float(y + h))
        detections.append(Detection(box, i % 80, f"class_{i % 80}", 0.9, track_id=i + 1))
        segments.append(Segment(i, i % 80, f"class_{i % 80}", 0.9, mask, track_id=i + 1))
    labels = {i: f"class_{i}" for i in range(80)}
    return (DepthResult(depth, DepthKind.METRIC), DetectionResult(tuple(detections), labels),
            SegmentationResult(SegmentationKind.INSTANCE, np.full((H, W), -1, np.int32), labels, tuple(segments)))


def median_ms(fn, calls: int) -> float:
    fn()
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def output(result, index=0) -> TaskOutput:
    return TaskOutput(result, index, index / 25, 0.0, 0.01, image=np.zeros((H, W, 3), np.uint8))


def measure(n: int, calls: int) -> dict:
    depth, detections, segments = scene(n)
    row = {"n": n}
    for name, task, result in (("boxes", Task.DETECTION, detections), ("masks", Task.SEGMENTATION, segments)):
        outputs = {Task.DEPTH: output(depth), task: output(result)}
        row[f"distance_{name}"] = median_ms(lambda: attach_depth(outputs, CAMERA), calls)
    placed = attach_depth({Task.DEPTH: output(depth), Task.DETECTION: output(detections)}, CAMERA)
    located = placed[Task.DETECTION].result
    detection = definition(Task.DETECTION)
    annotator = detection.annotators()["detection"]
    for height in (360, 1080):
        scale = height / H
        drawn = DetectionResult(tuple(replace(d, box=tuple(v * scale for v in d.box)) for d in located.detections),
                                located.id2label)
        canvas = np.full((height, int(W * scale), 3), 90, np.uint8)
        row[f"draw_{height}"] = median_ms(lambda: annotator.draw_layer(canvas.copy(), drawn), calls)
    row["record_bytes"] = len(json.dumps(detection.record(located)))
    messages = detection.ros2_messages(0, located, CAMERA, image=None, point_stride=16, depth_stride=2, raw=False)
    row["ros2_bytes"] = {m.topic.rsplit("/livevision/", 1)[-1]: len(m.data) for m in messages}
    row["ros2_ms"] = median_ms(lambda: detection.ros2_messages(0, located, CAMERA, image=None, point_stride=16,
                                                               depth_stride=2, raw=False), calls)
    return row


def section(rows: list[dict], calls: int) -> str:
    lines = [BEGIN, "## Objects: distance, drawing and outputs per 1280x720 frame", "",
             f"`python scripts/bench_objects.py --calls {calls}` on {datetime.date.today()}, {platform.machine()}, "
             f"{__import__('os').cpu_count()} cores (shared), OpenCV on one thread: n objects of 40-200 px at random "
             "places, each with a track id and a metric depth; medians in ms.", "",
             "| objects | distance, boxes | distance, masks | draw 360p | draw 1080p | --results line | ROS 2 "
             "messages (encode) | ROS 2 bytes |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        sizes = ", ".join(f"{topic} {size:,}" for topic, size in r["ros2_bytes"].items())
        lines.append(f"| {r['n']} | {r['distance_boxes']:.2f} | {r['distance_masks']:.2f} | {r['draw_360']:.2f} | "
                     f"{r['draw_1080']:.2f} | {r['record_bytes']:,} B | {r['ros2_ms']:.2f} | {sizes} |")
    lines += ["", "Distances of masks read each full-frame mask once (its box first): the cost grows with the "
              "number of masks times the frame size; boxes read only their middle half. At 25 frames a second, "
              "20 tracked objects add the ROS 2 bytes above x 1,500 a minute to an MCAP before compression.", END]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "BENCHMARKS.md"))
    args = parser.parse_args()
    cv2.setNumThreads(1)
    rows = [measure(n, args.calls) for n in (10, 20, 100)]
    text = section(rows, args.calls)
    print(text)
    write_section(Path(args.out), "objects", text)


if __name__ == "__main__":
    main()
