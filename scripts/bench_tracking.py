"""Object tracking (livevision.objects.tracking): quality of each tracker candidate on the synthetic clip
(livevision.objects.synthetic) through a Stream, and the cost of a tracking step, written to
BENCHMARKS.md between its `<!-- tracking:begin -->` / `<!-- tracking:end -->` markers.

Quality: the clip's frames (every frame, every 2nd / 3rd, or gaps of 1 to 4 frames at random, each with its
own index: the gaps a live run's skipping leaves) through
Stream(..., {"detection": ColourDetector()}, "every", track=True), the detection step swapped for each
candidate, each with and without our relinking (livevision.objects.relink); IDF1, MOTA and ID switches over
the frames processed.
Cost: median time of one tracking step (ObjectTracker on a DetectionResult) for 10 and 100 objects
moving about, beside the colour detector's own time on a frame.

sv.ByteTrack left supervision in 0.31 (deprecated since 0.28 for trackers' ByteTrackTracker), and
trackers needs supervision >= 0.26.1: give an older supervision installed in a folder of its own
(`pip install --no-deps --target DIR supervision==0.30.9`) as --supervision-path and its rows run in a
subprocess with it.

    python scripts/bench_tracking.py [--frames 300] [--objects 10] [--supervision-path DIR] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from bench_sections import markers, write_section

from livevision.engine.running import TaskOutput
from livevision.objects.metrics import score
from livevision.objects.synthetic import ClipSource, ColourDetector, make_clip
from livevision.objects.tracking import LOST_FRAMES, NOMINAL_FPS, detection_tracker
from livevision.stream import Stream
from livevision.types import Detection, DetectionResult, Task

SV_BYTETRACK = "supervision 0.30.9 sv.ByteTrack"
FAST_SPEED = 2.0
SV_NO_GAPS = SV_BYTETRACK + ", gaps ignored"
IN_SUBPROCESS = (SV_BYTETRACK, SV_NO_GAPS)


def _order_back(n: int, tracked) -> np.ndarray:
    ids = np.full(n, -1, int)
    if len(tracked):
        ids[tracked.data["order"]] = tracked.tracker_id
    return ids


def _detections(boxes, scores):
    import supervision as sv

    return sv.Detections(xyxy=boxes.astype(np.float32).reshape(-1, 4), confidence=scores.astype(np.float32),
                         data={"order": np.arange(len(boxes))})


class TrackersIds:
    """A `trackers` tracker as ObjectTracker's ids, frame gaps as time (as tracking.ByteTrackIds)."""

    def __init__(self, name: str, gaps: bool = True, **params):
        import trackers

        self.gaps = gaps
        self.tracker = getattr(trackers, name)(lost_track_buffer=LOST_FRAMES, frame_rate=NOMINAL_FPS,
                                               minimum_consecutive_frames=2, **params)

    def __call__(self, boxes, scores, frame_index):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            timestamp = frame_index / NOMINAL_FPS if self.gaps else None  # None: one frame an update
            tracked = self.tracker.update(_detections(boxes, scores), timestamp=timestamp)
        return _order_back(len(boxes), tracked)


class SupervisionIds:
    """supervision's sv.ByteTrack: no notion of time; gaps True: each skipped frame is an update without
    detections (its Kalman filter steps, its lost-track count grows); False: one frame an update."""

    def __init__(self, gaps: bool = True):
        self.gaps = gaps
        import supervision as sv

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.tracker = sv.ByteTrack(track_activation_threshold=0.0, lost_track_buffer=LOST_FRAMES,
                                        frame_rate=NOMINAL_FPS, minimum_consecutive_frames=2)
        self.last = None

    def __call__(self, boxes, scores, frame_index):
        if self.last is not None and self.gaps:
            for _ in range(frame_index - self.last - 1):
                self.tracker.update_with_detections(_detections(np.zeros((0, 4)), np.zeros(0)))
        self.last = frame_index
        tracked = self.tracker.update_with_detections(_detections(boxes, scores))  # the tracked ones only
        return _order_back(len(boxes), tracked)


