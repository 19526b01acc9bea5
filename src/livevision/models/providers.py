"""Which ONNX Runtime execution providers a ``--device`` asks for, with their options.

``resolve_providers(device)`` turns ``cpu | cuda | tensorrt | openvino | coreml | directml | auto``
(an index or sub-device after a colon: ``cuda:1``, ``openvino:gpu``) into the ``providers`` list
``onnxruntime.InferenceSession`` takes: ``(name, options)`` tuples in priority order, with
``"CPUExecutionProvider"`` last as the explicit fallback for the nodes an accelerator does not take.

Policy:

- An explicit device is a promise: if its provider is not in ``onnxruntime.get_available_providers()``
  the result is a :class:`ProviderUnavailableError` naming what is available and what to install. With
  ``allow_fallback=True`` the result is CPU instead, and the caller must warn loudly.
- ``auto`` is best effort and never an error: CUDA > CoreML > DirectML > OpenVINO > CPU. TensorRT is not
  picked automatically: it builds an engine the first time it sees a model and again for every new
  input shape range (minutes for a ViT-L), which is the wrong surprise for "just run it"; ask for it
  with ``--device tensorrt``. CUDA needs no build step. CoreML (macOS) and DirectML (Windows) are each
  the only accelerator of their platform, and OpenVINO is installed only on purpose (its own wheel), on
  Intel hardware where it beats the default CPU provider. The onnxruntime wheels are exclusive (gpu,
  openvino, directml each replace ``onnxruntime``), so in practice at most one of them is present.
  Here ``auto`` picks only ORT's OpenVINO execution provider, never the OpenVINO runtime below: where
  ``auto`` resolves to the CPU provider, session.create_session times ORT against the OpenVINO runtime's
  CPU at load and keeps OpenVINO only when OPENVINO_MIN_SPEEDUP (1.1x) faster; ``cpu`` never measures.
- ``openvino``: the OpenVINO runtime (the ``openvino`` wheel, ``livevision[openvino]``, installed beside
  onnxruntime) where it is importable, through models.openvino_session: the providers list is then one
  entry, ``("OpenVINO:CPU", {"device_type": "CPU", ...})`` (GPU, NPU...), with no CPU fallback; a device
  OpenVINO does not find here is a ProviderUnavailableError naming the ones it found. Without the
  ``openvino`` wheel, ORT's OpenVINO execution provider where this onnxruntime build has it.
- "Available" only means compiled in. ``onnxruntime-gpu`` lists CUDA and TensorRT on machines without
  a GPU, driver, cuDNN or TensorRT; the session then silently runs on the next provider (ORT says so at
  warning level only). :func:`report_session_providers` tells what a created session really runs on:
  call it after creating every session and warn loudly when it fell back.

Provider option names are those of the ONNX Runtime execution provider documentation
(onnxruntime.ai/docs/execution-providers): TensorRT ``trt_*``; CUDA ``device_id``,
``cudnn_conv_algo_search``; OpenVINO ``device_type``, ``cache_dir``; CoreML ``ModelFormat``,
``MLComputeUnits``, ``ModelCacheDirectory``; DirectML ``device_id``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import NamedTuple, Sequence, Union

from ..errors import MissingDependencyError, OptionError

log = logging.getLogger(__name__)

__all__ = [
    "AUTO_ORDER",
    "DEVICES",
    "ProviderReport",
    "ProviderUnavailableError",
    "ProviderSpec",
    "apply_session_options",
    "check_device",
    "fallback_message",
    "provider_names",
    "report_session_providers",
    "resolve_providers",
]

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
OPENVINO = "OpenVINOExecutionProvider"
COREML = "CoreMLExecutionProvider"
DIRECTML = "DmlExecutionProvider"

#: --device values, "auto" included.
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda", "tensorrt", "openvino", "coreml", "directml")
#: The order "auto" tries, best first (see the module docstring for why TensorRT is not in it).
AUTO_ORDER: tuple[str, ...] = ("cuda", "coreml", "directml", "openvino", "cpu")

_PRIMARY = {
    "cpu": CPU,
    "cuda": CUDA,
    "tensorrt": TENSORRT,
    "openvino": OPENVINO,
    "coreml": COREML,
    "directml": DIRECTML,
}
_INSTALL_HINTS = {
    "cuda": "`pip uninstall onnxruntime && pip install onnxruntime-gpu` (needs an NVIDIA driver, CUDA 12 and cuDNN 9)",
    "tensorrt": "`pip uninstall onnxruntime && pip install onnxruntime-gpu tensorrt` (needs an NVIDIA driver, CUDA 12 "
                "and cuDNN 9)",
    "coreml": "the standard `pip install onnxruntime` wheel on macOS (CoreML exists only on Apple platforms)",
    "directml": "`pip uninstall onnxruntime && pip install onnxruntime-directml` (Windows, any DirectX 12 GPU)",
}
_OPENVINO_DEVICES = ("CPU", "GPU", "NPU", "AUTO")
_OPENVINO_INSTALL = "`pip install 'livevision[openvino]'` (the OpenVINO runtime, beside onnxruntime)"

#: An entry of the list InferenceSession takes: a provider name, or (name, options).
ProviderSpec = Union[str, "tuple[str, dict]"]


class ProviderUnavailableError(MissingDependencyError):
    """A --device whose ONNX Runtime execution provider is not in this onnxruntime build."""


class ProviderReport(NamedTuple):
    """What a session runs on: ``used`` its primary provider, ``fell_back`` True when that is not the
    first provider that was requested."""

    used: str
    fell_back: bool


def provider_names(providers: Sequence[ProviderSpec]) -> list[str]:
    """The provider names of a providers list (options dropped)."""
    return [p if isinstance(p, str) else p[0] for p in providers]


def check_device(device: str) -> str:
    """`device` when it is a --device value (a name, an index or sub-device after a colon), else an
    OptionError: checked where the option enters, before any model loads."""
    name, sub = _parse_device(device)
    if name == "openvino":
        _openvino_device_type(device, sub)
    elif sub is not None:
        _device_id(device, sub)
    return device


def _openvino_device_type(device: str, sub: str | None) -> str:
    """OpenVINO's device type for `openvino[:sub]`: CPU (the default), GPU, GPU.1, NPU or AUTO."""
    device_type = (sub or "cpu").upper()
    base, _, index = device_type.partition(".")
    if base not in _OPENVINO_DEVICES or (index and not index.isdigit()) or (index and base in ("CPU", "AUTO")):
        raise OptionError(f"--device {device}: OpenVINO device must be one of "
                          f"{', '.join(d.lower() for d in _OPENVINO_DEVICES)} (gpu.1 for a second GPU)")
    return device_type


