"""What choosing a variant did and why: the per-candidate record, the report, and its text form."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

# The reason of a kind auto did not build because it was no faster before (variant_history).
SKIPPED = "not built: no faster before,"


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
