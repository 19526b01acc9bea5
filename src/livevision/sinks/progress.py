"""ProgressBar: frames done / total, frame rate and ETA for file processing, on stderr.

On a terminal it redraws one line with carriage returns (at most every `tty_interval_s`);
otherwise (a log file, CI) it writes a plain line every `log_interval_s` and one at the end.
No dependency: tqdm would do the terminal part, but not the timed plain lines for logs, and its
rate is an average we cannot control; this is ~100 lines and tests with an injected clock.

The rate is frames finished over the last `window_s` seconds (samples of (time, count): the
rate is the count difference over the time difference, so it is not off by one interval);
ETA = frames left / rate.
"""

from __future__ import annotations

import collections
import shutil
import sys
import time
from collections.abc import Callable
from typing import TextIO


def format_duration(seconds: float) -> str:
    """H:MM:SS."""
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}"


class ProgressBar:
    """Progress of `total` frames (None when unknown, e.g. live sources: no percentage, no ETA).

    update(n=1) after each frame; close() (or leaving the `with` block) prints the final state.
    stream: default sys.stderr. is_tty: default stream.isatty(). clock: seconds, monotonic.
    """

    def __init__(
        self,
        total: int | None,
        *,
        desc: str = "",
        stream: TextIO | None = None,
        is_tty: bool | None = None,
        tty_interval_s: float = 0.1,
        log_interval_s: float = 10.0,
        window_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = int(total) if total is not None and total > 0 else None
        self.desc = desc
        self.stream = sys.stderr if stream is None else stream
        if is_tty is None:
            try:
                is_tty = bool(self.stream.isatty())
            except (AttributeError, ValueError):
                is_tty = False
        self.is_tty = is_tty
        self.interval_s = tty_interval_s if is_tty else log_interval_s
        self.window_s = window_s
        self.clock = clock
        self.n = 0
        self.closed = False
        self._start = clock()
        self._samples: collections.deque[tuple[float, int]] = collections.deque([(self._start, 0)])
        self._last_draw = self._start
        self._last_len = 0

    # ---- numbers --------------------------------------------------------------------------

    def rate(self) -> float | None:
        """Frames per second over the last `window_s` seconds (None before the first interval)."""
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        if t1 <= t0:
            return None
        return (n1 - n0) / (t1 - t0)

    def eta_s(self) -> float | None:
        rate = self.rate()
        if self.total is None or not rate:
            return None
        return max(0, self.total - self.n) / rate

    def text(self, width: int | None = None) -> str:
        """The progress line, without line ending. With `width`, a bar fills the spare room, and a
        description too long for the line is shortened in its middle: the figures always show."""
        rate = self.rate()
        parts = [self.desc] if self.desc else []
        if self.total is not None:
            pct = 100.0 * min(self.n, self.total) / self.total
            parts.append(f"{pct:3.0f}%")
            counts = f"{self.n}/{self.total}"
        else:
            counts = f"{self.n}"
        tail = [counts + " frames", f"{rate:.1f} fps" if rate is not None else "-- fps"]
        if self.total is not None:
            eta = self.eta_s()
            tail.append(f"ETA {format_duration(eta)}" if eta is not None and not self.closed else "")
        tail.append(f"elapsed {format_duration(self.clock() - self._start)}")
        tail = [t for t in tail if t]
        if width is not None and parts:
            room = width - 1 - len(" ".join(parts[1:] + tail)) - 1  # what is left for the description
            parts[0] = _shorten(parts[0], room)
            if not parts[0]:
                parts.pop(0)
        if width is not None and self.total is not None:
            used = len(" ".join(parts + tail)) + 3
            bar_w = min(40, width - used - 1)
            if bar_w >= 10:
                filled = int(bar_w * min(self.n, self.total) / self.total)
                parts.append("[" + "#" * filled + "-" * (bar_w - filled) + "]")
        return " ".join(parts + tail)

    # ---- drawing --------------------------------------------------------------------------

    def update(self, n: int = 1) -> None:
        """Count `n` more finished frames; redraw if the interval has passed."""
        self.n += n
        now = self.clock()
        self._samples.append((now, self.n))
        while len(self._samples) > 2 and now - self._samples[1][0] >= self.window_s:
            self._samples.popleft()
        if now - self._last_draw >= self.interval_s:
            self._last_draw = now
            self._draw()

    def _draw(self, final: bool = False) -> None:
        try:
            if self.is_tty:
                width = shutil.get_terminal_size((80, 24)).columns
                line = self.text(width)[: width - 1]
                pad = " " * max(0, self._last_len - len(line))
                self._last_len = len(line)
                self.stream.write("\r" + line + pad + ("\n" if final else ""))
            else:
                self.stream.write(self.text() + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # stream closed: progress is not worth a crash
            pass

    def close(self) -> None:
        """Draw the final state and end the line. Idempotent."""
        if self.closed:
            return
        self.closed = True
        self._draw(final=True)

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc) -> bool:
        self.close()
        return False


def _shorten(text: str, room: int) -> str:
    """`text` in at most `room` characters, its middle replaced by "..." (nothing if there is no room)."""
    if len(text) <= room:
        return text
    if room < 8:
        return ""
    keep = room - 3
    return text[: keep // 2] + "..." + text[len(text) - (keep - keep // 2):]


__all__ = ["ProgressBar", "format_duration"]
