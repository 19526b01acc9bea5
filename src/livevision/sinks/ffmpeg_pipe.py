"""FramePipe: an ffmpeg process that takes raw frames on its stdin, for VideoSink.

ffmpeg is started with an argument list, never through a shell, in its own process group so a
Ctrl-C reaches Python only and the sink can still finalize the file. The bytes go through a small
writer thread: an interrupt (Ctrl-C) in the caller never leaves half a frame in the pipe, and a dead
ffmpeg is noticed within 0.1 s. ffmpeg's stderr is always read, so it can never block on a full pipe.
"""

from __future__ import annotations

import collections
import logging
import queue
import subprocess
import threading
import time

import numpy as np

from ..threads import join_all
from .ffmpeg import last_line, new_process_group_kwargs


class FramePipe:
    """A running ffmpeg fed whole frames by a writer thread, its stderr drained by another.

    args: the ffmpeg argument list (raw frames on pipe:0); starting it raises OSError when it cannot
    start. log: where ffmpeg's stderr lines go (debug). frames_written: frames ffmpeg has taken
    completely (counted by the writer thread).
    """

    def __init__(self, args: list[str], log: logging.Logger) -> None:
        self._log = log
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            bufsize=0,
            **new_process_group_kwargs(),
        )
        self.frames_written = 0
        self._stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        self._jobs: queue.Queue = queue.Queue(maxsize=1)
        self._writer_error: BaseException | None = None
        self._stderr_thread = threading.Thread(
            target=self._drain_stderr, args=(self.proc.stderr,), name="ffmpeg-stderr", daemon=True
        )
        self._stderr_thread.start()
        self._writer = threading.Thread(target=self._write_loop, name="ffmpeg-stdin", daemon=True)
        self._writer.start()

    def write(self, frame: np.ndarray, timeout_s: float) -> str | None:
        """Hand a contiguous frame to ffmpeg and wait until it has taken all of it: None, or why it did
        not (ffmpeg stopped, or took no data for timeout_s)."""
        done = threading.Event()
        if not self._put((frame, done), timeout_s):
            return self._stall_reason(timeout_s)
        deadline = time.monotonic() + timeout_s
        while not done.wait(0.1):
            if not self._writer_alive() or time.monotonic() > deadline:
                return self._stall_reason(timeout_s)
        if self._writer_error is not None:
            return "ffmpeg stopped while writing"
        return None

    def end(self, timeout_s: float) -> int:
        """EOF after the frames already handed over (also one still in flight after Ctrl-C), then ffmpeg's
        exit code; subprocess.TimeoutExpired if it has not exited within timeout_s."""
        deadline = time.monotonic() + timeout_s
        if self._put(None, timeout_s):
            self._writer.join(timeout=max(0.0, deadline - time.monotonic()))
        return self.proc.wait(timeout=max(0.1, deadline - time.monotonic()))

    def end_now(self, grace_s: float) -> int:
        """EOF at once (after the frame being written, if it goes through quickly, else cutting it), then
        ffmpeg's exit code once it wrote what it holds; killed if it takes longer than grace_s. For the end
        of the process (a second Ctrl-C): may run while the caller was interrupted inside write() or end()."""
        if not self._put(None, min(grace_s, 0.5)):
            try:
                self.proc.stdin.close()  # the writer is stuck: ffmpeg drops the cut frame
            except (OSError, ValueError):
                pass
        return self.exit_code(grace_s)

    def exit_code(self, grace_s: float) -> int:
        """ffmpeg's exit code, killing it if it is still running (alive but not reading) after grace_s."""
        try:
            return self.proc.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        """Kill ffmpeg if it still runs and let both threads end."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        join_all([self._writer, self._stderr_thread], "ffmpeg's pipes")  # ffmpeg is gone: both end

    def last_message(self) -> str:
        """ffmpeg's last stderr line (once its stderr has ended, waiting up to 5 s for that)."""
        self._stderr_thread.join(timeout=5)
        return last_line(self._stderr_tail) or "no message from ffmpeg"

    def _write_loop(self) -> None:
        """Writer thread: whole frames into ffmpeg's stdin; None closes stdin (EOF) and ends."""
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            while True:
                job = self._jobs.get()
                if job is None:
                    break
                frame, done = job
                try:
                    view = memoryview(frame).cast("B")
                    while view:
                        n = stdin.write(view)
                        view = view[n:]
                    self.frames_written += 1
                finally:
                    done.set()
        except (BrokenPipeError, OSError, ValueError) as e:
            self._writer_error = e
        finally:
            try:
                stdin.close()
            except OSError:
                pass

    def _stall_reason(self, timeout_s: float) -> str:
        if self._writer_alive() and self.proc.poll() is None:
            return f"ffmpeg took no data for {timeout_s:g} s while writing"
        return "ffmpeg stopped while writing"

    def _writer_alive(self) -> bool:
        return self._writer.is_alive()

    def _put(self, job, timeout_s: float) -> bool:
        """Hand a job to the writer thread; False if it died or did not take it within timeout_s."""
        deadline = time.monotonic() + timeout_s
        while self._writer_alive():
            try:
                self._jobs.put(job, timeout=0.1)
                return True
            except queue.Full:
                if time.monotonic() > deadline:
                    return False
        return False

    def _drain_stderr(self, stream) -> None:
        # Always read ffmpeg's stderr so it can never block on a full pipe.
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            if line:
                self._stderr_tail.append(line)
                self._log.debug("ffmpeg: %s", line)
        stream.close()
