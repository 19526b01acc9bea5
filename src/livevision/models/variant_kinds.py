"""The kinds of model variant (`KINDS`) and which ones each architecture gets (`PROFILES`).

Variant kinds (`KINDS`):
- ``fp32``: the export itself.
- ``fp32-optimized``: graph optimized offline. Transformers (PROFILES[...].fusion set): the exact
  rewrites of graph_rewrites.py, then ONNX Runtime's transformer optimizer -- the function Optimum's
  ORTOptimizer calls (ORTOptimizer itself needs transformers and knows only vit, dinov2 and segformer
  among our types) -- which fuses Attention, SkipLayerNormalization, (Bias)Gelu. Other models: ONNX
  Runtime's own optimizer saved to a file, at ORT_ENABLE_EXTENDED for the CPU provider and
  ORT_ENABLE_BASIC for the others: ORT_ENABLE_ALL adds layout rewrites (NCHWc) tied to this machine's
  CPU, which ORT itself warns must not be saved; EXTENDED emits com.microsoft fused ops that the CPU
  provider runs; BASIC keeps standard ONNX ops that every provider runs. livevision's sessions apply
  ORT_ENABLE_ALL at load anyway, so the generic pass saves load time only, and on the CPU the fused
  Attention measured no faster (see PROFILES): `auto` tries this kind on GPU providers only.
- ``int8-dynamic``: dynamic INT8 of MatMul/Gemm with constant weights only (QInt8 weights, activations
  quantized per run). Convolutions stay FP32: dynamic ConvInteger is slower than FP32 Conv on CPU.
- ``int8-static``: static QDQ INT8 (per-channel QInt8 weights, QUInt8 activations, MinMax ranges from
  calibration frames). ORT fuses the QDQ pairs into QLinearConv / QLinearMatMul at load.
- ``fp16``: FP16 weights and compute, FP32 inputs/outputs (keep_io_types). GPU providers only: the CPU
  provider has few FP16 kernels and would run it slower than FP32, if at all.

Which kinds are worth trying depends on the architecture: PROFILES, one row per model_type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import UsageError
from ..types import Precision

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

@dataclass(frozen=True)
class ModelProfile:
    """How a model_type is accelerated.

    family: "transformer" (compute in MatMul), "conv" (compute in Conv), "mixed" (both matter).
    fusion: model_type for onnxruntime.transformers.optimizer ("vit": BERT-style attention, LayerNorm and
        Gelu fusions), or None: ORT's generic optimizer only.
    int8: the INT8 kind `--precision int8` builds.
    auto: the kinds besides FP32 that `--precision auto` measures on the CPU (GPUs: see candidate_kinds).
    static_ops: op types static QDQ quantizes; None: every type ORT can (Relu, Add, pooling... too, so
        whole conv chains stay INT8). Transformer parts keep LayerNorm, Softmax, Gelu in FP32.
    """

    family: str
    fusion: str | None
    int8: str
    auto: tuple[str, ...]
    static_ops: tuple[str, ...] | None = ("Conv", "MatMul", "Gemm")


# Measured on this project's 2-core AVX-512 VNNI CPU, full-size random-weight models, speed-up over FP32
# (choose_variant: median of 20 interleaved runs, thread spinning off; other jobs share the machine):
# - dynamic MatMul INT8: ViT-B/16 2.9x (2.3-2.4x while the host is busy), Depth Anything V2 S (252x448)
#   1.5x, SegFormer-B0 1.1-1.15x, ConvNeXt-T 1.7-1.8x. Dynamic INT8 of every op (ConvInteger) is slower.
#   Quantizing the fused graph instead (QAttention, or MultiHeadAttention with INT8 projections) measured
#   2.55-2.65x on ViT-B against 2.9x: ORT's CPU attention kernels are slower than its MatMul/Softmax.
# - static QDQ INT8: ResNet-50 2.8-4.1x (all op types; Conv/MatMul/Gemm only: 2.9x), ConvNeXt-T 1.4-1.7x,
#   DA-V2-S 1.45x, SegFormer-B0 1.2-1.25x (Conv/MatMul/Gemm, head in FP32).
# - fp32-optimized (fused Attention, SkipLayerNorm, BiasGelu): 0.97-1.02x on ViT-B/16, DA-V2-S (12/12
#   attention blocks fused) and SegFormer-B0: ORT's CPU Attention kernel is no faster than the MatMul /
#   Softmax it replaces, and ORT_ENABLE_ALL at load already fuses LayerNorm and Gelu. So `auto` does not
#   build it on the CPU; on GPUs, where fused attention kernels matter, it does.
_TRANSFORMER = ModelProfile("transformer", "vit", INT8_DYNAMIC, (INT8_DYNAMIC,))
_VIT_MIXED = ModelProfile("mixed", "vit", INT8_DYNAMIC, (INT8_DYNAMIC, INT8_STATIC))
_MIXED = ModelProfile("mixed", None, INT8_DYNAMIC, (INT8_DYNAMIC, INT8_STATIC))
_CONV = ModelProfile("conv", None, INT8_STATIC, (INT8_STATIC,), static_ops=None)

PROFILES: dict[str, ModelProfile] = {
    # plain vision transformers: all compute in MatMul
    "vit": _TRANSFORMER,
    "deit": _TRANSFORMER,
    "beit": _TRANSFORMER,  # relative position bias: ORT's fusion does not match it; MatMul INT8 still applies
    "dinov2": _TRANSFORMER,
    "swin": _TRANSFORMER,  # windowed attention with bias: not fused either
    "levit": ModelProfile("transformer", None, INT8_DYNAMIC, (INT8_DYNAMIC,)),  # attention with bias, conv stem
    # transformer backbone + convolutional head: both matter
    "depth_anything": _VIT_MIXED,  # DINOv2 + DPT head
    "dpt": _VIT_MIXED,  # ViT (or BiT hybrid) + DPT head
    "zoedepth": _VIT_MIXED,  # BEiT + DPT head + metric bins
    "segformer": _VIT_MIXED,  # MiT encoder (efficient attention: only sr_ratio=1 blocks fuse) + MLP decoder
    "glpn": _VIT_MIXED,  # MiT encoder + conv decoder
    "maskformer": _MIXED,  # Swin + pixel decoder + transformer decoder
    "mask2former": _MIXED,  # Swin + deformable attention + transformer decoder
    "mobilevit": ModelProfile("mixed", None, INT8_STATIC, (INT8_STATIC, INT8_DYNAMIC)),
    # ConvNeXt's compute is in its pointwise Linear layers (MatMul), not its depthwise convs
    "convnext": ModelProfile("mixed", None, INT8_DYNAMIC, (INT8_DYNAMIC, INT8_STATIC)),
    # convolutional networks
    "resnet": _CONV,
    "regnet": _CONV,
    "efficientnet": _CONV,
    "mobilenet_v2": _CONV,
    "poolformer": _CONV,
}
DEFAULT_PROFILE = _MIXED  # an unknown model_type: measure both INT8 kinds


def profile_for(model_type: str) -> ModelProfile:
    return PROFILES.get(model_type, DEFAULT_PROFILE)


def is_gpu(providers: Sequence[str] | None) -> bool:
    return bool(providers) and providers[0] in GPU_PROVIDERS


def candidate_kinds(model_type: str, providers: Sequence[str] | None = None) -> list[str]:
    """The kinds `--precision auto` measures, FP32 first."""
    kinds = [FP32]
    if is_gpu(providers):
        # INT8 kernels are CPU kernels (QDQ runs on TensorRT, but then TensorRT picks precision itself)
        kinds.append(FP16)
        if profile_for(model_type).fusion:
            kinds.append(FP32_OPTIMIZED)
        return kinds
    return kinds + list(profile_for(model_type).auto)


def check_precision(precision: str, provider: str) -> None:
    """UsageError (one line) for a precision that cannot run on `provider`: an unknown one, or fp16 on
    a provider without native FP16 kernels."""
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp16" and not is_gpu([provider]):
        raise UsageError(f"--precision fp16 needs a GPU execution provider (CUDA, DirectML, CoreML...), not "
                         f"{provider}: the CPU runs FP16 models slower than FP32 (use --precision int8 or "
                         "auto there), and TensorRT builds FP16 engines from the FP32 model itself")


def kind_for_precision(precision: str, model_type: str) -> str:
    """`--precision fp32|fp16|int8` -> the variant kind that builds it."""
    if precision == "fp32":
        return FP32
    if precision == "fp16":
        return FP16
    if precision == "int8":
        return profile_for(model_type).int8
    raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


__all__ = [
    "DEFAULT_PROFILE",
    "FP16",
    "FP32",
    "FP32_OPTIMIZED",
    "GPU_PROVIDERS",
    "INT8_DYNAMIC",
    "INT8_STATIC",
    "KINDS",
    "DEFAULT_PRECISION",
    "PRECISIONS",
    "PROFILES",
    "VARIANTS_FORMAT",
    "ModelProfile",
    "candidate_kinds",
    "check_precision",
    "is_gpu",
    "kind_for_precision",
    "profile_for",
]
