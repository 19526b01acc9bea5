"""Which architectures livevision runs, and everything livevision knows about each, in one table.

ARCHITECTURES has one row per (config.json model_type, task) -- BEiT, MobileViT and DPT serve two tasks,
told apart by the head class config.json's `architectures` names: its task, the ONNX outputs livevision reads,
how it is accelerated (its precision profile: which variant kinds `--precision` builds and tries)
and which `--input-size` rule applies (preprocessing/input_size.py), or why its input size is fixed. The
supported types, the mask-classification types and the precision profiles are all read from it.

Everything here reads config.json as a plain dict, so looking a model up never imports
transformers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnsupportedModelError
from ..tasks.registry import TASKS, definition
from ..types import Task
from .variant_kinds import INT8_DYNAMIC, INT8_STATIC

# Default models: small, well-known checkpoints that run in real time on a laptop CPU.
DEFAULT_MODELS: dict[Task, str] = {
    Task.DEPTH: "depth-anything/Depth-Anything-V2-Small-hf",
    Task.CLASSIFICATION: "google/efficientnet-b0",
    Task.SEGMENTATION: "nvidia/segformer-b0-finetuned-ade-512-512",
    Task.DETECTION: "PekingU/rtdetr_r18vd",  # real-time DETR
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
BOX_OUTPUTS = ("logits", "pred_boxes")  # object detection: class logits and boxes per query


@dataclass(frozen=True)
class ModelSpec:
    """One architecture (a config.json model_type with one of its heads).

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
    optimum_task: str | None = None  # the exporter's task where it is not the task's own (zero-shot detection)


def _depth(profile: ModelProfile, input_size: str) -> ModelSpec:
    return ModelSpec(Task.DEPTH, DEPTH_OUTPUTS, profile, input_size)


def _classifier(profile: ModelProfile, fixed_size: str | None = None) -> ModelSpec:
    return ModelSpec(Task.CLASSIFICATION, LOGITS, profile, None, fixed_size)


_POSITIONS = "has fixed {size}x{size} position embeddings"
_REL_BIAS = "has relative position biases sized for {size}x{size}"


def _semantic(profile: ModelProfile, fixed_size: str) -> ModelSpec:
    """A per-pixel-logit segmentation head whose input size the export fixes (or was only validated at)."""
    return ModelSpec(Task.SEGMENTATION, LOGITS, profile, None, fixed_size)


def _detector(profile: ModelProfile, input_size: str | None = None, fixed_size: str | None = None) -> ModelSpec:
    return ModelSpec(Task.DETECTION, BOX_OUTPUTS, profile, input_size, fixed_size)


_TRAINED_SIZE = "resizes every frame to the fixed size it was trained at (its processor's height x width)"

_MOBILEVIT = ModelProfile("mixed", None, INT8_STATIC, (INT8_STATIC, INT8_DYNAMIC))
_ATTENTION = ModelProfile("transformer", None, INT8_DYNAMIC, (INT8_DYNAMIC,))  # MatMul, attention ORT cannot fuse
_CONVNEXT = ModelProfile("mixed", None, INT8_DYNAMIC, (INT8_DYNAMIC, INT8_STATIC))

def _zero_shot() -> ModelSpec:
    """OWL-ViT / OWLv2: a CLIP text tower beside the ViT, exported as Optimum's zero-shot-object-detection."""
    return ModelSpec(Task.DETECTION, ("logits", "pred_boxes"), _TRANSFORMER, None,
                     "has position embeddings sized for its training input (one box per patch)",
                     optimum_task="zero-shot-object-detection")


