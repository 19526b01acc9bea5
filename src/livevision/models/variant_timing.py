"""Timing ONNX sessions side by side, and how long choosing a variant will take (models.variants)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import numpy as np

from .variant_kinds import INT8_STATIC

# Latency: median of RUNS timed runs, after WARMUP untimed runs, candidates interleaved run by run so
# that load from other processes hits them all alike.
# Timing stops early when a round over all candidates is slow: at most TIME_BUDGET_S for the timed runs
# (never fewer than MIN_RUNS), so a 1 s/frame model does not take minutes per candidate.
RUNS = 20
WARMUP = 2
MIN_RUNS = 5
TIME_BUDGET_S = 60.0


def run_outputs(session, inputs: Sequence[np.ndarray]) -> list[dict[str, np.ndarray]]:
    """{output name: array} per input, on one session."""
    input_name = session.get_inputs()[0].name
    names = [o.name for o in session.get_outputs()]
    return [dict(zip(names, session.run(names, {input_name: x}))) for x in inputs]


def measure_latencies(sessions: dict[str, object], inputs: Sequence[np.ndarray], *, runs: int = RUNS,
                      warmup: int = WARMUP, budget_s: float | None = TIME_BUDGET_S) -> tuple[dict[str, float], int]:
    """(median latency in ms of each session, number of timed runs). Each session gets `warmup` untimed
    runs, then `runs` timed runs cycling through `inputs` -- fewer (not under MIN_RUNS) when the last
    warm-up round says they would take over `budget_s`. Sessions take turns run by run, so a burst of
    load from other processes slows all of them alike."""
    feeds = {name: s.get_inputs()[0].name for name, s in sessions.items()}
    round_s = 0.0
    for name, session in sessions.items():
        for i in range(max(1, warmup)):
            started = time.perf_counter()
            session.run(None, {feeds[name]: inputs[i % len(inputs)]})
        round_s += time.perf_counter() - started
    if budget_s is not None and round_s > 0:
        runs = max(min(MIN_RUNS, runs), min(runs, int(budget_s / round_s)))
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for i in range(runs):
        x = inputs[i % len(inputs)]
        for name, session in sessions.items():
            started = time.perf_counter()
            session.run(None, {feeds[name]: x})
            times[name].append((time.perf_counter() - started) * 1000.0)
    return {name: statistics.median(t) for name, t in times.items()}, runs


def time_one_frame(session, x: np.ndarray) -> float:
    """Seconds one run of `session` takes, after one untimed run (which also warms it up for the gate)."""
    feed = {session.get_inputs()[0].name: x}
    session.run(None, feed)
    started = time.perf_counter()
    session.run(None, feed)
    return time.perf_counter() - started


# estimate_seconds' model of the work, per FP32 frame time: static INT8 calibration runs a model that
# outputs every activation (~3x a plain run: BENCHMARKS.md, "Measurements behind design choices"), and
# quantizing or optimizing costs per MB of weights.
CALIBRATION_RUN_COST = 3.0
BUILD_S_PER_MB = 0.1


def estimate_seconds(frame_s: float, kinds: Sequence[str], fp32_mb: float, *, frames_checked: int,
                     frames_calibrated: int, runs: int, warmup: int, budget_s: float | None) -> float:
    """About how long choose_variant takes for `kinds` (fp32 left out) when one FP32 frame takes `frame_s`:
    the builds, the gate's runs and the timed runs (as measure_latencies caps them), every session assumed
    as fast as FP32."""
    sessions = len(kinds) + 1
    builds = len(kinds) * BUILD_S_PER_MB * fp32_mb
    if INT8_STATIC in kinds:
        builds += frames_calibrated * CALIBRATION_RUN_COST * frame_s
    round_s = sessions * frame_s
    if budget_s is not None and round_s > 0:
        runs = max(min(MIN_RUNS, runs), min(runs, int(budget_s / round_s)))
    return builds + (frames_checked + max(1, warmup) + runs) * round_s
