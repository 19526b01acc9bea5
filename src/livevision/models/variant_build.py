"""Building a variant of an exported FP32 ONNX model: optimized graph, dynamic or static INT8, FP16.

    path, info = build_variant_with_info(fp32, "int8-dynamic", out, model_type="vit")

What each kind is: variant_kinds. Which one to run: variants.choose_variant.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..errors import ExportError, UsageError
from .providers import CPU
from .registry import profile_for, task_of_head
from .variant_kinds import FP16, FP32, FP32_OPTIMIZED, INT8_DYNAMIC, INT8_STATIC, KINDS, is_gpu

log = logging.getLogger(__name__)


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
    model_type: config.json's model_type (picks the fusion: its registry profile). config: config.json as a dict,
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
    profile = profile_for(model_type, task_of_head(config or {}))  # a model type may have a row per task
    builders: dict[str, Callable[..., dict]] = {
        FP32_OPTIMIZED: lambda: optimize_graph(fp32_onnx, out, model_type=model_type, config=config,
                                               providers=providers),
        INT8_DYNAMIC: lambda: quantize_dynamic_matmul(fp32_onnx, out),
        INT8_STATIC: lambda: quantize_static_qdq(fp32_onnx, out, calibration,
                                                 op_types=profile.static_ops),
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

    fusion = profile_for(model_type, task_of_head(config or {})).fusion
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
    """onnxruntime.transformers' loggers ("onnxruntime.transformers.optimizer", and top-level ones such as
    "onnx_model", "fusion_attention": it puts its folder on sys.path) warn about head counts it then reads
    from the graph ("Please specify parameters of num_heads and hidden_size for model_type vit")."""
    if log.isEnabledFor(logging.DEBUG):
        yield
        return
    names = [n for n in list(logging.root.manager.loggerDict)
             if n.rsplit(".", 1)[-1] in ("optimizer", "onnx_model")
             or n.rsplit(".", 1)[-1].startswith(("fusion_", "onnx_model_"))]
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
    gpu = bool(providers) and providers[0] != CPU
    options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_BASIC if gpu
                                        else ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)
    options.optimized_model_filepath = str(out)
    options.log_severity_level = 3
    ort.InferenceSession(str(fp32_onnx), sess_options=options, providers=[CPU])
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


__all__ = [
    "build_variant",
    "build_variant_with_info",
    "convert_fp16",
    "cpu_has_vnni",
    "optimize_graph",
    "output_heads",
    "quantize_dynamic_matmul",
    "quantize_static_qdq",
]