CANDIDATES = {
    "trackers 2.6.1 ByteTrackTracker": lambda: TrackersIds("ByteTrackTracker", track_activation_threshold=0.0,
                                                           high_conf_det_threshold=0.0),
    "trackers 2.6.1 ByteTrackTracker, gaps ignored": lambda: TrackersIds(
        "ByteTrackTracker", gaps=False, track_activation_threshold=0.0, high_conf_det_threshold=0.0),
    "trackers 2.6.1 SORTTracker": lambda: TrackersIds("SORTTracker", track_activation_threshold=0.0),
    "trackers 2.6.1 OCSORTTracker": lambda: TrackersIds("OCSORTTracker", high_conf_det_threshold=0.0),
    "trackers 2.6.1 BoTSORTTracker (no CMC)": lambda: TrackersIds(
        "BoTSORTTracker", track_activation_threshold=0.0, high_conf_det_threshold=0.0, enable_cmc=False),
    SV_BYTETRACK: SupervisionIds,
    SV_NO_GAPS: lambda: SupervisionIds(gaps=False),
}


def random_gaps(n: int) -> np.ndarray:
    """Frames 0 .. n-1 with gaps of 1 to 4 frames at random: a model about 2.5 times slower than the camera,
    its time varying."""
    kept = np.cumsum(np.random.default_rng(0).integers(1, 5, n)) - 1
    return kept[kept < n]


#: The frames processed, by name: a function of the clip's length.
FRAMES = {"every": range, "every 2nd": lambda n: range(0, n, 2), "every 3rd": lambda n: range(0, n, 3),
          "gaps 1-4": random_gaps}


def quality(name: str, clip, frames: str, relink: bool) -> dict:
    """The candidate's scores on the clip's frames chosen by FRAMES[frames], through a Stream."""
    indices = sorted({int(i) for i in FRAMES[frames](len(clip.frames))})
    stream = Stream(ClipSource(clip, indices), {"detection": ColourDetector()}, "every", track=True)
    stream.steps[Task.DETECTION] = detection_tracker(make_ids=CANDIDATES[name], relink=relink)
    truth, tracks = [], []
    with stream:
        for packet in stream:
            out = packet.outputs[Task.DETECTION]
            truth.append(clip.truth[out.frame_index])
            tracks.append({d.track_id: d.box for d in out.result.detections if d.track_id is not None})
    return score(truth, tracks).row()


def moving_boxes(n: int, updates: int, seed: int = 0):
    """`updates` frames of n 40x40 boxes drifting about a 1280x720 frame."""
    rng = np.random.default_rng(seed)
    centres = rng.uniform([50, 50], [1230, 670], (n, 2))
    velocity = rng.normal(0, 3, (n, 2))
    for _ in range(updates):
        centres = np.clip(centres + velocity + rng.normal(0, 0.5, (n, 2)), 20, [1260, 700])
        yield np.hstack([centres - 20, centres + 20])


def step_cost_ms(name: str, n: int, updates: int = 400) -> tuple[float, float]:
    """Median milliseconds of one ObjectTracker step with n objects, and of the tracker's own update in
    it (after 20 warm-up updates)."""
    inner = []

    def timed_ids():
        ids = CANDIDATES[name]()

        def update(*args):
            start = time.perf_counter()
            try:
                return ids(*args)
            finally:
                inner.append(time.perf_counter() - start)
        return update

    tracker = detection_tracker(make_ids=timed_ids)
    times = []
    for i, boxes in enumerate(moving_boxes(n, updates)):
        result = DetectionResult(tuple(Detection(tuple(map(float, b)), 0, "thing", 0.9) for b in boxes), {0: "thing"})
        output = TaskOutput(result, i, i / 30, 0.0, 0.0)
        start = time.perf_counter()
        tracker(output)
        times.append(time.perf_counter() - start)
    return round(statistics.median(times[20:]) * 1e3, 3), round(statistics.median(inner[20:]) * 1e3, 3)