# (model_type, task) -> spec. A model_type can serve several tasks (BEiT classifies and segments, DPT
# estimates depth and segments): the head class in config.json's `architectures` picks the row; without
# one, a model_type's first row. DPT covers dpt-large and the MiDaS dpt-hybrid. Every row is exported by
# optimum-onnx (with models/onnx_configs where it lacks a config) and covered by a parity test.
ARCHITECTURES: dict[tuple[str, Task], ModelSpec] = {
    # depth: transformer backbones with convolutional DPT heads
    ("depth_anything", Task.DEPTH): _depth(_VIT_MIXED, "depth_anything"),  # DINOv2 + DPT head
    ("dpt", Task.DEPTH): _depth(_VIT_MIXED, "dpt"),  # ViT (or BiT hybrid) + DPT head
    ("zoedepth", Task.DEPTH): _depth(_VIT_MIXED, "zoedepth"),  # BEiT + DPT head + metric bins
    ("glpn", Task.DEPTH): _depth(_VIT_MIXED, "glpn"),  # MiT encoder + conv decoder
    # classification: plain vision transformers (all compute in MatMul)
    ("vit", Task.CLASSIFICATION): _classifier(_TRANSFORMER, _POSITIONS),
    ("deit", Task.CLASSIFICATION): _classifier(_TRANSFORMER, _POSITIONS),
    # relative position bias: ORT's fusion does not match it; MatMul INT8 still applies
    ("beit", Task.CLASSIFICATION): _classifier(_TRANSFORMER, _REL_BIAS),
    ("dinov2", Task.CLASSIFICATION): _classifier(_TRANSFORMER),
    # windowed attention: not fused
    ("swin", Task.CLASSIFICATION): _classifier(_TRANSFORMER, "has attention windows sized for {size}x{size}"),
    ("levit", Task.CLASSIFICATION): _classifier(_ATTENTION, "has attention biases sized for {size}x{size}"),
    ("mobilevit", Task.CLASSIFICATION): _classifier(_MOBILEVIT),
    # ConvNeXt's compute is in its pointwise Linear layers (MatMul), not its depthwise convs
    ("convnext", Task.CLASSIFICATION): _classifier(_CONVNEXT),
    # classification: convolutional networks
    ("resnet", Task.CLASSIFICATION): _classifier(_CONV),
    ("regnet", Task.CLASSIFICATION): _classifier(_CONV),
    ("efficientnet", Task.CLASSIFICATION): _classifier(_CONV),
    ("mobilenet_v2", Task.CLASSIFICATION): _classifier(_CONV),
    ("poolformer", Task.CLASSIFICATION): _classifier(_CONV),
    ("mobilenet_v1", Task.CLASSIFICATION): _classifier(_CONV),
    # classification: more transformers
    ("vit_msn", Task.CLASSIFICATION): _classifier(_TRANSFORMER, _POSITIONS),  # a ViT, other pre-training
    ("data2vec-vision", Task.CLASSIFICATION): _classifier(_TRANSFORMER, _REL_BIAS),  # a BEiT, other weights
    ("swinv2", Task.CLASSIFICATION): _classifier(_TRANSFORMER, "has attention windows sized for {size}x{size}"),
    # Hiera: mask-unit attention, pooled queries (not ORT's ViT fusion)
    ("hiera", Task.CLASSIFICATION): _classifier(_ATTENTION,
                                                "has position embeddings and mask units sized for {size}x{size}"),
    # attention with convolutional projections (CvT), or convolutions with pointwise Linear layers (ConvNeXt V2)
    ("cvt", Task.CLASSIFICATION): _classifier(_CONVNEXT),
    ("convnextv2", Task.CLASSIFICATION): _classifier(_CONVNEXT),
    ("mobilevitv2", Task.CLASSIFICATION): _classifier(_MOBILEVIT),
    # CLIP's ViT + a linear head (its image_size is in vision_config)
    ("clip", Task.CLASSIFICATION): _classifier(_TRANSFORMER, "has position embeddings sized for its training crop"),
    # PVT: spatial-reduction attention (strided conv keys/values), not ORT's ViT fusion
    ("pvt", Task.CLASSIFICATION): _classifier(_ATTENTION, _POSITIONS),
    ("pvt_v2", Task.CLASSIFICATION): _classifier(_ATTENTION),  # convolutional position encoding
    ("ijepa", Task.CLASSIFICATION): _classifier(_TRANSFORMER, _POSITIONS),  # a ViT, I-JEPA pre-training
    # focal modulation (FocalNet) and additive attention (SwiftFormer): depthwise convs and Linear layers
    ("focalnet", Task.CLASSIFICATION): _classifier(_CONVNEXT),
    ("swiftformer", Task.CLASSIFICATION): _classifier(_CONVNEXT),
    # segmentation
    # MiT encoder (efficient attention: only sr_ratio=1 blocks fuse) + MLP decoder
    ("segformer", Task.SEGMENTATION): ModelSpec(Task.SEGMENTATION, LOGITS, _VIT_MIXED, "segformer"),
    ("maskformer", Task.SEGMENTATION): ModelSpec(Task.SEGMENTATION, QUERY_OUTPUTS, _MIXED,
                                                 "mask_classification"),  # Swin + decoders
    ("mask2former", Task.SEGMENTATION): ModelSpec(Task.SEGMENTATION, QUERY_OUTPUTS, _MIXED,
                                                  "mask_classification"),  # + deformable attention
    # semantic heads on BEiT (and Data2Vec-vision, the same network): UperNet-style conv head
    ("beit", Task.SEGMENTATION): _semantic(_VIT_MIXED, _REL_BIAS),
    ("data2vec-vision", Task.SEGMENTATION): _semantic(_VIT_MIXED, _REL_BIAS),
    # MobileViT / MobileViTV2 + DeepLabV3: the patch folding is traced at the processor's square crop
    ("mobilevit", Task.SEGMENTATION): _semantic(_MOBILEVIT, "is exported for its fixed {size}x{size} crop"),
    ("mobilevitv2", Task.SEGMENTATION): _semantic(_MOBILEVIT, "is exported for its fixed {size}x{size} crop"),
    # ViT + DPT neck + semantic head: the ViT patch grid is traced square
    ("dpt", Task.SEGMENTATION): _semantic(_VIT_MIXED, "is exported for its fixed {size}x{size} input"),
    # ConvNeXt or Swin backbone + UperNet head (pyramid pooling: models/onnx_patches)
    ("upernet", Task.SEGMENTATION): _semantic(_MIXED, "is validated only at the fixed input size of its processor"),
    # object detection. DETR family: CNN backbone + transformer; the processors keep the aspect ratio
    # (shortest edge 800, longest 1333) and the exports take any size
    ("detr", Task.DETECTION): _detector(_MIXED, "detr"),
    ("conditional_detr", Task.DETECTION): _detector(_MIXED, "detr"),
    ("deformable_detr", Task.DETECTION): _detector(_MIXED, "detr"),  # + deformable attention
    ("table-transformer", Task.DETECTION): _detector(_MIXED, "detr"),
    ("yolos", Task.DETECTION): _detector(_VIT_MIXED, "detr"),  # a DeiT with detection tokens
    # RT-DETR and D-FINE: their processor resizes every frame to one fixed size (640x640)
    ("rt_detr", Task.DETECTION): _detector(_MIXED, fixed_size=_TRAINED_SIZE),
    ("rt_detr_v2", Task.DETECTION): _detector(_MIXED, fixed_size=_TRAINED_SIZE),
    ("d_fine", Task.DETECTION): _detector(_MIXED, fixed_size=_TRAINED_SIZE),
    # zero-shot detection with text queries (the labels are the model's text inputs: tasks/detection/zero_shot)
    ("owlvit", Task.DETECTION): _zero_shot(),
    ("owlv2", Task.DETECTION): _zero_shot(),
    # SegFormer's MiT encoder with a classification head (nvidia/mit-b0); last, so that a SegFormer config
    # without a head class stays a segmentation model
    ("segformer", Task.CLASSIFICATION): _classifier(_VIT_MIXED),
}

