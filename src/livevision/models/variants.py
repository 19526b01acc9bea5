"""Choosing the variant of an exported FP32 ONNX model to run (`--precision`).

Plain functions over ONNX files; the CLI and the cache call them.

    chosen, report = choose_variant(fp32, folder, task="classification", model_type="vit",
                                    calibration_inputs=frames, device="cpu")

The kinds, and which architectures get which: variant_kinds. Building one: variant_build.
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ExportError, UsageError
from ..types import Task
from .accuracy import AgreementReport, check_agreement, thresholds_for
from .variant_build import build_variant_with_info, cpu_has_vnni
from .registry import profile_for
from .variant_kinds import FP32, INT8_STATIC, VARIANTS_FORMAT, candidate_kinds, check_precision, kind_for_precision

log = logging.getLogger(__name__)

# A variant must beat FP32 by this factor to be chosen: smaller differences are within run-to-run noise
# on a shared machine, and a variant that is not clearly faster is not worth any accuracy risk.
MIN_SPEEDUP = 1.05
# Latency: median of RUNS timed runs, after WARMUP untimed runs, candidates interleaved run by run so
# that load from other processes hits them all alike.
# Timing stops early when a round over all candidates is slow: at most TIME_BUDGET_S for the timed runs
# (never fewer than MIN_RUNS), so a 1 s/frame model does not take minutes per candidate.
RUNS = 20
WARMUP = 2
# The reason of a kind auto did not build because it was no faster before (variant_history).
SKIPPED = "not built: no faster before,"
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


def split_calibration(inputs: Sequence[np.ndarray]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(frames static INT8 calibrates on, frames the gate checks). With 4 frames or more, calibration takes
    every other frame and the gate checks all of them, so half the checked frames were unseen by
    calibration; with fewer, both use all (the report says so)."""
    inputs = list(inputs)
    if len(inputs) >= 4:
        return inputs[::2], inputs
    return inputs, inputs


@dataclass
class Candidate:
    """One kind tried, as the steps of choose_variant fill it in. None means "never set" and such fields
    are left out of to_json (the report has always omitted them): a variant that was not built has no
    build/size_mb, one that did not load or run has no metrics/latency_ms, fp32 has no metrics.
    file: the file's name in candidates_dir (None once deleted); path: the file itself, not reported."""

    kind: str
    file: str | None
    build: dict | None = None
    size_mb: float | None = None
    passed: bool | None = None
    reason: str | None = None
    metrics: dict | None = None
    failed: list[str] | None = None
    latency_ms: float | None = None
    speedup: float | None = None  # None when timed but latency_ms is 0
    path: Path | None = field(default=None, repr=False)

    def reject(self, reason: str) -> None:
        """Out of the running: `reason` says at which step (not built / does not load / does not run)."""
        self.passed, self.reason = False, reason

    def to_json(self) -> dict:
        """The candidate's entry in the report: "kind" and "file" always, the rest when a step set them."""
        out: dict = {"kind": self.kind, "file": self.file}
        if self.build is not None:
            out.update(build=self.build, size_mb=self.size_mb)
        if self.passed is not None:
            out["passed"] = self.passed
        if self.metrics is not None:
            out["metrics"] = self.metrics
        if self.reason is not None:
            out["reason"] = self.reason
        if self.failed:
            out["failed"] = list(self.failed)
        if self.latency_ms is not None:
            out.update(latency_ms=self.latency_ms, speedup=self.speedup)
        return out


@dataclass
class VariantReport:
    """What choose_variant did and why; to_json() is the JSON-safe dict it returns (stored in the cache
    entry's metadata, printed by format_report). candidates: in the order tried, fp32 first."""

    precision: str
    task: str
    model_type: str
    device: str
    provider: str
    thresholds: dict
    calibration: str
    measurement: dict
    candidates: list[Candidate] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    chosen: str | None = None
    chosen_file: str | None = None
    reason: str | None = None

    def to_json(self) -> dict:
        return {
            "precision": self.precision, "task": self.task, "model_type": self.model_type,
            "device": self.device, "provider": self.provider, "thresholds": self.thresholds,
            "calibration": self.calibration, "measurement": self.measurement,
            "candidates": [c.to_json() for c in self.candidates], "warnings": list(self.warnings),
            "reason": self.reason, "chosen": self.chosen, "chosen_file": self.chosen_file,
        }


