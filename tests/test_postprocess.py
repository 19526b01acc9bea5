"""Parity of the numpy/OpenCV post-processing with the Hugging Face image processors and pipelines.

No models: raw outputs are generated with a seeded numpy RNG, structured (smooth fields, blobs,
confident queries) so that thresholds are passed and segments exist, then fed both to our
functions and, as torch tensors, to the Hugging Face reference code.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

from livevision.errors import UnsupportedModelError
from livevision.tasks.classification.head import postprocess_classification
from livevision.tasks.depth.head import depth_kind, postprocess_depth, zoedepth_padding
from livevision.tasks.segmentation.mask_classification import PIPELINE_DEFAULTS, postprocess_mask_classification
from livevision.tasks.segmentation.semantic import postprocess_semantic
from livevision.types import DepthKind, PreparedInput

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

LANDSCAPE = (720, 1280)
PORTRAIT = (1280, 720)


# --------------------------------------------------------------------------------------------
# helpers


def prepared(original_hw, input_hw, resized_hw=None, padding_tblr=(0, 0, 0, 0)) -> PreparedInput:
    return PreparedInput(
        pixel_values=np.zeros((1, 3, *input_hw), np.float32),
        original_hw=original_hw,
        resized_hw=resized_hw or input_hw,
        padding_tblr=padding_tblr,
    )


def smooth_field(rng, shape, cells=(6, 8)) -> np.ndarray:
    """A smooth random (h, w) field: coarse noise upsampled bicubically, plus fine noise."""
    import cv2

    coarse = rng.normal(0, 1, cells).astype(np.float32)
    field = cv2.resize(coarse, (shape[1], shape[0]), interpolation=cv2.INTER_CUBIC)
    return field + rng.normal(0, 0.05, shape).astype(np.float32)


def blob_logits(rng, n, hw, scale=14.0) -> np.ndarray:
    """(n, h, w) mask logits: soft discs (positive inside) with a little noise."""
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((n, h, w), np.float32)
    for i in range(n):
        cy, cx = rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w
        radius = rng.uniform(0.08, 0.18) * min(h, w)
        dist = np.hypot(yy - cy, xx - cx)
        out[i] = scale * (1.0 - dist / radius) + rng.normal(0, 0.3, (h, w))
    return out


def semantic_logits(rng, num_labels, hw, present=8) -> np.ndarray:
    """(1, C, h, w): a few classes own smooth regions, the rest stay low."""
    logits = rng.normal(-4.0, 0.5, (num_labels, *hw)).astype(np.float32)
    for c in rng.choice(num_labels, present, replace=False):
        logits[c] = 3.0 * smooth_field(rng, hw, cells=(4, 5))
    return logits[None]


def query_outputs(rng, num_queries, num_labels, mask_hw, objects=8, object_labels=None, shuffle=True):
    """MaskFormer-style (class_queries_logits (1, Q, C+1), masks_queries_logits (1, Q, h, w)).

    The objects are the first queries (in object_labels order) unless shuffle.
    """
    cls = rng.normal(0, 1, (num_queries, num_labels + 1)).astype(np.float32)
    cls[:, -1] += 9.0  # most queries: "no object"
    labels = object_labels if object_labels is not None else rng.choice(num_labels, objects, replace=False)
    for q, label in enumerate(labels):
        cls[q, -1] = 0.0
        cls[q, label] = 12.0
    masks = rng.normal(-6, 2, (num_queries, *mask_hw)).astype(np.float32)
    masks[: len(labels)] = blob_logits(rng, len(labels), mask_hw)
    order = rng.permutation(num_queries) if shuffle else np.arange(num_queries)
    return cls[order][None], masks[order][None]


def pearson(a, b) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(np.corrcoef(a, b)[0, 1])


def max_rel_diff(a, b) -> float:
    """Largest difference relative to the reference's range."""
    return float(np.max(np.abs(a - b)) / np.ptp(b))


def iou(a, b) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def assert_segments_match(ours, reference, min_iou=0.95):
    """reference: list of (label_id, score, mask). One-to-one, same class, IoU >= min_iou."""
    assert len(ours) == len(reference) > 1
    unused = list(range(len(ours)))
    for label, score, mask in reference:
        best = max(unused, key=lambda i: iou(ours[i].mask, mask))
        assert iou(ours[best].mask, mask) >= min_iou
        assert ours[best].label_id == label
        assert ours[best].score == pytest.approx(score, abs=1e-4)
        unused.remove(best)


