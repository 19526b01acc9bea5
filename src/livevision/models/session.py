"""ONNX Runtime sessions for cached models."""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import numpy as np

from ..errors import CacheError
from .openvino_session import is_openvino_runtime
from .providers import (
    CPU,
    apply_session_options,
    fallback_message,
    provider_names,
    report_session_providers,
    resolve_providers,
)

log = logging.getLogger(__name__)

#: `--device auto` on ORT's CPU provider keeps OpenVINO's CPU device only when it is this much faster, and
#: saves this many milliseconds a run: a smaller saving is noise beside a frame, and would leave a tiny
#: model's runtime (and its last digits) to timing jitter.
OPENVINO_MIN_SPEEDUP = 1.1
OPENVINO_MIN_SAVING_MS = 5.0
#: timed runs per session (after one warm-up each), alternating ORT and OpenVINO; 1 for a slow model
AUTO_RUNS = 3
#: seconds the timed runs may take (judged from ORT's warm-up run): a slow model gets a single run each
AUTO_BUDGET_S = 3.0
#: the dynamic dims of a synthetic image input where the caller gives no shape: batch 1, 3 channels, 224x224
AUTO_IMAGE_SHAPE = (1, 3, 224, 224)
#: in the engine cache folder: {machine: {model file: "openvino" | "onnxruntime"}}
AUTO_CHOICE_FILE = "auto-device.json"
_DTYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16, "tensor(double)": np.float64,
           "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


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
                   allow_fallback: bool = False, auto_openvino: bool = True,
                   auto_input_shape: tuple[int, ...] | None = None):
    """An InferenceSession for `onnx_path` on `device` (see providers.resolve_providers).

    intra_op_threads: default one per physical core (hyper-threads slow ONNX Runtime down).
    live: turn off thread spinning: in live mode a model waits for frames between runs, and
    spinning threads would burn the cores capture and rendering need.
    engine_cache_dir: where TensorRT / OpenVINO / CoreML keep compiled engines.
    `--device openvino` without onnxruntime-openvino: an OpenVINOSession (models.openvino_session), which
    runs as an InferenceSession does for livevision. `--device auto` where ORT would run on its CPU
    provider and the `openvino` package finds a CPU: both are timed once on a synthetic input, and the
    OpenVINOSession is kept only when OPENVINO_MIN_SPEEDUP and OPENVINO_MIN_SAVING_MS faster (the choice
    is remembered per model file and machine in engine_cache_dir; auto_openvino=False: never, for
    --pre-post device, which OpenVINO cannot run; auto_input_shape: the first input's shape it times,
    default AUTO_IMAGE_SHAPE's dims where the model's are dynamic); `--device cpu` never measures.
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
    if auto_openvino and device == "auto" and provider_names(providers)[0] == CPU and openvino_has_cpu():
        return _auto_cpu_or_openvino(session, onnx_path, intra_op_threads, engine_cache_dir, auto_input_shape)
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


def openvino_has_cpu() -> bool:
    """Whether the `openvino` package is importable here and finds a CPU device."""
    from ..errors import MissingDependencyError
    from .openvino_session import available_devices, has_device

    try:
        return has_device("CPU", available_devices())
    except MissingDependencyError:
        return False
    except Exception as exc:  # OpenVINO's own errors: a broken install is not worth failing a load for
        log.debug("--device auto: OpenVINO not usable (%s)", exc)
        return False


def _auto_cpu_or_openvino(ort_session, onnx_path: Path, intra_op_threads: int | None, engine_cache_dir: Path | None,
                          input_shape: tuple[int, ...] | None):
    """`ort_session` (ORT's CPU provider), or an OpenVINO CPU session of the same file where that measured
    OPENVINO_MIN_SPEEDUP faster, now or at an earlier load on this machine (remembered in engine_cache_dir)."""
    choice_file = Path(engine_cache_dir) / AUTO_CHOICE_FILE if engine_cache_dir is not None else None
    machine, model_key = _choice_keys(onnx_path)
    remembered = _read_choices(choice_file).get(machine, {}).get(model_key)
    if remembered == "onnxruntime":
        return ort_session
    try:
        providers = resolve_providers("openvino:cpu", available=[CPU], cache_dir=engine_cache_dir)
        ov_session = _openvino_session(onnx_path, providers[0][1], intra_op_threads)
        if remembered == "openvino":
            log.debug("--device auto: OpenVINO CPU for %s (measured faster than ONNX Runtime's CPU provider at "
                      "an earlier load)", onnx_path.name)
            return ov_session
        ort_ms, ov_ms = _measure(ort_session, ov_session, synthetic_feed(ort_session, input_shape))
    except Exception as exc:  # a graph OpenVINO cannot compile or run (or a bad synthetic shape): keep ORT
        log.warning("--device auto: could not time OpenVINO against ONNX Runtime on %s (%s); keeping ONNX "
                    "Runtime's CPU provider",
                    onnx_path.name, (str(exc).strip().splitlines() or [type(exc).__name__])[0])
        return ort_session
    use_openvino = ort_ms >= OPENVINO_MIN_SPEEDUP * ov_ms and ort_ms - ov_ms >= OPENVINO_MIN_SAVING_MS
    log.info("--device auto: %s ONNX Runtime CPU %.1f ms, OpenVINO CPU %.1f ms (%.2fx): %s", onnx_path.name,
             ort_ms, ov_ms, ort_ms / ov_ms if ov_ms > 0 else float("inf"),
             "OpenVINO" if use_openvino else
             f"ONNX Runtime (OpenVINO needs {OPENVINO_MIN_SPEEDUP}x and {OPENVINO_MIN_SAVING_MS:g} ms)")
    if choice_file is not None:
        _write_choice(choice_file, machine, model_key, "openvino" if use_openvino else "onnxruntime")
    return ov_session if use_openvino else ort_session


def synthetic_feed(session, input_shape: tuple[int, ...] | None = None) -> dict:
    """A random input for each of `session`'s inputs: `input_shape` for the first one where given, else the
    static dims, and for dynamic ones AUTO_IMAGE_SHAPE's (a 4-D input) or 1."""
    rng = np.random.default_rng(0)
    feed = {}
    for index, arg in enumerate(session.get_inputs()):
        defaults = AUTO_IMAGE_SHAPE if len(arg.shape) == len(AUTO_IMAGE_SHAPE) else (1,) * len(arg.shape)
        shape = [d if isinstance(d, int) and d > 0 else defaults[i] for i, d in enumerate(arg.shape)]
        if index == 0 and input_shape is not None:
            shape = list(input_shape)
        feed[arg.name] = rng.random(shape).astype(_DTYPES.get(arg.type, np.float32))
    return feed


def _timed_run(session, feed: dict) -> float:
    """Seconds one run of `session` on `feed` takes (tests replace this)."""
    start = time.perf_counter()
    session.run(None, feed)
    return time.perf_counter() - start


def _measure(ort_session, ov_session, feed: dict) -> tuple[float, float]:
    """Median milliseconds of ORT's and OpenVINO's session on `feed`: a warm-up each, then AUTO_RUNS runs
    each, alternating (both see the same load); a single run each for a slow model."""
    ort_warmup = _timed_run(ort_session, feed)
    _timed_run(ov_session, feed)  # OpenVINO compiles for the input shape here
    runs = AUTO_RUNS if 2 * AUTO_RUNS * ort_warmup <= AUTO_BUDGET_S else 1
    ort_times, ov_times = [], []
    for _ in range(runs):
        ort_times.append(_timed_run(ort_session, feed))
        ov_times.append(_timed_run(ov_session, feed))
    return float(np.median(ort_times)) * 1e3, float(np.median(ov_times)) * 1e3


def _choice_keys(onnx_path: Path) -> tuple[str, str]:
    """(this machine, this model file): ORT's and OpenVINO's versions, the CPU; the file's name, size and mtime."""
    from .openvino_session import import_openvino
    from .variant_history import machine_key

    stat = Path(onnx_path).stat()
    machine = f"{machine_key(CPU)}, openvino {import_openvino().__version__.split('-')[0]}"
    return machine, f"{Path(onnx_path).name} {stat.st_size} {stat.st_mtime_ns}"


def _read_choices(choice_file: Path | None) -> dict:
    if choice_file is None or not choice_file.is_file():
        return {}
    try:
        choices = json.loads(choice_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return choices if isinstance(choices, dict) else {}


def _write_choice(choice_file: Path, machine: str, model_key: str, choice: str) -> None:
    from .cache import write_json_atomic

    choices = _read_choices(choice_file)
    choices.setdefault(machine, {})[model_key] = choice
    try:
        choice_file.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(choice_file, choices)
    except OSError as exc:
        log.debug("--device auto: cannot remember the choice in %s (%s)", choice_file, exc)