def choose_variant(
    fp32_onnx: Path,
    candidates_dir: Path,
    *,
    task: Task | str,
    model_type: str,
    calibration_inputs: Sequence[np.ndarray],
    device: str = "cpu",
    precision: str = "auto",
    config: dict | None = None,
    kinds: Sequence[str] | None = None,
    runs: int = RUNS,
    warmup: int = WARMUP,
    time_budget_s: float | None = TIME_BUDGET_S,
    min_speedup: float | None = None,
    intra_op_threads: int | None = None,
    allow_fallback: bool = False,
    gate: Callable[[Task, list, list], AgreementReport] = check_agreement,
    calibration_note: str | None = None,
    keep_candidates: bool = False,
    skip: Mapping[str, str] | None = None,
    label: str | None = None,
) -> tuple[Path, dict]:
    """Build, check and time variants of `fp32_onnx`; return (the path to run, a JSON-safe report).

    precision "auto": build the kinds worth trying for `model_type` on `device` (candidate_kinds, or
    `kinds`), time each against FP32 on `calibration_inputs` (median of `runs`, same session options as live
    mode, at most `time_budget_s` of timed runs), check each with `gate` (accuracy.check_agreement)
    against FP32's outputs, and choose the fastest that passes and beats FP32 by `min_speedup` (None: MIN_SPEEDUP); FP32
    otherwise. A candidate that fails to build, load or run is reported and skipped.
    precision "fp32" / "fp16" / "int8": build that variant only (int8: the kind its profile names),
    still time and check it, and return it even when the gate fails -- with a warning in the log and in
    report["warnings"]; never another variant in its place. A build failure raises ExportError.

    calibration_inputs: pre-processed pixel_values, (1, 3, H, W) float32 each, from the user's clip or,
    by default, `synthetic_calibration_frames()` run through the model's own preprocessor. Synthetic frames
    are photo-like but not photos: INT8 activation ranges and the gate's verdict are only as good as the
    frames, so a clip from the real camera is better for both.
    candidates_dir: where variants are written, as model.<kind>.onnx.
    device: livevision's --device (cpu, cuda, auto...): sessions are made as livevision makes them
    (session.create_session), and the device's primary provider decides the candidates.
    allow_fallback: as for create_session: without it, a device whose provider is missing is an error.
    calibration_note: where the calibration frames came from ("synthetic", "clip.mp4"...), for the report.
    gate: the accuracy check, check_agreement unless a test injects another.
    keep_candidates: keep the variant files that were not chosen (default: deleted; the fp32 file never is).
    skip: {kind: why} kinds "auto" does not build (variant_history: no faster before for this shape here).
    label: the model as the log line announcing the plan names it.
    Before building, one line is logged: what is tried (and skipped), and about how long it takes, from one
    timed FP32 run; report["measurement"] keeps that estimate and the time it took.
    """
    from .providers import provider_names, resolve_providers
    from .session import physical_cores

    task = Task.parse(task)
    min_speedup = MIN_SPEEDUP if min_speedup is None else min_speedup
    # the primary provider: what the variants are for
    providers = provider_names(resolve_providers(device, allow_fallback=allow_fallback))[:1]
    check_precision(precision, providers[0])
    if not calibration_inputs:
        raise UsageError("choosing a variant needs at least one calibration input")
    fp32_onnx, candidates_dir = Path(fp32_onnx), Path(candidates_dir)
    candidates_dir.mkdir(parents=True, exist_ok=True)
    explicit = precision != "auto"
    wanted = _wanted_kinds(precision, model_type, kinds, providers)
    calibrate_on, check_on = split_calibration(calibration_inputs)
    report = VariantReport(
        precision=precision, task=task.value, model_type=model_type, device=device, provider=providers[0],
        thresholds=thresholds_for(task), calibration=calibration_note or "caller's frames",
        measurement={"statistic": "median", "runs": runs, "warmup": warmup, "min_speedup": min_speedup,
                     "intra_op_threads": intra_op_threads or physical_cores(), "frames_checked": len(check_on),
                     "frames_calibrated": len(calibrate_on),
                     "calibration_held_out": len(check_on) > len(calibrate_on)})

    started = time.perf_counter()
    candidates = {kind: Candidate(kind, fp32_onnx.name if kind == FP32 else f"model.{kind}.onnx") for kind in wanted}
    candidates[FP32].path = fp32_onnx
    report.candidates = [candidates[kind] for kind in wanted]
    skipped = {} if explicit else {kind: why for kind, why in (skip or {}).items() if kind in wanted and kind != FP32}
    for kind, why in skipped.items():
        candidates[kind].reject(f"{SKIPPED} {why}")
        candidates[kind].file = None
    to_build = [kind for kind in wanted if kind != FP32 and kind not in skipped]
    heading = f"precision {precision}" + (f" for {label}" if label else "")
    if not to_build:  # nothing to build, check or time
        candidates[FP32].passed, candidates[FP32].reason = True, "reference"
        report.chosen, report.chosen_file = FP32, fp32_onnx.name
        report.reason = ("fp32 was asked for" if explicit else
                         "fp32: every candidate measured no faster than fp32 on this machine for a model of this "
                         "shape" if skipped else "fp32: no candidate to try on this device")
        if skipped:
            log.info("%s: %s; nothing is built (--precision int8 builds and times it anyway)", heading, report.reason)
        return fp32_onnx, report.to_json()

    fp32_session = _create_session(fp32_onnx, device, intra_op_threads, allow_fallback)
    frame_s = _time_one_frame(fp32_session, check_on[0])
    report.measurement["estimated_s"] = round(estimate_seconds(
        frame_s, to_build, fp32_onnx.stat().st_size / 1e6, frames_checked=len(check_on),
        frames_calibrated=len(calibrate_on), runs=runs, warmup=warmup, budget_s=time_budget_s))
    tried = ", ".join(to_build)
    skipping = "; ".join(f"{kind}: {why}" for kind, why in skipped.items())
    log.info("%s: building, checking and timing variants (%s) against fp32 on this machine%s: about %d s "
             "(fp32 takes %.1f ms a frame here); first use only, later runs load the choice from the cache",
             heading, tried, f", skipping the ones no faster before ({skipping})" if skipped else "",
             report.measurement["estimated_s"], frame_s * 1000)

    _build_candidates(candidates, to_build, candidates_dir, calibrate_on, model_type=model_type,
                      config=config, providers=providers, explicit=explicit)
    sessions = {FP32: fp32_session, **_load_sessions(candidates, to_build, device, intra_op_threads=intra_op_threads,
                                                     allow_fallback=allow_fallback, explicit=explicit)}
    _gate_candidates(candidates, sessions, task, gate, check_on)
    report.measurement["runs"] = _time_candidates(candidates, sessions, calibration_inputs, runs=runs,
                                                  warmup=warmup, budget_s=time_budget_s)
    del sessions

    chosen, report.reason, report.warnings, notes = _pick(report.candidates, explicit, min_speedup, precision)
    for kind, reason in notes.items():
        candidates[kind].reason = reason
    if not keep_candidates:
        for candidate in candidates.values():
            if candidate.path is not None and candidate.kind not in (chosen, FP32):
                candidate.path.unlink(missing_ok=True)
                candidate.file = None
    report.chosen, report.chosen_file = chosen, candidates[chosen].file
    report.measurement["took_s"] = round(time.perf_counter() - started)
    for message in report.warnings:
        log.warning("%s", message)
    return candidates[chosen].path, report.to_json()


