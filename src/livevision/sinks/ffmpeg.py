"""Helpers around the ffmpeg binary: finding it, asking what it can do, exact frame rates."""

from __future__ import annotations

import math
import os
import re
import shutil
import subprocess
import sys
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from ..errors import MissingDependencyError, UsageError
from .errors import SinkError


def as_fraction(fps: float | int | Fraction | str) -> Fraction:
    """A frame rate as an exact Fraction: Fraction and "30000/1001" are kept exactly; floats are
    snapped to the nearest fraction with denominator <= 1001 (29.97002997 -> 30000/1001, 25.0 -> 25)."""
    if isinstance(fps, Fraction):
        value = fps
    elif isinstance(fps, str):
        try:
            value = Fraction(fps.strip())
        except (ValueError, ZeroDivisionError):
            raise UsageError(f"invalid fps {fps!r}: expected a number or a ratio like 30000/1001") from None
    else:
        try:
            f = float(fps)
        except (TypeError, ValueError):
            raise UsageError(f"invalid fps {fps!r}: expected a number") from None
        if not math.isfinite(f):
            raise UsageError(f"invalid fps {fps!r}: must be a finite number > 0")
        value = Fraction(f).limit_denominator(1001)
    if not 0 < value <= 1000:
        raise UsageError(f"invalid fps {fps!r}: must be > 0 and <= 1000")
    return value


def find_ffmpeg(ffmpeg_exe: str | os.PathLike[str] | None = None) -> str:
    """The ffmpeg binary: `ffmpeg_exe` if given, else imageio-ffmpeg's, else `ffmpeg` on PATH."""
    if ffmpeg_exe is not None:
        exe = str(ffmpeg_exe)
        if not (os.path.isfile(exe) or shutil.which(exe)):
            raise MissingDependencyError(f"ffmpeg binary {exe!r} not found")
        return exe
    try:
        import imageio_ffmpeg
    except ImportError:
        found = shutil.which("ffmpeg")
        if found:
            return found
        raise MissingDependencyError("writing video needs an ffmpeg binary: pip install imageio-ffmpeg") from None
    try:
        return imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError as e:  # no binary for this platform
        raise MissingDependencyError(f"imageio-ffmpeg has no ffmpeg binary here: {e}") from None


@lru_cache(maxsize=8)
def ffmpeg_encoders(exe: str) -> frozenset[str]:
    try:
        out = subprocess.run(
            [exe, "-hide_banner", "-encoders"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        ).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        raise MissingDependencyError(f"cannot run ffmpeg {exe!r}: {e}") from None
    return frozenset(m.group(1) for m in re.finditer(r"^\s*[VAS][\w.]{5}\s+(\S+)", out, re.MULTILINE))


_STREAM_RE = re.compile(r"^\s*Stream #\d+:\d+.*?: (Video|Audio|Subtitle|Data)", re.MULTILINE)


def has_audio(exe: str, source: Path) -> bool:
    """True if the media file has an audio stream (parsed from `ffmpeg -i`; no ffprobe here)."""
    try:
        proc = subprocess.run(
            [exe, "-hide_banner", "-nostdin", "-i", str(source)],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=60,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        raise SinkError(f"cannot read audio_from {str(source)!r}: {e}") from None
    kinds = _STREAM_RE.findall(proc.stderr)
    if not kinds:
        last = last_line(proc.stderr.splitlines()) or "no media streams"
        raise SinkError(f"cannot read audio_from {str(source)!r}: {last}")
    return "Audio" in kinds


def last_line(lines) -> str:
    for line in reversed(list(lines)):
        if line.strip():
            return line.strip()
    return ""


def new_process_group_kwargs() -> dict:
    # ffmpeg in its own process group: Ctrl-C in the terminal interrupts Python only, and the
    # sink's close() then finalizes the file instead of ffmpeg aborting on its own.
    if sys.platform == "win32":
        return {"creationflags": subprocess.CREATE_NEW_PROCESS_GROUP}
    return {"start_new_session": True}
