"""Faster variants of an exported FP32 ONNX model, and the choice between them (`--precision`).

Plain functions over ONNX files; the CLI and the cache call them.

    path, info = build_variant(fp32, "int8-dynamic", out, calibration=None, model_type="vit")
    chosen, report = choose_variant(fp32, folder, task="classification", model_type="vit",
                                    calibration_inputs=frames, device="cpu")

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

import contextlib
import json
import logging
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ExportError, UsageError
from ..types import Task
from .accuracy import AgreementReport, check_agreement, thresholds_for

log = logging.getLogger(__name__)

FP32 = "fp32"
FP32_OPTIMIZED = "fp32-optimized"
INT8_DYNAMIC = "int8-dynamic"
INT8_STATIC = "int8-static"
FP16 = "fp16"
KINDS = (FP32, FP32_OPTIMIZED, INT8_DYNAMIC, INT8_STATIC, FP16)
PRECISIONS = ("auto", "fp32", "fp16", "int8")
# Bump when what build_variant produces changes, so cached variants are rebuilt.
VARIANTS_FORMAT = 1

# Providers that run an FP16 graph natively. FP16 is never built or chosen for any other provider. Not
# TensorRT: it picks its engine's precision itself (create_session(..., fp16=True)) from the FP32 graph.
GPU_PROVIDERS = frozenset({
    "CUDAExecutionProvider", "ROCMExecutionProvider", "MIGraphXExecutionProvider", "DmlExecutionProvider",
    "CoreMLExecutionProvider", "WebGpuExecutionProvider",
})

# A variant must beat FP32 by this factor to be chosen: smaller differences are within run-to-run noise
# on a shared machine, and a variant that is not clearly faster is not worth any accuracy risk.
MIN_SPEEDUP = 1.05
# Latency: median of RUNS timed runs, after WARMUP untimed runs, candidates interleaved run by run so
# that load from other processes hits them all alike.
# Timing stops early when a round over all candidates is slow: at most TIME_BUDGET_S for the timed runs
# (never fewer than MIN_RUNS), so a 1 s/frame model does not take minutes per candidate.
RUNS = 20
WARMUP = 2
MIN_RUNS = 5
TIME_BUDGET_S = 60.0


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
# (choose_variant: median of 20 interleaved runs, other jobs sharing the machine, so +-20%):
# - dynamic MatMul INT8: ViT-B/16 2.0-2.5x (3.0x on a quiet machine), Depth Anything V2 S (252x448)
#   1.6x, SegFormer-B0 1.07-1.17x, ConvNeXt-T 1.7-1.8x. Dynamic INT8 of every op (ConvInteger) is slower.
# - static QDQ INT8: ResNet-50 2.8-4.1x (all op types; Conv/MatMul/Gemm only: 2.9x), ConvNeXt-T 1.4-1.7x,
#   DA-V2-S 1.4-1.5x, SegFormer-B0 1.1-1.16x (Conv/MatMul/Gemm, head in FP32).
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


def kind_for_precision(precision: str, model_type: str) -> str:
    """`--precision fp32|fp16|int8` -> the variant kind that builds it."""
    if precision == "fp32":
        return FP32
    if precision == "fp16":
        return FP16
    if precision == "int8":
        return profile_for(model_type).int8
    raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")


# ---------------------------------------------------------------------------------------------------
# building variants
# ---------------------------------------------------------------------------------------------------


def cpu_has_vnni() -> bool:
    """Whether the CPU has 8-bit dot-product instructions (AVX-512 VNNI / AVX-VNNI; always on ARM64).

    Without them ONNX Runtime's x86 U8S8 kernels use VPMADDUBSW, which can saturate int16 with full 8-bit
    weights; quantizing weights to 7 bits (reduce_range) avoids that, as ORT's documentation advises."""
    machine = platform.machine().lower()
    if machine in ("arm64", "aarch64"):
        return True
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = f.read()
    except OSError:
        return False  # not Linux: assume the conservative case
    return "avx512_vnni" in flags or "avx_vnni" in flags