def _wanted_kinds(precision: str, model_type: str, kinds: Sequence[str] | None, providers: list[str]) -> list[str]:
    """The kinds to try, FP32 (the reference) first: the one asked for, or in "auto" `kinds` or the kinds
    worth trying for `model_type` on `providers`."""
    if precision != "auto":
        return [FP32] + ([] if precision == "fp32" else [kind_for_precision(precision, profile_for(model_type))])
    return [FP32] + [k for k in (kinds or candidate_kinds(profile_for(model_type), providers)) if k != FP32]


# estimate_seconds' model of the work, per FP32 frame time: static INT8 calibration runs a model that
# outputs every activation (measured ~3x a plain run), and quantizing or optimizing costs per MB of weights.
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


def _create_session(path: Path, device: str, intra_op_threads: int | None, allow_fallback: bool):
    """A session made as live mode makes it. live=True: no thread spinning. Sessions take turns run by run,
    and a session's threads spin for a while after its run, taking the cores from the next session's run:
    that penalised the fastest variant most (ViT-B INT8 measured 2.0x with spinning, 2.9x without)."""
    from .session import create_session

    return create_session(path, device, intra_op_threads=intra_op_threads, live=True, allow_fallback=allow_fallback)


def _time_one_frame(session, x: np.ndarray) -> float:
    """Seconds one run of `session` takes, after one untimed run (which also warms it up for the gate)."""
    feed = {session.get_inputs()[0].name: x}
    session.run(None, feed)
    started = time.perf_counter()
    session.run(None, feed)
    return time.perf_counter() - started


