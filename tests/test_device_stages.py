"""Pre- and post-processing as ONNX graphs on the model's provider (livevision.graphs), here on the CPU
provider: the same numbers as the numpy path (and so as Hugging Face), for every processor and head."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

torch = pytest.importorskip("torch")

from test_preprocess import CASE_IDS, FRAME_SIZES, frame_for, ours, reference

from livevision.errors import UsageError
from livevision.graphs.chain import DeviceInput
from livevision.graphs.device_stages import DevicePreprocessor, device_postprocessor
from livevision.models.registry import Architecture
from livevision.options import LoadOptions
from livevision.predictor import Predictor
from livevision.tasks.classification.head import ClassificationHead, ClassificationOptions, postprocess_classification
from livevision.tasks.depth.head import DepthHead, postprocess_depth
from livevision.tasks.segmentation.device import MaskClassificationPost
from livevision.tasks.segmentation.head import SegmentationHead, SegmentationOptions
from livevision.tasks.segmentation.semantic import postprocess_semantic
from livevision.types import DepthKind, PreparedInput, PrePost, Task


_device_pre: dict = {}


def device_pre(case_id, session):
    if case_id not in _device_pre:
        _device_pre[case_id] = DevicePreprocessor(ours(case_id, "exact"), session)
    return _device_pre[case_id]


@pytest.mark.parametrize("size", FRAME_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_device_preprocessing_matches_hugging_face(case_id, size, cpu_session):
    """Bit for bit, with the numpy path's geometry. ZoeDepth resizes in float32 like torch: ONNX Runtime
    computes its sample positions in float32 too, which moves values by up to ~2.5e-4 (0.03 uint8 levels)
    at 720p; the numpy path, with float64 positions, is within 1e-5."""
    frame = frame_for(size)
    prepared = device_pre(case_id, cpu_session)(frame)
    host = ours(case_id, "exact")(frame)
    assert isinstance(prepared, DeviceInput)
    assert (prepared.original_hw, prepared.resized_hw, prepared.padding_tblr) == (
        host.original_hw, host.resized_hw, host.padding_tblr)
    got = prepared.value.numpy()
    expected = reference(case_id, size)
    assert got.shape == expected.shape and got.dtype == np.float32
    if "zoedepth" in case_id:
        np.testing.assert_allclose(got, expected, rtol=0, atol=5e-4)
        assert np.abs(got - expected).mean() < 1e-5
    else:
        np.testing.assert_array_equal(got, expected)


def _prepared(original_hw, padding=(0, 0, 0, 0), input_hw=(16, 20)) -> DeviceInput:
    pixels = ort.OrtValue.ortvalue_from_numpy(np.zeros((1, 3, *input_hw), np.float32))
    return DeviceInput(pixels, original_hw, input_hw, padding)


def _smooth_logits(rng, channels, h, w):
    coarse = rng.standard_normal((1, channels, max(2, h // 4), max(2, w // 4))).astype(np.float32)
    return torch.nn.functional.interpolate(torch.from_numpy(coarse), size=(h, w), mode="bicubic").numpy() * 3


@pytest.mark.parametrize("out_hw", [(90, 160), (37, 23), (16, 20), (8, 10)])
def test_semantic_graph_matches_the_numpy_label_map(cpu_session, out_hw):
    rng = np.random.default_rng(0)
    architecture = Architecture("segformer", Task.SEGMENTATION, "semantic-segmentation", ("logits",))
    head = SegmentationHead(architecture, {"id2label": {i: f"c{i}" for i in range(19)}})
    post = device_postprocessor(head, [[1, 19, "h", "w"]], cpu_session)
    logits = _smooth_logits(rng, 19, 16, 20)
    prepared = _prepared(out_hw)
    result = post([logits], prepared)
    expected = postprocess_semantic(logits, prepared.to_host(), id2label=head.id2label)
    assert result.kind == "semantic" and result.label_map.dtype == np.int32
    assert (result.label_map == expected.label_map).mean() >= 0.999
    assert len(np.unique(expected.label_map)) >= 3
    assert result.id2label == expected.id2label
    # A padded model input maps the frame onto part of the output: the numpy path does that.
    assert post([logits], _prepared(out_hw, padding=(2, 2, 0, 0))) is None


@pytest.mark.parametrize("model_type, padding", [("dpt", (0, 0, 0, 0)), ("zoedepth", (0, 0, 0, 0)),
                                                 ("zoedepth", (3, 3, 4, 4))])
def test_depth_graph_matches_the_numpy_depth(cpu_session, model_type, padding):
    rng = np.random.default_rng(1)
    head = DepthHead(Architecture(model_type, Task.DEPTH, "depth-estimation", ("predicted_depth",)),
                     {"model_type": model_type})
    post = device_postprocessor(head, [[1, "h", "w"]], cpu_session)
    depth = 1 + _smooth_logits(rng, 1, 24, 32)[0] ** 2
    prepared = _prepared((100, 140), padding)
    result = post([depth], prepared)
    expected = postprocess_depth(depth, prepared.to_host(), model_type=model_type, kind=head.kind)
    assert result.kind is DepthKind.METRIC if model_type == "zoedepth" else result.kind is DepthKind.RELATIVE
    assert result.depth.shape == (100, 140) and result.depth.dtype == np.float32
    np.testing.assert_allclose(result.depth, expected.depth, rtol=1e-4, atol=1e-4)
    if model_type == "dpt":
        assert post([depth], _prepared((100, 140), padding=(2, 2, 0, 0))) is None


@pytest.mark.parametrize("function, top_k", [(None, 5), ("sigmoid", 3), ("none", None)])
def test_classification_graph_matches_the_numpy_top_k(cpu_session, function, top_k):
    rng = np.random.default_rng(2)
    config = {"id2label": {i: f"class {i}" for i in range(12)}}
    head = ClassificationHead(config, ClassificationOptions(top_k=top_k, function_to_apply=function))
    post = device_postprocessor(head, [[1, 12]], cpu_session)
    logits = (3 * rng.standard_normal((1, 12))).astype(np.float32)
    result = post([logits], _prepared((10, 10)))
    expected = postprocess_classification(logits, id2label=head.id2label, top_k=top_k, function_to_apply=function)
    assert result.class_ids == expected.class_ids and result.labels == expected.labels
    np.testing.assert_allclose(result.scores, expected.scores, rtol=1e-6, atol=1e-7)


def _mask_outputs(rng, queries: int, classes: int, hw: tuple[int, int]):
    """Class logits with a few confident queries, and smooth mask logits with real shapes in them."""
    class_logits = rng.standard_normal((1, queries, classes + 1)).astype(np.float32)
    confident = rng.choice(queries, size=queries // 2, replace=False)
    class_logits[0, confident, rng.integers(0, classes, confident.size)] += 6.0
    # Each query owns a Voronoi cell (logit +4 there, -4 elsewhere), blurred by smooth noise.
    centres = rng.uniform(0, 1, (queries, 2)) * np.array(hw)
    yy, xx = np.mgrid[: hw[0], : hw[1]]
    nearest = np.argmin((yy[None] - centres[:, :1, None]) ** 2 + (xx[None] - centres[:, 1:, None]) ** 2, axis=0)
    cells = np.where(nearest[None] == np.arange(queries)[:, None, None], 4.0, -4.0).astype(np.float32)
    mask_logits = cells[None] + _smooth_logits(rng, queries, *hw)
    return class_logits, mask_logits


@pytest.mark.parametrize("model_type", ["maskformer", "mask2former"])
@pytest.mark.parametrize("mode", ["semantic", "instance", "panoptic"])
def test_mask_classification_graphs_match_the_numpy_post_processing(cpu_session, model_type, mode):
    rng = np.random.default_rng(3)
    classes, queries = 7, 12
    architecture = Architecture(model_type, Task.SEGMENTATION, "image-segmentation",
                                ("class_queries_logits", "masks_queries_logits"))
    options = SegmentationOptions(mode=mode, threshold=0.5)
    head = SegmentationHead(architecture, {"id2label": {i: f"c{i}" for i in range(classes)}}, options)
    post = device_postprocessor(head, [[1, queries, classes + 1], [1, queries, 24, 32]], cpu_session)
    assert isinstance(post, MaskClassificationPost)
    class_logits, mask_logits = _mask_outputs(rng, queries, classes, (24, 32))
    for out_hw in [(90, 160), (37, 23)]:
        prepared = _prepared(out_hw)
        result = post([class_logits, mask_logits], prepared)
        expected = head.postprocess([class_logits, mask_logits], prepared.to_host())
        assert result.kind == expected.kind == mode
        assert (result.label_map == expected.label_map).mean() >= 0.995, f"{mode} {out_hw}"
        assert len(np.unique(expected.label_map)) >= 3
        assert [(s.id, s.label_id) for s in result.segments] == [(s.id, s.label_id) for s in expected.segments]
        if mode != "semantic":
            assert len(expected.segments) >= 2
        for got, want in zip(result.segments, expected.segments):
            assert abs(got.score - want.score) < 1e-5
            assert (got.mask == want.mask).mean() >= 0.995
        if mode != "semantic":
            assert (result.segment_map == expected.segment_map).mean() >= 0.995
    # A padded model input maps the frame onto part of the output: the numpy path does that.
    assert post([class_logits, mask_logits], _prepared((90, 160), padding=(2, 2, 0, 0))) is None


def test_mask_classification_without_a_fixed_class_count_stays_on_the_host(cpu_session):
    head = SegmentationHead(Architecture("mask2former", Task.SEGMENTATION, "image-segmentation",
                                         ("class_queries_logits", "masks_queries_logits")), {})
    assert device_postprocessor(head, [[1, "q", "c"], [1, "q", "h", "w"]], cpu_session) is None


def test_pre_post_choice():  # auto: tests/test_placement.py
    assert LoadOptions(pre_post="device").pre_post is PrePost.DEVICE
    with pytest.raises(UsageError, match="pre_post"):
        LoadOptions(pre_post="gpu")


@pytest.mark.parametrize("pacing", ["every", "simulate-live"])
def test_device_stages_run_in_the_engines(exported, tmp_path, pacing):
    """The engines hand DeviceInputs and OrtValues between their stage threads; results equal the host path's."""
    from fractions import Fraction

    import livevision
    from media import make_source

    clip = make_source(tmp_path / "clip.mp4", 6, Fraction(10), None, size_wh=(96, 64))
    entry = exported("segformer")
    device = Predictor(entry, Task.SEGMENTATION, runtime=LoadOptions(device="cpu", pre_post="device"))
    host = Predictor(entry, Task.SEGMENTATION, runtime=LoadOptions(device="cpu", pre_post="host"))
    assert isinstance(device.preprocess(np.zeros((64, 96, 3), np.uint8)), DeviceInput)
    assert isinstance(host.preprocess(np.zeros((64, 96, 3), np.uint8)), PreparedInput)
    seen = 0
    for packet in livevision.stream(str(clip), "segmentation", models={"segmentation": device}, pacing=pacing):
        output = packet.outputs.get(Task.SEGMENTATION)
        if output is None:
            continue
        expected = host(output.image)
        np.testing.assert_array_equal(output.result.label_map, expected.label_map)
        seen += 1
    assert seen >= 2


