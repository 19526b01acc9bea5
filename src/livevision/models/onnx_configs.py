"""Optimum ONNX export configs for the architectures optimum-onnx 0.1.0 lacks (or gets wrong).

optimum-onnx 0.1.0 exports dpt, glpn, segformer, maskformer and the usual classifiers, but has no
export config for ``depth_anything``, ``zoedepth`` or ``mask2former``. This module supplies them, for
Optimum's exporter (it imports torch and optimum: import it only to export)::

    from optimum.exporters.onnx import main_export
    onnx_config = custom_onnx_config(AutoConfig.from_pretrained(folder), "depth-estimation")
    main_export(folder, out, task="depth-estimation", library_name="transformers",
                custom_onnx_configs={"model": onnx_config} if onnx_config is not None else None,
                do_validation=True, local_files_only=True)

Every config here has one input, ``pixel_values`` (batch, 3, height, width), with dynamic batch, height
and width, and the output names Optimum uses for the task:

* depth (``depth_anything``, ``zoedepth``): ``predicted_depth`` (batch, height, width);
* ``mask2former`` and ``maskformer``: ``class_queries_logits`` (batch, queries, labels + 1) and
  ``masks_queries_logits`` (batch, queries, height / 4, width / 4).

Tracing (``torch.onnx.export(dynamo=False)``, what Optimum uses) turns Python-level decisions into
constants. What each config does about the ones in these models (tests/test_onnx_configs.py compares
ONNX Runtime with PyTorch at input sizes and batch sizes other than the traced ones):

* ZoeDepth with several bin configurations (Intel/zoedepth-nyu-kitti) picks its metric head with
  ``names[torch.argmax(domain_vote).item()]``. Traced, ``.item()`` becomes a Python int: only the head
  the dummy input voted for is in the graph, and every input gets that head. :class:`ZoeDepthModelPatcher`
  computes every head and gathers the voted one with the in-graph argmax: the ONNX model picks the head
  per input like PyTorch (one vote per batch, as in PyTorch) at the cost of running both metric heads.
* ZoeDepth's neck splits its stacked stages with ``split(batch_size)``: traced, the ONNX graph only runs
  at the dummy batch size. The patcher reassembles stage by stage instead.
* Depth Anything's head resizes to ``int(patch_height * patch_size)``: ``int()`` freezes the output size
  at the dummy size (the ONNX output then has the wrong shape). :class:`DepthAnythingModelPatcher` drops
  the casts.
* Mask2Former's deformable attention normalises sampling offsets by ``torch.tensor(level sizes)``, a
  constant once traced: at any other input size the ONNX model silently computes wrong masks.
  :class:`Mask2FormerModelPatcher` builds it from the traced sizes.
* Swin backbones (Mask2Former, MaskFormer) shrink the attention window -- and drop the shift -- in any
  stage whose feature map is not larger than the window, a Python branch that tracing freezes. Optimum
  traces with a 64x64 dummy image, where the last stages of a Swin (window 7 or 12) are 2x2: the graph is
  then wrong for every real input size (384 px and up). These configs trace at :func:`dummy_input_size`,
  the backbone's own size and at least ``32 * (window + 1)``; that is why ``maskformer`` gets a config
  here too. Swin pads inputs that are not multiples of 32 in a traced-away branch: feed multiples of 32
  (the processors' ``size_divisor``).

The patches replace ``forward`` methods of module instances, copied from transformers 4.57 with the one
change each; they are in place only for the duration of the export (and Optimum's validation).
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

import torch
from optimum.exporters.onnx.base import OnnxConfig
from optimum.exporters.onnx.config import VisionOnnxConfig
from optimum.exporters.onnx.model_configs import MaskFormerOnnxConfig as OptimumMaskFormerOnnxConfig
from optimum.exporters.onnx.model_patcher import ModelPatcher
from optimum.utils import DEFAULT_DUMMY_SHAPES, DummyVisionInputGenerator, NormalizedVisionConfig

if TYPE_CHECKING:
    from transformers import PretrainedConfig, PreTrainedModel

__all__ = [
    "CUSTOM_MODEL_TYPES",
    "OVERRIDDEN_MODEL_TYPES",
    "DepthAnythingModelPatcher",
    "DepthAnythingOnnxConfig",
    "Mask2FormerModelPatcher",
    "Mask2FormerOnnxConfig",
    "MaskFormerOnnxConfig",
    "ZoeDepthModelPatcher",
    "ZoeDepthOnnxConfig",
    "custom_onnx_config",
    "dummy_input_size",
]

#: Model types optimum-onnx 0.1.0 has no export config for: they need ours.
CUSTOM_MODEL_TYPES: frozenset[str] = frozenset({"depth_anything", "zoedepth", "mask2former"})
#: Model types Optimum can export, but whose export ours fixes (maskformer: Swin traced at 64x64).
OVERRIDDEN_MODEL_TYPES: frozenset[str] = frozenset({"maskformer"})

_TASKS: dict[str, frozenset[str]] = {
    "depth_anything": frozenset({"depth-estimation"}),
    "zoedepth": frozenset({"depth-estimation"}),
    "mask2former": frozenset({"image-segmentation"}),
    "maskformer": frozenset({"image-segmentation"}),
}


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


_MISSING = object()


class _InstancePatcher(ModelPatcher):
    """A ModelPatcher that also swaps methods on module instances for the time of the export."""

    def __enter__(self):
        super().__enter__()
        self._restore: list[tuple[Any, str, Any]] = []
        try:
            self.patch_instances(self._model)
        except BaseException:
            self._undo()
            super().__exit__(None, None, None)
            raise
        return self

    def patch_instances(self, model: PreTrainedModel) -> None:
        raise NotImplementedError

    def _patch(self, obj: Any, name: str, value: Any) -> None:
        self._restore.append((obj, name, obj.__dict__.get(name, _MISSING)))
        setattr(obj, name, value)

    def _undo(self) -> None:
        for obj, name, old in reversed(self._restore):
            if old is _MISSING:
                delattr(obj, name)
            else:
                setattr(obj, name, old)
        self._restore = []

    def __exit__(self, exc_type, exc_value, traceback):
        self._undo()
        super().__exit__(exc_type, exc_value, traceback)


class DepthAnythingModelPatcher(_InstancePatcher):
    """Depth Anything's head resizes to ``int(patch_height * patch_size)``: ``int()`` freezes the output size."""

    def patch_instances(self, model):
        self._patch(model.head, "forward", types.MethodType(_depth_anything_head_forward, model.head))


