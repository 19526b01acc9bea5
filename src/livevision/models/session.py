"""ONNX Runtime sessions for cached models."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from ..errors import CacheError
from .openvino_session import is_openvino_runtime
from .providers import apply_session_options, fallback_message, report_session_providers, resolve_providers

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


def session_options(*, intra_op_threads: int | None = None, live: bool = False):
    """livevision's ONNX Runtime session options (see create_session for intra_op_threads and live)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = intra_op_threads or physical_cores()
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if live:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: ORT's warnings are not actionable for users
    return options


def create_session(onnx_path: Path, device: str = "cpu", *, intra_op_threads: int | None = None,
                   live: bool = False, engine_cache_dir: Path | None = None, fp16: bool = False,
                   allow_fallback: bool = False):
    """An InferenceSession for `onnx_path` on `device` (see providers.resolve_providers).

    intra_op_threads: default one per physical core (hyper-threads slow ONNX Runtime down).
    live: turn off thread spinning: in live mode a model waits for frames between runs, and
    spinning threads would burn the cores capture and rendering need.
    engine_cache_dir: where TensorRT / OpenVINO / CoreML keep compiled engines.
    `--device openvino` without onnxruntime-openvino: an OpenVINOSession (models.openvino_session), which
    runs as an InferenceSession does for livevision.
    A session that ends up on another provider than asked is reported with a loud warning;
    for an explicit device it also may not switch to the CPU later, mid-run.
    """
    providers = resolve_providers(device, cache_dir=engine_cache_dir, fp16=fp16, allow_fallback=allow_fallback)
    if isinstance(providers[0], tuple) and is_openvino_runtime(providers[0][0]):
        return _openvino_session(onnx_path, providers[0][1], intra_op_threads)
    import onnxruntime as ort

    if not log.isEnabledFor(logging.DEBUG):
        # ORT's process-wide logger prints lines a user cannot act on, once per session on GPU builds
        # ("No registered plugin EP device found for 'CUDAExecutionProvider'"): errors only, unless -v.
        ort.set_default_logger_severity(3)
    options = session_options(intra_op_threads=intra_op_threads, live=live)
    apply_session_options(options, providers)
    try:
        session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=providers)
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/NoSuchFile types
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CacheError(f"cannot load ONNX model {onnx_path}: {first_line}") from None
    report = report_session_providers(session, providers)
    if report.fell_back:
        log.warning("WARNING: %s", fallback_message(device, providers, report))
    if device not in ("auto", "cpu"):
        session.disable_fallback()  # fail loudly instead of quietly moving to the CPU mid-run
    log.debug("%s runs on %s", onnx_path, report.used)
    return session


def _openvino_session(onnx_path: Path, options: dict, intra_op_threads: int | None):
    """A session on the OpenVINO runtime: `options` from providers.resolve_providers; threads as for ORT's
    CPU provider (one per physical core by default)."""
    from .openvino_session import OpenVINOSession

    cache_dir = options.get("cache_dir")
    session = OpenVINOSession(onnx_path, options["device_type"], threads=intra_op_threads or physical_cores(),
                              cache_dir=Path(cache_dir) if cache_dir else None)
    log.debug("%s runs on %s", onnx_path, session.provider)
    return session
