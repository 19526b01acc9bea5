"""Choosing the variant of an exported FP32 ONNX model to run (`--precision`).

Plain functions over ONNX files; the CLI and the cache call them.

    chosen, report = choose_variant(fp32, folder, task="classification", model_type="vit",
                                    calibration_inputs=frames, device="cpu")

precision "auto": build the kinds worth trying for the model type on the device, check each with the
accuracy gate (accuracy.check_agreement) against FP32's outputs, time each against FP32 (median of
interleaved runs, same session options as live mode, a time budget), and choose the fastest that passes
and beats FP32 by MIN_SPEEDUP; FP32 otherwise. A candidate that fails to build, load or run is reported
and skipped. precision "fp32" / "fp16" / "int8": build that variant only (int8: the kind the model's
profile names), still check and time it, and return it even when the gate fails -- with a warning in
the log and in report["warnings"]; never another variant in its place. A build failure raises
ExportError. Before building, one line is logged: what is tried (and skipped), and about how long it
takes, from one timed FP32 run; report["measurement"] keeps that estimate and the time it took.

Calibration inputs are pre-processed pixel_values, (1, 3, H, W) float32 each, from the user's clip or,
by default, synthetic_calibration_frames() run through the model's own preprocessor. Synthetic frames are
photo-like but not photos: INT8 activation ranges and the gate's verdict are only as good as the frames,
so a clip from the real camera is better for both.

The kinds, and which architectures get which: variant_kinds. Building one: variant_build. Timing:
variant_timing. The report: variant_report. Calibration frames: calibration_frames.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from ..errors import ExportError, UsageError
from ..types import Task
from .accuracy import AgreementReport, check_agreement, thresholds_for
from .calibration_frames import split_calibration, synthetic_calibration_frames
from .registry import profile_for
from .variant_build import build_variant_with_info, cpu_has_vnni
from .variant_kinds import FP32, VARIANTS_FORMAT, candidate_kinds, check_precision, kind_for_precision
from .variant_report import SKIPPED, Candidate, VariantReport, format_report
from .variant_timing import (
    RUNS,
    TIME_BUDGET_S,
    WARMUP,
    estimate_seconds,
    measure_latencies,
    run_outputs,
    time_one_frame,
)

log = logging.getLogger(__name__)

# A variant must beat FP32 by this factor to be chosen: smaller differences are within run-to-run noise
# on a shared machine, and a variant that is not clearly faster is not worth any accuracy risk.
MIN_SPEEDUP = 1.05


def choose_variant(
    fp32_onnx: Path, candidates_dir: Path, *, task: Task | str, model_type: str,
    calibration_inputs: Sequence[np.ndarray], device: str = "cpu", precision: str = "auto",
    config: dict | None = None, kinds: Sequence[str] | None = None, runs: int = RUNS, warmup: int = WARMUP,
    time_budget_s: float | None = TIME_BUDGET_S, min_speedup: float | None = None,
    intra_op_threads: int | None = None, allow_fallback: bool = False,
    gate: Callable[[Task, list, list], AgreementReport] = check_agreement, calibration_note: str | None = None,
    keep_candidates: bool = False, skip: Mapping[str, str] | None = None, label: str | None = None,
) -> tuple[Path, dict]:
    """Build, check and time variants of `fp32_onnx`; return (the path to run, a JSON-safe report). What
    "auto" and an explicit precision do, and what calibration_inputs are: this module's docstring.

    candidates_dir: where variants are written, as model.<kind>.onnx. kinds: the kinds "auto" tries (None:
    candidate_kinds). device, allow_fallback: as for session.create_session, whose sessions these are; the
    device's primary provider decides the candidates. runs, warmup, time_budget_s, min_speedup (None:
    MIN_SPEEDUP): the timing and the speed-up a variant needs. gate: the accuracy check (tests inject
    others). calibration_note: where the frames came from, for the report. keep_candidates: keep the
    variant files not chosen. skip: {kind: why} kinds "auto" does not build (variant_history). label: the
    model as the log line announcing the plan names it.
    """
    from .providers import provider_names, resolve_providers

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
    wanted = _wanted_kinds(precision, model_type, kinds, providers, task)
    calibrate_on, check_on = split_calibration(calibration_inputs)
    report = _new_report(precision, task, model_type, device, providers[0], calibration_note, runs=runs,
                         warmup=warmup, min_speedup=min_speedup, intra_op_threads=intra_op_threads,
                         frames=(len(calibrate_on), len(check_on)))
    started = time.perf_counter()
    candidates = _candidates(wanted, fp32_onnx, {} if explicit else (skip or {}))
    report.candidates = [candidates[kind] for kind in wanted]
    to_build = [kind for kind in wanted if kind != FP32 and candidates[kind].passed is None]
    heading = f"precision {precision}" + (f" for {label}" if label else "")
    if not to_build:  # nothing to build, check or time
        return fp32_onnx, _fp32_without_candidates(report, candidates, explicit, heading)

    fp32_session = _create_session(fp32_onnx, device, intra_op_threads, allow_fallback)
    _announce(report, heading, fp32_session, fp32_onnx, to_build, candidates, calibrate_on, check_on,
              runs=runs, warmup=warmup, budget_s=time_budget_s)
    _build_candidates(candidates, to_build, candidates_dir, calibrate_on, model_type=model_type,
                      config=config, providers=providers, explicit=explicit)
    sessions = {FP32: fp32_session, **_load_sessions(candidates, to_build, device, intra_op_threads=intra_op_threads,
                                                     allow_fallback=allow_fallback, explicit=explicit)}
    _gate_candidates(candidates, sessions, task, gate, check_on)
    report.measurement["runs"] = _time_candidates(candidates, sessions, calibration_inputs, runs=runs,
                                                  warmup=warmup, budget_s=time_budget_s)
    del sessions

    chosen = _choose(report, candidates, explicit, min_speedup, keep_candidates)
    report.measurement["took_s"] = round(time.perf_counter() - started)
    return candidates[chosen].path, report.to_json()


def _choose(report: VariantReport, candidates: dict[str, Candidate], explicit: bool, min_speedup: float,
            keep_candidates: bool) -> str:
    """Pick the kind to run (_pick), record it and why in the report, log its warnings, and delete the
    variant files not chosen unless `keep_candidates`."""
    chosen, report.reason, report.warnings, notes = _pick(report.candidates, explicit, min_speedup,
                                                          report.precision)
    for kind, reason in notes.items():
        candidates[kind].reason = reason
    if not keep_candidates:
        _delete_unchosen(candidates, chosen)
    report.chosen, report.chosen_file = chosen, candidates[chosen].file
    for message in report.warnings:
        log.warning("%s", message)
    return chosen


def _new_report(precision: str, task: Task, model_type: str, device: str, provider: str,
                calibration_note: str | None, *, runs: int, warmup: int, min_speedup: float,
                intra_op_threads: int | None, frames: tuple[int, int]) -> VariantReport:
    """The report before any candidate is tried. frames: (calibrated on, checked on)."""
    from .session import physical_cores

    calibrated, checked = frames
    return VariantReport(
        precision=precision, task=task.value, model_type=model_type, device=device, provider=provider,
        thresholds=thresholds_for(task), calibration=calibration_note or "caller's frames",
        measurement={"statistic": "median", "runs": runs, "warmup": warmup, "min_speedup": min_speedup,
                     "intra_op_threads": intra_op_threads or physical_cores(), "frames_checked": checked,
                     "frames_calibrated": calibrated, "calibration_held_out": checked > calibrated})


def _candidates(wanted: list[str], fp32_onnx: Path, skip: Mapping[str, str]) -> dict[str, Candidate]:
    """{kind: Candidate} for `wanted`, FP32's path set; the kinds in `skip` ({kind: why}, never FP32)
    already rejected, as not built."""
    candidates = {kind: Candidate(kind, fp32_onnx.name if kind == FP32 else f"model.{kind}.onnx") for kind in wanted}
    candidates[FP32].path = fp32_onnx
    for kind, why in skip.items():
        if kind in candidates and kind != FP32:
            candidates[kind].reject(f"{SKIPPED} {why}")
            candidates[kind].file = None
    return candidates


def _fp32_without_candidates(report: VariantReport, candidates: dict[str, Candidate], explicit: bool,
                             heading: str) -> dict:
    """The report when there is nothing to build: FP32 asked for, nothing to try on this device, or every
    kind skipped as no faster before."""
    skipped = any(c.kind != FP32 for c in candidates.values())
    candidates[FP32].passed, candidates[FP32].reason = True, "reference"
    report.chosen, report.chosen_file = FP32, candidates[FP32].file
    report.reason = ("fp32 was asked for" if explicit else
                     "fp32: every candidate measured no faster than fp32 on this machine for a model of this "
                     "shape" if skipped else "fp32: no candidate to try on this device")
    if skipped:
        log.info("%s: %s; nothing is built (--precision int8 builds and times it anyway)", heading, report.reason)
    return report.to_json()


def _announce(report: VariantReport, heading: str, fp32_session, fp32_onnx: Path, to_build: list[str],
              candidates: dict[str, Candidate], calibrate_on: list, check_on: list, *, runs: int, warmup: int,
              budget_s: float | None) -> None:
    """Log, before building, what is tried (and skipped) and about how long it takes, from one timed FP32
    run; the estimate goes into the report's measurement."""
    frame_s = time_one_frame(fp32_session, check_on[0])
    report.measurement["estimated_s"] = round(estimate_seconds(
        frame_s, to_build, fp32_onnx.stat().st_size / 1e6, frames_checked=len(check_on),
        frames_calibrated=len(calibrate_on), runs=runs, warmup=warmup, budget_s=budget_s))
    skipped = {c.kind: c.reason.removeprefix(SKIPPED).strip() for c in candidates.values()
               if c.reason and c.reason.startswith(SKIPPED)}
    skipping = "; ".join(f"{kind}: {why}" for kind, why in skipped.items())
    log.info("%s: building, checking and timing variants (%s) against fp32 on this machine%s: about %d s "
             "(fp32 takes %.1f ms a frame here); first use only, later runs load the choice from the cache",
             heading, ", ".join(to_build), f", skipping the ones no faster before ({skipping})" if skipped else "",
             report.measurement["estimated_s"], frame_s * 1000)


