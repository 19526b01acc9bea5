"""The real-time engine: pacing modes, workers, telemetry."""

from .clock import Clock, ManualClock, SystemClock
from .pacing import Pacing, RateLimiter
from .running import TaskOutput
from .telemetry import Telemetry

__all__ = ["Clock", "ManualClock", "Pacing", "RateLimiter", "SystemClock", "TaskOutput", "Telemetry"]