def _depth_anything_head_forward(self, hidden_states, patch_height, patch_width):
    """``DepthAnythingDepthEstimationHead.forward`` without the ``int()`` casts (traced sizes stay dynamic)."""
    hidden_states = hidden_states[self.head_in_index]
    predicted_depth = self.conv1(hidden_states)
    predicted_depth = torch.nn.functional.interpolate(
        predicted_depth,
        (patch_height * self.patch_size, patch_width * self.patch_size),
        mode="bilinear",
        align_corners=True,
    )
    predicted_depth = self.conv2(predicted_depth)
    predicted_depth = self.activation1(predicted_depth)
    predicted_depth = self.conv3(predicted_depth)
    predicted_depth = self.activation2(predicted_depth) * self.max_depth
    return predicted_depth.squeeze(dim=1)


class ZoeDepthModelPatcher(_InstancePatcher):
    """ZoeDepth: in-graph choice of the metric head, batch-size independent neck (see the module docstring)."""

    def patch_instances(self, model):
        reassemble = model.neck.reassemble_stage
        if reassemble.readout_type == "project":  # the only readout the transformers code can run
            self._patch(reassemble, "forward", types.MethodType(_zoedepth_reassemble_forward, reassemble))
        head = getattr(model, "metric_head", None)
        if head is not None and hasattr(head, "mlp_classifier"):
            self._patch(head, "forward", types.MethodType(_zoedepth_multi_head_forward, head))


def _zoedepth_reassemble_forward(self, hidden_states, patch_height, patch_width):
    """``ZoeDepthReassembleStage.forward`` one stage at a time.

    The original concatenates the stages along the batch axis and splits them back with
    ``split(batch_size)``: traced, that Split has constant sizes, so the ONNX graph only runs at the
    dummy batch size. Stage by stage, the maths is identical and the batch stays dynamic.
    """
    out = []
    for stage_idx, hidden_state in enumerate(hidden_states):
        batch_size = hidden_state.shape[0]
        cls_token, hidden_state = hidden_state[:, 0], hidden_state[:, 1:]
        num_channels = hidden_state.shape[-1]
        hidden_state = hidden_state.reshape(batch_size, patch_height, patch_width, num_channels)
        hidden_state = hidden_state.permute(0, 3, 1, 2).contiguous()
        hidden_state = hidden_state.flatten(2).permute((0, 2, 1))
        readout = cls_token.unsqueeze(dim=1).expand_as(hidden_state)
        hidden_state = torch.cat((hidden_state, readout), -1)
        hidden_state = self.readout_projects[stage_idx](hidden_state)
        hidden_state = hidden_state.permute(0, 2, 1).reshape(batch_size, -1, patch_height, patch_width)
        out.append(self.layers[stage_idx](hidden_state))
    return out