def _parse_device(device: str) -> tuple[str, str | None]:
    if not isinstance(device, str) or not device.strip():
        raise OptionError(f"--device must be one of {', '.join(DEVICES)}, got {device!r}")
    name, _, sub = device.strip().lower().partition(":")
    if name not in DEVICES:
        raise OptionError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)} "
                         "(an index may follow: cuda:1, directml:1, openvino:gpu)")
    if sub and name in ("auto", "cpu", "coreml"):
        raise OptionError(f"--device {name} takes no index or sub-device, got {device!r}")
    return name, sub or None


def _device_id(device: str, sub: str | None) -> int:
    if sub is None:
        return 0
    if not sub.isdigit():
        raise OptionError(f"--device {device}: the part after ':' must be a device index (0, 1, ...), got {sub!r}")
    return int(sub)


def _cache_subdir(cache_dir: Path | None, name: str) -> Path | None:
    if cache_dir is None:
        return None
    path = Path(cache_dir) / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cuda(device_id: int) -> tuple[str, dict]:
    # EXHAUSTIVE (ORT's default, spelled out): cuDNN benchmarks every conv algorithm once per input shape.
    # A video keeps one shape, so the one slow first frame buys the fastest steady state.
    return CUDA, {"device_id": device_id, "cudnn_conv_algo_search": "EXHAUSTIVE"}


