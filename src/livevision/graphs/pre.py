"""Pre-processing graphs: a uint8 BGR frame of any size to the model's pixel_values, on the provider.

The geometry (resize target, crop window, padding) depends only on the frame size and is computed
on the host by the numpy Preprocessor's own rules (`preprocessing.preprocess`); the graph takes it as
inputs, so one graph serves every frame size.

Standard processors (the Pillow-based HF classes), bit for bit what the numpy "exact" path and
Pillow give, computed as Pillow computes it (libImaging/Resample.c, 8 bits per channel), in int32:
    frame (H, W, 3) uint8 -> int32 -> one banded resampling pass per axis, in Pillow's pass order:
    each output value gathers its filter's K taps (Gather with a (K, out) index tensor), multiplies
    them by Pillow's integer coefficients (normalised weights * 2**22, rounded as Pillow rounds) and
    sums them (ReduceSum over K), then Pillow's clip8((2**21 + sum) >> 22), written as a clamp to
    0..256 * 2**22 - 1 and an integer Div (ONNX's BitShift is unsigned-only) -> levels 0..255 in
    int32, as Pillow's uint8 between its passes -> black padding (a crop larger than the image) ->
    per-channel lookup table (rescale + normalize: the numpy path's own table; BGR -> RGB)
    -> (1, 3, H_in, W_in) float32 -> zero padding (DPT's multiple-of padding, MaskFormer's pad_size).
The host computes the taps and coefficients once per frame size, already cut to the crop window
(resample.pil_taps); they stay on the device. The sums fit in int32 for every filter (the worst,
LANCZOS with its negative lobes, reaches 1.29 * 255 * 2**22 < 2**31). A pass costs K multiply-adds
per output value, Pillow's own count (1280x720 to 512x512 bilinear: 7.9 M per frame, Pillow 7.7 M;
the float64 dense MatMuls this replaced did 1,982 M), and no tensor is float64 (1/64 rate on
consumer GPUs): tests/test_device_graphs.py holds both. Every op has a CUDA kernel for its types in
ONNX Runtime's kernel table (docs/OperatorKernels.md): hence Max/Min rather than Clip, and the black
padding in float32, where CUDA has no integer Clip or Pad (unchecked on a GPU so far).
ONNX's Resize with antialias is close to Pillow but not equal (Pillow works in fixed point and
rounds between its passes): about 1 % of pixels moved by a level, which tiny models amplify to
~0.5 % of their depth. On the CPU the numpy path (Pillow itself) stays the default: ONNX Runtime's
Gather / Mul / ReduceSum materialise the K gathered copies, slower there than Pillow's fused loop.

ZoeDepth: frame -> rescale -> reflect pad -> torch-style bilinear/bicubic resize with
align_corners=True (float32, as HF does) -> normalize -> (1, 3, H_in, W_in).
"""

from __future__ import annotations

import numpy as np

from ..preprocessing.processor_recipes import Recipe
from ..preprocessing.resample import PRECISION_BITS
from .onnx_build import GraphBuilder


def _types():
    from onnx import TensorProto

    return TensorProto.UINT8, TensorProto.INT64, TensorProto.FLOAT, TensorProto.INT32


_HALF = 1 << (PRECISION_BITS - 1)


def _pillow_round(g: GraphBuilder, sums: str) -> str:
    """Pillow's clip8(ss >> 22), ss = 2**21 + sum, in int32: ONNX's BitShift is unsigned-only and its
    integer Div truncates toward zero, so ss is clamped to 0..256 * 2**22 - 1 first, then divided."""
    ss = g.op("Add", sums, g.const(_HALF, np.int32))
    ss = g.op("Min", g.op("Max", ss, g.const(0, np.int32)), g.const((256 << PRECISION_BITS) - 1, np.int32))
    return g.op("Div", ss, g.const(1 << PRECISION_BITS, np.int32))


def _resample(g: GraphBuilder, image: str, taps: str, coefficients: str, axis: int) -> str:
    """One banded pass along `axis` (0: rows, 1: columns) of an (h, w, 3) int32 image: each output
    gathers its K taps, weights them by its int32 coefficients and sums them: K multiply-adds per
    output value. Taps come tap-major, (K, out), so the product and the sum run over long contiguous
    spans (whole rows; the K gathered images are summed slab by slab)."""
    gathered = g.op("Gather", image, taps, axis=axis)  # rows: (K, out, w, 3); columns: (h, K, out, 3)
    weighted = g.op("Mul", gathered, coefficients)  # rows: (K, out, 1, 1); columns: (K, out, 3)
    return _pillow_round(g, g.op("ReduceSum", weighted, g.const([axis]), keepdims=0))


def standard_graph(recipe: Recipe, *, vertical_first: bool = False):
    """Inputs: frame (H, W, 3) uint8 BGR; Pillow's taps for the crop window (resample.pil_taps,
    transposed to tap-major): col_taps (Kc, W_win) int64 with col_coefs (Kc, W_win, 3) int32 (one per
    channel), row_taps (Kr, H_win) int64 with row_coefs (Kr, H_win, 1, 1) int32; black_pads and
    zero_pads int64[4] (top, bottom, left, right). Output: pixel_values (1, 3, H_in, W_in) float32.
    vertical_first: Pillow's pass order for the frame size (resample.pil_vertical_first)."""
    u8, i64, f32, i32 = _types()
    g = GraphBuilder("livevision_pre")
    frame = g.input("frame", u8, ["H", "W", 3])
    col_taps = g.input("col_taps", i64, ["Kc", "W_win"])
    col_coefs = g.input("col_coefs", i32, ["Kc", "W_win", 3])
    row_taps = g.input("row_taps", i64, ["Kr", "H_win"])
    row_coefs = g.input("row_coefs", i32, ["Kr", "H_win", 1, 1])
    black_pads = g.input("black_pads", i64, [4])
    zero_pads = g.input("zero_pads", i64, [4])
    image = g.op("Cast", frame, to=i32)  # (H, W, 3) BGR
    passes = [lambda x: _resample(g, x, col_taps, col_coefs, 1), lambda x: _resample(g, x, row_taps, row_coefs, 0)]
    for resample in reversed(passes) if vertical_first else passes:
        image = resample(image)  # levels 0..255 in int32, as Pillow's uint8 between and after its passes
    image = g.op("Transpose", image, perm=[2, 0, 1])  # (3, H_win, W_win) BGR
    bgr_to_output = [0, 1, 2] if recipe.flip_channels else [2, 1, 0]
    levels = g.op("Gather", image, g.const(bgr_to_output), axis=0)
    # Black padding is uint8 0 before the table, as HF pads before rescaling.
    chw_pads = g.op("Concat", g.const([0]), g.op("Gather", black_pads, g.const([0, 2]), axis=0), g.const([0]),
                    g.op("Gather", black_pads, g.const([1, 3]), axis=0), axis=0)
    # (in float32, exact for 0..255: CUDA's Pad takes no integer types)
    levels = g.op("Pad", g.op("Cast", levels, to=f32), chw_pads, g.const(0.0, np.float32), mode="constant")
    levels = g.op("Cast", levels, to=i32)
    # Lookup: level v of output channel c reads table[c * 256 + v].
    offsets = g.const(np.arange(3).reshape(3, 1, 1) * 256, np.int32)
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