def _delete_unchosen(candidates: dict[str, Candidate], chosen: str) -> None:
    """Delete the variant files that were not chosen (never FP32's)."""
    for candidate in candidates.values():
        if candidate.path is not None and candidate.kind not in (chosen, FP32):
            candidate.path.unlink(missing_ok=True)
            candidate.file = None


def _wanted_kinds(precision: str, model_type: str, kinds: Sequence[str] | None, providers: list[str],
                  task: Task) -> list[str]:
    """The kinds to try, FP32 (the reference) first: the one asked for, or in "auto" `kinds` or the kinds
    worth trying for `model_type` on `providers`."""
    if precision != "auto":
        profile = profile_for(model_type, task)
        return [FP32] + ([] if precision == "fp32" else [kind_for_precision(precision, profile, providers)])
    return [FP32] + [k for k in (kinds or candidate_kinds(profile_for(model_type, task), providers)) if k != FP32]


def _create_session(path: Path, device: str, intra_op_threads: int | None, allow_fallback: bool):
    """A session made as live mode makes it. live=True: no thread spinning. Sessions take turns run by run,
    and a session's threads spin for a while after its run, taking the cores from the next session's run:
    that penalised the fastest variant most (BENCHMARKS.md, "Measurements behind design choices")."""
    from .session import create_session

    return create_session(path, device, intra_op_threads=intra_op_threads, live=True, allow_fallback=allow_fallback)


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