def build_variant(fp32_onnx: Path, kind: str, out: Path, *, calibration: Sequence[np.ndarray] | None = None,
                  model_type: str, config: dict | None = None, providers: Sequence[str] | None = None) -> Path:
    """Write variant `kind` of `fp32_onnx` to `out` and return `out` (`fp32_onnx` itself for "fp32").

    calibration: pre-processed `pixel_values` arrays, (1, 3, H, W) float32; needed by "int8-static".
    model_type: config.json's model_type (picks the fusion, see PROFILES). config: config.json as a dict,
    to read head counts for fusion (optional: they are read from the graph when missing).
    providers: the execution providers it will run on (picks the graph optimization level). An fp16
    file is built whatever the providers (choose_variant refuses to use it on the CPU).
    Raises ExportError when a build fails, UsageError for an unknown kind or missing calibration.
    """
    path, _ = build_variant_with_info(fp32_onnx, kind, out, calibration=calibration, model_type=model_type,
                                      config=config, providers=providers)
    return path


def build_variant_with_info(fp32_onnx: Path, kind: str, out: Path, *, calibration=None, model_type: str,
                            config: dict | None = None, providers=None) -> tuple[Path, dict]:
    """build_variant, and a JSON-safe dict of what the build did (fusions, quantization settings)."""
    fp32_onnx, out = Path(fp32_onnx), Path(out)
    if kind not in KINDS:
        raise UsageError(f"unknown variant kind {kind!r}; kinds: {', '.join(KINDS)}")
    if kind == FP32:
        return fp32_onnx, {}
    if kind == INT8_STATIC and not calibration:
        raise UsageError("int8-static needs calibration frames")
    out.parent.mkdir(parents=True, exist_ok=True)
    builders: dict[str, Callable[..., dict]] = {
        FP32_OPTIMIZED: lambda: optimize_graph(fp32_onnx, out, model_type=model_type, config=config, providers=providers),
        INT8_DYNAMIC: lambda: quantize_dynamic_matmul(fp32_onnx, out),
        INT8_STATIC: lambda: quantize_static_qdq(fp32_onnx, out, calibration,
                                                 op_types=profile_for(model_type).static_ops),
        FP16: lambda: convert_fp16(fp32_onnx, out),
    }
    started = time.perf_counter()
    try:
        info = builders[kind]()
    except (UsageError, ExportError):
        raise
    except Exception as exc:  # onnx / onnxruntime raise many types from deep inside
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ExportError(f"building the {kind} variant of {fp32_onnx} failed: {first_line}") from exc
    info["build_s"] = round(time.perf_counter() - started, 2)
    return out, info


def _heads_and_hidden(config: dict | None) -> tuple[int, int]:
    """(num_attention_heads, hidden_size) of a plain ViT-like config or its backbone; 0 where unknown or
    varying per stage (the optimizer then reads them from each attention's Reshape)."""
    if not config:
        return 0, 0
    for c in (config, config.get("backbone_config") or {}):
        heads, hidden = c.get("num_attention_heads"), c.get("hidden_size")
        if isinstance(heads, int) and isinstance(hidden, int):
            return heads, hidden
    return 0, 0


def optimize_graph(fp32_onnx: Path, out: Path, *, model_type: str, config: dict | None = None,
                   providers: Sequence[str] | None = None) -> dict:
    """Write the graph-optimized FP32 model; returns {"method", fused op counts, "attention": "k/n" ...}."""
    import onnx

    fusion = profile_for(model_type).fusion
    if fusion is None:
        return _ort_offline_optimize(fp32_onnx, out, providers)
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    from .graph_rewrites import count_ops, prepare_for_fusion

    model = onnx.load(str(fp32_onnx))
    attention_blocks = count_ops(model).get("Softmax", 0)
    rewrites = prepare_for_fusion(model)
    heads, hidden = _heads_and_hidden(config)
    options = FusionOptions(fusion)
    # opt_level=0: only the Python fusions; ORT's own (hardware-specific) passes run when a session loads
    with _quiet_transformer_optimizer():
        optimizer = optimize_model(model, model_type=fusion, num_heads=heads, hidden_size=hidden, opt_level=0,
                                   optimization_options=options, use_gpu=is_gpu(providers))
    optimizer.save_model_to_file(str(out))
    fused = {k: int(v) for k, v in optimizer.get_fused_operator_statistics().items() if v}
    attention = fused.get("Attention", 0) + fused.get("MultiHeadAttention", 0)
    if attention_blocks and not attention:
        log.info("%s: no attention block was fused (%d softmax); the optimized graph has only "
                 "LayerNorm/Gelu fusions", model_type, attention_blocks)
    return {"method": f"onnxruntime.transformers.optimizer ({fusion})", "rewrites": rewrites, "fused": fused,
            "attention_fused": f"{attention}/{attention_blocks}"}


