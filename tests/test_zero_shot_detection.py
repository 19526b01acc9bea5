"""Zero-shot detection with text queries (OWL-ViT, OWLv2): the export against torch, the labels' tokens, the
pre-processing, and livevision.pipeline / the Predictor against transformers' zero-shot-object-detection
pipeline, on the tiny models (calibrated so that a few objects pass 0.1 with TEST_LABELS)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from livevision.errors import OptionError, UsageError
from livevision.tasks.detection.text_queries import parse_labels
from livevision.testing.tiny_zero_shot import TEST_LABELS, calibration_image

OWL = ("owlvit", "owlv2")


def _bgr(image) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(image.convert("RGB"))[:, :, ::-1])


def _torch_model(folder):
    from transformers import AutoModelForZeroShotObjectDetection, AutoProcessor

    return AutoModelForZeroShotObjectDetection.from_pretrained(folder).eval(), AutoProcessor.from_pretrained(folder)


@pytest.mark.parametrize("name", OWL)
def test_export_matches_torch_for_any_number_of_queries(name, tiny_model, exported):
    """The text batch (the query count) is dynamic in the export: 1, 2 and 5 labels run and equal torch."""
    import onnxruntime as ort
    import torch

    model, processor = _torch_model(tiny_model(name))
    session = ort.InferenceSession(str(exported(name).onnx_path), providers=["CPUExecutionProvider"])
    for labels in (["cat"], ["cat", "person"], ["cat", "person", "cup", "dog", "a photo of a car"]):
        inputs = processor(text=[labels], images=calibration_image(), return_tensors="pt")
        with torch.no_grad():
            expected = model(**inputs)
        logits, boxes = session.run(["logits", "pred_boxes"], {k: v.numpy() for k, v in inputs.items()})
        assert logits.shape == (1, expected.logits.shape[1], len(labels))
        np.testing.assert_allclose(logits, expected.logits.numpy(), atol=2e-4)
        np.testing.assert_allclose(boxes, expected.pred_boxes.numpy(), atol=1e-4)


@pytest.mark.parametrize("name", OWL)
def test_one_run_with_every_label_equals_one_run_per_label(name, tiny_model):
    """The pipeline runs once per label, unpadded; the head reads one padded run with all labels: a query's
    logits do not depend on the other queries nor on the padding."""
    import torch

    model, processor = _torch_model(tiny_model(name))
    image = processor.image_processor(calibration_image(), return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        together = model(pixel_values=image, **processor.tokenizer([list(TEST_LABELS)][0], padding="max_length",
                                                                 return_tensors="pt")).logits[0]
        for q, label in enumerate(TEST_LABELS):
            alone = model(pixel_values=image, **processor.tokenizer(label, return_tensors="pt")).logits[0, :, 0]
            np.testing.assert_allclose(together[:, q].numpy(), alone.numpy(), atol=1e-5)


@pytest.mark.parametrize("name", OWL)
def test_labels_are_tokenized_as_the_processor_does(name, tiny_model, exported):
    from livevision.tasks.detection.text_queries import tokenize

    _, processor = _torch_model(tiny_model(name))
    for labels in (("cat",), ("cat", "person", "a photo of a car"), ("Cup", "dog!?")):
        expected = processor(text=[list(labels)], return_tensors="np")
        ours = tokenize(exported(name).path, labels)
        np.testing.assert_array_equal(ours.input_ids, expected["input_ids"])
        np.testing.assert_array_equal(ours.attention_mask, expected["attention_mask"])
    with pytest.raises(UsageError, match="at most 16"):
        tokenize(exported(name).path, ("a photo of a very long label name",))


@pytest.mark.parametrize("name", OWL)
def test_preprocessing_matches_the_hf_processor(name, tiny_model):
    """OwlViTImageProcessor (resize, CLIP statistics) and Owlv2ImageProcessor (grey square pad, blurred
    linear resize in float) against the slow HF classes, on frames smaller and larger than the model input."""
    from transformers import AutoImageProcessor

    from livevision.preprocessing.preprocess import build_preprocessor
    from livevision.testing.tiny_calibration import reference_images

    import torch

    hf = AutoImageProcessor.from_pretrained(tiny_model(name), use_fast=False)
    config = {**hf.to_dict(), "image_processor_type": type(hf).__name__}
    preprocessor = build_preprocessor(config)
    for size in ((160, 120), (90, 130), (50, 40), (300, 200)):
        image = reference_images(1, torch.Generator().manual_seed(3), size=size)[0]
        expected = hf(image, return_tensors="np")["pixel_values"]
        np.testing.assert_allclose(preprocessor(_bgr(image)).pixel_values, expected, atol=2e-6, rtol=0)


def _same_objects(ours: list, theirs: list) -> None:
    assert [o["label"] for o in ours] == [o["label"] for o in theirs]
    for a, b in zip(ours, theirs):
        assert abs(a["score"] - b["score"]) < 1e-4
        assert all(abs(a["box"][k] - b["box"][k]) <= 1 for k in b["box"])


@pytest.mark.parametrize("name", OWL)
def test_pipeline_equals_transformers(name, tiny_model, model_cache):
    import transformers

    import livevision

    folder = tiny_model(name)
    theirs = transformers.pipeline("zero-shot-object-detection", model=str(folder))
    ours = livevision.pipeline("zero-shot-object-detection", model=folder, cache_dir=model_cache)
    assert ours.task == "zero-shot-object-detection"
    image = calibration_image()
    expected = theirs(image, candidate_labels=list(TEST_LABELS))
    assert len(expected) >= 3  # the calibration: a few objects pass 0.1
    _same_objects(ours(image, candidate_labels=list(TEST_LABELS)), expected)
    # other labels on the same pipeline, a comma-separated string, and the per-call keywords
    reordered = ", ".join(reversed(TEST_LABELS))  # transformers keeps the spaces in the labels it gives back
    _same_objects(ours(image, candidate_labels=reordered), theirs(image, candidate_labels=reordered))
    for labels in (list(TEST_LABELS), ["cup"]):  # a head for threshold=0.05 per label set, never another's
        _same_objects(ours(image, candidate_labels=labels, threshold=0.05, top_k=4),
                      theirs(image, candidate_labels=labels, threshold=0.05, top_k=4))
    with pytest.raises(OptionError, match="candidate_labels"):
        ours(image)


@pytest.mark.parametrize("name", OWL)
def test_predictor_with_labels_on_a_frame(name, tiny_model, model_cache):
    import livevision
    from livevision.predictor import load_model

    folder = tiny_model(name)
    predictor = load_model(folder, "detection", cache_dir=model_cache, labels=",".join(TEST_LABELS), device="cpu")
    result = predictor(_bgr(calibration_image()))
    expected = livevision.pipeline("zero-shot-object-detection", model=folder, cache_dir=model_cache)(
        calibration_image(), candidate_labels=list(TEST_LABELS))
    assert [d.label for d in result.detections] == [o["label"] for o in expected]
    assert [d.score for d in result.detections] == pytest.approx([o["score"] for o in expected], abs=1e-6)
    assert result.id2label == dict(enumerate(TEST_LABELS))


def test_labels_are_required_for_owl_and_refused_elsewhere(tiny_model, model_cache):
    from livevision.predictor import load_model

    with pytest.raises(UsageError, match="--labels") as missing:
        load_model(tiny_model("owlvit"), "detection", cache_dir=model_cache, device="cpu")
    assert "\n" not in str(missing.value)
    with pytest.raises(UsageError, match="zero-shot detectors") as refused:
        load_model(tiny_model("vit"), "classification", cache_dir=model_cache, labels="cat", device="cpu",
                   precision="fp32")
    assert "\n" not in str(refused.value)
    with pytest.raises(UsageError, match="zero-shot detectors"):  # a detector with a closed vocabulary
        load_model(tiny_model("rt_detr"), "detection", cache_dir=model_cache, labels="cat", device="cpu",
                   precision="fp32")


def test_labels_parse():
    assert parse_labels(" person, cup ") == ("person", "cup")
    assert parse_labels(["a cat"]) == ("a cat",)
    assert parse_labels(None) is None
    for bad in ("", "cat,,dog", [], [3]):
        with pytest.raises(OptionError, match="labels"):
            parse_labels(bad)


def test_cli_runs_owl_with_labels_and_says_what_is_missing(tiny_model, model_cache, tmp_path, monkeypatch):
    import cv2
    from cli_runner import run_cli

    from livevision.models.registry import DEFAULT_MODELS
    from livevision.types import Task

    if Task.DETECTION not in DEFAULT_MODELS:  # the parser's epilog lists one per task; detection's lands apart
        monkeypatch.setitem(DEFAULT_MODELS, Task.DETECTION, "(none yet)")

    image = tmp_path / "frame.png"
    cv2.imwrite(str(image), _bgr(calibration_image()))
    common = ("run", "--task", "detection", "--model", tiny_model("owlvit"), "--source", image, "--no-display",
              "--device", "cpu", "--cache-dir", model_cache)
    results = tmp_path / "results.jsonl"
    done = run_cli(*common, "--labels", ",".join(TEST_LABELS), "--results", results)
    assert done.returncode == 0, done.stderr
    detections = json.loads(results.read_text().splitlines()[0])["detections"]
    assert len(detections) >= 3 and {d["label"] for d in detections} <= set(TEST_LABELS)
    missing = run_cli(*common)
    assert missing.returncode == 2 and "--labels" in missing.stderr
    assert "Traceback" not in missing.stderr and len(missing.stderr.strip().splitlines()) == 1, missing.stderr
    elsewhere = run_cli("run", "--task", "classification", "--model", tiny_model("vit"), "--source", image,
                        "--no-display", "--device", "cpu", "--cache-dir", model_cache, "--labels", "cat")
    assert elsewhere.returncode == 2 and len(elsewhere.stderr.strip().splitlines()) == 1, elsewhere.stderr
