"""What a camera or stream does when it stops delivering frames: reopen with backoff, or stop.

    policy = ReconnectPolicy(max_attempts=10, initial_backoff_s=0.5, max_backoff_s=8.0)
    VideoCaptureSource("rtsp://camera.local/stream", is_live=True, reconnect=policy)

An *outage* starts when a read fails and ends with the first frame read after a reopen; each
outage gets the policy's whole budget of attempts and seconds. Waits grow from
`initial_backoff_s` by `backoff_factor` up to `max_backoff_s`: 0.5, 1, 2, 4, 8, 8, ... s.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from ..errors import UsageError


@dataclass(frozen=True)
class ReconnectPolicy:
    """How often and how long a dropped camera or stream is reopened.

    max_attempts: reopen attempts per outage; None for no limit.
    max_outage_s: give up once the source has been gone this many seconds; None for no limit.
    initial_backoff_s: the wait before the first attempt, in seconds.
    max_backoff_s: the longest wait between two attempts, in seconds.
    backoff_factor: each wait is this many times the one before (up to max_backoff_s).
    """

    max_attempts: int | None = 10
    max_outage_s: float | None = None
    initial_backoff_s: float = 0.5
    max_backoff_s: float = 8.0
    backoff_factor: float = 2.0

    def __post_init__(self) -> None:
        attempts = self.max_attempts
        if attempts is not None and (isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1):
            raise UsageError(f"max_attempts must be a whole number >= 1 or None, got {attempts!r}")
        if self.max_outage_s is not None and not _positive(self.max_outage_s):
            raise UsageError(f"max_outage_s must be a positive number of seconds or None, got {self.max_outage_s!r}")
        if not (_positive(self.initial_backoff_s) or self.initial_backoff_s == 0):
            raise UsageError(f"initial_backoff_s must be >= 0 seconds, got {self.initial_backoff_s!r}")
        if (not (_positive(self.max_backoff_s) or self.max_backoff_s == 0)
                or self.max_backoff_s < self.initial_backoff_s):
            raise UsageError(f"max_backoff_s must be >= initial_backoff_s ({self.initial_backoff_s}), "
                             f"got {self.max_backoff_s!r}")
        if not (_positive(self.backoff_factor) and self.backoff_factor >= 1):
            raise UsageError(f"backoff_factor must be >= 1, got {self.backoff_factor!r}")

    @classmethod
    def forever(cls, *, initial_backoff_s: float = 0.5, max_backoff_s: float = 8.0) -> "ReconnectPolicy":
        """Wait for the source however long it takes (a camera that will be plugged back in)."""
        return cls(max_attempts=None, max_outage_s=None, initial_backoff_s=initial_backoff_s,
                   max_backoff_s=max_backoff_s)

    def backoff_s(self, attempt: int) -> float:
        """The wait before attempt number `attempt` (1, 2, ...) of an outage, in seconds."""
        if attempt < 1:
            raise ValueError(f"attempt counts from 1, got {attempt}")
        wait = self.initial_backoff_s
        for _ in range(attempt - 1):  # stepwise: a power would overflow when waiting for hours
            if wait >= self.max_backoff_s or wait == 0 or self.backoff_factor == 1:
                break
            wait *= self.backoff_factor
        return min(wait, self.max_backoff_s)

    def describe(self) -> str:
        """The limit in words, for messages: "10 attempts", "10 attempts or 60 s", "no limit"."""
        parts = []
        if self.max_attempts is not None:
            parts.append(f"{self.max_attempts} attempt{'s' if self.max_attempts != 1 else ''}")
        if self.max_outage_s is not None:
            parts.append(f"{self.max_outage_s:g} s")
        return " or ".join(parts) if parts else "no limit"


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


class Outage:
    """One outage of a source under a policy: `next_wait_s()` says how long to wait before the
    next attempt, or None when the policy gives up. Times come from `clock` (seconds, monotonic)."""

    def __init__(self, policy: ReconnectPolicy, clock: Callable[[], float], *, frames_before: int):
        self.policy = policy
        self.clock = clock
        self.started_at = clock()
        self.attempts = 0
        self.frames_before = frames_before

    @property
    def elapsed_s(self) -> float:
        return self.clock() - self.started_at

    def next_wait_s(self) -> float | None:
        policy = self.policy
        if policy.max_attempts is not None and self.attempts >= policy.max_attempts:
            return None
        wait = policy.backoff_s(self.attempts + 1)
        if policy.max_outage_s is not None:
            left = policy.max_outage_s - self.elapsed_s
            if left <= 0:
                return None
            wait = min(wait, left)  # a last attempt just before the deadline
        self.attempts += 1
        return wait
