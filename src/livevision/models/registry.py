"""Which architectures livevision runs, for which task, and each task's default model.

Everything here reads config.json as a plain dict, so looking a model up never imports
transformers.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import UnsupportedModelError
from ..types import Task

# Default models: small, well-known checkpoints that run in real time on a laptop CPU.
DEFAULT_MODELS: dict[Task, str] = {
    Task.DEPTH: "depth-anything/Depth-Anything-V2-Small-hf",
    Task.CLASSIFICATION: "google/efficientnet-b0",
    Task.SEGMENTATION: "nvidia/segformer-b0-finetuned-ade-512-512",
}

# model_type (config.json) -> tasks it is supported for. DPT covers dpt-large and the
# MiDaS dpt-hybrid. Classifiers: those optimum-onnx exports, each covered by a test.
SUPPORTED_MODEL_TYPES: dict[Task, frozenset[str]] = {
    Task.DEPTH: frozenset({"dpt", "glpn", "depth_anything", "zoedepth"}),
    Task.CLASSIFICATION: frozenset(
        {"vit", "deit", "beit", "dinov2", "swin", "resnet", "regnet", "convnext",
         "efficientnet", "mobilenet_v2", "mobilevit", "levit", "poolformer"}
    ),
    Task.SEGMENTATION: frozenset({"segformer", "maskformer", "mask2former"}),
}

# The head class transformers names in config.json's `architectures` tells the task.
_HEAD_SUFFIXES: dict[Task, tuple[str, ...]] = {
    Task.DEPTH: ("ForDepthEstimation",),
    Task.CLASSIFICATION: ("ForImageClassification", "ForImageClassificationWithTeacher"),
    Task.SEGMENTATION: ("ForSemanticSegmentation", "ForInstanceSegmentation", "ForUniversalSegmentation"),
}

MASK_CLASSIFICATION_TYPES = frozenset({"maskformer", "mask2former"})


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
    if task is Task.DEPTH:
        return Architecture(model_type, task, "depth-estimation", ("predicted_depth",))
    if task is Task.CLASSIFICATION:
        return Architecture(model_type, task, "image-classification", ("logits",))
    if model_type in MASK_CLASSIFICATION_TYPES:
        return Architecture(
            model_type, task, "image-segmentation", ("class_queries_logits", "masks_queries_logits")
        )
    return Architecture(model_type, task, "semantic-segmentation", ("logits",))
