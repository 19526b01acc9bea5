"""The ONNX graphs livevision builds for the model's provider (livevision.graphs): no float64 anywhere
(1/64 rate on consumer GPUs), and the pre-processing graph's resampling banded as Pillow's is (its
multiply-adds per frame counted from the graph's own shapes), exact for every Pillow filter."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, shape_inference

from livevision.graphs.batch import concat_graph, split_graph
from livevision.graphs.device_stages import DevicePreprocessor
from livevision.graphs.post import (classification_graph, depth_graph, mask_instance_graph, mask_panoptic_graph,
                                    mask_semantic_graph, semantic_graph)
from livevision.graphs.pre import standard_graph, zoe_graph
from livevision.preprocessing.preprocess import build_preprocessor
from livevision.preprocessing.resample import PRECISION_BITS, Filter, pil_taps
from livevision.tasks.detection.device import detection_graph

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402

IMAGENET = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
SEGFORMER = dict(image_processor_type="SegformerImageProcessor", size={"height": 512, "width": 512}, resample=2,
                 **IMAGENET)
DEPTH_ANYTHING = dict(image_processor_type="DPTImageProcessor", size={"height": 518, "width": 518},
                      keep_aspect_ratio=True, ensure_multiple_of=14, resample=3, **IMAGENET)
MOBILEVIT = dict(image_processor_type="MobileViTImageProcessor", size={"shortest_edge": 288},
                 crop_size={"height": 256, "width": 256}, resample=2, do_flip_channel_order=True)
ZOEDEPTH = dict(image_processor_type="ZoeDepthImageProcessor", size={"height": 384, "width": 512},
                keep_aspect_ratio=True, ensure_multiple_of=32, resample=2, do_pad=True)


def _every_graph():
    recipes = [build_preprocessor(c).recipe for c in (SEGFORMER, DEPTH_ANYTHING, MOBILEVIT)]
    yield from (standard_graph(r, vertical_first=order) for r in recipes for order in (False, True))
    yield zoe_graph(build_preprocessor(ZOEDEPTH).recipe)
    yield from (semantic_graph(n) for n in (19, 300, 70000))
    yield depth_graph()
    yield from (classification_graph(10, f) for f in ("softmax", "sigmoid", "none"))
    yield from (detection_graph(s, q, c) for s in ("softmax", "top100", "topq") for q, c in ((300, 80), (None, None)))
    for mid_hw in (None, (384, 384)):
        yield from (mask_semantic_graph(150, mid_hw), mask_panoptic_graph(mid_hw), mask_instance_graph(mid_hw))
    for element in (TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.INT64, TensorProto.UINT8):
        yield from (concat_graph(4, 4, element), split_graph(4, 3, element))


def _double_tensors(model) -> list[str]:
    """Names of the float64 tensors in `model`: inputs, outputs, initializers, value_info, Cast targets,
    constants (value_info filled by shape inference)."""
    inferred = shape_inference.infer_shapes(model, strict_mode=True)
    graph = inferred.graph
    typed = [*graph.input, *graph.output, *graph.value_info]
    found = [v.name for v in typed if v.type.tensor_type.elem_type == TensorProto.DOUBLE]
    found += [t.name for t in graph.initializer if t.data_type == TensorProto.DOUBLE]
    for node in graph.node:
        for attr in node.attribute:
            if node.op_type == "Cast" and attr.name == "to" and attr.i == TensorProto.DOUBLE:
                found.append(f"Cast {node.output[0]}")
            if attr.type == onnx.AttributeProto.TENSOR and attr.t.data_type == TensorProto.DOUBLE:
                found.append(f"{node.op_type} {node.output[0]}")
    # Every tensor typed: nothing escapes the check untyped.
    untyped = {o for n in graph.node for o in n.output} - {v.name for v in typed}
    assert not untyped, f"{graph.name}: no type inferred for {sorted(untyped)}"
    return found


def test_no_graph_livevision_builds_has_a_float64_tensor() -> None:
    graphs = list(_every_graph())
    assert len(graphs) == 34
    for model in graphs:
        assert _double_tensors(model) == [], model.graph.name


def _with_shapes(model, shapes: dict[str, tuple]):
    """`model` with its inputs' dimensions fixed to `shapes`, shapes inferred through the graph."""
    model = onnx.ModelProto.FromString(model.SerializeToString())
    for value in model.graph.input:
        dims = value.type.tensor_type.shape.dim
        for dim, size in zip(dims, shapes[value.name], strict=True):
            dim.Clear()
            dim.dim_value = int(size)
    return shape_inference.infer_shapes(model, strict_mode=True)


def _graph_multiply_adds(config: dict, hw: tuple[int, int], session) -> tuple[int, int, int]:
    """(multiply-adds of the graph per frame, Pillow's taps x outputs, the dense float64 MatMuls')."""
    pre = DevicePreprocessor(build_preprocessor(config), session)
    geometry = pre.preprocessor.geometry(hw)
    order, inputs = pre._size_inputs(hw, geometry)
    shapes = {"frame": (*hw, 3), **{k: np.shape(v) if isinstance(v, np.ndarray) else v.shape()
                                    for k, v in inputs.items()}}
    graph = _with_shapes(standard_graph(pre.recipe, vertical_first=order), shapes).graph
    sizes = {v.name: int(np.prod([d.dim_value for d in v.type.tensor_type.shape.dim])) for v in graph.value_info}
    products = [node.output[0] for node in graph.node if node.op_type in ("Mul", "MatMul", "Gemm", "Einsum")]
    counted = sum(sizes[name] for name in products)
    (h, w), (out_h, out_w) = hw, geometry.resized_hw
    col_k, row_k = (np.count_nonzero(pil_taps(n, m, pre.recipe.filter)[1]) for n, m in ((w, out_w), (h, out_h)))
    mid_h, mid_w = (out_h, w) if order else (h, out_w)  # the image between the two passes
    pillow = 3 * (mid_h * col_k + row_k * mid_w)
    dense = 3 * (mid_h * w * out_w + out_h * h * mid_w)
    return counted, pillow, dense


