"""ONNX Runtime sessions for cached models."""

from __future__ import annotations

import logging
from pathlib import Path

from ..errors import CacheError, UsageError

log = logging.getLogger(__name__)


def create_session(onnx_path: Path, providers: list[str] | None = None, *, intra_op_threads: int | None = None):
    """An InferenceSession on `providers` (default: CPU). Unknown providers are a UsageError."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    providers = providers or ["CPUExecutionProvider"]
    unknown = [p for p in providers if p not in available]
    if unknown:
        raise UsageError(f"execution provider {', '.join(unknown)} is not available; available: {', '.join(available)}")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if intra_op_threads:
        options.intra_op_num_threads = intra_op_threads
    options.log_severity_level = 3  # errors only: ORT's warnings are not actionable for users
    try:
        session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=providers)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/NoSuchFile types
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CacheError(f"cannot load ONNX model {onnx_path}: {first_line}") from None
    log.info("%s runs on %s", onnx_path.parent.name, session.get_providers()[0])
    return session
