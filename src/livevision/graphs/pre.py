"""Pre-processing graphs: a uint8 BGR frame of any size to the model's pixel_values, on the provider.

The geometry (resize target, crop window, padding) depends only on the frame size and is computed
on the host by the numpy Preprocessor's own rules (`preprocessing.preprocess`); the graph takes it as
inputs, so one graph serves every frame size.

Standard processors (the Pillow-based HF classes), bit for bit what the numpy "exact" path and
Pillow give:
    frame (H, W, 3) uint8 -> float64 -> one resampling pass per axis as a MatMul with Pillow's
    fixed-point coefficients (exact in float64; the host computes the (out, in) matrices once per
    frame size, already cut to the crop window), each pass rounded as Pillow rounds (floor(v + 1/2),
    clipped to 0..255), in Pillow's pass order -> black padding (a crop larger than the image) ->
    per-channel lookup table (rescale + normalize: the numpy path's own table; BGR -> RGB)
    -> (1, 3, H_in, W_in) -> zero padding (DPT's multiple-of padding, MaskFormer's pad_size).
ONNX's Resize with antialias is close to Pillow but not equal (Pillow works in fixed point and
rounds between its passes): about 1 % of pixels moved by a level, which tiny models amplify to
~0.5 % of their depth. The MatMul form costs more arithmetic, which a GPU does not notice; on the
CPU the numpy path stays the default.

ZoeDepth: frame -> rescale -> reflect pad -> torch-style bilinear/bicubic resize with
align_corners=True (float32, as HF does) -> normalize -> (1, 3, H_in, W_in).
"""

from __future__ import annotations

import numpy as np

from ..preprocessing.processor_recipes import Recipe
from .onnx_build import GraphBuilder


def _types():
    from onnx import TensorProto

    return TensorProto.UINT8, TensorProto.INT64, TensorProto.FLOAT, TensorProto.DOUBLE


def _pillow_round(g: GraphBuilder, values: str) -> str:
    """Pillow's clip8 on exact fixed-point sums: floor(v + 1/2), clipped to 0..255."""
    rounded = g.op("Floor", g.op("Add", values, g.const(0.5, np.float64)))
    return g.op("Clip", rounded, g.const(0.0, np.float64), g.const(255.0, np.float64))


def standard_graph(recipe: Recipe, *, vertical_first: bool = False):
    """Inputs: frame (H, W, 3) uint8 BGR; cols (W, W_win) and rows (H_win, H) float64 resampling
    matrices (resample.pil_weight_matrix, the crop window's rows only); black_pads and zero_pads
    int64[4] (top, bottom, left, right). Output: pixel_values (1, 3, H_in, W_in) float32.
    vertical_first: Pillow's pass order for the frame size (resample.pil_vertical_first)."""
    u8, i64, f32, f64 = _types()
    g = GraphBuilder("livevision_pre")
    frame = g.input("frame", u8, ["H", "W", 3])
    cols = g.input("cols", f64, ["W", "W_win"])
    rows = g.input("rows", f64, ["H_win", "H"])
    black_pads = g.input("black_pads", i64, [4])
    zero_pads = g.input("zero_pads", i64, [4])
    image = g.op("Transpose", g.op("Cast", frame, to=f64), perm=[2, 0, 1])  # (3, H, W) BGR
    passes = [lambda x: g.op("MatMul", x, cols), lambda x: g.op("MatMul", rows, x)]
    for resample in reversed(passes) if vertical_first else passes:
        image = _pillow_round(g, resample(image))
    bgr_to_output = [0, 1, 2] if recipe.flip_channels else [2, 1, 0]
    levels = g.op("Cast", g.op("Gather", image, g.const(bgr_to_output), axis=0), to=i64)
    # Black padding is uint8 0 before the table, as HF pads before rescaling.
    chw_pads = g.op("Concat", g.const([0]), g.op("Gather", black_pads, g.const([0, 2]), axis=0), g.const([0]),
                    g.op("Gather", black_pads, g.const([1, 3]), axis=0), axis=0)
    levels = g.op("Pad", levels, chw_pads, g.const(0), mode="constant")
    # Lookup: level v of output channel c reads table[c * 256 + v].
    offsets = g.const(np.arange(3).reshape(3, 1, 1) * 256)
    table = g.const(np.ascontiguousarray(recipe.lut, dtype=np.float32).reshape(-1), np.float32)
    values = g.op("Unsqueeze", g.op("Gather", table, g.op("Add", levels, offsets), axis=0), g.const([0]))
    nchw_pads = g.op("Concat", g.const([0, 0]), g.op("Gather", zero_pads, g.const([0, 2]), axis=0),
                     g.const([0, 0]), g.op("Gather", zero_pads, g.const([1, 3]), axis=0), axis=0)
    g.op("Pad", values, nchw_pads, g.const(0.0, np.float32), mode="constant", out="pixel_values")
    g.output("pixel_values", f32, [1, 3, "H_in", "W_in"])
    return g.model()


def zoe_graph(recipe: Recipe):
    """Inputs: frame (H, W, 3) uint8 BGR; pad_hw int64[2] (reflect rows / cols per side); out_hw
    int64[2]. Output: pixel_values (1, 3, H_in, W_in) float32."""
    zoe = recipe.zoe
    u8, i64, f32, _ = _types()
    g = GraphBuilder("livevision_pre_zoedepth")
    frame = g.input("frame", u8, ["H", "W", 3])
    pad_hw = g.input("pad_hw", i64, [2])
    out_hw = g.input("out_hw", i64, [2])
    bgr_to_output = [0, 1, 2] if recipe.flip_channels else [2, 1, 0]
    image = g.op("Gather", g.op("Cast", frame, to=f32), g.const(bgr_to_output), axis=2)
    scale = float(zoe.rescale_lut[1])  # the table is v * rescale_factor in float32
    image = g.op("Mul", image, g.const(scale, np.float32))
    chw = g.op("Unsqueeze", g.op("Transpose", image, perm=[2, 0, 1]), g.const([0]))
    pads = g.op("Concat", g.const([0, 0]), pad_hw, g.const([0, 0]), pad_hw, axis=0)
    padded = g.op("Pad", chw, pads, mode="reflect")
    mode = dict(mode="linear") if zoe.mode == "bilinear" else dict(mode="cubic", cubic_coeff_a=-0.75)
    resized = g.op("Resize", padded, "", "", g.op("Concat", g.const([1, 3]), out_hw, axis=0),
                   coordinate_transformation_mode="align_corners", **mode)
    if zoe.do_normalize:
        mean = g.const(zoe.mean.reshape(1, 3, 1, 1), np.float32)
        std = g.const(zoe.std.reshape(1, 3, 1, 1), np.float32)
        resized = g.op("Div", g.op("Sub", resized, mean), std)
    g.op("Identity", resized, out="pixel_values")
    g.output("pixel_values", f32, [1, 3, "H_in", "W_in"])
    return g.model()