@pytest.mark.parametrize("config", [SEGFORMER, DEPTH_ANYTHING], ids=["segformer-512x512", "depth-anything-518x924"])
def test_preprocessing_graph_multiply_adds_are_pillows(config, cpu_session) -> None:
    """Counted from the graph: each Mul's output is one multiply-add per element (its ReduceSum)."""
    counted, pillow, dense = _graph_multiply_adds(config, (720, 1280), cpu_session)
    print(f"\n1280x720: {counted / 1e6:.1f} M multiply-adds per frame; Pillow {pillow / 1e6:.1f} M; "
          f"the dense float64 MatMuls {dense / 1e6:.0f} M")
    assert pillow <= counted <= 1.25 * pillow
    assert counted * 100 < dense


def _integer_resize(image: np.ndarray, out_hw: tuple[int, int], flt: Filter, vertical_first: bool) -> np.ndarray:
    """Pillow's two passes from pil_taps, in int64 numpy, with Pillow's rounding and clip8."""
    def one_pass(x: np.ndarray, size: int) -> np.ndarray:  # along axis 0
        taps, k = pil_taps(x.shape[0], size, flt)
        sums = np.einsum("ok,ok...->o...", k.astype(np.int64), x[taps].astype(np.int64))
        assert np.abs(sums).max(initial=0) < 2**31 - (1 << PRECISION_BITS)  # fits the graph's int32
        return np.clip((sums + (1 << (PRECISION_BITS - 1))) >> PRECISION_BITS, 0, 255)

    def vertical(x):
        return one_pass(x, out_hw[0])

    def horizontal(x):
        return np.swapaxes(one_pass(np.swapaxes(x, 0, 1), out_hw[1]), 0, 1)

    x = image.astype(np.int64)
    return (horizontal(vertical(x)) if vertical_first else vertical(horizontal(x))).astype(np.uint8)


def test_integer_taps_reproduce_pillow_for_every_filter() -> None:
    from livevision.preprocessing.resample import pil_vertical_first

    rng = np.random.default_rng(5)
    for trial in range(60):
        in_h, in_w, out_h, out_w = (int(v) for v in rng.integers(1, 200, 4))
        flt = Filter(trial % 6)
        image = rng.integers(0, 256, (in_h, in_w, 3), dtype=np.uint8)
        if trial % 4 == 0:  # the worst case for the sums: a checkerboard of 0 and 255
            image = (np.indices((in_h, in_w)).sum(0) % 2 * 255).astype(np.uint8)[..., None].repeat(3, 2)
        expected = np.asarray(Image.fromarray(image).resize((out_w, out_h), int(flt)))
        got = _integer_resize(image, (out_h, out_w), flt, pil_vertical_first((in_h, in_w), (out_h, out_w)))
        np.testing.assert_array_equal(got, expected, err_msg=f"{image.shape} -> {(out_h, out_w)} {flt!r}")


def test_integer_sums_fit_int32_for_every_filter_and_scale() -> None:
    """The largest sum: 255 on every positive tap (bicubic and lanczos have negative lobes)."""
    for flt in Filter:
        for in_size in (1, 2, 3, 7, 100, 720, 1280, 3840):
            for out_size in (1, 2, 5, 224, 518, 924, 2048):
                _, k = pil_taps(in_size, out_size, flt)
                high = 255 * np.where(k > 0, k.astype(np.int64), 0).sum(axis=1).max() + (1 << 21)
                low = 255 * np.where(k < 0, k.astype(np.int64), 0).sum(axis=1).min()
                assert high < 2**31 and low >= -(2**31), (flt, in_size, out_size)


@pytest.mark.parametrize("resample", list(Filter), ids=[f.name for f in Filter])
def test_device_graph_is_pillow_for_every_filter(resample, cpu_session) -> None:
    """The graph (both pass orders, growing and shrinking axes) against the numpy path (Pillow itself)."""
    rng = np.random.default_rng(int(resample))
    for in_hw, out_hw in [((72, 128), (40, 40)), ((50, 30), (90, 61)), ((120, 90), (33, 200)), ((64, 48), (64, 20))]:
        config = dict(image_processor_type="ViTImageProcessor", size={"height": out_hw[0], "width": out_hw[1]},
                      resample=int(resample), **IMAGENET)
        frame = rng.integers(0, 256, (*in_hw, 3), dtype=np.uint8)
        got = DevicePreprocessor(build_preprocessor(config), cpu_session)(frame).value.numpy()
        np.testing.assert_array_equal(got, build_preprocessor(config)(frame).pixel_values, err_msg=f"{in_hw}")


def test_taps_outside_the_output_are_a_value_error() -> None:
    with pytest.raises(ValueError, match="output window"):
        pil_taps(100, 50, Filter.BILINEAR, 10, 60)