def variant_key_options(precision: str, provider: str, calibration_id: str) -> dict:
    """What a cached variant depends on beyond the FP32 export's own key: add it to the cache key.
    calibration_id: a digest of the calibration frames (or "synthetic-v1" for the default frames)."""
    import importlib.metadata

    try:
        ort_version = importlib.metadata.version("onnxruntime")
    except importlib.metadata.PackageNotFoundError:  # onnxruntime-gpu, -openvino, -directml...
        import onnxruntime

        ort_version = onnxruntime.__version__
    options = {"precision": precision, "provider": provider, "onnxruntime": ort_version,
               "vnni": cpu_has_vnni(), "calibration": calibration_id, "variants_format": VARIANTS_FORMAT,
               "thresholds": {t.value: thresholds_for(t) for t in Task}}
    if provider.startswith("OpenVINO:"):  # the variants run on the OpenVINO runtime (models.openvino_session)
        options["openvino"] = importlib.metadata.version("openvino")
    return options


__all__ = [
    "MIN_SPEEDUP",
    "RUNS",
    "SKIPPED",
    "WARMUP",
    "Candidate",
    "VariantReport",
    "choose_variant",
    "estimate_seconds",
    "format_report",
    "measure_latencies",
    "run_outputs",
    "split_calibration",
    "synthetic_calibration_frames",
    "variant_key_options",
]