def _options(name: str, sub: str | None, device: str, available: list[str], cache_dir: Path | None,
             fp16: bool) -> list[ProviderSpec]:
    """The accelerator entries for one device, without the trailing CPU."""
    if name == "cuda":
        return [_cuda(_device_id(device, sub))]
    if name == "tensorrt":
        device_id = _device_id(device, sub)
        options: dict = {"device_id": device_id, "trt_fp16_enable": bool(fp16)}
        trt_dir = _cache_subdir(cache_dir, "trt")
        if trt_dir is not None:
            # Engines (and the timing cache) are built on first use: minutes for a large model, and again
            # for every new input shape range. Cached, a later session loads them in seconds.
            options.update({
                "trt_engine_cache_enable": True,
                "trt_engine_cache_path": str(trt_dir),
                "trt_timing_cache_enable": True,
                "trt_timing_cache_path": str(trt_dir),
            })
        else:
            log.info("TensorRT without a cache folder: its engines are rebuilt for every session")
        entries: list[ProviderSpec] = [(TENSORRT, options)]
        if CUDA in available:  # the nodes TensorRT does not take run on CUDA, not on the CPU
            entries.append(_cuda(device_id))
        return entries
    if name == "openvino":
        device_type = _openvino_device_type(device, sub)
        if device_type == "AUTO":
            device_type = "AUTO:GPU,CPU"  # OpenVINO picks the GPU when there is one
        options = {"device_type": device_type}
        ov_dir = _cache_subdir(cache_dir, "openvino")
        if ov_dir is not None:
            options["cache_dir"] = str(ov_dir)  # compiled blobs: faster session start, GPU kernels included
        return [(OPENVINO, options)]
    if name == "coreml":
        options = {"ModelFormat": "MLProgram", "MLComputeUnits": "ALL"}
        coreml_dir = _cache_subdir(cache_dir, "coreml")
        if coreml_dir is not None:
            options["ModelCacheDirectory"] = str(coreml_dir)
        return [(COREML, options)]
    if name == "directml":
        return [(DIRECTML, {"device_id": _device_id(device, sub)})]
    return []  # cpu


# (device, available providers) whose fallback to the CPU was already reported in this process
_FALLBACKS_REPORTED: set[tuple[str, tuple[str, ...]]] = set()


def resolve_providers(device: str, *, available: list[str] | None = None, cache_dir: Path | None = None,
                      fp16: bool = False, allow_fallback: bool = False) -> list[ProviderSpec]:
    """The ``providers`` list for ``InferenceSession`` that runs on ``device``; CPU is always last.

    device: ``auto``, ``cpu``, ``cuda[:index]``, ``tensorrt[:index]``, ``openvino[:cpu|gpu|npu|auto]``,
    ``coreml`` or ``directml[:index]``. available: the provider names of this onnxruntime build
    (default ``onnxruntime.get_available_providers()``; tests inject their own). cache_dir: a folder
    for compiled engines (TensorRT ``<cache_dir>/trt``, OpenVINO ``/openvino``, CoreML ``/coreml``),
    created when used; None turns those caches off. fp16: TensorRT builds FP16 engines (the other
    providers run the FP32 graph as it is; OpenVINO GPUs compute in FP16 by default anyway).

    Raises UsageError for an unknown device, ProviderUnavailableError when the device's provider is
    not available, unless allow_fallback (then: CPU only, and the caller warns loudly).
    """
    name, sub = _parse_device(device)
    if available is None:
        import onnxruntime

        available = list(onnxruntime.get_available_providers())
    if name == "auto":
        name = next(d for d in AUTO_ORDER if _PRIMARY[d] in available or d == "cpu")
        log.debug("--device auto: %s (available: %s)", name, ", ".join(available) or "none")
        sub = None
    elif name == "openvino" and OPENVINO not in available:
        return _openvino_runtime(device, sub, cache_dir, allow_fallback)
    elif _PRIMARY[name] not in available:
        if allow_fallback:
            _warn_fallback_once(device, available, f"{_PRIMARY[name]} is not available in this onnxruntime "
                                f"build (available: {', '.join(available)})")
            return [CPU]
        raise ProviderUnavailableError(
            f"--device {device} needs {_PRIMARY[name]}, which this onnxruntime build does not have "
            f"(available: {', '.join(available) or 'none'}); install it with {_INSTALL_HINTS[name]}, "
            "or run with --device auto or cpu"
        )
    if fp16 and name != "tensorrt":  # (the OpenVINO runtime returned above: its GPUs compute in FP16 anyway)
        log.warning("fp16 only changes TensorRT engines; %s runs the FP32 model as exported", name)
    providers = _options(name, sub, device, available, cache_dir, fp16)
    providers.append(CPU)
    return providers


