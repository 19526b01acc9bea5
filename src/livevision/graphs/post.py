"""Post-processing graphs: the model's raw outputs to the compact result, on the model's provider.

Each graph takes the frame-dependent sizes as inputs (computed on the host), so one graph serves
every frame size:

- semantic (per-pixel logits): logits (1, C, h, w) -> bilinear resize to the frame
  (align_corners=False, torch's `interpolate`) -> ArgMax over C -> label map (1, H, W), uint8 when
  C <= 256, else uint16 / int32. Only the label map leaves the device.
- depth: predicted_depth (1, h, w) -> bicubic resize (a = -0.75, torch's `interpolate`, as the HF
  processors' post_process_depth_estimation) to `resize_hw`, then a crop of `out_hw` at `crop_yx`
  (ZoeDepth resizes to the reflect-padded frame and cuts the padding off; the others crop nothing).
- classification: logits (1, C) -> softmax / sigmoid / nothing -> TopK(k): scores and class ids.

What these do not cover stays in numpy (the heads fall back to it): MaskFormer / Mask2Former, and
models whose pre-processing padded or cropped the frame (the result is then mapped onto part of the
output, see tasks.depth and tasks.segmentation).
"""

from __future__ import annotations

import numpy as np

from .onnx_build import GraphBuilder


def _float():
    from onnx import TensorProto

    return TensorProto.FLOAT


def _int64():
    from onnx import TensorProto

    return TensorProto.INT64


def label_dtype(num_labels: int) -> np.dtype:
    """The smallest integer type that holds every class id."""
    if num_labels <= 256:
        return np.dtype(np.uint8)
    if num_labels <= 65536:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


def semantic_graph(num_labels: int):
    """logits (1, C, h, w) float32, out_hw int64[2] -> label_map (1, H, W) of label_dtype(C)."""
    from onnx import helper

    g = GraphBuilder("livevision_semantic_post")
    logits = g.input("logits", _float(), [1, num_labels, "h", "w"])
    out_hw = g.input("out_hw", _int64(), [2])
    batch_channels = g.op("Slice", g.op("Shape", logits), g.const([0]), g.const([2]))
    sizes = g.op("Concat", batch_channels, out_hw, axis=0)
    resized = g.op("Resize", logits, "", "", sizes, mode="linear",
                   coordinate_transformation_mode="pytorch_half_pixel")
    winner = g.op("ArgMax", resized, axis=1, keepdims=0)
    dtype = label_dtype(num_labels)
    g.op("Cast", winner, out="label_map", to=helper.np_dtype_to_tensor_dtype(dtype))
    g.output("label_map", helper.np_dtype_to_tensor_dtype(dtype), [1, "H", "W"])
    return g.model()


def depth_graph():
    """predicted_depth (1, h, w), resize_hw, crop_yx, out_hw int64[2] -> depth (1, H, W) float32."""
    g = GraphBuilder("livevision_depth_post")
    depth = g.input("predicted_depth", _float(), [1, "h", "w"])
    resize_hw = g.input("resize_hw", _int64(), [2])
    crop_yx = g.input("crop_yx", _int64(), [2])
    out_hw = g.input("out_hw", _int64(), [2])
    planes = g.op("Unsqueeze", depth, g.const([1]))
    sizes = g.op("Concat", g.const([1, 1]), resize_hw, axis=0)
    resized = g.op("Resize", planes, "", "", sizes, mode="cubic", cubic_coeff_a=-0.75,
                   coordinate_transformation_mode="pytorch_half_pixel")
    cropped = g.op("Slice", resized, crop_yx, g.op("Add", crop_yx, out_hw), g.const([2, 3]))
    g.op("Squeeze", cropped, g.const([1]), out="depth")
    g.output("depth", _float(), [1, "H", "W"])
    return g.model()


def classification_graph(num_labels: int, function: str):
    """logits (1, C), k int64[1] -> scores (1, k) float32 and class_ids (1, k) int64, best first.

    function: "softmax", "sigmoid" or "none" (the logits themselves)."""
    g = GraphBuilder("livevision_classification_post")
    logits = g.input("logits", _float(), [1, num_labels])
    k = g.input("k", _int64(), [1])
    if function == "softmax":
        scores = g.op("Softmax", logits, axis=-1)
    elif function == "sigmoid":
        scores = g.op("Sigmoid", logits)
    elif function == "none":
        scores = logits
    else:
        raise ValueError(f"unknown function {function!r}: softmax, sigmoid or none")
    g.op_multi("TopK", [scores, k], ["scores", "class_ids"], axis=-1, largest=1, sorted=1)
    g.output("scores", _float(), [1, "k"])
    g.output("class_ids", _int64(), [1, "k"])
    return g.model()
