"""Optimum ONNX export configs for the architectures optimum-onnx 0.1.0 lacks (or gets wrong).

optimum-onnx 0.1.0 exports dpt, glpn, segformer, maskformer and the usual classifiers, but has no
export config for ``depth_anything``, ``zoedepth``, ``mask2former``, ``mobilevitv2`` or ``upernet``, nor for
the semantic segmentation heads of ``beit``, ``data2vec-vision`` and ``mobilevit``. This module supplies them, for
Optimum's exporter (it imports torch and optimum: import it only to export)::

    from optimum.exporters.onnx import main_export
    onnx_config = custom_onnx_config(AutoConfig.from_pretrained(folder), "depth-estimation")
    main_export(folder, out, task="depth-estimation", library_name="transformers",
                custom_onnx_configs={"model": onnx_config} if onnx_config is not None else None,
                do_validation=True, local_files_only=True)

Every config here has one input, ``pixel_values`` (batch, 3, height, width), with dynamic batch, height
and width, and the output names Optimum uses for the task:

* depth (``depth_anything``, ``zoedepth``): ``predicted_depth`` (batch, height, width);
* semantic segmentation heads Optimum lacks (``beit``, ``data2vec-vision``, ``mobilevit``, ``mobilevitv2``,
  ``upernet``): ``logits`` (batch, labels, height, width), as Optimum's SegFormer and DPT ones;
* ``mask2former`` and ``maskformer``: ``class_queries_logits`` (batch, queries, labels + 1) and
  ``masks_queries_logits`` (batch, queries, height / 4, width / 4);
* object detection (``conditional_detr``, ``deformable_detr``; Optimum has DETR's, YOLOS's, RT-DETR's and
  D-FINE's): ``logits`` (batch, queries, labels) and ``pred_boxes`` (batch, queries, 4), opset 16 and up
  (grid_sample), Deformable DETR's attention made size-independent by onnx_patches.

What the models' traced Python decisions need and how the patchers fix them: onnx_patches. The
configs here trace at :func:`dummy_input_size` (Swin windows; see below) and use those patchers.

* Swin backbones (Mask2Former, MaskFormer) shrink the attention window -- and drop the shift -- in any
  stage whose feature map is not larger than the window, a Python branch that tracing freezes. Optimum
  traces with a 64x64 dummy image, where the last stages of a Swin (window 7 or 12) are 2x2: the graph is
  then wrong for every real input size (384 px and up). These configs trace at :func:`dummy_input_size`,
  the backbone's own size and at least ``32 * (window + 1)``; that is why ``maskformer`` gets a config
  here too. Swin pads inputs that are not multiples of 32 in a traced-away branch: feed multiples of 32
  (the processors' ``size_divisor``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optimum.exporters.onnx.base import OnnxConfig
from optimum.exporters.onnx.config import VisionOnnxConfig
from optimum.exporters.onnx.model_configs import MaskFormerOnnxConfig as OptimumMaskFormerOnnxConfig
from optimum.utils import DEFAULT_DUMMY_SHAPES, DummyVisionInputGenerator, NormalizedVisionConfig

from .onnx_patches import (
    AdaptivePoolModelPatcher,
    DeformableDetrModelPatcher,
    DepthAnythingModelPatcher,
    Mask2FormerModelPatcher,
    MobileViTV2ModelPatcher,
    ZoeDepthModelPatcher,
)

if TYPE_CHECKING:
    from transformers import PretrainedConfig

__all__ = [
    "CUSTOM_MODEL_TYPES",
    "OVERRIDDEN_MODEL_TYPES",
    "DepthAnythingModelPatcher",
    "DETECTION_MODEL_TYPES",
    "DepthAnythingOnnxConfig",
    "DetectionOnnxConfig",
    "Mask2FormerModelPatcher",
    "Mask2FormerOnnxConfig",
    "MaskFormerOnnxConfig",
    "SEMANTIC_HEAD_MODEL_TYPES",
    "SemanticSegmentationOnnxConfig",
    "ZoeDepthModelPatcher",
    "ZoeDepthOnnxConfig",
    "custom_onnx_config",
    "dummy_input_size",
]

#: Classifiers optimum-onnx 0.1.0 has no config for, which trace as they are (pixel_values -> logits).
#: Not dinov2_with_registers: its position embeddings are resized with antialiased bicubic interpolation,
#: which the ONNX exporter refuses (aten::_upsample_bicubic2d_aa).
PLAIN_CLASSIFIER_TYPES: frozenset[str] = frozenset({"focalnet", "swiftformer", "ijepa", "pvt_v2"})
#: Object detectors optimum-onnx 0.1.0 has no config for (it has DETR's, YOLOS's, RT-DETR's and D-FINE's).
DETECTION_MODEL_TYPES: frozenset[str] = frozenset({"conditional_detr", "deformable_detr"})
#: Model types optimum-onnx 0.1.0 has no export config for: they need ours.
CUSTOM_MODEL_TYPES: frozenset[str] = frozenset(
    {"depth_anything", "zoedepth", "mask2former", "mobilevitv2", "upernet"} | PLAIN_CLASSIFIER_TYPES
    | DETECTION_MODEL_TYPES
)
#: Model types Optimum can export, but whose export ours fixes (maskformer: Swin traced at 64x64).
OVERRIDDEN_MODEL_TYPES: frozenset[str] = frozenset({"maskformer"})
#: Model types whose classifier Optimum exports, but not their semantic segmentation head: ours does that
#: task only (Optimum's mobilevit config knows "image-segmentation", which livevision does not name it by).
SEMANTIC_HEAD_MODEL_TYPES: frozenset[str] = frozenset({"beit", "data2vec-vision", "mobilevit"})


def _round_up(value: int, multiple: int) -> int:
    return -(-int(value) // multiple) * multiple


def _backbone_image_size(config: PretrainedConfig, default: int) -> int:
    backbone = getattr(config, "backbone_config", None)
    size = getattr(backbone, "image_size", None) if backbone is not None else None
    if isinstance(size, (list, tuple)):
        size = max(size)
    return int(size) if size else default


def dummy_input_size(config: PretrainedConfig) -> tuple[int, int]:
    """The (height, width) of the dummy image the export traces with, for a model type of this module.

    Chosen so that the traced graph is the one real inputs take: a multiple of what the model needs,
    at the backbone's pre-training size, and (Swin) with every stage larger than one window. It is not
    square, so a transposed height/width would show up in Optimum's validation. Passing ``height`` and
    ``width`` to ``main_export`` overrides it (any other value than Optimum's default 64x64).
    """
    model_type = config.model_type
    if model_type == "depth_anything":
        patch = int(config.patch_size)
        side = _round_up(_backbone_image_size(config, 518), patch)
        return side, side + patch
    if model_type == "zoedepth":
        # An even patch grid (the neck halves the last stage and the fusion doubles it back): for the BEiT
        # checkpoints (patch 16) multiples of 32, as the processor's ensure_multiple_of.
        multiple = 2 * int(getattr(config.backbone_config, "patch_size", 16))
        side = _round_up(_backbone_image_size(config, 384), multiple)
        return side, side + multiple
    if model_type in ("mask2former", "maskformer"):
        backbone = getattr(config, "backbone_config", None)
        window = getattr(backbone, "window_size", None)
        side = _backbone_image_size(config, 384)
        if window:  # Swin: the last stage is 1/32 of the input; it must be larger than the window.
            side = max(side, 32 * (int(window) + 1))
        side = _round_up(side, 32)
        return side, side + 32
    if model_type in SEMANTIC_HEAD_MODEL_TYPES | PLAIN_CLASSIFIER_TYPES | {"mobilevitv2"}:
        # BEiT's relative position biases are sized for a square image_size; MobileViT's processors crop
        # squares, classifiers run at their training crop: trace the size they run at.
        size = getattr(config, "image_size", 224)
        side = int(max(size) if isinstance(size, (list, tuple)) else size)
        return side, side
    if model_type in DETECTION_MODEL_TYPES:
        # any size works (the processors keep the aspect ratio); not square, and several backbone strides
        return 96, 128
    if model_type == "upernet":
        backbone = config.backbone_config
        window = getattr(backbone, "window_size", None)
        side = _round_up(32 * (int(window) + 1), 32) if window else 64  # Swin: see above
        return side, side + 32
    raise ValueError(f"no custom ONNX config for model type {model_type!r}")


class _SizedDummyVisionInputGenerator(DummyVisionInputGenerator):
    """``pixel_values`` of the size :func:`dummy_input_size` picks (unless the caller asked for another)."""

    def __init__(self, task, normalized_config, *args, **kwargs):
        super().__init__(task, normalized_config, *args, **kwargs)
        height = kwargs.get("height", DEFAULT_DUMMY_SHAPES["height"])
        width = kwargs.get("width", DEFAULT_DUMMY_SHAPES["width"])
        if (height, width) == (DEFAULT_DUMMY_SHAPES["height"], DEFAULT_DUMMY_SHAPES["width"]):
            height, width = dummy_input_size(normalized_config.config)
        self.height, self.width = height, width


class _CustomVisionOnnxConfig(VisionOnnxConfig):
    NORMALIZED_CONFIG_CLASS = NormalizedVisionConfig
    DUMMY_INPUT_GENERATOR_CLASSES = (_SizedDummyVisionInputGenerator,)

    @property
    def inputs(self) -> dict[str, dict[int, str]]:
        return {"pixel_values": {0: "batch_size", 1: "num_channels", 2: "height", 3: "width"}}


class DepthAnythingOnnxConfig(_CustomVisionOnnxConfig):
    """Depth Anything V1 / V2, relative and metric: DPT-style head on a DINOv2 backbone."""

    ATOL_FOR_VALIDATION = 1e-4
    _MODEL_PATCHER = DepthAnythingModelPatcher

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        return {"predicted_depth": {0: "batch_size", 1: "height", 2: "width"}}


class ZoeDepthOnnxConfig(_CustomVisionOnnxConfig):
    """ZoeDepth (metric depth, one or several bin configurations)."""

    ATOL_FOR_VALIDATION = 1e-3
    _MODEL_PATCHER = ZoeDepthModelPatcher

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        return {"predicted_depth": {0: "batch_size", 1: "height", 2: "width"}}


class Mask2FormerOnnxConfig(_CustomVisionOnnxConfig):
    """Mask2Former universal segmentation: class and mask logits per query (same names as MaskFormer)."""

    ATOL_FOR_VALIDATION = 1e-3
    _MODEL_PATCHER = Mask2FormerModelPatcher

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        return {
            "class_queries_logits": {0: "batch_size", 1: "num_queries"},
            "masks_queries_logits": {0: "batch_size", 1: "num_queries", 2: "height", 3: "width"},
        }


class MaskFormerOnnxConfig(OptimumMaskFormerOnnxConfig):
    """Optimum's MaskFormer config, traced at :func:`dummy_input_size` instead of 64x64 (Swin windows)."""

    DUMMY_INPUT_GENERATOR_CLASSES = (_SizedDummyVisionInputGenerator,)
    ATOL_FOR_VALIDATION = 1e-4


class SemanticSegmentationOnnxConfig(_CustomVisionOnnxConfig):
    """Per-pixel class logits (BEiT, Data2Vec-vision, MobileViT(V2) DeepLabV3, UperNet): ``logits``
    (batch, labels, height, width), Optimum's output for "semantic-segmentation"."""

    ATOL_FOR_VALIDATION = 1e-4
    _MODEL_PATCHER = AdaptivePoolModelPatcher


class ClassificationOnnxConfig(_CustomVisionOnnxConfig):
    """Image classifiers Optimum lacks (PLAIN_CLASSIFIER_TYPES): ``logits`` (batch, labels)."""

    ATOL_FOR_VALIDATION = 1e-4


class DetectionOnnxConfig(_CustomVisionOnnxConfig):
    """Conditional DETR and Deformable DETR (Optimum has DETR's, not theirs): ``logits`` (batch, queries,
    labels) and ``pred_boxes`` (batch, queries, 4), from ``pixel_values`` alone (the pixel mask is all ones
    for a single unpadded image). Deformable attention samples with grid_sample: opset 16 and up."""

    ATOL_FOR_VALIDATION = 1e-4
    DEFAULT_ONNX_OPSET = 16
    _MODEL_PATCHER = DeformableDetrModelPatcher  # patches nothing in Conditional DETR

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        return {
            "logits": {0: "batch_size", 1: "num_queries"},
            "pred_boxes": {0: "batch_size", 1: "num_queries"},
        }


class MobileViTV2OnnxConfig(SemanticSegmentationOnnxConfig):
    """MobileViTV2 (no Optimum config at all): its classifier and its DeepLabV3 semantic head."""

    _MODEL_PATCHER = MobileViTV2ModelPatcher


_SEMANTIC = "semantic-segmentation"
#: (model_type, Optimum task) -> our config class
_CONFIG_CLASSES: dict[tuple[str, str], type[OnnxConfig]] = {
    ("depth_anything", "depth-estimation"): DepthAnythingOnnxConfig,
    ("zoedepth", "depth-estimation"): ZoeDepthOnnxConfig,
    ("mask2former", "image-segmentation"): Mask2FormerOnnxConfig,
    ("maskformer", "image-segmentation"): MaskFormerOnnxConfig,
    **{(model_type, _SEMANTIC): SemanticSegmentationOnnxConfig for model_type in SEMANTIC_HEAD_MODEL_TYPES},
    ("upernet", _SEMANTIC): SemanticSegmentationOnnxConfig,
    ("mobilevitv2", _SEMANTIC): MobileViTV2OnnxConfig,
    ("mobilevitv2", "image-classification"): MobileViTV2OnnxConfig,
    **{(model_type, "image-classification"): ClassificationOnnxConfig for model_type in PLAIN_CLASSIFIER_TYPES},
    **{(model_type, "object-detection"): DetectionOnnxConfig for model_type in DETECTION_MODEL_TYPES},
}


def _register_semantic_tasks() -> None:
    """Optimum refuses a task it does not list for a model type it knows, even with our config: list
    "semantic-segmentation" for the types whose classifier it knows (their other tasks stay Optimum's)."""
    from optimum.exporters.tasks import TasksManager

    register = TasksManager.create_register("onnx", overwrite_existing=False)
    for model_type in SEMANTIC_HEAD_MODEL_TYPES:
        register(model_type, _SEMANTIC, library_name="transformers")(SemanticSegmentationOnnxConfig)


_register_semantic_tasks()


def custom_onnx_config(config: PretrainedConfig, task: str, **kwargs: Any) -> OnnxConfig | None:
    """The ONNX config to pass as ``custom_onnx_configs={"model": ...}``, or None to use Optimum's own.

    Returns a config for :data:`CUSTOM_MODEL_TYPES` (which Optimum cannot export),
    :data:`OVERRIDDEN_MODEL_TYPES` (which Optimum exports wrongly) and the semantic segmentation task of
    :data:`SEMANTIC_HEAD_MODEL_TYPES`, None for every other model type and task.
    ``task`` is Optimum's task name ("depth-estimation", "image-segmentation", ...). ``kwargs`` go to the
    OnnxConfig constructor (e.g. ``float_dtype="fp16"`` to match ``main_export(dtype="fp16")``).
    Raises ValueError when one of these model types is asked for a task it cannot do.
    """
    model_type = getattr(config, "model_type", None)
    config_class = _CONFIG_CLASSES.get((model_type, task))
    if config_class is not None:
        return config_class(config, task=task, **kwargs)
    if model_type in CUSTOM_MODEL_TYPES | OVERRIDDEN_MODEL_TYPES:
        tasks = sorted(t for m, t in _CONFIG_CLASSES if m == model_type)
        raise ValueError(f"model type {model_type!r} can be exported for {tasks}, not {task!r}")
    return None