# model_type -> the tasks it is supported for, and the query-based segmentation types, from the table
SUPPORTED_MODEL_TYPES: dict[Task, frozenset[str]] = {
    task: frozenset(name for name, spec_task in ARCHITECTURES if spec_task is task) for task in Task
}
MASK_CLASSIFICATION_TYPES = frozenset(
    name for (name, _), spec in ARCHITECTURES.items() if spec.outputs == QUERY_OUTPUTS
)
#: model types whose labels are text inputs given for the run (`labels`), not the config's id2label
TEXT_QUERY_TYPES = frozenset(name for (name, _), spec in ARCHITECTURES.items() if spec.optimum_task is not None)

# The head class transformers names in config.json's `architectures` tells the task.

def spec_for(model_type: str, task: Task | None = None) -> ModelSpec | None:
    """The table's row for (model_type, task); task None: the model_type's first row. None if not in it."""
    if task is not None:
        return ARCHITECTURES.get((model_type, task))
    return next((spec for (name, _), spec in ARCHITECTURES.items() if name == model_type), None)


def spec_of_config(config: dict) -> ModelSpec | None:
    """The row of a config.json dict: its model_type, for the task its head class names (if any)."""
    return spec_for(str(config.get("model_type") or ""), task_of_head(config))


def profile_for(model_type: str, task: Task | None = None) -> ModelProfile:
    """The precision profile of a model_type (for `task`; None: its first row), DEFAULT_PROFILE for one
    not in the table."""
    spec = spec_for(model_type, task)
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

    @property
    def has_text_queries(self) -> bool:
        """The labels are text inputs of the model, given for the run (OWL-ViT, OWLv2)."""
        return self.model_type in TEXT_QUERY_TYPES


def supported_model_types(task: Task | None = None) -> list[str]:
    tasks = [task] if task else list(Task)
    return sorted(set().union(*(SUPPORTED_MODEL_TYPES[t] for t in tasks)))


def task_of_head(config: dict) -> Task | None:
    """The task of the head class config.json's `architectures` names, or None (no head, no name)."""
    for name in config.get("architectures") or []:
        for task, found in TASKS.items():
            if name.endswith(found.head_suffixes):
                return task
    return None


def architecture_for(config: dict, task: Task | None = None) -> Architecture:
    """The Architecture of a config.json dict, checked against the requested task.

    Raises UnsupportedModelError naming the supported model types.
    """
    model_type = config.get("model_type")
    head_task = task_of_head(config)
    task = task or head_task
    if task is None:
        spec = spec_for(model_type)
        task = spec.task if spec else None
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
            + " or ".join(definition(task).head_suffixes)
        )
    if head_task is not None and head_task is not task:
        raise UnsupportedModelError(
            f"{names[0]} is a {head_task.value} model, not {task.value}; "
            f"{task.value} model types: " + ", ".join(supported_model_types(task))
        )
    spec = ARCHITECTURES[(model_type, task)]
    optimum_task = spec.optimum_task or (
        "image-segmentation" if spec.outputs == QUERY_OUTPUTS else definition(task).optimum_task)
    return Architecture(model_type, task, optimum_task, spec.outputs)