def _zoedepth_multi_head_forward(self, outconv_activation, bottleneck, feature_blocks, relative_depth):
    """Traceable ``ZoeDepthMultipleMetricDepthEstimationHeads.forward`` (transformers 4.57).

    The original picks ``names[argmax(domain_vote).item()]`` in Python and runs only that head. Here
    every head the classifier can vote for is computed and the voted one is selected with
    ``index_select`` on the argmax tensor (ONNX ArgMax + Gather; both take the first maximum on ties, as
    ``torch.argmax``): the same result for every input, and the choice stays in the graph.
    """
    x = self.conv2(bottleneck)
    embedding = self.patch_transformer(x)[:, 0, :]
    domain_logits = self.mlp_classifier(embedding)
    domain_vote = torch.softmax(domain_logits.sum(dim=0, keepdim=True), dim=-1)
    choice = torch.argmax(domain_vote, dim=-1)  # shape (1,): one head for the whole batch, as in PyTorch

    names = [configuration["name"] for configuration in self.bin_configurations]
    # The classifier has one logit per candidate; names[i] is the head for vote i. A name may repeat:
    # the original then uses the first configuration with that name.
    num_votes = min(self.mlp_classifier.linear2.out_features, len(names))
    first_conf = {}
    for configuration in self.bin_configurations:
        first_conf.setdefault(configuration["name"], configuration)

    # Shared by all heads: the seed and per-level bin embeddings.
    seed_embedding = self.seed_projector(x)
    level_embeddings = [projector(feature) for projector, feature in zip(self.projectors, feature_blocks)]
    last = outconv_activation

    outputs = []
    for index in range(num_votes):
        name = names[index]
        conf = first_conf[name]
        min_depth, max_depth = conf["min_depth"], conf["max_depth"]
        _, seed_bin_centers = self.seed_bin_regressors[name](x)
        if self.bin_centers_type in ["normed", "hybrid2"]:
            prev_bin = (seed_bin_centers - min_depth) / (max_depth - min_depth)
        else:
            prev_bin = seed_bin_centers
        prev_bin_embedding = seed_embedding
        bin_embedding = seed_embedding
        bin_centers = prev_bin
        for attractor, bin_embedding in zip(self.attractors[name], level_embeddings):
            bin_, bin_centers = attractor(bin_embedding, prev_bin, prev_bin_embedding, interpolate=True)
            prev_bin = bin_
            prev_bin_embedding = bin_embedding
        bin_centers = torch.nn.functional.interpolate(
            bin_centers, last.shape[-2:], mode="bilinear", align_corners=True
        )
        bin_embedding = torch.nn.functional.interpolate(
            bin_embedding, last.shape[-2:], mode="bilinear", align_corners=True
        )
        probabilities = self.conditional_log_binomial[name](last, bin_embedding)
        outputs.append(torch.sum(probabilities * bin_centers, dim=1, keepdim=True))

    out = torch.stack(outputs, dim=0).index_select(0, choice).squeeze(0)
    return out, domain_logits


class DepthAnythingOnnxConfig(_CustomVisionOnnxConfig):
    """Depth Anything V1 / V2, relative and metric: DPT-style head on a DINOv2 backbone."""

    ATOL_FOR_VALIDATION = 1e-4
    _MODEL_PATCHER = DepthAnythingModelPatcher

    @property
    def outputs(self) -> dict[str, dict[int, str]]:
        return {"predicted_depth": {0: "batch_size", 1: "height", 2: "width"}}


class Mask2FormerModelPatcher(_InstancePatcher):
    """Make Mask2Former's deformable-attention pixel decoder traceable at any input size.

    ``Mask2FormerPixelDecoderEncoderMultiscaleDeformableAttention`` normalises its sampling offsets by
    ``torch.tensor([[width, height] for each level])``: traced, that tensor is a constant of the dummy
    feature sizes, and at any other input size the graph samples the wrong places -- wrong numbers, no
    error (max |diff| of ~5 on mask logits of the tiny model). The replacement builds the normaliser
    from the traced sizes. (The other size-dependent code -- ``linspace`` reference points, ``split`` by
    level sizes, position embeddings -- traces dynamically as it is; the tests check the whole graph.)
    """

    def patch_instances(self, model):
        from transformers.models.mask2former import modeling_mask2former as m2f

        for module in model.modules():
            if isinstance(module, m2f.Mask2FormerPixelDecoderEncoderMultiscaleDeformableAttention):
                self._patch(module, "forward", types.MethodType(_mask2former_deformable_attention_forward, module))


