"""`livevision batch` against a shell loop of `livevision run`, on 8 copies of a short clip, written to
BENCHMARKS.md between its `<!-- batch:begin -->` / `<!-- batch:end -->` markers.

Both write each file's results (JSON Lines) with the same model, precision and device; the loop starts
one process per file (imports, model load, session), the batch loads the model once per worker. The
batch runs three ways: one worker in this process (what loading the model once gives alone), a worker
per core in this process (the default without a Ray cluster), and a local Ray (--ray local). The
model is the benchmark's full-size SegFormer-B0 (bench-cache/, made by scripts/bench.py), its clips the
first --frames frames of the 640x272 benchmark video.

    python scripts/bench_batch.py [--files 8] [--frames 20] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2

from bench_sections import markers, write_section

BEGIN, END = markers("batch")
ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "bench-cache"
MODEL = CACHE / "models" / "segformer"
VIDEO = CACHE / "media" / "synthetic-640x272-25fps-60.mp4"


def make_clips(folder: Path, files: int, frames: int) -> list[Path]:
    cap = cv2.VideoCapture(str(VIDEO))
    pictures = [cap.read()[1] for _ in range(frames)]
    if any(p is None for p in pictures):
        raise SystemExit(f"{VIDEO} is missing or short: run scripts/bench.py --models segformer first")
    first = folder / "clip00.mp4"
    writer = cv2.VideoWriter(str(first), cv2.VideoWriter_fourcc(*"mp4v"), 25.0, pictures[0].shape[1::-1])
    for picture in pictures:
        writer.write(picture)
    writer.release()
    clips = [first]
    for i in range(1, files):
        clips.append(folder / f"clip{i:02d}.mp4")
        shutil.copyfile(first, clips[-1])
    return clips


def livevision(*args: str) -> None:
    cmd = [sys.executable, "-m", "livevision", *args, "--task", "segmentation", "--model", str(MODEL),
           "--cache-dir", str(CACHE / "onnx"), "--precision", "fp32", "--device", "cpu"]
    done = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = make_clips(tmp, args.files, args.frames)
        livevision("run", "--source", str(clips[0]), "--no-display", "--results", str(tmp / "warm.jsonl"))  # export
        rows = {}
        started = time.monotonic()
        for clip in clips:
            livevision("run", "--source", str(clip), "--no-display", "--results", str(tmp / f"loop-{clip.stem}.jsonl"))
        rows["shell loop of `livevision run`"] = time.monotonic() - started
        for how in ("--ray off --workers 1", "--ray off", "--ray local"):
            started = time.monotonic()
            livevision("batch", str(tmp / "clip*.mp4"), "--output-dir", str(tmp / f"batch-{len(rows)}"), *how.split())
            rows[f"`livevision batch {how}`"] = time.monotonic() - started
    loop = rows["shell loop of `livevision run`"]
    lines = [BEGIN, "## `livevision batch` against a loop of `livevision run`", "",
             f"`python scripts/bench_batch.py --files {args.files} --frames {args.frames}` on {datetime.date.today()}, "
             f"{platform.machine()}, {os.cpu_count()} cores: {args.files} copies of a {args.frames}-frame 640x272 "
             "clip, "
             "full-size SegFormer-B0 (random weights), FP32 on the CPU, results as JSON Lines. Wall time from the "
             "command's start to its end (the batch's includes starting and stopping Ray). `--workers 1`: one file "
             "at a time on every core, the model loaded once; `--ray off` (its default `--workers auto`): a worker "
             "per core in one process, each model on one ONNX Runtime thread; `--ray local`: the same as Ray actors. "
             "Target: the batch at least 1.3x the loop's files per minute on this 2-core machine.", "",
             "| how | seconds | files per minute | vs the loop |", "|---|---|---|---|"]
    for how, seconds in rows.items():
        ratio = loop / seconds
        mark = "" if how.startswith("shell") else (" ✓" if ratio >= 1.3 else " ✗")
        lines.append(f"| {how} | {seconds:.1f} | {60 * args.files / seconds:.1f} | {ratio:.2f}x{mark} |")
    text = "\n".join(lines + ["", END])
    print(text)
    write_section(Path(args.out), "batch", text)


if __name__ == "__main__":
    main()