def _build_candidates(candidates: dict[str, Candidate], kinds: list[str], candidates_dir: Path,
                      calibrate_on: list[np.ndarray], *, model_type: str, config: dict | None, providers: list[str],
                      explicit: bool) -> None:
    """Build each of `kinds` into candidates_dir as its candidate's file, setting its path. A build failure
    rejects the candidate, or raises when the kind was asked for."""
    fp32_onnx = candidates[FP32].path
    for kind in kinds:
        candidate = candidates[kind]
        try:
            path, candidate.build = build_variant_with_info(
                fp32_onnx, kind, candidates_dir / candidate.file, calibration=calibrate_on,
                model_type=model_type, config=config, providers=providers)
            candidate.path, candidate.size_mb = path, round(path.stat().st_size / 1e6, 1)
        except (ExportError, UsageError) as exc:
            if explicit:
                raise
            candidate.reject(f"not built: {exc}")
            log.info("variant %s skipped: %s", kind, exc)


def _load_sessions(candidates: dict[str, Candidate], kinds: list[str], device: str, *,
                   intra_op_threads: int | None, allow_fallback: bool, explicit: bool) -> dict[str, object]:
    """{kind: session} for each built candidate of `kinds`. A variant that does not load is rejected; the
    kind asked for raises instead."""
    sessions = {}
    for kind in kinds:
        candidate = candidates[kind]
        if candidate.path is None:
            continue
        try:
            sessions[kind] = _create_session(candidate.path, device, intra_op_threads, allow_fallback)
        except Exception as exc:
            if explicit:
                raise
            candidate.reject(f"does not load: {exc}")
    return sessions


def _gate_candidates(candidates: dict[str, Candidate], sessions: dict[str, object], task: Task,
                     gate: Callable[[Task, list, list], AgreementReport], check_on: list[np.ndarray]) -> None:
    """Check each variant's outputs on `check_on` against FP32's with `gate`, recording the verdict on its
    candidate. A variant that fails to run is rejected and its session dropped from `sessions`."""
    reference = run_outputs(sessions[FP32], check_on)
    for kind, session in list(sessions.items()):
        candidate = candidates[kind]
        if kind == FP32:
            candidate.passed, candidate.reason = True, "reference"
            continue
        try:
            agreement = gate(task, reference, run_outputs(session, check_on))
        except Exception as exc:  # noqa: BLE001 -- a variant that fails to run fails the gate
            candidate.reject(f"does not run: {exc}")
            del sessions[kind]
            continue
        candidate.passed, candidate.metrics, candidate.reason = agreement.passed, agreement.metrics, agreement.reason
        if agreement.failed:
            candidate.failed = list(agreement.failed)


def _time_candidates(candidates: dict[str, Candidate], sessions: dict[str, object], inputs: Sequence[np.ndarray],
                     *, runs: int, warmup: int, budget_s: float | None) -> int:
    """Time `sessions` together (measure_latencies) and record each candidate's latency and speed-up over
    FP32; return the number of timed runs."""
    latencies, runs = measure_latencies(sessions, inputs, runs=runs, warmup=warmup, budget_s=budget_s)
    base = latencies[FP32]
    for kind, ms in latencies.items():
        candidates[kind].latency_ms = round(ms, 3)
        candidates[kind].speedup = round(base / ms, 3) if ms > 0 else None
    return runs


def _pick(candidates: Sequence[Candidate], explicit: bool, min_speedup: float,
          precision: str) -> tuple[str, str, list[str], dict[str, str]]:
    """(chosen kind, reason, warnings, notes), from the candidates as tried (fp32 among them); changes
    nothing. Explicit: the kind asked for (the last), warning when it failed the gate or is slower than
    FP32. Auto: the fastest that passed the gate and beats FP32 by `min_speedup`, else fp32.
    notes: {kind: reason} to replace the reason of a variant that passed the gate but is too slow."""
    fp32 = next(c for c in candidates if c.kind == FP32)
    if explicit:
        asked = candidates[-1]
        warnings = []
        if asked.kind != FP32 and not asked.passed:
            warnings.append(
                f"--precision {precision}: the {asked.kind} variant FAILED the accuracy gate "
                f"({asked.reason}); it is used because it was asked for -- its outputs differ from "
                "FP32's beyond the documented thresholds")
        if asked.kind != FP32 and (asked.speedup or 0) < 1.0:
            warnings.append(
                f"--precision {precision}: the {asked.kind} variant is slower than FP32 on this machine "
                f"({asked.latency_ms} ms vs {fp32.latency_ms} ms)")
        return asked.kind, f"{asked.kind} was asked for", warnings, {}
    others = [c for c in candidates if c.kind != FP32]
    notes = {c.kind: f"agrees with fp32 but is not faster by {min_speedup}x ({c.speedup}x)"
             for c in others if c.passed and (c.speedup or 0) < min_speedup}
    passing = [c for c in others if c.passed and c.latency_ms]
    fast = [c for c in passing if (c.speedup or 0) >= min_speedup]
    if not fast:
        return FP32, ("fp32: no candidate passed the accuracy gate" if not passing
                      else f"fp32: no candidate that passed the gate is {min_speedup}x faster"), [], notes
    best = min(fast, key=lambda c: c.latency_ms)
    return best.kind, f"{best.kind}: fastest candidate that passed the accuracy gate ({best.speedup}x fp32)", [], notes


