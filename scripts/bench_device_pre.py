"""The device pre-processing graph (graphs/pre.py, `standard_graph`) on ONNX Runtime's CPU provider:
time per frame and multiply-adds per frame, before (the float64 dense MatMul graph it replaced, rebuilt
here as it was) and after (int32 fixed point, gathered taps), interleaved in one run.

A 1280x720 frame to SegFormer's 512x512 (bilinear) and to Depth Anything's 518x924 (bicubic). Both
graphs run through livevision's Binder, with their per-size inputs uploaded once, as DevicePreprocessor
runs them; the host path (the numpy Preprocessor, Pillow's resize) runs beside them for reference. The
three outputs are checked equal. Prints a Markdown table (BENCHMARKS.md, "Device
pre-processing: int32 fixed point").

    python scripts/bench_device_pre.py [--rounds 7] [--frames 10] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import numpy as np

from livevision.graphs.chain import Binder, graph_session
from livevision.graphs.device_stages import DevicePreprocessor
from livevision.graphs.onnx_build import GraphBuilder
from livevision.preprocessing.preprocess import build_preprocessor
from livevision.preprocessing.resample import pil_taps, pil_vertical_first, pil_weight_matrix

IMAGENET = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
RECIPES = {
    "SegFormer 512x512 (bilinear)": dict(image_processor_type="SegformerImageProcessor",
                                         size={"height": 512, "width": 512}, resample=2, **IMAGENET),
    "Depth Anything 518x924 (bicubic)": dict(image_processor_type="DPTImageProcessor",
                                             size={"height": 518, "width": 518}, keep_aspect_ratio=True,
                                             ensure_multiple_of=14, resample=3, **IMAGENET),
}


def dense_graph(recipe, vertical_first: bool):
    """The graph this change replaced (main before it): float64, one dense MatMul per axis."""
    from onnx import TensorProto as T

    g = GraphBuilder("livevision_pre_dense")
    frame = g.input("frame", T.UINT8, ["H", "W", 3])
    cols, rows = g.input("cols", T.DOUBLE, ["W", "W_win"]), g.input("rows", T.DOUBLE, ["H_win", "H"])
    image = g.op("Transpose", g.op("Cast", frame, to=T.DOUBLE), perm=[2, 0, 1])
    passes = [lambda x: g.op("MatMul", x, cols), lambda x: g.op("MatMul", rows, x)]
    for resample in reversed(passes) if vertical_first else passes:
        rounded = g.op("Floor", g.op("Add", resample(image), g.const(0.5, np.float64)))
        image = g.op("Clip", rounded, g.const(0.0, np.float64), g.const(255.0, np.float64))
    order = [0, 1, 2] if recipe.flip_channels else [2, 1, 0]
    levels = g.op("Cast", g.op("Gather", image, g.const(order), axis=0), to=T.INT64)
    table = g.const(np.ascontiguousarray(recipe.lut, dtype=np.float32).reshape(-1), np.float32)
    offsets = g.const(np.arange(3).reshape(3, 1, 1) * 256)
    g.op("Unsqueeze", g.op("Gather", table, g.op("Add", levels, offsets), axis=0), g.const([0]), out="pixel_values")
    g.output("pixel_values", T.FLOAT, [1, 3, "H_in", "W_in"])
    return g.model()


def multiply_adds(hw, out_hw, flt, vertical_first: bool) -> tuple[int, int, int]:
    """(dense MatMul, gathered taps as built, Pillow's taps x outputs) per frame, 3 channels."""
    (h, w), (oh, ow) = hw, out_hw
    col_k, row_k = pil_taps(w, ow, flt)[1], pil_taps(h, oh, flt)[1]
    mid = oh if vertical_first else h  # rows the horizontal pass runs on
    mid_w = w if vertical_first else ow
    dense = 3 * (mid * w * ow + oh * h * mid_w)
    gathered = 3 * (mid * col_k.size + row_k.size * mid_w)
    pillow = 3 * (mid * int((col_k != 0).sum()) + int((row_k != 0).sum()) * mid_w)
    return dense, gathered, pillow


def _timed(run, frames: int) -> float:
    start = time.perf_counter()
    for _ in range(frames):
        run()
    return (time.perf_counter() - start) / frames * 1e3


def bench(name: str, config: dict, session, frame: np.ndarray, rounds: int, frames: int, threads) -> str:
    pre = build_preprocessor(config)
    new = DevicePreprocessor(pre, session, intra_op_threads=threads)
    hw = frame.shape[:2]
    geometry = pre.geometry(hw)
    out_hw, flt = geometry.resized_hw, pre.recipe.filter
    assert geometry.window == (0, out_hw[0], 0, out_hw[1]) and geometry.out_hw == out_hw, "no crop or padding here"
    order = pil_vertical_first(hw, out_hw)
    binder = Binder(session)
    old = graph_session(dense_graph(pre.recipe, order), session, intra_op_threads=threads)
    old_inputs = {"cols": binder.upload(pil_weight_matrix(hw[1], out_hw[1], flt).T),
                  "rows": binder.upload(pil_weight_matrix(hw[0], out_hw[0], flt))}

    def run_old():
        return binder.run(old, {"frame": frame, **old_inputs}, ["pixel_values"], to_host=True)[0]

    def run_new():
        return new(frame).value.numpy()

    def run_host():
        return pre(frame).pixel_values

    np.testing.assert_array_equal(run_new(), run_old())
    np.testing.assert_array_equal(run_new(), run_host())
    runs = {"old": run_old, "new": run_new, "host": run_host}
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(rounds):  # interleaved: the same load on all three
        for key, run in runs.items():
            times[key].append(_timed(run, frames))
    before, after, host = (statistics.median(times[k]) for k in runs)
    dense, gathered, pillow = multiply_adds(hw, out_hw, flt, order)
    return (f"| {name} | {dense / 1e6:,.0f} M | {gathered / 1e6:.1f} M | {pillow / 1e6:.1f} M | {before:.1f} | "
            f"{after:.1f} | {before / after:.1f}x | {host:.1f} |")


def main() -> None:
    import onnxruntime as ort

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--frames", type=int, default=10, help="frames per timed round")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: physical cores)")
    args = parser.parse_args()
    from livevision.graphs.onnx_build import element_type

    g = GraphBuilder("identity")
    g.op("Identity", g.input("x", element_type("FLOAT"), [1]), out="y")
    g.output("y", element_type("FLOAT"), [1])
    session = ort.InferenceSession(g.model().SerializeToString(), providers=["CPUExecutionProvider"])
    frame = np.random.default_rng(0).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}, onnxruntime {ort.__version__}, CPU provider; 1280x720 frame, "
          f"median of {args.rounds} interleaved rounds of {args.frames} frames")
    print("| recipe | multiply-adds before (dense f64) | after (int32 taps) | Pillow (taps x outputs) "
          "| ms before | ms after | speed-up | ms host (Pillow, numpy) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, config in RECIPES.items():
        print(bench(name, config, session, frame, args.rounds, args.frames, args.threads))


if __name__ == "__main__":
    main()