def test_cli_pre_post_device_writes_the_host_results(tiny_model, exported, model_cache, tmp_path):
    import json
    from fractions import Fraction

    from cli_runner import run_cli
    from media import make_source

    exported("vit")
    clip = make_source(tmp_path / "clip.mp4", 4, Fraction(10), None, size_wh=(96, 64))
    records = {}
    for where in ("host", "device"):
        results = tmp_path / f"{where}.jsonl"
        done = run_cli("run", "--task", "classification", "--source", str(clip), "--model", str(tiny_model("vit")),
                       "--cache-dir", str(model_cache), "--precision", "fp32", "--device", "cpu",
                       "--pre-post", where, "--results", str(results), "--no-display")
        assert done.returncode == 0, done.stderr
        records[where] = [json.loads(line) for line in results.read_text().splitlines()]
        assert f"pre/post-processing on the {where}" in done.stderr
    assert len(records["host"]) == 4
    for host, device in zip(records["host"], records["device"]):
        assert [c["label"] for c in host["top_k"]] == [c["label"] for c in device["top_k"]]
        np.testing.assert_allclose([c["score"] for c in device["top_k"]], [c["score"] for c in host["top_k"]],
                                   rtol=1e-5)
    bad = run_cli("run", "--task", "classification", "--source", str(clip), "--pre-post", "gpu", "--no-display")
    assert bad.returncode == 2 and "--pre-post" in bad.stderr
