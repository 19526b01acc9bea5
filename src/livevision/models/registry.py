"""Which architectures livevision runs, and everything livevision knows about each, in one table.

ARCHITECTURES has one row per config.json model_type: its task, the ONNX outputs livevision reads,
how it is accelerated (its precision profile: which variant kinds `--precision` builds and tries)
and which `--input-size` rule applies (preprocessing/input_size.py), or why its input size is fixed. The
supported types, the mask-classification types and the precision profiles are all read from it.

Everything here reads config.json as a plain dict, so looking a model up never imports
transformers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnsupportedModelError
from ..types import Task
from .variant_kinds import INT8_DYNAMIC, INT8_STATIC

# Default models: small, well-known checkpoints that run in real time on a laptop CPU.
DEFAULT_MODELS: dict[Task, str] = {
    Task.DEPTH: "depth-anything/Depth-Anything-V2-Small-hf",
    Task.CLASSIFICATION: "google/efficientnet-b0",
    Task.SEGMENTATION: "nvidia/segformer-b0-finetuned-ade-512-512",
}

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


# Which kinds each family tries, and why (the measured speed-ups: BENCHMARKS.md, "Measurements behind design
# choices"): dynamic MatMul INT8 pays where compute is in MatMul (transformers), static QDQ INT8 where it is in
# convolutions; dynamic INT8 of every op and fp32-optimized measured no faster on the CPU, so `auto` does not
# build them there (fp32-optimized is tried on GPUs, where fused attention kernels matter).
_TRANSFORMER = ModelProfile("transformer", "vit", INT8_DYNAMIC, (INT8_DYNAMIC,))  # all compute in MatMul
_VIT_MIXED = ModelProfile("mixed", "vit", INT8_DYNAMIC, (INT8_DYNAMIC, INT8_STATIC))
_MIXED = ModelProfile("mixed", None, INT8_DYNAMIC, (INT8_DYNAMIC, INT8_STATIC))
_CONV = ModelProfile("conv", None, INT8_STATIC, (INT8_STATIC,), static_ops=None)

DEFAULT_PROFILE = _MIXED  # an unknown model_type: measure both INT8 kinds

DEPTH_OUTPUTS = ("predicted_depth",)
LOGITS = ("logits",)  # classification, and per-pixel class logits (semantic segmentation)
QUERY_OUTPUTS = ("class_queries_logits", "masks_queries_logits")  # MaskFormer / Mask2Former


@dataclass(frozen=True)
class ModelSpec:
    """One architecture (a config.json model_type).

    task: what livevision runs it for. outputs: the ONNX outputs it reads, in order. profile: how it
    is accelerated. input_size: the `--input-size` rule (a key of preprocessing/input_size's rules), or None
    when the input size is fixed; fixed_size: why, where there is more to say than "a classifier"
    ({size} is its training size).
    """

    task: Task
    outputs: tuple[str, ...]
    profile: ModelProfile
    input_size: str | None = None
    fixed_size: str | None = None


def _depth(profile: ModelProfile, input_size: str) -> ModelSpec:
    return ModelSpec(Task.DEPTH, DEPTH_OUTPUTS, profile, input_size)


def _classifier(profile: ModelProfile, fixed_size: str | None = None) -> ModelSpec:
    return ModelSpec(Task.CLASSIFICATION, LOGITS, profile, None, fixed_size)


_POSITIONS = "has fixed {size}x{size} position embeddings"

# DPT covers dpt-large and the MiDaS dpt-hybrid. Classifiers: those optimum-onnx exports, each
# covered by a test.
ARCHITECTURES: dict[str, ModelSpec] = {
    # depth: transformer backbones with convolutional DPT heads
    "depth_anything": _depth(_VIT_MIXED, "depth_anything"),  # DINOv2 + DPT head
    "dpt": _depth(_VIT_MIXED, "dpt"),  # ViT (or BiT hybrid) + DPT head
    "zoedepth": _depth(_VIT_MIXED, "zoedepth"),  # BEiT + DPT head + metric bins
    "glpn": _depth(_VIT_MIXED, "glpn"),  # MiT encoder + conv decoder
    # classification: plain vision transformers (all compute in MatMul)
    "vit": _classifier(_TRANSFORMER, _POSITIONS),
    "deit": _classifier(_TRANSFORMER, _POSITIONS),
    # relative position bias: ORT's fusion does not match it; MatMul INT8 still applies
    "beit": _classifier(_TRANSFORMER, "has relative position biases sized for {size}x{size}"),
    "dinov2": _classifier(_TRANSFORMER),
    "swin": _classifier(_TRANSFORMER, "has attention windows sized for {size}x{size}"),  # windowed attention: not fused
    "levit": _classifier(ModelProfile("transformer", None, INT8_DYNAMIC, (INT8_DYNAMIC,)),  # attention bias, conv stem
                         "has attention biases sized for {size}x{size}"),
    "mobilevit": _classifier(ModelProfile("mixed", None, INT8_STATIC, (INT8_STATIC, INT8_DYNAMIC))),
    # ConvNeXt's compute is in its pointwise Linear layers (MatMul), not its depthwise convs
    "convnext": _classifier(ModelProfile("mixed", None, INT8_DYNAMIC, (INT8_DYNAMIC, INT8_STATIC))),
    # classification: convolutional networks
    "resnet": _classifier(_CONV),
    "regnet": _classifier(_CONV),
    "efficientnet": _classifier(_CONV),
    "mobilenet_v2": _classifier(_CONV),
    "poolformer": _classifier(_CONV),
    # segmentation
    # MiT encoder (efficient attention: only sr_ratio=1 blocks fuse) + MLP decoder
    "segformer": ModelSpec(Task.SEGMENTATION, LOGITS, _VIT_MIXED, "segformer"),
    "maskformer": ModelSpec(Task.SEGMENTATION, QUERY_OUTPUTS, _MIXED, "mask_classification"),  # Swin + decoders
    "mask2former": ModelSpec(Task.SEGMENTATION, QUERY_OUTPUTS, _MIXED, "mask_classification"),  # + deformable attn
}

# model_type -> the task it is supported for, and the query-based segmentation types, from the table
SUPPORTED_MODEL_TYPES: dict[Task, frozenset[str]] = {
    task: frozenset(name for name, spec in ARCHITECTURES.items() if spec.task is task) for task in Task
}
MASK_CLASSIFICATION_TYPES = frozenset(name for name, spec in ARCHITECTURES.items() if spec.outputs == QUERY_OUTPUTS)

# The head class transformers names in config.json's `architectures` tells the task.
_HEAD_SUFFIXES: dict[Task, tuple[str, ...]] = {
    Task.DEPTH: ("ForDepthEstimation",),
    Task.CLASSIFICATION: ("ForImageClassification", "ForImageClassificationWithTeacher"),
    Task.SEGMENTATION: ("ForSemanticSegmentation", "ForInstanceSegmentation", "ForUniversalSegmentation"),
}

_OPTIMUM_TASKS = {Task.DEPTH: "depth-estimation", Task.CLASSIFICATION: "image-classification",
                  Task.SEGMENTATION: "semantic-segmentation"}


def profile_for(model_type: str) -> ModelProfile:
    """The precision profile of a model_type (DEFAULT_PROFILE for one not in the table)."""
    spec = ARCHITECTURES.get(model_type)
    return spec.profile if spec else DEFAULT_PROFILE


@dataclass(frozen=True)
class Architecture:
    """How one model is exported and read."""

    model_type: str
    task: Task
    optimum_task: str  # the task name Optimum's exporter uses
    outputs: tuple[str, ...]  # ONNX outputs livevision reads, in order

    @property
    def is_mask_classification(self) -> bool:
        return self.model_type in MASK_CLASSIFICATION_TYPES


def supported_model_types(task: Task | None = None) -> list[str]:
    tasks = [task] if task else list(Task)
    return sorted(set().union(*(SUPPORTED_MODEL_TYPES[t] for t in tasks)))


def _task_of_head(config: dict) -> Task | None:
    for name in config.get("architectures") or []:
        for task, suffixes in _HEAD_SUFFIXES.items():
            if name.endswith(suffixes):
                return task
    return None


def architecture_for(config: dict, task: Task | None = None) -> Architecture:
    """The Architecture of a config.json dict, checked against the requested task.

    Raises UnsupportedModelError naming the supported model types.
    """
    model_type = config.get("model_type")
    head_task = _task_of_head(config)
    task = task or head_task
    if task is None:
        task = next((t for t in Task if model_type in SUPPORTED_MODEL_TYPES[t]), None)
    if task is None or model_type not in SUPPORTED_MODEL_TYPES[task]:
        scope = f" for {task.value}" if task else ""
        raise UnsupportedModelError(
            f"model type {model_type!r} is not supported{scope}; supported: "
            + ", ".join(supported_model_types(task))
        )
    names = config.get("architectures") or []
    if names and head_task is None:
        raise UnsupportedModelError(
            f"{names[0]} has no {task.value} head (a bare backbone): use a checkpoint whose class ends in "
            + " or ".join(_HEAD_SUFFIXES[task])
        )
    if head_task is not None and head_task is not task:
        raise UnsupportedModelError(
            f"{names[0]} is a {head_task.value} model, not {task.value}; "
            f"{task.value} model types: " + ", ".join(supported_model_types(task))
        )
    spec = ARCHITECTURES[model_type]
    optimum_task = "image-segmentation" if spec.outputs == QUERY_OUTPUTS else _OPTIMUM_TASKS[task]
    return Architecture(model_type, task, optimum_task, spec.outputs)
