"""The kinds of model variant (`KINDS`); which ones each architecture gets is its profile (registry.ModelProfile).

Variant kinds (`KINDS`):
- ``fp32``: the export itself.
- ``fp32-optimized``: graph optimized offline. Transformers (their profile's fusion set): the exact
  rewrites of graph_rewrites.py, then ONNX Runtime's transformer optimizer -- the function Optimum's
  ORTOptimizer calls (ORTOptimizer itself needs transformers and knows only vit, dinov2 and segformer
  among our types) -- which fuses Attention, SkipLayerNormalization, (Bias)Gelu. Other models: ONNX
  Runtime's own optimizer saved to a file, at ORT_ENABLE_EXTENDED for the CPU provider and
  ORT_ENABLE_BASIC for the others: ORT_ENABLE_ALL adds layout rewrites (NCHWc) tied to this machine's
  CPU, which ORT itself warns must not be saved; EXTENDED emits com.microsoft fused ops that the CPU
  provider runs; BASIC keeps standard ONNX ops that every provider runs. livevision's sessions apply
  ORT_ENABLE_ALL at load anyway, so the generic pass saves load time only, and on the CPU the fused
  Attention measured no faster (see registry's profiles): `auto` tries this kind on GPU providers only.
- ``int8-dynamic``: dynamic INT8 of MatMul/Gemm with constant weights only (QInt8 weights, activations
  quantized per run). Convolutions stay FP32: dynamic ConvInteger is slower than FP32 Conv on CPU.
- ``int8-static``: static QDQ INT8 (per-channel QInt8 weights, QUInt8 activations, MinMax ranges from
  calibration frames). ORT fuses the QDQ pairs into QLinearConv / QLinearMatMul at load.
- ``fp16``: FP16 weights and compute, FP32 inputs/outputs (keep_io_types). GPU providers only: the CPU
  provider has few FP16 kernels and would run it slower than FP32, if at all.

Which kinds are worth trying depends on the architecture: its ModelProfile, in registry.ARCHITECTURES.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import OptionError, UsageError
from ..types import Precision

if TYPE_CHECKING:  # registry imports this module's kind names
    from .registry import ModelProfile

FP32 = "fp32"
FP32_OPTIMIZED = "fp32-optimized"
INT8_DYNAMIC = "int8-dynamic"
INT8_STATIC = "int8-static"
FP16 = "fp16"
KINDS = (FP32, FP32_OPTIMIZED, INT8_DYNAMIC, INT8_STATIC, FP16)
PRECISIONS = tuple(p.value for p in Precision)
# `livevision run` and `livevision export` alike: an export made ahead serves the run
DEFAULT_PRECISION = Precision.AUTO.value
# Bump when what build_variant produces changes, so cached variants are rebuilt.
VARIANTS_FORMAT = 1

# Providers that run an FP16 graph natively. FP16 is never built or chosen for any other provider. Not
# TensorRT: it picks its engine's precision itself (create_session(..., fp16=True)) from the FP32 graph.
GPU_PROVIDERS = frozenset({
    "CUDAExecutionProvider", "ROCMExecutionProvider", "MIGraphXExecutionProvider", "DmlExecutionProvider",
    "CoreMLExecutionProvider", "WebGpuExecutionProvider",
})

def is_gpu(providers: Sequence[str] | None) -> bool:
    return bool(providers) and providers[0] in GPU_PROVIDERS


def candidate_kinds(profile: ModelProfile, providers: Sequence[str] | None = None) -> list[str]:
    """The kinds `--precision auto` measures for a model with this profile (registry.profile_for), FP32 first."""
    kinds = [FP32]
    if is_gpu(providers):
        # INT8 kernels are CPU kernels (QDQ runs on TensorRT, but then TensorRT picks precision itself)
        kinds.append(FP16)
        if profile.fusion:
            kinds.append(FP32_OPTIMIZED)
        return kinds
    if _openvino_runtime(providers):
        return kinds + [INT8_STATIC]
    return kinds + list(profile.auto)


def _openvino_runtime(providers: Sequence[str] | None) -> bool:
    """The OpenVINO runtime (models.openvino_session) runs static QDQ INT8 fastest of the INT8 kinds, and
    dynamic INT8 slower than FP32 (BENCHMARKS.md, "OpenVINO against ONNX Runtime on the CPU")."""
    return bool(providers) and str(providers[0]).startswith("OpenVINO:")


def check_precision(precision: str, provider: str) -> None:
    """OptionError (one line) for a precision that cannot run on `provider`: an unknown one, or fp16 on
    a provider without native FP16 kernels."""
    if precision not in PRECISIONS:
        raise OptionError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp16" and not is_gpu([provider]):
        raise OptionError(f"--precision fp16 needs a GPU execution provider (CUDA, DirectML, CoreML...), not "
                         f"{provider}: the CPU runs FP16 models slower than FP32 (use --precision int8 or "
                         "auto there), and TensorRT builds FP16 engines from the FP32 model itself")


def kind_for_precision(precision: str, profile: ModelProfile, providers: Sequence[str] | None = None) -> str:
    """`--precision fp32|fp16|int8` -> the variant kind that builds it, for a model with this profile
    (int8 on the OpenVINO runtime: static QDQ, whatever the profile)."""
    if precision == "fp32":
        return FP32
    if precision == "fp16":
        return FP16
    if precision == "int8":
        return INT8_STATIC if _openvino_runtime(providers) else profile.int8
    raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


__all__ = [
    "FP16",
    "FP32",
    "FP32_OPTIMIZED",
    "GPU_PROVIDERS",
    "INT8_DYNAMIC",
    "INT8_STATIC",
    "KINDS",
    "DEFAULT_PRECISION",
    "PRECISIONS",
    "VARIANTS_FORMAT",
    "candidate_kinds",
    "check_precision",
    "is_gpu",
    "kind_for_precision",
]
