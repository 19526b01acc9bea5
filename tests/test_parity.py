"""Parity with the Hugging Face reference, architecture by architecture.

Each tiny model is exported by livevision, run on synthetic frames through our numpy /
OpenCV pre- and post-processing and ONNX Runtime, and compared with transformers on the
same model and frames:

| task           | reference                                            | required                        |
|----------------|------------------------------------------------------|---------------------------------|
| depth          | pipeline("depth-estimation") predicted_depth         | same values (1e-4), r >= 0.999  |
| classification | pipeline("image-classification")                     | same top-5, scores within 1e-3  |
| semantic       | post_process_semantic_segmentation                   | pixel agreement >= 99.99%       |
| instance/pan.  | post_process_instance/panoptic_segmentation          | 1:1 segments, IoU >= 0.95, class|

Every test runs twice: with pre/post-processing on the host (numpy/OpenCV) and as ONNX graphs on
the model's provider (`pre_post="device"`, here the CPU provider; see livevision.graphs).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from PIL import Image
from livevision.testing.tiny_models import ARCHITECTURES
from transformers import AutoImageProcessor, pipeline

from livevision.predictor import PostprocessOptions, Predictor, RuntimeOptions
from livevision.types import DepthKind, Task


def _names(task: str) -> list[str]:
    return [name for name, (t, _) in ARCHITECTURES.items() if t == task]


def synthetic_frames() -> list[np.ndarray]:
    """BGR frames that look a little like photos: smooth shading, shapes, mild noise.
    One landscape larger than the models' inputs, one portrait, one small (upscaled)."""
    rng = np.random.default_rng(7)
    frames = []
    for w, h in [(320, 240), (180, 260), (48, 40)]:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        base = np.stack([xx / w * 200, yy / h * 180, (xx + yy) / (w + h) * 255], axis=2)
        image = base.astype(np.uint8)
        cv2.circle(image, (w // 3, h // 2), max(4, min(w, h) // 5), (30, 200, 240), -1)
        cv2.rectangle(image, (w // 2, h // 5), (w - w // 8, h // 2), (220, 40, 90), -1)
        noise = rng.normal(0, 6, image.shape)
        frames.append(np.clip(image + noise, 0, 255).astype(np.uint8))
    return frames


def _pil(frame_bgr: np.ndarray) -> Image.Image:
    return Image.fromarray(cv2.cvtColor(frame_bgr, cv2.COLOR_BGR2RGB))


def _processor(folder):
    return AutoImageProcessor.from_pretrained(folder, use_fast=False)


@pytest.fixture(scope="module")
def frames():
    return synthetic_frames()


@pytest.fixture(params=["host", "device"])
def runtime(request) -> RuntimeOptions:
    return RuntimeOptions(device="cpu", pre_post=request.param)


@pytest.mark.parametrize("name", _names("depth"))
def test_depth_matches_pipeline(name, tiny_model, exported, frames, runtime):
    folder = tiny_model(name)
    ours = Predictor(exported(name), Task.DEPTH, runtime=runtime)
    reference = pipeline("depth-estimation", model=str(folder), image_processor=_processor(folder), device="cpu")
    expected_kind = (DepthKind.METRIC if name.startswith("zoedepth") or name in ("depth_anything_metric", "glpn")
                     else DepthKind.RELATIVE)
    assert ours.depth_kind is expected_kind
    for frame in frames:
        result = ours(frame)
        assert result.depth.shape == frame.shape[:2] and result.depth.dtype == np.float32
        assert result.kind is expected_kind
        ref = reference(_pil(frame))["predicted_depth"].squeeze().numpy()
        # The test model is not degenerate: its map varies over the frame (a near-constant map would
        # make any comparison pass).
        assert ref.std() >= 0.02 * np.abs(ref).mean(), f"{name}: reference depth is near-constant"
        # Same values, not just the same shape of map: metric models in metres, relative ones in the
        # model's own units. Measured differences are ~1e-5 (float32 resampling), scale or offset
        # errors are orders of magnitude above the tolerance.
        assert result.depth.shape == ref.shape, f"{name} {frame.shape}"
        np.testing.assert_allclose(result.depth, ref, rtol=1e-4, atol=2e-4, err_msg=f"{name} {frame.shape}")
        r = np.corrcoef(result.depth.ravel(), ref.ravel())[0, 1]
        assert r >= 0.999, f"{name} {frame.shape}: Pearson r = {r:.5f}"


@pytest.mark.parametrize("name", _names("classification"))
def test_classification_matches_pipeline(name, tiny_model, exported, frames, runtime):
    folder = tiny_model(name)
    ours = Predictor(exported(name), Task.CLASSIFICATION, runtime=runtime)
    reference = pipeline("image-classification", model=str(folder), image_processor=_processor(folder), device="cpu")
    for frame in frames:
        result = ours(frame)
        ref = reference(_pil(frame), top_k=5)
        assert list(result.labels) == [r["label"] for r in ref], f"{name} {frame.shape}"
        np.testing.assert_allclose(result.scores, [r["score"] for r in ref], atol=1e-3)
        assert ref[0]["score"] > 1.5 * ref[-1]["score"]  # the tiny model is not degenerate


def _hf_segmentation_outputs(folder, frame):
    """The image processor and the PyTorch model's raw outputs for one frame."""
    from transformers import AutoConfig, AutoModelForSemanticSegmentation, AutoModelForUniversalSegmentation

    universal = AutoConfig.from_pretrained(folder).model_type in ("maskformer", "mask2former")
    auto = AutoModelForUniversalSegmentation if universal else AutoModelForSemanticSegmentation
    processor = _processor(folder)
    inputs = processor(images=_pil(frame), return_tensors="pt")
    with torch.no_grad():
        outputs = auto.from_pretrained(folder).eval()(pixel_values=inputs["pixel_values"])
    return processor, outputs


# Per-pixel-logit models: every segmentation architecture but the query-based ones.
SEMANTIC = [name for name in _names("segmentation") if ARCHITECTURES[name][1] not in ("maskformer", "mask2former")]


@pytest.mark.parametrize("name", SEMANTIC)
def test_semantic_matches_post_processing(name, tiny_model, exported, frames, runtime):
    folder = tiny_model(name)
    ours = Predictor(exported(name), Task.SEGMENTATION, runtime=runtime)
    for frame in frames:
        processor, outputs = _hf_segmentation_outputs(folder, frame)
        ref = processor.post_process_semantic_segmentation(outputs, target_sizes=[frame.shape[:2]])[0].numpy()
        result = ours(frame)
        assert result.kind == "semantic" and result.label_map.shape == frame.shape[:2]
        assert result.id2label == {int(k): v for k, v in outputs_config(folder).id2label.items()}
        agreement = float((result.label_map == ref).mean())
        assert agreement >= 0.9999, f"{name} {frame.shape}: {agreement:.5f}"  # measured: 1 tie px in 76800
        assert len(np.unique(ref)) >= 2  # not a trivial one-class map


def outputs_config(folder):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(folder)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


# Low thresholds: random tiny models are not confident, and the point is to compare many segments.
_MASK_OPTIONS = dict(threshold=0.1, mask_threshold=0.5, overlap_mask_area_threshold=0.5)


@pytest.mark.parametrize("name", ["maskformer", "mask2former"])
@pytest.mark.parametrize("mode", ["semantic", "instance", "panoptic"])
def test_mask_classification_matches_post_processing(name, mode, tiny_model, exported, frames, runtime):
    folder = tiny_model(name)
    ours = Predictor(exported(name), Task.SEGMENTATION, runtime=runtime,
                     options=PostprocessOptions(segmentation_mode=mode, **_MASK_OPTIONS))
    compared = 0
    for frame in frames:
        processor, outputs = _hf_segmentation_outputs(folder, frame)
        target = [frame.shape[:2]]
        result = ours(frame)
        assert result.kind == mode
        if mode == "semantic":
            ref = processor.post_process_semantic_segmentation(outputs, target_sizes=target)[0].numpy()
            agreement = float((result.label_map == ref).mean())
            assert agreement >= 0.99, f"{name} {frame.shape}: {agreement:.4f}"
            compared += 1
            continue
        post = getattr(processor, f"post_process_{mode}_segmentation")
        kwargs = dict(_MASK_OPTIONS)
        if mode == "instance":
            # Binary maps per instance (each instance's whole mask), in HF's order; the painted map below.
            kwargs.pop("overlap_mask_area_threshold")
            painted = post(outputs, target_sizes=target, **kwargs)[0]
            assert [s.label_id for s in result.segments] == [i["label_id"] for i in painted["segments_info"]]
            assert (result.segment_map == painted["segmentation"].numpy()).mean() >= 0.999, f"{name} {frame.shape}"
            kwargs["return_binary_maps"] = True
        ref = post(outputs, target_sizes=target, **kwargs)[0]
        ref_segments = ref["segments_info"]
        if mode == "instance":
            ref_masks = [ref["segmentation"][k].numpy() > 0 for k in range(len(ref_segments))]
        else:
            ref_masks = [ref["segmentation"].numpy() == info["id"] for info in ref_segments]
        assert len(result.segments) == len(ref_segments), f"{name} {mode} {frame.shape}"
        used = set()
        for info, ref_mask in zip(ref_segments, ref_masks):
            # One query can yield several (mask, class) pairs with the same mask: match on class too.
            same_class = [s for s in result.segments if s.id not in used and s.label_id == info["label_id"]]
            assert same_class, f"{name} {mode}: no segment of class {info['label_id']} left"
            best_iou, best = max(((_iou(s.mask, ref_mask), s) for s in same_class), key=lambda t: t[0])
            assert best_iou >= 0.95, f"{name} {mode}: segment {info} IoU {best_iou:.3f}"
            assert abs(best.score - info["score"]) < 1e-3
            used.add(best.id)
        compared += len(ref_segments)
    assert compared >= 2, "the tiny model produced too few segments to compare"
