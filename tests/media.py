"""Synthetic media for tests: frames with their index drawn into the pixels, videos (with or
without an audio track) made with the bundled ffmpeg, and a probe of what a video holds."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from livevision.sinks.ffmpeg import find_ffmpeg

W, H = 128, 72
BITS = 8
BLOCK_W, BLOCK_H, X0, Y0 = 14, 16, 8, 16


def index_frame(i: int, w: int = W, h: int = H) -> np.ndarray:
    """A BGR frame whose blocks encode `i` in binary (white = 1), on a coloured background."""
    frame = np.empty((h, w, 3), np.uint8)
    frame[:] = (60 + (i * 7) % 100, 90, 140)
    frame[Y0 - 4 : Y0 + BLOCK_H + 4, X0 - 4 : X0 + BITS * BLOCK_W + 4] = 128
    for b in range(BITS):
        x = X0 + b * BLOCK_W
        frame[Y0 : Y0 + BLOCK_H, x + 2 : x + BLOCK_W - 2] = 255 if (i >> b) & 1 else 0
    return frame


def read_index(frame: np.ndarray) -> int:
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    value = 0
    for b in range(BITS):
        x = X0 + b * BLOCK_W
        cell = gray[Y0 + 4 : Y0 + BLOCK_H - 4, x + 4 : x + BLOCK_W - 4]
        value |= int(cell.mean() > 128) << b
    return value


def make_source(path: Path, n: int, fps: Fraction, audio_s: float | None, size_wh=(W, H)) -> Path:
    """An H.264 MP4 of n index frames at fps, with a sine audio track of audio_s seconds (or none)."""
    w, h = size_wh
    args = [find_ffmpeg(), "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "bgr24", "-s", f"{w}x{h}",
            "-framerate", f"{fps.numerator}/{fps.denominator}", "-i", "pipe:0"]  # fmt: skip
    if audio_s is not None:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={audio_s}", "-c:a", "aac"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)]
    data = b"".join(index_frame(i, w, h).tobytes() for i in range(n))
    subprocess.run(args, input=data, check=True, timeout=60)
    return path


def probe(path: Path) -> dict:
    """Stream facts parsed from `ffmpeg -i` (there is no ffprobe here)."""
    err = subprocess.run(
        [find_ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True, timeout=30
    ).stderr
    video = re.search(r"Stream #\d+:\d+.*?: Video: (\w+).*?, (\w+)\(.*?, (\d+)x(\d+)", err)
    if video is None:  # no parenthesised pixel-format details (e.g. mjpeg)
        video = re.search(r"Stream #\d+:\d+.*?: Video: (\w+).*?, (\w+), (\d+)x(\d+)", err)
    dur = re.search(r"Duration: (\d+):(\d+):(\d+\.\d+)", err)
    assert video and dur, err
    h, m, s = dur.groups()
    return {
        "codec": video.group(1),
        "pix_fmt": video.group(2),
        "wh": (int(video.group(3)), int(video.group(4))),
        "audio": bool(re.search(r"Stream #\d+:\d+.*?: Audio:", err)),
        "duration_s": int(h) * 3600 + int(m) * 60 + float(s),
        "text": err,
    }


def read_frames(cap: cv2.VideoCapture) -> Iterator[np.ndarray]:
    """Every frame left in an open capture, in order."""
    while True:
        ok, frame = cap.read()
        if not ok:
            return
        yield frame


def decode(path: Path) -> tuple[float, list[np.ndarray]]:
    cap = cv2.VideoCapture(str(path))
    assert cap.isOpened(), path
    fps = cap.get(cv2.CAP_PROP_FPS)
    frames = list(read_frames(cap))
    cap.release()
    return fps, frames




def write_avi(path: Path, frames: int, fps: float = 25.0, size_wh=(160, 120)) -> Path:
    """A Motion-JPEG .avi of indexed frames, written by OpenCV alone."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, size_wh)
    assert writer.isOpened(), f"cannot write {path}"
    for i in range(frames):
        writer.write(index_frame(i, *size_wh))
    writer.release()
    return path