def format_report(report: dict, *, warnings: bool = False) -> str:
    """The report as a few lines of text for the terminal. warnings: add report["warnings"] (off by
    default: they were logged when they arose)."""
    lines = [f"precision {report['precision']}: chose {report['chosen']} -- {report.get('reason', '')}"]
    measurement = report.get("measurement") or {}
    if any(c.get("latency_ms") for c in report["candidates"]):
        took = f", all of this took {measurement['took_s']} s" if "took_s" in measurement else ""
        lines.append(f"  {'variant':<15} {'ms/frame':>10} {'vs fp32':>7}  gate  (ms/frame: the model alone, median "
                     f"of {measurement.get('runs', '?')} runs on this machine's calibration inputs{took})")
    for c in report["candidates"]:
        ms = c.get("latency_ms")
        speed = f"{c['speedup']:.2f}x" if c.get("speedup") else "-"
        metrics = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in (c.get("metrics") or {}).items())
        detail = metrics if c.get("passed") and metrics else c.get("reason", "")
        verdict = "pass" if c.get("passed") else "skip" if c.get("reason", "").startswith(SKIPPED) else "FAIL"
        lines.append(f"  {c['kind']:<15} {(f'{ms:.1f} ms' if ms else '-'):>10} {speed:>7}  {verdict}  {detail}")
    if warnings:
        lines += [f"  WARNING: {w}" for w in report.get("warnings", [])]
    return "\n".join(lines)


def synthetic_calibration_frames(count: int = 8, size_wh: tuple[int, int] = (640, 480),
                                 seed: int = 0) -> list[np.ndarray]:
    """Deterministic photo-like BGR uint8 frames for calibration when the user gives no clip.

    Each frame: a smooth vertical gradient (sky to ground), large soft blobs of random colour, a few
    sharp-edged rectangles (objects, edges at several scales) and mild sensor noise. They exercise the
    range of activations a camera frame does better than noise does, but they are not photos: the caller
    runs them through the model's own preprocessor, and the report records that synthetic frames were
    used. A clip from the real camera calibrates and checks INT8 better.
    """
    rng = np.random.default_rng(seed)
    w, h = size_wh
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    frames = []
    for _ in range(count):
        top, bottom = rng.uniform(40, 230, 3), rng.uniform(20, 200, 3)
        t = (ys / max(h - 1, 1))[..., None]
        img = top * (1 - t) + bottom * t
        for _ in range(int(rng.integers(3, 7))):
            cx, cy = rng.uniform(0, w), rng.uniform(0, h)
            r = rng.uniform(0.08, 0.35) * min(w, h)
            weight = np.exp(-(((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * r * r)))[..., None]
            img = img * (1 - weight) + rng.uniform(0, 255, 3) * weight
        for _ in range(int(rng.integers(2, 6))):
            x0, y0 = int(rng.integers(0, w - 8)), int(rng.integers(0, h - 8))
            x1, y1 = int(min(w, x0 + rng.integers(8, w // 3))), int(min(h, y0 + rng.integers(8, h // 3)))
            img[y0:y1, x0:x1] = rng.uniform(0, 255, 3)
        img = img + rng.normal(0, 4, img.shape)
        frames.append(np.clip(img, 0, 255).astype(np.uint8))
    return frames


def variant_key_options(precision: str, provider: str, calibration_id: str) -> dict:
    """What a cached variant depends on beyond the FP32 export's own key: add it to the cache key.
    calibration_id: a digest of the calibration frames (or "synthetic-v1" for the default frames)."""
    import importlib.metadata

    try:
        ort_version = importlib.metadata.version("onnxruntime")
    except importlib.metadata.PackageNotFoundError:  # onnxruntime-gpu, -openvino, -directml...
        import onnxruntime

        ort_version = onnxruntime.__version__
    return {"precision": precision, "provider": provider, "onnxruntime": ort_version,
            "vnni": cpu_has_vnni(), "calibration": calibration_id, "variants_format": VARIANTS_FORMAT,
            "thresholds": {t.value: thresholds_for(t) for t in Task}}


__all__ = [
    "MIN_SPEEDUP",
    "choose_variant",
    "estimate_seconds",
    "format_report",
    "measure_latencies",
    "run_outputs",
    "synthetic_calibration_frames",
    "variant_key_options",
]