def _shape_tensor(rows: list[tuple[Any, Any]], device) -> torch.Tensor:
    """``torch.tensor(rows, dtype=long)`` that stays symbolic when the entries are traced sizes (0-d tensors)."""
    if not any(isinstance(v, torch.Tensor) for row in rows for v in row):
        return torch.tensor(rows, dtype=torch.long, device=device)

    def entry(v):
        return (v.to(device=device, dtype=torch.long) if isinstance(v, torch.Tensor)
                else torch.full((), v, device=device))

    return torch.stack([torch.stack([entry(v) for v in row]) for row in rows])


def _mask2former_deformable_attention_forward(
    self,
    hidden_states,
    attention_mask=None,
    encoder_hidden_states=None,
    encoder_attention_mask=None,
    position_embeddings=None,
    reference_points=None,
    spatial_shapes_list=None,
    level_start_index=None,
    output_attentions: bool = False,
):
    """``Mask2FormerPixelDecoderEncoderMultiscaleDeformableAttention.forward`` (transformers 4.57) with a
    traceable offset normaliser; otherwise line for line the original."""
    from transformers.models.mask2former.modeling_mask2former import multi_scale_deformable_attention

    if position_embeddings is not None:
        hidden_states = self.with_pos_embed(hidden_states, position_embeddings)
    batch_size, num_queries, _ = hidden_states.shape
    batch_size, sequence_length, _ = encoder_hidden_states.shape

    value = self.value_proj(encoder_hidden_states)
    if attention_mask is not None:
        value = value.masked_fill(attention_mask[..., None], float(0))
    value = value.view(batch_size, sequence_length, self.n_heads, self.d_model // self.n_heads)
    sampling_offsets = self.sampling_offsets(hidden_states).view(
        batch_size, num_queries, self.n_heads, self.n_levels, self.n_points, 2
    )
    attention_weights = self.attention_weights(hidden_states).view(
        batch_size, num_queries, self.n_heads, self.n_levels * self.n_points
    )
    attention_weights = torch.nn.functional.softmax(attention_weights, -1).view(
        batch_size, num_queries, self.n_heads, self.n_levels, self.n_points
    )
    if reference_points.shape[-1] == 2:
        offset_normalizer = _shape_tensor(
            [(shape[1], shape[0]) for shape in spatial_shapes_list], reference_points.device
        )
        sampling_locations = (
            reference_points[:, :, None, :, None, :]
            + sampling_offsets / offset_normalizer[None, None, None, :, None, :]
        )
    elif reference_points.shape[-1] == 4:
        sampling_locations = (
            reference_points[:, :, None, :, None, :2]
            + sampling_offsets / self.n_points * reference_points[:, :, None, :, None, 2:] * 0.5
        )
    else:
        raise ValueError(f"Last dim of reference_points must be 2 or 4, but got {reference_points.shape[-1]}")

    output = multi_scale_deformable_attention(value, spatial_shapes_list, sampling_locations, attention_weights)
    output = self.output_proj(output)
    return output, attention_weights


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


_CONFIG_CLASSES: dict[str, type[OnnxConfig]] = {
    "depth_anything": DepthAnythingOnnxConfig,
    "zoedepth": ZoeDepthOnnxConfig,
    "mask2former": Mask2FormerOnnxConfig,
    "maskformer": MaskFormerOnnxConfig,
}


def custom_onnx_config(config: PretrainedConfig, task: str, **kwargs: Any) -> OnnxConfig | None:
    """The ONNX config to pass as ``custom_onnx_configs={"model": ...}``, or None to use Optimum's own.

    Returns a config for :data:`CUSTOM_MODEL_TYPES` (which Optimum cannot export) and
    :data:`OVERRIDDEN_MODEL_TYPES` (which Optimum exports wrongly), None for every other model type.
    ``task`` is Optimum's task name ("depth-estimation", "image-segmentation", ...). ``kwargs`` go to the
    OnnxConfig constructor (e.g. ``float_dtype="fp16"`` to match ``main_export(dtype="fp16")``).
    Raises ValueError when one of these model types is asked for a task it cannot do.
    """
    model_type = getattr(config, "model_type", None)
    if model_type not in _CONFIG_CLASSES:
        return None
    if task not in _TASKS[model_type]:
        raise ValueError(
            f"model type {model_type!r} can be exported for {sorted(_TASKS[model_type])}, not {task!r}"
        )
    return _CONFIG_CLASSES[model_type](config, task=task, **kwargs)
