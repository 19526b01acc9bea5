"""Model patchers that make ZoeDepth, Depth Anything and Mask2Former traceable at every input size.

Tracing (``torch.onnx.export(dynamo=False)``, what Optimum uses) turns Python-level decisions into
constants. What each patcher does about the ones in these models (tests/test_onnx_configs.py compares
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

The patches replace ``forward`` methods of module instances, copied from transformers 4.57 with the one
change each; they are in place only for the duration of the export (and Optimum's validation).
"""

from __future__ import annotations

import functools
import types
from typing import TYPE_CHECKING, Any

import torch
from optimum.exporters.onnx.model_patcher import ModelPatcher

if TYPE_CHECKING:
    from transformers import PreTrainedModel

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


class DeformableDetrModelPatcher(_InstancePatcher):
    """Make Deformable DETR's attention traceable at any input size.

    ``DeformableDetrModel`` builds ``spatial_shapes`` with ``torch.as_tensor`` of the feature sizes: traced,
    a constant of the dummy sizes, which the attention divides its sampling offsets by -- at another input
    size the graph samples the wrong places (max |diff| ~2 on the tiny model's logits, no error). The
    attention gets ``spatial_shapes`` rebuilt from the traced ``spatial_shapes_list`` instead. And the
    encoder's reference points use ``arange`` instead of ``linspace``, which exports as a division by
    ``steps - 1``: NaN for a feature map one pixel high or wide.
    """

    def patch_instances(self, model):
        from transformers.models.deformable_detr import modeling_deformable_detr as ddetr

        for module in model.modules():
            if isinstance(module, ddetr.DeformableDetrMultiscaleDeformableAttention):
                original = type(module).forward.__get__(module)
                self._patch(module, "forward", functools.partial(_traced_spatial_shapes_forward, original))
            elif isinstance(module, ddetr.DeformableDetrEncoder):
                self._patch(module, "get_reference_points", _deformable_reference_points)


def _traced_spatial_shapes_forward(original, hidden_states, *args, spatial_shapes=None, spatial_shapes_list=None,
                                   **kwargs):
    if spatial_shapes_list is not None:
        spatial_shapes = _shape_tensor(list(spatial_shapes_list), hidden_states.device)
    return original(hidden_states, *args, spatial_shapes=spatial_shapes, spatial_shapes_list=spatial_shapes_list,
                    **kwargs)


def _deformable_reference_points(spatial_shapes, valid_ratios, device):
    """``DeformableDetrEncoder.get_reference_points`` (transformers 4.57) with ``arange(n) + 0.5`` for
    ``linspace(0.5, n - 0.5, n)``."""
    reference_points_list = []
    for level, (height, width) in enumerate(spatial_shapes):
        ref_y, ref_x = torch.meshgrid(
            torch.arange(height, dtype=valid_ratios.dtype, device=device) + 0.5,
            torch.arange(width, dtype=valid_ratios.dtype, device=device) + 0.5,
            indexing="ij",
        )
        ref_y = ref_y.reshape(-1)[None] / (valid_ratios[:, None, level, 1] * height)
        ref_x = ref_x.reshape(-1)[None] / (valid_ratios[:, None, level, 0] * width)
        reference_points_list.append(torch.stack((ref_x, ref_y), -1))
    reference_points = torch.cat(reference_points_list, 1)
    return reference_points[:, :, None] * valid_ratios[:, None]


class AdaptivePoolModelPatcher(_InstancePatcher):
    """Pyramid pooling (UperNet, BEiT's UperNet head) pools to 2x2, 3x3, 6x6 with ``AdaptiveAvgPool2d``,
    which the ONNX exporter refuses for input sizes it cannot read at export time (dynamic height and
    width). The patch computes the same average, bin for bin, as two matrix products whose bins are
    built from the traced input size; a 1x1 output (global pooling) exports as it is and is left alone.
    """

    def patch_instances(self, model):
        for module in model.modules():
            if isinstance(module, torch.nn.AdaptiveAvgPool2d) and _pair(module.output_size) != (1, 1):
                self._patch(module, "forward", types.MethodType(_adaptive_avg_pool_forward, module))


def _pair(size) -> tuple:
    return tuple(size) if isinstance(size, (tuple, list)) else (size, size)


def _adaptive_bins(length: int, bins: int, like: torch.Tensor) -> torch.Tensor:
    """(bins, length) averaging weights of PyTorch's adaptive pooling: bin i covers
    [floor(i * length / bins), ceil((i + 1) * length / bins))."""
    index = torch.arange(length, device=like.device)  # traced from the input's size: stays dynamic
    size = index[-1:] + 1
    i = torch.arange(bins, device=like.device).unsqueeze(1)
    start = torch.div(i * size, bins, rounding_mode="floor")
    end = torch.div((i + 1) * size + bins - 1, bins, rounding_mode="floor")
    inside = ((index.unsqueeze(0) >= start) & (index.unsqueeze(0) < end)).to(like.dtype)
    return inside / inside.sum(dim=1, keepdim=True)


def _adaptive_avg_pool_forward(self, hidden_state):
    out_h, out_w = _pair(self.output_size)
    height, width = hidden_state.shape[-2:]
    rows = _adaptive_bins(height, out_h or height, hidden_state)
    cols = _adaptive_bins(width, out_w or width, hidden_state)
    return torch.matmul(torch.matmul(rows, hidden_state), cols.transpose(0, 1))


class MobileViTV2ModelPatcher(AdaptivePoolModelPatcher):
    """MobileViTV2 cuts feature maps into patches with ``nn.functional.unfold`` / ``fold``; the exporter's
    ``fold`` (Col2Im) needs a static output size and fails. Patches do not overlap (stride = kernel), so
    both are reshapes and transposes: the same values, at any input size that is a multiple of the patch."""

    def patch_instances(self, model):
        super().patch_instances(model)
        for module in model.modules():
            if type(module).__name__ == "MobileViTV2Layer":
                self._patch(module, "unfolding", types.MethodType(_mobilevitv2_unfolding, module))
                self._patch(module, "folding", types.MethodType(_mobilevitv2_folding, module))


def _mobilevitv2_unfolding(self, feature_map):
    batch_size, channels, height, width = feature_map.shape
    ph, pw = self.patch_height, self.patch_width
    patches = feature_map.reshape(batch_size, channels, height // ph, ph, width // pw, pw)
    patches = patches.permute(0, 1, 3, 5, 2, 4)  # unfold's order: channel, in-patch offset, patch index
    return patches.reshape(batch_size, channels, ph * pw, -1), (height, width)


def _mobilevitv2_folding(self, patches, output_size):
    batch_size, channels = patches.shape[:2]
    height, width = output_size
    ph, pw = self.patch_height, self.patch_width
    feature_map = patches.reshape(batch_size, channels, ph, pw, height // ph, width // pw)
    return feature_map.permute(0, 1, 4, 2, 5, 3).reshape(batch_size, channels, height, width)
