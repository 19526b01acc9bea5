"""Object detectors, architecture by architecture: each tiny model maps to the detection task, exports, and
its ONNX model run on livevision's pre-processing gives PyTorch's logits and boxes on the Hugging Face
processor's input -- at two aspect ratios (3:4 and 16:9) where the processor keeps the frame's aspect.
(Post-processing, the head, is tested with it; here export, pre-processing and the tiny models.)
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import onnxruntime as ort  # noqa: E402
from transformers import AutoImageProcessor, AutoModelForObjectDetection, DetrImageProcessor  # noqa: E402

from livevision.errors import UnsupportedModelError, UsageError  # noqa: E402
from livevision.models.cache import PROCESSOR_FILE  # noqa: E402
from livevision.models.registry import BOX_OUTPUTS, architecture_for  # noqa: E402
from livevision.preprocessing.input_size import input_size_rule, with_input_size  # noqa: E402
from livevision.preprocessing.preprocess import build_preprocessor  # noqa: E402
from livevision.testing.tiny_calibration import reference_images  # noqa: E402
from livevision.testing.tiny_detection_calibration import (  # noqa: E402
    THRESHOLD,
    THRESHOLD_MARGIN,
    detection_scores,
    reference_batches,
)
from livevision.testing.tiny_models import ARCHITECTURES, ZERO_SHOT  # noqa: E402
from livevision.types import Task  # noqa: E402

DETECTORS = [name for name, (task, _) in ARCHITECTURES.items() if task == "detection" and name not in ZERO_SHOT]
FIXED_SIZE = {"rt_detr", "rt_detr_v2", "d_fine"}  # RTDetrImageProcessor: 64x64 in the tiny models
FRAME_SIZES = [(160, 120), (108, 192)]  # (height, width): 3:4 portrait, 16:9 landscape


def frame(height: int, width: int, seed: int) -> np.ndarray:
    """A smooth random BGR uint8 frame."""
    (image,) = reference_images(1, torch.Generator().manual_seed(seed), (width, height))
    return np.ascontiguousarray(np.asarray(image)[:, :, ::-1])


def hf_pixels(processor, bgr: np.ndarray) -> np.ndarray:
    from PIL import Image

    rgb = Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))
    return np.asarray(processor(images=rgb, return_tensors="np")["pixel_values"])


@pytest.mark.parametrize("name", DETECTORS)
def test_each_detector_config_maps_to_detection(name, tiny_model):
    config = json.loads((tiny_model(name) / "config.json").read_text())
    arch = architecture_for(config)
    assert (arch.task, arch.optimum_task, arch.outputs) == (Task.DETECTION, "object-detection", BOX_OUTPUTS)
    assert architecture_for(config, Task.DETECTION) == arch
    with pytest.raises(UnsupportedModelError, match="not supported for segmentation"):
        architecture_for(config, Task.SEGMENTATION)


@pytest.mark.parametrize("name", DETECTORS)
def test_onnx_on_our_preprocessing_equals_torch_on_hugging_face(name, tiny_model, exported):
    folder, entry = tiny_model(name), exported(name)
    processor = AutoImageProcessor.from_pretrained(folder, use_fast=False)
    preprocess = build_preprocessor(entry.read_json(PROCESSOR_FILE))
    model = AutoModelForObjectDetection.from_pretrained(folder).eval()
    session = ort.InferenceSession(str(entry.onnx_path), providers=["CPUExecutionProvider"])
    shapes = set()
    for seed, (height, width) in enumerate(FRAME_SIZES):
        bgr = frame(height, width, seed)
        expected_pixels = hf_pixels(processor, bgr)
        prepared = preprocess(bgr)
        np.testing.assert_allclose(prepared.pixel_values, expected_pixels, rtol=0, atol=1e-6)
        # a single image is not padded: the head scales boxes from the resized image to the frame
        assert prepared.original_hw == (height, width)
        assert prepared.resized_hw == prepared.pixel_values.shape[2:]
        shapes.add(prepared.resized_hw)
        with torch.no_grad():
            out = model(pixel_values=torch.from_numpy(expected_pixels))
        logits, boxes = session.run(list(BOX_OUTPUTS), {"pixel_values": prepared.pixel_values})
        spread = max(1.0, float(out.logits.std()))
        np.testing.assert_allclose(logits, out.logits.numpy(), rtol=0, atol=1e-4 * spread)
        np.testing.assert_allclose(boxes, out.pred_boxes.numpy(), rtol=0, atol=1e-4)
    if name in FIXED_SIZE:
        assert shapes == {(64, 64)}
    else:  # both aspect ratios kept, so the graph ran at two shapes other than the traced one
        assert len(shapes) == 2 and all(h != w for h, w in shapes), shapes


@pytest.mark.parametrize("name", DETECTORS)
def test_tiny_detectors_give_a_few_clear_detections(name, tiny_model):
    folder = tiny_model(name)
    model = AutoModelForObjectDetection.from_pretrained(folder).eval()
    processor = AutoImageProcessor.from_pretrained(folder, use_fast=False)
    with torch.no_grad():
        scores = torch.cat([detection_scores(model.config.model_type, model(pixel_values=batch).logits)
                            for batch in reference_batches(processor)])
    counts = (scores > THRESHOLD).sum(dim=1)
    assert int(counts.min()) >= 3 and int(counts.max()) <= 30, counts.tolist()
    assert float((scores - THRESHOLD).abs().min()) > THRESHOLD_MARGIN  # parity is not decided by float noise
    passing = scores[scores > THRESHOLD]
    assert float(passing.max() - passing.min()) > 0.1  # not all one score


def test_input_size_scales_the_shortest_edge_of_detr_style_processors():
    detr = {"model_type": "detr", "architectures": ["DetrForObjectDetection"]}
    processor = {"image_processor_type": "DetrImageProcessor", "size": {"shortest_edge": 800, "longest_edge": 1333}}
    rule = input_size_rule(processor, detr)
    assert (rule.kind, rule.default, rule.multiple) == ("shortest_edge", 800, 1)
    new = with_input_size(processor, detr, 400)
    assert new["size"] == {"shortest_edge": 400, "longest_edge": 666}
    assert build_preprocessor(new)(frame(480, 640, 0)).resized_hw == (400, 533)
    # microsoft/table-transformer-detection's legacy config: int size, max_size as large
    table = {"feature_extractor_type": "DetrFeatureExtractor", "size": 800, "max_size": 800}
    new = with_input_size(table, {"model_type": "table-transformer"}, 600)
    assert new["size"] == {"shortest_edge": 600, "longest_edge": 600} and "max_size" not in new
    yolos = {"image_processor_type": "YolosImageProcessor", "size": {"shortest_edge": 800, "longest_edge": 1333}}
    assert input_size_rule(yolos, {"model_type": "yolos"}).kind == "shortest_edge"
    rt_detr = {"model_type": "rt_detr", "architectures": ["RTDetrForObjectDetection"]}
    with pytest.raises(UsageError, match="resizes every frame to the fixed size it was trained at"):
        with_input_size({"image_processor_type": "RTDetrImageProcessor"}, rt_detr, 320)


def test_legacy_detr_configs_and_a_fixed_pad_size():
    bgr = frame(90, 160, 3)
    # an int size with the legacy max_size (DetrFeatureExtractor configs), and an int size without (cap 1333)
    for legacy in ({"size": 100, "max_size": 150}, {"size": 100}):
        prepared = build_preprocessor({"feature_extractor_type": "DetrFeatureExtractor", **legacy})(bgr)
        expected = hf_pixels(DetrImageProcessor(**legacy), bgr)
        np.testing.assert_array_equal(prepared.pixel_values, expected)
    assert prepared.resized_hw == (100, 177)
    # capped, and the capped short side rounds to the frame's own: HF keeps the frame's size (10x151, not 10x149)
    small = frame(10, 151, 4)
    capped = {"feature_extractor_type": "DetrFeatureExtractor", "size": 100, "max_size": 150}
    prepared = build_preprocessor(capped)(small)
    np.testing.assert_array_equal(prepared.pixel_values, hf_pixels(DetrImageProcessor(size=100, max_size=150), small))
    assert prepared.resized_hw == (10, 151)
    with pytest.raises(UnsupportedModelError, match="pad_size .* pixel mask"):
        build_preprocessor({"image_processor_type": "DetrImageProcessor", "pad_size": {"height": 96, "width": 96}})


def test_deformable_detr_export_takes_feature_maps_one_pixel_high(tiny_model, exported):
    """64 px high: the extra feature level (stride 64) is one pixel, where the traced ``linspace`` of the
    encoder's reference points divided by zero (models/onnx_patches.DeformableDetrModelPatcher)."""
    model = AutoModelForObjectDetection.from_pretrained(tiny_model("deformable_detr")).eval()
    session = ort.InferenceSession(str(exported("deformable_detr").onnx_path), providers=["CPUExecutionProvider"])
    pixels = np.random.default_rng(0).standard_normal((1, 3, 64, 96)).astype(np.float32)
    with torch.no_grad():
        out = model(pixel_values=torch.from_numpy(pixels))
    logits, boxes = session.run(list(BOX_OUTPUTS), {"pixel_values": pixels})
    np.testing.assert_allclose(logits, out.logits.numpy(), rtol=0, atol=1e-4 * max(1.0, float(out.logits.std())))
    np.testing.assert_allclose(boxes, out.pred_boxes.numpy(), rtol=0, atol=1e-4)