@contextlib.contextmanager
def _quiet_transformer_optimizer():
    """onnxruntime.transformers puts its folder on sys.path, so its loggers are top-level ("optimizer",
    "onnx_model", "fusion_attention"...); they warn about head counts it then reads from the graph."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    names = [n for n in list(logging.root.manager.loggerDict)
             if n in ("optimizer", "onnx_model") or n.startswith(("fusion_", "onnx_model_"))]
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _ort_offline_optimize(fp32_onnx: Path, out: Path, providers: Sequence[str] | None) -> dict:
    import onnxruntime as ort

    options = ort.SessionOptions()
    gpu = bool(providers) and providers[0] != "CPUExecutionProvider"
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_BASIC if gpu
                                        else ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)
    options.optimized_model_filepath = str(out)
    options.log_severity_level = 3
    ort.InferenceSession(str(fp32_onnx), sess_options=options, providers=["CPUExecutionProvider"])
    level = "basic" if gpu else "extended"
    return {"method": f"onnxruntime offline ({level})"}


class _DropOrtQuantizationChatter(logging.Filter):
    """onnxruntime.quantization logs advice and per-tensor notes with `logging.warning` on the root logger
    ("Please consider pre-processing...", "Axis 1 is out-of-range for weight ..."): not actionable for
    users. Records from other code pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        path = record.pathname.replace("\\", "/")
        return "onnxruntime/quantization/" not in path or log.isEnabledFor(logging.DEBUG)


@contextlib.contextmanager
def _quiet_quantization():
    root = logging.getLogger()
    chatter = _DropOrtQuantizationChatter()
    root.addFilter(chatter)
    try:
        yield
    finally:
        root.removeFilter(chatter)