def _warn_fallback_once(device: str, available: Sequence[str], why: str) -> None:
    reported = (device, tuple(available))
    if reported not in _FALLBACKS_REPORTED:  # once: a load resolves the device several times
        _FALLBACKS_REPORTED.add(reported)
        log.warning("--device %s: %s; running on the CPU", device, why)


def _openvino_runtime(device: str, sub: str | None, cache_dir: Path | None,
                      allow_fallback: bool) -> list[ProviderSpec]:
    """The one-entry providers list of a session on the OpenVINO runtime (models.openvino_session), or
    ProviderUnavailableError (CPU with allow_fallback) when the runtime or the device is not here."""
    from .openvino_session import PROVIDER_PREFIX, available_devices, has_device

    device_type = _openvino_device_type(device, sub)
    try:
        found = available_devices()
    except MissingDependencyError:
        found, why = None, ("needs the OpenVINO runtime, which is not installed (nor is onnxruntime-openvino's "
                            f"{OPENVINO})")
        hint = f"; install it with {_OPENVINO_INSTALL}, or run with --device auto or cpu"
    else:
        why = f"OpenVINO finds no {device_type} device on this machine (it found: {', '.join(found) or 'none'})"
        hint = ""
    if found is None or not has_device(device_type, found):
        if allow_fallback:
            _warn_fallback_once(device, found or [], why)
            return [CPU]
        raise ProviderUnavailableError(f"--device {device} {why}{hint}" if found is None
                                       else f"--device {device}: {why}")
    options: dict = {"device_type": device_type}
    ov_dir = _cache_subdir(cache_dir, "openvino")
    if ov_dir is not None:
        options["cache_dir"] = str(ov_dir)
    return [(PROVIDER_PREFIX + device_type.split(".")[0], options)]


def apply_session_options(options, providers: Sequence[ProviderSpec]) -> None:
    """Session settings a provider requires, applied to an ``onnxruntime.SessionOptions``.

    DirectML supports neither the memory-pattern optimisation nor parallel execution: the session
    must have ``enable_mem_pattern = False`` and sequential execution, or creating it fails.
    """
    if DIRECTML in provider_names(providers):
        import onnxruntime

        options.enable_mem_pattern = False
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL


def report_session_providers(session, requested: Sequence[ProviderSpec]) -> ProviderReport:
    """What ``session`` runs on, and whether that differs from the first requested provider.

    Only the primary provider is reported: ORT tells which nodes each provider took only in verbose
    logs, so a model partly assigned to the CPU (unsupported ops) still reports the accelerator.
    """
    names = provider_names(requested)
    used = session.get_providers()[0]
    return ProviderReport(used=used, fell_back=bool(names) and used != names[0])


def fallback_message(device: str, requested: Sequence[ProviderSpec], report: ProviderReport) -> str:
    """One line for the warning a caller logs when a session fell back."""
    wanted = provider_names(requested)[0] if requested else "?"
    why = ("the provider is compiled in but could not start: a missing driver, CUDA/cuDNN or TensorRT "
           "library, or no such device") if report.used == CPU else "the provider could not start"
    return f"--device {device}: asked for {wanted} but the model runs on {report.used}: {why}"