def detector_cost_ms(clip, runs: int = 100) -> float:
    detector = ColourDetector()
    times = []
    for frame in clip.frames[:runs]:
        start = time.perf_counter()
        detector(frame)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def measure(names, args) -> list[dict]:
    clip = make_clip(args.objects, args.frames, seed=args.seed)
    rows = []
    for name in names:
        row = {"name": name, "cost": {n: step_cost_ms(name, n) for n in (10, 100)}, "quality": {}}
        for frames in FRAMES:
            for relink in (False, True):
                row["quality"][f"{frames} {relink}"] = quality(name, clip, frames, relink)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def measure_fast(args) -> str:
    """ByteTrack with frame gaps as time against one frame an update, on the clip at FAST_SPEED."""
    clip = make_clip(args.objects, args.frames, speed=FAST_SPEED, seed=args.seed)
    lines = [f"The same clip with the shapes {FAST_SPEED:g}x as fast ({1.5 * FAST_SPEED:g} to {4 * FAST_SPEED:g} "
             "pixels a frame), ByteTrack with frame gaps given as time (livevision's) against one frame an update:",
             "", "| tracker | frames | IDF1 | MOTA | ID sw. | IDF1 +relink | MOTA +relink | ID sw. +relink |",
             "|---|---|---|---|---|---|---|---|"]
    for name in ("trackers 2.6.1 ByteTrackTracker", "trackers 2.6.1 ByteTrackTracker, gaps ignored"):
        for frames in ("every 2nd", "gaps 1-4"):
            plain, linked = (quality(name, clip, frames, relink) for relink in (False, True))
            lines.append(f"| {name} | {frames} | {plain['IDF1']} | {plain['MOTA']} | {plain['ID switches']} "
                         f"| {linked['IDF1']} | {linked['MOTA']} | {linked['ID switches']} |")
    return "\n".join(lines)


def in_subprocess(name: str, args) -> list[dict]:
    """`name`'s rows from this script in a process whose supervision is the one at args.supervision_path."""
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([args.supervision_path, src])}
    cmd = [sys.executable, __file__, "--only", name, "--frames", str(args.frames), "--objects", str(args.objects),
           "--seed", str(args.seed)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def table(rows: list[dict], clip_desc: str, detector_ms: float) -> str:
    lines = [f"Synthetic clip: {clip_desc}. IDF1 / MOTA / ID switches over the frames processed; `+relink`: "
             "with livevision.objects.relink.", "",
             "| tracker | frames | IDF1 | MOTA | ID sw. | IDF1 +relink | MOTA +relink | ID sw. +relink |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for frames in FRAMES:
            plain, linked = row["quality"][f"{frames} False"], row["quality"][f"{frames} True"]
            lines.append(f"| {row['name']} | {frames} | {plain['IDF1']} | {plain['MOTA']} | {plain['ID switches']} "
                         f"| {linked['IDF1']} | {linked['MOTA']} | {linked['ID switches']} |")
    lines += ["", "Cost of one tracking step (ObjectTracker with relinking: the tracker, our id mapping, the "
              "result's copies) and of the tracker's own update in it, 1280x720 boxes drifting about, median "
              f"over 380 updates; the colour detector itself: {detector_ms:.2f} ms a 640x360 frame.", "",
              "| tracker | 10 objects: step ms | tracker ms | 100 objects: step ms | tracker ms |",
              "|---|---|---|---|---|"]
    lines += [f"| {row['name']} | {row['cost']['10'][0]} | {row['cost']['10'][1]} | {row['cost']['100'][0]} | "
              f"{row['cost']['100'][1]} |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--objects", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--supervision-path", help="a folder with supervision<0.31 (sv.ByteTrack) installed")
    parser.add_argument("--only", help=argparse.SUPPRESS)
    parser.add_argument("--out", default="BENCHMARKS.md")
    args = parser.parse_args()
    if args.only:
        measure([args.only], args)
        return
    rows = measure([n for n in CANDIDATES if n not in IN_SUBPROCESS], args)
    if args.supervision_path:
        rows += [row for name in IN_SUBPROCESS for row in in_subprocess(name, args)]
    for row in rows:  # JSON turned the cost keys into text
        row["cost"] = {str(k): v for k, v in row["cost"].items()}
    clip_desc = (f"{args.objects} shapes, {args.frames} frames of 640x360, head-on and random crossings, a 40 px "
                 f"occluder bar (seed {args.seed})")
    detector_ms = detector_cost_ms(make_clip(args.objects, 100, seed=args.seed))
    begin, end = markers("tracking")
    text = "\n".join([begin,
                      f"`python scripts/bench_tracking.py --supervision-path DIR` ({datetime.date.today()}, "
                      f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, shared).", "",
                      table(rows, clip_desc, detector_ms), "", measure_fast(args), end])
    write_section(Path(args.out), "tracking", text)
    print(text)


if __name__ == "__main__":
    main()