def id2label(n):
    return {str(i): f"class_{i}" for i in range(n)}  # as in config.json


# --------------------------------------------------------------------------------------------
# import hygiene


def test_postprocess_modules_do_not_import_torch_transformers_or_pil():
    code = textwrap.dedent(
        """
        import sys
        import livevision.tasks.classification.head, livevision.tasks.depth.head, livevision.tasks.segmentation.head
        import livevision.tasks.segmentation.mask_classification, livevision.tasks.segmentation.upsample
        bad = [m for m in ("torch", "transformers", "PIL") if m in sys.modules]
        assert not bad, bad
        """
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --------------------------------------------------------------------------------------------
# depth


@pytest.mark.parametrize(
    ("config", "kind"),
    [
        ({"model_type": "dpt"}, DepthKind.RELATIVE),
        ({"model_type": "depth_anything"}, DepthKind.RELATIVE),
        ({"model_type": "depth_anything", "depth_estimation_type": "metric", "max_depth": 20}, DepthKind.METRIC),
        ({"model_type": "zoedepth"}, DepthKind.METRIC),
        ({"model_type": "glpn", "max_depth": 10}, DepthKind.METRIC),
    ],
)
def test_depth_kind(config, kind):
    assert depth_kind(config) is kind


def test_depth_kind_unknown_model_type():
    with pytest.raises(UnsupportedModelError, match="vit"):
        depth_kind({"model_type": "vit"})


@pytest.mark.parametrize("frame_hw", [LANDSCAPE, PORTRAIT])
def test_depth_dpt_matches_hf(frame_hw):
    from transformers import DPTImageProcessor
    from transformers.modeling_outputs import DepthEstimatorOutput

    rng = np.random.default_rng(1)
    input_hw = (364, 644) if frame_hw == LANDSCAPE else (644, 364)  # Depth Anything: multiples of 14
    raw = (5.0 + 2.0 * smooth_field(rng, input_hw))[None]
    ours = postprocess_depth(raw, prepared(frame_hw, input_hw), model_type="depth_anything", kind=DepthKind.RELATIVE)
    ref = DPTImageProcessor().post_process_depth_estimation(
        DepthEstimatorOutput(predicted_depth=torch.from_numpy(raw)), target_sizes=[frame_hw]
    )[0]["predicted_depth"].numpy()

    assert ours.depth.shape == frame_hw and ours.depth.dtype == np.float32 and ours.kind is DepthKind.RELATIVE
    assert pearson(ours.depth, ref) >= 0.999
    assert max_rel_diff(ours.depth, ref) < 1e-5


@pytest.mark.parametrize("frame_hw", [LANDSCAPE, PORTRAIT])
@pytest.mark.parametrize("padding_units", ["frame", "input"])
def test_depth_zoedepth_matches_hf_and_pipeline(frame_hw, padding_units):
    from transformers import ZoeDepthImageProcessor
    from transformers.models.zoedepth.modeling_zoedepth import ZoeDepthDepthEstimatorOutput

    rng = np.random.default_rng(2)
    pad_h, pad_w = zoedepth_padding(frame_hw)
    input_hw = (384, 576) if frame_hw == LANDSCAPE else (672, 384)
    if padding_units == "input":  # how preprocessing/preprocess.py reports it: rounded, in model-input pixels
        pad_h = round(pad_h * input_hw[0] / (frame_hw[0] + 2 * pad_h))
        pad_w = round(pad_w * input_hw[1] / (frame_hw[1] + 2 * pad_w))
    raw = (3.0 + smooth_field(rng, input_hw))[None]
    prep = prepared(frame_hw, input_hw, padding_tblr=(pad_h, pad_h, pad_w, pad_w))
    ours = postprocess_depth(raw, prep, model_type="zoedepth", kind=DepthKind.METRIC)

    processor = ZoeDepthImageProcessor()
    outputs = ZoeDepthDepthEstimatorOutput(predicted_depth=torch.from_numpy(raw))
    ref = processor.post_process_depth_estimation(outputs, source_sizes=[frame_hw], target_sizes=[frame_hw])
    ref = ref[0]["predicted_depth"].numpy()
    # The pipeline passes only source_sizes: the crop already lands at frame size.
    pipe = processor.post_process_depth_estimation(outputs, source_sizes=[frame_hw])[0]["predicted_depth"].numpy()

    assert ours.depth.shape == frame_hw == ref.shape == pipe.shape
    assert pearson(ours.depth, ref) >= 0.999
    assert max_rel_diff(ours.depth, ref) < 1e-5
    np.testing.assert_allclose(ref, pipe, rtol=1e-5)


def test_depth_zoedepth_padding_convention_matches_hf_preprocessing():
    from transformers import ZoeDepthImageProcessor

    for frame_hw in (LANDSCAPE, PORTRAIT, (480, 640), (37, 1001)):
        image = np.zeros((3, *frame_hw), np.float32)
        padded = ZoeDepthImageProcessor().pad_image(image, input_data_format="channels_first")
        pad_h, pad_w = zoedepth_padding(frame_hw)
        assert padded.shape[1:] == (frame_hw[0] + 2 * pad_h, frame_hw[1] + 2 * pad_w)


def test_depth_crops_input_padding_for_relative_models():
    rng = np.random.default_rng(3)
    content = 4.0 + smooth_field(rng, (360, 640))
    padded = np.pad(content, ((12, 12), (0, 0)), mode="constant", constant_values=100.0)  # symmetric rows
    prep = prepared(LANDSCAPE, padded.shape, resized_hw=content.shape, padding_tblr=(12, 12, 0, 0))
    ours = postprocess_depth(padded[None], prep, model_type="dpt", kind=DepthKind.RELATIVE)
    unpadded = postprocess_depth(content[None], prepared(LANDSCAPE, content.shape), model_type="dpt", kind="relative")
    assert ours.depth.max() < 50  # no padding value leaked in
    assert pearson(ours.depth, unpadded.depth) >= 0.999


def test_depth_center_crop_replicates_the_edge():
    """Negative padding (a center crop cut 20 columns per side): the frame extends beyond the map."""
    depth = np.tile(np.linspace(1.0, 2.0, 200, dtype=np.float32), (100, 1))
    prep = prepared((100, 240), (100, 200), resized_hw=(100, 240), padding_tblr=(0, 0, -20, -20))
    out = postprocess_depth(depth[None], prep, model_type="dpt", kind=DepthKind.RELATIVE).depth
    np.testing.assert_allclose(out[:, :20], 1.0, atol=1e-6)
    np.testing.assert_allclose(out[:, -20:], 2.0, atol=1e-6)
    np.testing.assert_allclose(out[:, 20:-20], depth, atol=1e-4)


@pytest.mark.parametrize("model_type", ["dpt", "zoedepth"])
def test_flat_depth_map_gives_finite_flat_output(model_type):
    raw = np.full((1, 384, 512), 2.5, np.float32)
    padding = (56, 56, 75, 75) if model_type == "zoedepth" else (0, 0, 0, 0)
    result = postprocess_depth(
        raw, prepared(LANDSCAPE, (384, 512), padding_tblr=padding), model_type=model_type, kind=DepthKind.METRIC
    )
    assert np.isfinite(result.depth).all()
    np.testing.assert_allclose(result.depth, 2.5, rtol=1e-6)


# --------------------------------------------------------------------------------------------
# classification


def pipeline_postprocess(logits, *, problem_type=None, top_k=5):
    """The real ImageClassificationPipeline.postprocess, on a stand-in model config."""
    from transformers.pipelines.image_classification import ImageClassificationPipeline

    num_labels = logits.shape[-1]
    pipe = object.__new__(ImageClassificationPipeline)
    pipe.model = SimpleNamespace(
        config=SimpleNamespace(
            problem_type=problem_type, num_labels=num_labels, id2label={i: f"class_{i}" for i in range(num_labels)}
        )
    )
    pipe.framework = "pt"
    return pipe.postprocess({"logits": torch.from_numpy(logits)}, top_k=top_k)


@pytest.mark.parametrize(
    ("num_labels", "problem_type"),
    [(1000, None), (1000, "single_label_classification"), (20, "multi_label_classification"), (1, None)],
)
def test_classification_matches_pipeline(num_labels, problem_type):
    rng = np.random.default_rng(num_labels)
    logits = rng.normal(0, 3, (1, num_labels)).astype(np.float32)
    if num_labels > 10:
        logits[0, 7] = logits[0, 3] = logits.max() + 1  # a tie at the top: lower id first, like the pipeline
    ours = postprocess_classification(logits, id2label=id2label(num_labels), top_k=5, problem_type=problem_type)
    ref = pipeline_postprocess(logits, problem_type=problem_type)
    assert list(ours.labels) == [r["label"] for r in ref]
    np.testing.assert_allclose(ours.scores, [r["score"] for r in ref], atol=1e-3)
    assert ours.class_ids == tuple(int(label.split("_")[1]) for label in ours.labels)


def test_classification_sigmoid_scores_are_not_normalised():
    logits = np.array([[4.0, 3.0, -1.0]], np.float32)
    result = postprocess_classification(logits, id2label={}, problem_type="multi_label_classification")
    assert sum(result.scores) > 1.0 and result.labels[0] == "LABEL_0"


# --------------------------------------------------------------------------------------------
# semantic segmentation


@pytest.mark.parametrize(("frame_hw", "logits_hw"), [(LANDSCAPE, (128, 128)), (PORTRAIT, (160, 96))])
def test_segformer_semantic_matches_hf(frame_hw, logits_hw):
    from transformers import SegformerImageProcessor

    rng = np.random.default_rng(4)
    logits = semantic_logits(rng, 150, logits_hw)
    ours = postprocess_semantic(logits, prepared(frame_hw, (512, 512)), id2label=id2label(150))
    ref = SegformerImageProcessor().post_process_semantic_segmentation(
        SimpleNamespace(logits=torch.from_numpy(logits)), target_sizes=[frame_hw]
    )[0].numpy()
    assert ours.kind == "semantic" and ours.label_map.shape == frame_hw and ours.label_map.dtype == np.int32
    assert len(np.unique(ref)) >= 4
    assert (ours.label_map == ref).mean() >= 0.99


def test_semantic_crop_padding_drops_the_padded_area():
    logits = np.zeros((1, 3, 64, 64), np.float32)
    logits[0, 1] = 1.0  # image content: class 1
    logits[0, 2, 48:] = 5.0  # the bottom quarter is padding: class 2
    prep = prepared((480, 640), (256, 256), resized_hw=(192, 256), padding_tblr=(0, 64, 0, 0))
    cropped = postprocess_semantic(logits, prep, id2label={}, crop_padding=True)
    stretched = postprocess_semantic(logits, prep, id2label={})
    assert (cropped.label_map == 1).all()
    assert (stretched.label_map == 2).any()  # what HF's post-processing does with a padded input


def test_semantic_center_crop_maps_the_frame_beyond_the_view():
    logits = np.zeros((1, 3, 32, 32), np.float32)
    logits[0, 0, :, :16] = 1.0
    logits[0, 1, :, 16:] = 1.0
    # frame 64x96 resized to 64x96, center-cropped to 64x64: 16 columns cut per side
    prep = prepared((64, 96), (64, 64), resized_hw=(64, 96), padding_tblr=(0, 0, -16, -16))
    result = postprocess_semantic(logits, prep, id2label={}, crop_padding=True)
    assert (result.label_map[:, :48] == 0).all() and (result.label_map[:, 48:] == 1).all()
    logits[0, :2] = 0.0
    logits[0, 0, :, :8] = 1.0  # class 0 in the view's left quarter: frame columns 16..32 of the crop
    logits[0, 1, :, 8:] = 1.0
    cropped = postprocess_semantic(logits, prep, id2label={}, crop_padding=True)
    stretched = postprocess_semantic(logits, prep, id2label={})  # HF (MobileViT): the view over the whole frame
    assert (cropped.label_map[:, 28] == 0).all() and (stretched.label_map[:, 28] == 1).all()


@pytest.mark.parametrize("model_type", ["maskformer", "mask2former"])
def test_mask_classification_semantic_matches_hf(model_type):
    from transformers import Mask2FormerImageProcessor, MaskFormerImageProcessor

    rng = np.random.default_rng(5)
    cls, masks = query_outputs(rng, 100, 150, (96, 96), objects=10)
    kw = dict(id2label=id2label(150), model_type=model_type, mode="semantic")
    ours = postprocess_mask_classification(cls, masks, prepared(LANDSCAPE, (384, 384)), **kw)
    processor = MaskFormerImageProcessor() if model_type == "maskformer" else Mask2FormerImageProcessor()
    outputs = SimpleNamespace(class_queries_logits=torch.from_numpy(cls), masks_queries_logits=torch.from_numpy(masks))
    ref = processor.post_process_semantic_segmentation(outputs, target_sizes=[LANDSCAPE])[0].numpy()
    assert ours.label_map.shape == LANDSCAPE
    assert len(np.unique(ref)) >= 4
    assert (ours.label_map == ref).mean() >= 0.99


# --------------------------------------------------------------------------------------------
# instance and panoptic segmentation


def hf_processor(model_type):
    from transformers import Mask2FormerImageProcessor, MaskFormerImageProcessor

    return MaskFormerImageProcessor() if model_type == "maskformer" else Mask2FormerImageProcessor()


def hf_outputs(cls, masks):
    return SimpleNamespace(class_queries_logits=torch.from_numpy(cls), masks_queries_logits=torch.from_numpy(masks))


@pytest.mark.parametrize(("model_type", "mask_hw"), [("maskformer", (96, 168)), ("mask2former", (96, 96))])
@pytest.mark.parametrize("frame_hw", [LANDSCAPE, PORTRAIT])
@pytest.mark.parametrize("classes", [150, 12])  # torch.topk's partial-sort path (>= 64 classes), its nth_element one
def test_instance_matches_hf(model_type, mask_hw, frame_hw, classes):
    """HF's instances exactly: its order (torch.topk(sorted=False)'s), its painting (a later instance takes
    the pixels it overlaps, so one may keep none), masks cut at logit 0 whatever mask_threshold says."""
    rng = np.random.default_rng(6)
    cls, masks = query_outputs(rng, 100, classes, mask_hw, objects=8)
    thresholds = dict(threshold=0.9, mask_threshold=0.8, overlap_mask_area_threshold=0.5)
    ours = postprocess_mask_classification(
        cls, masks, prepared(frame_hw, (384, 672)), id2label=id2label(classes), model_type=model_type,
        mode="instance", **thresholds,
    )
    processor = hf_processor(model_type)
    binary = processor.post_process_instance_segmentation(
        hf_outputs(cls, masks), target_sizes=[frame_hw], return_binary_maps=True, **thresholds)[0]
    painted = processor.post_process_instance_segmentation(
        hf_outputs(cls, masks), target_sizes=[frame_hw], **thresholds)[0]
    infos = binary["segments_info"]
    assert len(infos) >= 6
    assert [s.label_id for s in ours.segments] == [info["label_id"] for info in infos]
    assert [s.score for s in ours.segments] == pytest.approx([info["score"] for info in infos], abs=1e-4)
    assert [s.id for s in ours.segments] == [info["id"] for info in infos]
    for segment, hf_mask in zip(ours.segments, binary["segmentation"]):
        assert iou(segment.mask, hf_mask.numpy() == 1) >= 0.99
    hf_map = painted["segmentation"].numpy().astype(np.int32)
    assert (ours.segment_map == hf_map).mean() >= 0.999
    scores = [s.score for s in ours.segments]
    assert scores != sorted(scores, reverse=True)  # HF's order is not the score order here: the test tells them apart


@pytest.mark.parametrize(("model_type", "mask_hw"), [("maskformer", (96, 168)), ("mask2former", (96, 96))])
@pytest.mark.parametrize("fuse", [False, True])
def test_panoptic_matches_hf(model_type, mask_hw, fuse):
    rng = np.random.default_rng(7)
    # Classes 3 and 42 twice, fused when asked. Their second queries come last: HF hands out a
    # duplicate id to a new segment that follows a fused one (see test_panoptic_fused_ids_stay_unique).
    labels = [3, 17, 42, 99, 120, 5, 8, 61, 3, 42]
    cls, masks = query_outputs(rng, 100, 150, mask_hw, object_labels=labels, shuffle=False)
    to_fuse = {3, 42} if fuse else None
    ours = postprocess_mask_classification(
        cls, masks, prepared(LANDSCAPE, (384, 672)), id2label=id2label(150), model_type=model_type,
        label_ids_to_fuse=to_fuse,
    )  # pipeline defaults: panoptic, threshold 0.9, overlap 0.5
    ref = hf_processor(model_type).post_process_panoptic_segmentation(
        hf_outputs(cls, masks), threshold=0.9, mask_threshold=0.5, overlap_mask_area_threshold=0.5,
        label_ids_to_fuse=to_fuse, target_sizes=[LANDSCAPE],
    )[0]
    segmentation = ref["segmentation"].numpy()
    first_info = {}
    for info in ref["segments_info"]:
        first_info.setdefault(info["id"], info)
    reference = [(info["label_id"], info["score"], segmentation == seg_id) for seg_id, info in first_info.items()]

    assert ours.kind == "panoptic"
    assert_segments_match(ours.segments, reference)
    assert sorted(s.id for s in ours.segments) == sorted(first_info)
    expected_map = np.where(segmentation > 0, segmentation, -1)
    assert (ours.segment_map == expected_map).mean() >= 0.99
    assert len(ours.segments) >= 6


def test_panoptic_fused_ids_stay_unique():
    """HF's compute_segments sets its id counter back to a fused segment's id, so the next new segment
    reuses an id already given (here class 99 would get class 17's id 2). We keep counting."""
    cls = np.zeros((1, 6, 11), np.float32)
    cls[0, :, -1] = 9.0
    masks = np.full((1, 6, 40, 40), -20.0, np.float32)
    for q, (label, (y, x)) in enumerate(zip([3, 17, 3, 99], [(0, 0), (0, 20), (20, 0), (20, 20)])):
        cls[0, q, -1], cls[0, q, label % 10] = 0.0, 12.0
        masks[0, q, y : y + 20, x : x + 20] = 20.0
    result = postprocess_mask_classification(
        cls, masks, prepared((80, 80), (160, 160)), id2label={}, model_type="maskformer", label_ids_to_fuse={3}
    )
    assert [(s.id, s.label_id, s.area) for s in result.segments] == [(1, 3, 3200), (2, 7, 1600), (3, 9, 1600)]
    assert set(np.unique(result.segment_map)) == {1, 2, 3}


def test_panoptic_nothing_above_threshold():
    rng = np.random.default_rng(8)
    cls, masks = query_outputs(rng, 20, 10, (32, 32), objects=0)
    result = postprocess_mask_classification(
        cls, masks, prepared((120, 160), (128, 128)), id2label={}, model_type="mask2former"
    )
    assert result.segments == () and (result.segment_map == -1).all() and (result.label_map == -1).all()


def test_pipeline_defaults():
    assert PIPELINE_DEFAULTS == {
        "mode": "panoptic",
        "threshold": 0.9,
        "mask_threshold": 0.5,
        "overlap_mask_area_threshold": 0.5,
        "label_ids_to_fuse": None,
    }


# --------------------------------------------------------------------------------------------
# bad inputs


def test_bad_shapes_raise_value_error_naming_the_parameter():
    prep = prepared(LANDSCAPE, (384, 384))
    with pytest.raises(ValueError, match="predicted_depth"):
        postprocess_depth(np.zeros((2, 3, 4, 5), np.float32), prep, model_type="dpt", kind=DepthKind.RELATIVE)
    with pytest.raises(ValueError, match="predicted_depth"):
        postprocess_depth(np.zeros((1, 8, 8), np.int64), prep, model_type="dpt", kind=DepthKind.RELATIVE)
    with pytest.raises(ValueError, match="logits"):
        postprocess_classification(np.zeros((2, 10), np.float32), id2label={})
    with pytest.raises(ValueError, match="top_k"):
        postprocess_classification(np.zeros((1, 10), np.float32), id2label={}, top_k=0)
    with pytest.raises(ValueError, match="logits"):
        postprocess_semantic(np.zeros((1, 10, 5), np.float32), prep, id2label={})
    cls, masks = np.zeros((1, 5, 4), np.float32), np.zeros((1, 5, 8, 8), np.float32)
    with pytest.raises(ValueError, match="class_queries_logits"):
        postprocess_mask_classification(cls[0], masks, prep, id2label={}, model_type="maskformer")
    with pytest.raises(ValueError, match="masks_queries_logits"):
        postprocess_mask_classification(cls, masks[:, :4], prep, id2label={}, model_type="maskformer")
    with pytest.raises(ValueError, match="mode"):
        postprocess_mask_classification(cls, masks, prep, id2label={}, model_type="maskformer", mode="stuff")
    with pytest.raises(ValueError, match="threshold"):
        postprocess_mask_classification(cls, masks, prep, id2label={}, model_type="maskformer", threshold=2)
    with pytest.raises(UnsupportedModelError):
        postprocess_mask_classification(cls, masks, prep, id2label={}, model_type="oneformer")
