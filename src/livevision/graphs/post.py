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

- MaskFormer / Mask2Former (mask classification; Mask2Former first resizes the mask logits to
  384x384, bilinear): the per-pixel work, with the small per-query decisions (which queries pass the
  thresholds) made on the host from the class logits, and the segments assembled there exactly as
  the numpy path does:
  - semantic: softmax(class logits) without "no object", sigmoid(masks), their einsum into class
    maps, bilinear resize to the frame, ArgMax -> label map;
  - panoptic: the kept queries' sigmoid(masks), bilinear resize to the frame, times their scores,
    ArgMax over queries -> winner map, and each query's area at or above mask_threshold;
  - instance: the candidate queries' mask scores (mean probability inside the binary mask) and
    their binary masks resized to the frame (nearest, torch's rule).

What these do not cover stays in numpy (the heads fall back to it): models whose pre-processing
padded or cropped the frame (the result is then mapped onto part of the output, see tasks.depth.head and
tasks.segmentation.upsample).
"""

from __future__ import annotations

import numpy as np

from .onnx_build import GraphBuilder, element_type






def label_dtype(num_labels: int) -> np.dtype:
    """The smallest integer type that holds every class id."""
    if num_labels <= 256:
        return np.dtype(np.uint8)
    if num_labels <= 65536:
        return np.dtype(np.uint16)
    return np.dtype(np.int32)


def _resize_to(g: GraphBuilder, planes: str, out_hw: str, out: str | None = None, **attrs) -> str:
    """(1, N, h, w) planes resized to out_hw (the name of an int64[2] input or constant)."""
    sizes = g.op("Concat", g.op("Slice", g.op("Shape", planes), g.const([0]), g.const([2])), out_hw, axis=0)
    return g.op("Resize", planes, "", "", sizes, out=out, **attrs)


def _label_map_output(g: GraphBuilder, planes: str, out_hw: str, num_labels: int) -> None:
    """Class planes (1, C, h, w): bilinear resize to out_hw, ArgMax over C -> output label_map (1, H, W)."""
    from onnx import helper

    resized = _resize_to(g, planes, out_hw, mode="linear", coordinate_transformation_mode="pytorch_half_pixel")
    winner = g.op("ArgMax", resized, axis=1, keepdims=0)
    elem_type = helper.np_dtype_to_tensor_dtype(label_dtype(num_labels))
    g.op("Cast", winner, out="label_map", to=elem_type)
    g.output("label_map", elem_type, [1, "H", "W"])


def semantic_graph(num_labels: int):
    """logits (1, C, h, w) float32, out_hw int64[2] -> label_map (1, H, W) of label_dtype(C)."""
    g = GraphBuilder("livevision_semantic_post")
    logits = g.input("logits", element_type("FLOAT"), [1, num_labels, "h", "w"])
    out_hw = g.input("out_hw", element_type("INT64"), [2])
    _label_map_output(g, logits, out_hw, num_labels)
    return g.model()


def depth_graph():
    """predicted_depth (1, h, w), resize_hw, crop_yx, out_hw int64[2] -> depth (1, H, W) float32."""
    g = GraphBuilder("livevision_depth_post")
    depth = g.input("predicted_depth", element_type("FLOAT"), [1, "h", "w"])
    resize_hw = g.input("resize_hw", element_type("INT64"), [2])
    crop_yx = g.input("crop_yx", element_type("INT64"), [2])
    out_hw = g.input("out_hw", element_type("INT64"), [2])
    planes = g.op("Unsqueeze", depth, g.const([1]))
    sizes = g.op("Concat", g.const([1, 1]), resize_hw, axis=0)
    resized = g.op("Resize", planes, "", "", sizes, mode="cubic", cubic_coeff_a=-0.75,
                   coordinate_transformation_mode="pytorch_half_pixel")
    cropped = g.op("Slice", resized, crop_yx, g.op("Add", crop_yx, out_hw), g.const([2, 3]))
    g.op("Squeeze", cropped, g.const([1]), out="depth")
    g.output("depth", element_type("FLOAT"), [1, "H", "W"])
    return g.model()


def classification_graph(num_labels: int, function: str):
    """logits (1, C), k int64[1] -> scores (1, k) float32 and class_ids (1, k) int64, best first.

    function: "softmax", "sigmoid" or "none" (the logits themselves)."""
    g = GraphBuilder("livevision_classification_post")
    logits = g.input("logits", element_type("FLOAT"), [1, num_labels])
    k = g.input("k", element_type("INT64"), [1])
    if function == "softmax":
        scores = g.op("Softmax", logits, axis=-1)
    elif function == "sigmoid":
        scores = g.op("Sigmoid", logits)
    elif function == "none":
        scores = logits
    else:
        raise ValueError(f"unknown function {function!r}: softmax, sigmoid or none")
    g.op_multi("TopK", [scores, k], ["scores", "class_ids"], axis=-1, largest=1, sorted=1)
    g.output("scores", element_type("FLOAT"), [1, "k"])
    g.output("class_ids", element_type("INT64"), [1, "k"])
    return g.model()


def _mid_resize(g: GraphBuilder, masks: str, mid_hw) -> str:
    """Mask2Former's resize of the mask logits (1, Q, h, w) to mid_hw (bilinear); None: unchanged."""
    if mid_hw is None:
        return masks
    return _resize_to(g, masks, g.const(list(mid_hw)), mode="linear",
                      coordinate_transformation_mode="pytorch_half_pixel")


def mask_semantic_graph(num_labels: int, mid_hw=None):
    """class_logits (1, Q, C + 1), mask_logits (1, Q, h, w), out_hw -> label_map (1, H, W) of label_dtype(C)."""
    g = GraphBuilder("livevision_mask_semantic_post")
    class_logits = g.input("class_logits", element_type("FLOAT"), [1, "q", num_labels + 1])
    masks = g.input("mask_logits", element_type("FLOAT"), [1, "q", "h", "w"])
    out_hw = g.input("out_hw", element_type("INT64"), [2])
    probs = g.op("Slice", g.op("Softmax", class_logits, axis=-1), g.const([0]), g.const([num_labels]), g.const([2]))
    mask_probs = g.op("Sigmoid", _mid_resize(g, masks, mid_hw))
    flat = g.op("Reshape", mask_probs, g.const([1, 0, -1]))  # (1, Q, h * w)
    class_maps = g.op("MatMul", g.op("Transpose", probs, perm=[0, 2, 1]), flat)  # (1, C, h * w)
    planes = g.op("Reshape", class_maps, g.op("Concat", g.const([1, num_labels]),
                                              g.op("Slice", g.op("Shape", mask_probs), g.const([2]), g.const([4])),
                                              axis=0))
    _label_map_output(g, planes, out_hw, num_labels)
    return g.model()


def mask_panoptic_graph(mid_hw=None):
    """mask_logits (1, Q, h, w), keep int64[K], scores float32[K], mask_threshold float32[1], out_hw ->
    winner (1, H, W) uint16 (index into keep; Q < 65536) and area (K,) float32 (pixels with weighted mask >=
    mask_threshold)."""
    g = GraphBuilder("livevision_mask_panoptic_post")
    masks = g.input("mask_logits", element_type("FLOAT"), [1, "q", "h", "w"])
    keep = g.input("keep", element_type("INT64"), ["k"])
    scores = g.input("scores", element_type("FLOAT"), ["k"])
    threshold = g.input("mask_threshold", element_type("FLOAT"), [1])
    out_hw = g.input("out_hw", element_type("INT64"), [2])
    kept = _mid_resize(g, g.op("Gather", masks, keep, axis=1), mid_hw)
    resized = _resize_to(g, g.op("Sigmoid", kept), out_hw, mode="linear",
                         coordinate_transformation_mode="pytorch_half_pixel")
    weighted = g.op("Mul", resized, g.op("Reshape", scores, g.const([1, -1, 1, 1])))
    g.op("Cast", g.op("ArgMax", weighted, axis=1, keepdims=0), out="winner", to=element_type("UINT16"))
    above = g.op("Cast", g.op("GreaterOrEqual", weighted, threshold), to=element_type("FLOAT"))
    g.op("ReduceSum", above, g.const([0, 2, 3]), keepdims=0, out="area")
    g.output("winner", element_type("UINT16"), [1, "H", "W"])
    g.output("area", element_type("FLOAT"), ["k"])
    return g.model()


def mask_instance_graph(mid_hw=None):
    """mask_logits (1, Q, h, w), queries int64[K], logit_threshold float32[1], out_hw -> mask_scores (K,)
    float32 (mean probability inside each binary mask) and masks (1, K, H, W) uint8 (binary masks
    resized to the frame, nearest: source index floor(dst * in / out), torch's mode="nearest")."""
    g = GraphBuilder("livevision_mask_instance_post")
    masks = g.input("mask_logits", element_type("FLOAT"), [1, "q", "h", "w"])
    queries = g.input("queries", element_type("INT64"), ["k"])
    threshold = g.input("logit_threshold", element_type("FLOAT"), [1])
    out_hw = g.input("out_hw", element_type("INT64"), [2])
    logits = _mid_resize(g, g.op("Gather", masks, queries, axis=1), mid_hw)
    binary = g.op("Greater", logits, threshold)
    inside = g.op("Cast", binary, to=element_type("FLOAT"))
    prob_sum = g.op("ReduceSum", g.op("Mul", g.op("Sigmoid", logits), inside), g.const([0, 2, 3]), keepdims=0)
    count = g.op("ReduceSum", inside, g.const([0, 2, 3]), keepdims=0)
    g.op("Div", prob_sum, g.op("Add", count, g.const([1e-6], np.float32)), out="mask_scores")
    small = g.op("Cast", binary, to=element_type("UINT8"))
    _resize_to(g, small, out_hw, out="masks", mode="nearest", coordinate_transformation_mode="asymmetric",
                     nearest_mode="floor")
    g.output("mask_scores", element_type("FLOAT"), ["k"])
    g.output("masks", element_type("UINT8"), [1, "k", "H", "W"])
    return g.model()
