"""ONNX Runtime sessions for cached models."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import CacheError, UsageError

log = logging.getLogger(__name__)


def physical_cores() -> int:
    """Cores this process may use, counting SMT siblings once where Linux tells."""
    try:
        usable = os.sched_getaffinity(0)
    except AttributeError:  # macOS, Windows
        return max(1, (os.cpu_count() or 2) // 2)
    siblings = set()
    for cpu in usable:
        try:
            with open(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list") as f:
                siblings.add(f.read().strip())
        except OSError:
            siblings.add(str(cpu))
    return max(1, len(siblings))


def create_session(onnx_path: Path, providers: list[str] | None = None, *, intra_op_threads: int | None = None,
                   live: bool = False):
    """An InferenceSession on `providers` (default: CPU). Unknown providers are a UsageError.

    intra_op_threads: default one per physical core (hyper-threads slow ONNX Runtime down).
    live: turn off thread spinning: in live mode a model waits for frames between runs, and
    spinning threads would burn the cores capture and rendering need.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    providers = providers or ["CPUExecutionProvider"]
    unknown = [p for p in providers if p not in available]
    if unknown:
        raise UsageError(f"execution provider {', '.join(unknown)} is not available; available: {', '.join(available)}")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = intra_op_threads or physical_cores()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if live:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: ORT's warnings are not actionable for users
    try:
        session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=providers)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/NoSuchFile types
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CacheError(f"cannot load ONNX model {onnx_path}: {first_line}") from None
    log.info("%s runs on %s", onnx_path.parent.name, session.get_providers()[0])
    return session