def quantize_dynamic_matmul(fp32_onnx: Path, out: Path) -> dict:
    """Dynamic INT8 of MatMul/Gemm with constant weights.

    Weights QInt8 (symmetric, zero point 0) with the uint8 activations dynamic quantization always uses:
    ORT's U8S8 MatMulInteger kernels are its fastest on x86 (VNNI / AVX2) and ARM, and symmetric weights
    skip the zero-point correction. QUInt8 weights (U8U8) only help x86 CPUs without VNNI, where U8S8 can
    saturate; there we keep QInt8 and quantize weights to 7 bits (reduce_range), as ORT advises."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    reduce_range = not cpu_has_vnni()
    with _quiet_quantization():
        quantize_dynamic(
            str(fp32_onnx), str(out),
            op_types_to_quantize=["MatMul", "Gemm"],
            per_channel=False,
            reduce_range=reduce_range,
            weight_type=QuantType.QInt8,
            extra_options={"MatMulConstBOnly": True},  # weights only: not q @ k^T or attn @ v
        )
    return {"method": "quantize_dynamic", "op_types": ["MatMul", "Gemm"], "weight_type": "QInt8",
            "reduce_range": reduce_range}


class _FramesReader:
    """CalibrationDataReader over a list of pixel_values arrays."""

    def __init__(self, input_name: str, frames: Sequence[np.ndarray]):
        self.input_name, self.frames, self.position = input_name, list(frames), 0

    def get_next(self):
        if self.position >= len(self.frames):
            return None
        frame = np.ascontiguousarray(self.frames[self.position], dtype=np.float32)
        self.position += 1
        return {self.input_name: frame}

    def rewind(self):
        self.position = 0


def output_heads(model) -> list[str]:
    """Names of the last Conv / MatMul / Gemm before each graph output (through any shape or activation
    ops): the layers whose quantization error lands directly in the logits or depth."""
    producer = {name: node for node in model.graph.node for name in node.output}
    heads = []
    for output in model.graph.output:
        seen, frontier = set(), [output.name]
        while frontier:
            node = producer.get(frontier.pop())
            if node is None or node.name in seen:
                continue
            seen.add(node.name)
            if node.op_type in ("Conv", "MatMul", "Gemm", "ConvTranspose"):
                heads.append(node.name)
            else:
                frontier.extend(node.input)
    return sorted(set(heads))


def quantize_static_qdq(fp32_onnx: Path, out: Path, calibration: Sequence[np.ndarray], *,
                        op_types: Sequence[str] | None = None, keep_heads_fp32: bool = True) -> dict:
    """Static QDQ INT8: per-channel QInt8 weights, QUInt8 activations, MinMax ranges from `calibration`.

    op_types: what to quantize (None: every type ORT can). keep_heads_fp32: leave the output layers
    (output_heads) in FP32: a segmentation or classification argmax hangs on small logit differences that
    8 bits do not keep (SegFormer-B0: pixel agreement 0.22 with its classifier quantized, 0.96 without).
    """
    import onnx
    from onnxruntime.quantization import (
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    reduce_range = not cpu_has_vnni()
    with tempfile.TemporaryDirectory(prefix="livevision-qdq-") as tmp, _quiet_quantization():
        source, preprocessed = Path(fp32_onnx), False
        pre = Path(tmp) / "pre.onnx"
        # ORT's recommended pre-processing: basic graph optimization (BatchNorm folding...) and shape
        # inference. ONNX's shape inference only: ORT's symbolic one fails on half our exports (DINOv2,
        # BEiT, Swin, GLPN, DPT hybrid) and then writes sym_shape_infer_temp.onnx plus a data file into the
        # current directory; where it works, the quantized graphs came out identical without it.
        try:
            quant_pre_process(str(fp32_onnx), str(pre), skip_symbolic_shape=True)
            source, preprocessed = pre, True
        except Exception as exc:  # noqa: BLE001 -- optional step; quantize the export as it is
            log.debug("quantization pre-processing of %s failed: %s", fp32_onnx.name, exc)
        model = onnx.load(str(source), load_external_data=False)
        input_name = model.graph.input[0].name
        heads = output_heads(model) if keep_heads_fp32 else []
        del model
        # Calibration runs in a temporary folder of ORT's: keep its augmented model out of `out`'s folder.
        quantize_static(
            str(source), str(out), _FramesReader(input_name, calibration),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=list(op_types) if op_types else None,
            nodes_to_exclude=heads,
            per_channel=True,
            reduce_range=reduce_range,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
    return {"method": "quantize_static (QDQ)", "op_types": list(op_types) if op_types else "all",
            "fp32_heads": heads, "per_channel": True, "activation_type": "QUInt8", "weight_type": "QInt8",
            "calibration_frames": len(calibration), "calibrate_method": "MinMax", "reduce_range": reduce_range,
            "pre_processed": preprocessed}


def convert_fp16(fp32_onnx: Path, out: Path) -> dict:
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(fp32_onnx)), keep_io_types=True)
    onnx.save(model, str(out))
    return {"method": "convert_float_to_float16", "keep_io_types": True}


# ---------------------------------------------------------------------------------------------------
# measuring and choosing
# ---------------------------------------------------------------------------------------------------


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
    min_speedup: float = MIN_SPEEDUP,
    intra_op_threads: int | None = None,
    gate: Callable[[Task, list, list], AgreementReport] = check_agreement,
    calibration_note: str | None = None,
    keep_candidates: bool = False,
) -> tuple[Path, dict]:
    """Build, check and time variants of `fp32_onnx`; return (the path to run, a JSON-safe report).

    precision "auto": build the kinds worth trying for `model_type` on `device` (candidate_kinds, or
    `kinds`), time each against FP32 on `calibration_inputs` (median of `runs`, same session options as live
    mode, at most `time_budget_s` of timed runs), check each with `gate` (accuracy.check_agreement)
    against FP32's outputs, and choose the fastest that passes and beats FP32 by `min_speedup`; FP32
    otherwise. A candidate that fails to build, load or run is reported and skipped.
    precision "fp32" / "fp16" / "int8": build that variant only (int8: PROFILES' kind for the model),
    still time and check it, and return it even when the gate fails -- with a warning in the log and in
    report["warnings"]; never another variant in its place. A build failure raises ExportError.

    calibration_inputs: pre-processed pixel_values, (1, 3, H, W) float32 each, from the user's clip or,
    by default, `synthetic_calibration_frames()` run through the model's own preprocessor. Synthetic frames
    are photo-like but not photos: INT8 activation ranges and the gate's verdict are only as good as the
    frames, so a clip from the real camera is better for both.
    candidates_dir: where variants are written, as model.<kind>.onnx.
    device: livevision's --device (cpu, cuda, auto...): sessions are made as livevision makes them
    (session.create_session), and the device's primary provider decides the candidates.
    calibration_note: where the calibration frames came from ("synthetic", "clip.mp4"...), for the report.
    gate: the accuracy check, check_agreement unless a test injects another.
    keep_candidates: keep the variant files that were not chosen (default: deleted; the fp32 file never is).
    """
    from .providers import provider_names, resolve_providers
    from .session import create_session, physical_cores

    task = Task.parse(task)
    providers = provider_names(resolve_providers(device))[:1]  # the primary provider: what the variants are for
    if precision not in PRECISIONS:
        raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if not calibration_inputs:
        raise UsageError("choosing a variant needs at least one calibration input")
    fp32_onnx, candidates_dir = Path(fp32_onnx), Path(candidates_dir)
    candidates_dir.mkdir(parents=True, exist_ok=True)
    explicit = precision != "auto"
    if precision == "fp16" and not is_gpu(providers):
        raise UsageError(f"--precision fp16 needs a GPU execution provider (CUDA, DirectML, CoreML...), not "
                         f"{providers[0]}: the CPU runs FP16 models slower than FP32 (use --precision int8 or "
                         "auto there), and TensorRT builds FP16 engines from the FP32 model itself")
    if explicit:
        wanted = [FP32] + ([] if precision == "fp32" else [kind_for_precision(precision, model_type)])
    else:
        wanted = [FP32] + [k for k in (kinds or candidate_kinds(model_type, providers)) if k != FP32]
    calibrate_on, check_on = split_calibration(calibration_inputs)

    report: dict = {
        "precision": precision, "task": task.value, "model_type": model_type,
        "device": device, "provider": providers[0],
        "thresholds": thresholds_for(task),
        "calibration": calibration_note or "caller's frames",
        "measurement": {"statistic": "median", "runs": runs, "warmup": warmup, "min_speedup": min_speedup,
                        "intra_op_threads": intra_op_threads or physical_cores(), "frames_checked": len(check_on),
                        "frames_calibrated": len(calibrate_on),
                        "calibration_held_out": len(check_on) > len(calibrate_on)},
        "candidates": [], "warnings": [],
    }
    entries: dict[str, dict] = {}
    paths: dict[str, Path] = {}
    for kind in wanted:
        entry = {"kind": kind, "file": fp32_onnx.name if kind == FP32 else f"model.{kind}.onnx"}
        entries[kind] = entry
        if kind == FP32:
            paths[kind] = fp32_onnx
            continue
        try:
            paths[kind], entry["build"] = build_variant_with_info(
                fp32_onnx, kind, candidates_dir / entry["file"], calibration=calibrate_on,
                model_type=model_type, config=config, providers=providers)
            entry["size_mb"] = round(paths[kind].stat().st_size / 1e6, 1)
        except (ExportError, UsageError) as exc:
            if explicit:
                raise
            entry.update(passed=False, reason=f"not built: {exc}")
            log.info("variant %s skipped: %s", kind, exc)

    sessions = {}
    for kind, path in paths.items():
        try:
            # live=True: no thread spinning. Sessions take turns run by run, and a session's threads spin
            # for a while after its run, taking the cores from the next session's run: that penalised
            # the fastest variant most (ViT-B INT8 measured 2.0x with spinning, 2.9x without).
            sessions[kind] = create_session(path, device, intra_op_threads=intra_op_threads, live=True)
        except Exception as exc:
            if kind == FP32 or explicit:
                raise
            entries[kind].update(passed=False, reason=f"does not load: {exc}")
    reference = run_outputs(sessions[FP32], check_on)
    for kind, session in list(sessions.items()):
        if kind == FP32:
            entries[kind].update(passed=True, reason="reference")
            continue
        try:
            agreement = gate(task, reference, run_outputs(session, check_on))
        except Exception as exc:  # noqa: BLE001 -- a variant that fails to run fails the gate
            entries[kind].update(passed=False, reason=f"does not run: {exc}")
            del sessions[kind]
            continue
        entries[kind].update(passed=agreement.passed, metrics=agreement.metrics, reason=agreement.reason)
        if agreement.failed:
            entries[kind]["failed"] = list(agreement.failed)
    latencies, report["measurement"]["runs"] = measure_latencies(sessions, calibration_inputs, runs=runs,
                                                                 warmup=warmup, budget_s=time_budget_s)
    base = latencies[FP32]
    for kind, ms in latencies.items():
        entries[kind]["latency_ms"] = round(ms, 3)
        entries[kind]["speedup"] = round(base / ms, 3) if ms > 0 else None
    del sessions

    chosen = _pick(entries, wanted, explicit, min_speedup, report)
    if not keep_candidates:
        for kind, path in paths.items():
            if kind not in (chosen, FP32):
                path.unlink(missing_ok=True)
                entries[kind]["file"] = None
    report["candidates"] = [entries[k] for k in wanted]
    report["chosen"] = chosen
    report["chosen_file"] = entries[chosen]["file"]
    for message in report["warnings"]:
        log.warning("%s", message)
    return paths[chosen], report


def _pick(entries: dict[str, dict], wanted: list[str], explicit: bool, min_speedup: float, report: dict) -> str:
    if explicit:
        kind = wanted[-1]
        entry = entries[kind]
        if kind != FP32 and not entry.get("passed"):
            report["warnings"].append(
                f"--precision {report['precision']}: the {kind} variant FAILED the accuracy gate "
                f"({entry.get('reason')}); it is used because it was asked for -- its outputs differ from "
                "FP32's beyond the documented thresholds")
        if kind != FP32 and (entry.get("speedup") or 0) < 1.0:
            report["warnings"].append(
                f"--precision {report['precision']}: the {kind} variant is slower than FP32 on this machine "
                f"({entry.get('latency_ms')} ms vs {entries[FP32].get('latency_ms')} ms)")
        report["reason"] = f"{kind} was asked for"
        return kind
    passing = [k for k in wanted if k != FP32 and entries[k].get("passed") and entries[k].get("latency_ms")]
    for k in wanted:
        if k != FP32 and entries[k].get("passed") and (entries[k].get("speedup") or 0) < min_speedup:
            entries[k]["reason"] = (f"agrees with fp32 but is not faster by {min_speedup}x "
                                    f"({entries[k].get('speedup')}x)")
    fast = [k for k in passing if (entries[k].get("speedup") or 0) >= min_speedup]
    if not fast:
        report["reason"] = ("fp32: no candidate passed the accuracy gate" if not passing
                            else f"fp32: no candidate that passed the gate is {min_speedup}x faster")
        return FP32
    best = min(fast, key=lambda k: entries[k]["latency_ms"])
    report["reason"] = f"{best}: fastest candidate that passed the accuracy gate ({entries[best]['speedup']}x fp32)"
    return best


def format_report(report: dict) -> str:
    """The report as a few lines of text for the terminal."""
    lines = [f"precision {report['precision']}: chose {report['chosen']} -- {report.get('reason', '')}"]
    for c in report["candidates"]:
        ms = c.get("latency_ms")
        speed = f"{c['speedup']:.2f}x" if c.get("speedup") else "-"
        metrics = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                            for k, v in (c.get("metrics") or {}).items())
        detail = metrics if c.get("passed") and metrics else c.get("reason", "")
        lines.append(f"  {c['kind']:<15} {(f'{ms:.1f} ms' if ms else '-'):>10} {speed:>7}  "
                     f"{'pass' if c.get('passed') else 'FAIL'}  {detail}")
    lines += [f"  WARNING: {w}" for w in report.get("warnings", [])]
    return "\n".join(lines)


def synthetic_calibration_frames(count: int = 8, size_wh: tuple[int, int] = (640, 480), seed: int = 0) -> list[np.ndarray]:
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


def write_report(report: dict, path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, sort_keys=True)


__all__ = [
    "FP16",
    "FP32",
    "FP32_OPTIMIZED",
    "INT8_DYNAMIC",
    "INT8_STATIC",
    "KINDS",
    "MIN_SPEEDUP",
    "PRECISIONS",
    "PROFILES",
    "ModelProfile",
    "build_variant",
    "build_variant_with_info",
    "candidate_kinds",
    "choose_variant",
    "format_report",
    "kind_for_precision",
    "measure_latencies",
    "profile_for",
    "synthetic_calibration_frames",
    "variant_key_options",
    "write_report",
]
