"""--input-size: processor configs rewritten for another input resolution, and the exports run there.

Two kinds of configs: dicts shaped like the real checkpoints' preprocessor_config.json / config.json
(sizes and rounding as users get them), and the tiny models' own files, whose ONNX exports are run at
the new size and compared with PyTorch on the same tensor.
"""

from __future__ import annotations

import copy
import logging

import numpy as np
import onnxruntime as ort
import pytest

from livevision.errors import UsageError
from livevision.models.cache import CONFIG_FILE, PROCESSOR_FILE
from livevision.preprocessing.input_size import (
    input_size_note,
    input_size_rule,
    require_dynamic_input,
    supports_input_size,
    with_input_size,
)
from livevision.preprocessing.preprocess import build_preprocessor

IMAGENET = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
HALF = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}

# What the real checkpoints' preprocessor_config.json and config.json say (the keys that matter).
REAL = {
    "depth-anything/Depth-Anything-V2-Small-hf": (
        {"image_processor_type": "DPTImageProcessor", "do_resize": True, "size": {"height": 518, "width": 518},
         "keep_aspect_ratio": True, "ensure_multiple_of": 14, "resample": 3, "do_rescale": True,
         "rescale_factor": 1 / 255, "do_normalize": True, **IMAGENET, "do_pad": False, "size_divisor": None},
        {"model_type": "depth_anything", "patch_size": 14, "architectures": ["DepthAnythingForDepthEstimation"],
         "backbone_config": {"model_type": "dinov2", "patch_size": 14, "image_size": 518}},
    ),
    "Intel/dpt-large": (
        {"feature_extractor_type": "DPTFeatureExtractor", "do_resize": True, "size": {"height": 384, "width": 384},
         "keep_aspect_ratio": False, "ensure_multiple_of": 1, "resample": 3, "do_normalize": True, **HALF},
        {"model_type": "dpt", "patch_size": 16, "image_size": 384, "is_hybrid": False,
         "architectures": ["DPTForDepthEstimation"]},
    ),
    "Intel/dpt-hybrid-midas": (
        {"image_processor_type": "DPTImageProcessor", "size": {"height": 384, "width": 384},
         "keep_aspect_ratio": False, "ensure_multiple_of": 1, **HALF},
        {"model_type": "dpt", "patch_size": 16, "image_size": 384, "is_hybrid": True,
         "backbone_config": {"model_type": "bit"}, "architectures": ["DPTForDepthEstimation"]},
    ),
    "Intel/zoedepth-nyu-kitti": (
        {"image_processor_type": "ZoeDepthImageProcessor", "size": {"height": 384, "width": 512},
         "keep_aspect_ratio": True, "ensure_multiple_of": 32, "resample": 2, "do_pad": True, **HALF},
        {"model_type": "zoedepth", "architectures": ["ZoeDepthForDepthEstimation"],
         "backbone_config": {"model_type": "beit", "patch_size": 16, "image_size": 384}},
    ),
    "vinvino02/glpn-kitti": (
        {"feature_extractor_type": "GLPNFeatureExtractor", "do_resize": True, "size_divisor": 32, "resample": 2,
         "do_rescale": True},
        {"model_type": "glpn", "architectures": ["GLPNForDepthEstimation"]},
    ),
    "nvidia/segformer-b0-finetuned-ade-512-512": (
        {"image_processor_type": "SegformerImageProcessor", "size": {"height": 512, "width": 512}, "resample": 2,
         **IMAGENET, "do_reduce_labels": True},
        {"model_type": "segformer", "architectures": ["SegformerForSemanticSegmentation"]},
    ),
    "facebook/maskformer-swin-tiny-ade": (
        {"image_processor_type": "MaskFormerImageProcessor", "size": {"shortest_edge": 512, "longest_edge": 2048},
         "size_divisor": 32, "resample": 2, **IMAGENET},
        {"model_type": "maskformer", "architectures": ["MaskFormerForInstanceSegmentation"],
         "backbone_config": {"model_type": "swin", "window_size": 7, "image_size": 224}},
    ),
    "facebook/mask2former-swin-small-coco-instance": (
        {"image_processor_type": "Mask2FormerImageProcessor", "size": {"height": 384, "width": 384},
         "size_divisor": 32, "resample": 2, **IMAGENET},
        {"model_type": "mask2former", "architectures": ["Mask2FormerForUniversalSegmentation"],
         "backbone_config": {"model_type": "swin", "window_size": 7, "image_size": 224}},
    ),
    "google/vit-base-patch16-224": (
        {"image_processor_type": "ViTImageProcessor", "size": {"height": 224, "width": 224}, **HALF},
        {"model_type": "vit", "image_size": 224, "patch_size": 16, "architectures": ["ViTForImageClassification"]},
    ),
    "google/efficientnet-b0": (
        {"image_processor_type": "EfficientNetImageProcessor", "size": {"height": 224, "width": 224}},
        {"model_type": "efficientnet", "image_size": 224, "architectures": ["EfficientNetForImageClassification"]},
    ),
}

LANDSCAPE = np.zeros((720, 1280, 3), np.uint8)
PORTRAIT = np.zeros((1280, 720, 3), np.uint8)


def real(name):
    processor_config, config = REAL[name]
    return processor_config, {**config, "_name_or_path": name}


def input_hw(processor_config, frame=LANDSCAPE):
    return build_preprocessor(processor_config)(frame).pixel_values.shape[2:]


def assert_below_smallest(processor_config, config, size, smallest):
    """--input-size `size` is refused: the model's smallest is `smallest`."""
    with pytest.raises(UsageError, match=f"the smallest is {smallest}"):
        with_input_size(processor_config, config, size)


# --- real-checkpoint configs -------------------------------------------------------------------------


@pytest.mark.parametrize("size, expected", [(518, (518, 924)), (364, (364, 644)), (252, (252, 448)), (42, (42, 70))])
def test_depth_anything_short_side_aspect_and_multiple_of_14(size, expected):
    processor_config, config = real("depth-anything/Depth-Anything-V2-Small-hf")
    new = with_input_size(processor_config, config, size)
    hw = input_hw(new)
    assert hw == expected
    assert min(hw) == size and all(d % 14 == 0 for d in hw)
    assert abs(hw[1] / hw[0] - 1280 / 720) < 14 / hw[0]  # aspect kept to within one multiple
    assert input_hw(new, PORTRAIT) == expected[::-1]


def test_default_size_is_a_no_op_and_inputs_are_not_changed():
    processor_config, config = real("depth-anything/Depth-Anything-V2-Small-hf")
    before = copy.deepcopy((processor_config, config))
    new = with_input_size(processor_config, config, 518)
    assert (processor_config, config) == before
    assert new == processor_config and new is not processor_config
    assert input_hw(new) == input_hw(processor_config) == (518, 924)


def test_a_size_between_multiples_is_rounded_with_a_note(caplog):
    processor_config, config = real("depth-anything/Depth-Anything-V2-Small-hf")
    with caplog.at_level(logging.INFO, logger="livevision.preprocessing.input_size"):
        new = with_input_size(processor_config, config, 250)
    assert input_hw(new) == (252, 448)
    assert "using 252" in caplog.text and "multiples of 14" in caplog.text


@pytest.mark.parametrize("size", [20, 35, 1])
def test_too_small_is_a_usage_error(size):
    processor_config, config = real("depth-anything/Depth-Anything-V2-Small-hf")
    with pytest.raises(UsageError, match="too small .* the smallest is 42") as info:
        with_input_size(processor_config, config, size)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("size", [1050, 100_000])
def test_too_large_is_a_usage_error(size):
    # above twice the default a run only risks being killed for memory (attention grows with N^4)
    processor_config, config = real("depth-anything/Depth-Anything-V2-Small-hf")
    assert with_input_size(processor_config, config, 1036)["size"]["height"] == 1036  # 2x 518 is allowed
    with pytest.raises(UsageError, match="too large .* the largest is 1036 \\(2x its default 518\\)") as info:
        with_input_size(processor_config, config, size)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("size", [0, -252, 252.0, "252", True])
def test_size_must_be_a_positive_int(size):
    processor_config, config = real("depth-anything/Depth-Anything-V2-Small-hf")
    with pytest.raises(UsageError, match="positive whole number"):
        with_input_size(processor_config, config, size)


def test_vit_is_not_supported_and_says_why():
    processor_config, config = real("google/vit-base-patch16-224")
    with pytest.raises(UsageError) as info:
        with_input_size(processor_config, config, 160)
    assert str(info.value) == ("google/vit-base-patch16-224 has fixed 224x224 position embeddings; "
                               "--input-size is not supported for vit")
    assert not supports_input_size(processor_config, config)


def test_cnn_classifier_is_not_supported():
    processor_config, config = real("google/efficientnet-b0")
    with pytest.raises(UsageError, match="is a classifier"):
        with_input_size(processor_config, config, 160)


def test_dpt_hybrid_is_not_supported():
    processor_config, config = real("Intel/dpt-hybrid-midas")
    with pytest.raises(UsageError, match=r"dpt-hybrid-midas \(DPT-hybrid, MiDaS\) accepts only its 384x384"):
        with_input_size(processor_config, config, 256)


def test_dpt_large_is_square_in_multiples_of_32():
    processor_config, config = real("Intel/dpt-large")
    assert input_hw(with_input_size(processor_config, config, 256)) == (256, 256)
    with pytest.raises(UsageError, match="not possible for Intel/dpt-large: sizes are multiples of 32; use 288 or 320"):
        with_input_size(processor_config, config, 300)
    assert_below_smallest(processor_config, config, 32, smallest=64)


def test_zoedepth_scales_its_384x512_target():
    processor_config, config = real("Intel/zoedepth-nyu-kitti")
    new = with_input_size(processor_config, config, 256)
    assert new["size"] == {"height": 256, "width": 352}
    assert input_hw(processor_config) == (384, 672)  # the checkpoint's own size on a 1280x720 frame
    assert input_hw(new) == (256, 448)


def test_glpn_becomes_an_aspect_keeping_resize():
    processor_config, config = real("vinvino02/glpn-kitti")
    assert input_hw(processor_config) == (704, 1280)  # GLPN: the frame itself, rounded down to 32
    new = with_input_size(processor_config, config, 256)
    assert new["image_processor_type"] == "DPTImageProcessor" and "feature_extractor_type" not in new
    assert input_hw(new) == (256, 448)
    # Same values as GLPN's own processor: rescale only, no normalisation.
    flat = np.full((64, 64, 3), 255, np.uint8)
    assert build_preprocessor(new)(flat).pixel_values.max() == 1.0


def test_segformer_takes_any_size_from_32():
    processor_config, config = real("nvidia/segformer-b0-finetuned-ade-512-512")
    assert input_hw(with_input_size(processor_config, config, 250)) == (250, 250)
    assert_below_smallest(processor_config, config, 16, smallest=32)


def test_maskformer_shortest_edge():
    processor_config, config = real("facebook/maskformer-swin-tiny-ade")
    new = with_input_size(processor_config, config, 256)
    assert new["size"] == {"shortest_edge": 256, "longest_edge": 1024}
    assert input_hw(new) == (256, 480)  # long side rounded up to 32, as MaskFormer's size_divisor does
    assert_below_smallest(processor_config, config, 48, smallest=64)


def test_mask2former_fixed_size():
    processor_config, config = real("facebook/mask2former-swin-small-coco-instance")
    assert input_hw(with_input_size(processor_config, config, 320)) == (320, 320)


def test_notes():
    assert input_size_note(*real("depth-anything/Depth-Anything-V2-Small-hf")) == (
        "depth_anything: --input-size sets the short side, aspect kept (default 518; multiples of 14, at least 42)")
    assert "position embeddings" in input_size_note(*real("google/vit-base-patch16-224"))
    supported = {name for name in REAL if supports_input_size(*real(name))}
    assert supported == set(REAL) - {"Intel/dpt-hybrid-midas", "google/vit-base-patch16-224", "google/efficientnet-b0"}


def test_require_dynamic_input():
    require_dynamic_input(["batch_size", "num_channels", "height", "width"])
    with pytest.raises(UsageError, match="fixed shape"):
        require_dynamic_input([1, 3, 518, 518])


# --- tiny models: the exports at the new size ----------------------------------------------------------


def _frame(width=160, height=120):
    import torch
    from livevision.testing.tiny_models import reference_images

    (image,) = reference_images(1, torch.Generator().manual_seed(3), size=(width, height))
    return image, np.ascontiguousarray(np.asarray(image)[:, :, ::-1])  # PIL RGB, BGR frame


@pytest.mark.parametrize("name", ["vit", "resnet", "dpt_hybrid"])
def test_tiny_models_that_cannot(name, tiny_model):
    import json

    folder = tiny_model(name)
    processor_config = json.loads((folder / "preprocessor_config.json").read_text())
    config = json.loads((folder / "config.json").read_text())
    assert not supports_input_size(processor_config, config)


# (tiny model, new size, expected input (height, width) for a 160x120 frame, HF processor check)
PARITY = [
    ("depth_anything_v2", 42, (42, 56), True),  # default 56: lowered
    ("zoedepth", 64, (64, 96), True),  # default 96 x 128: lowered
    ("glpn", 64, (64, 96), False),  # default: the frame, 96 x 160
    ("segformer", 48, (48, 48), True),  # default 64: lowered
    ("dpt", 96, (96, 96), True),  # default 64, which is already the smallest
    ("maskformer", 64, (64, 96), True),  # default shortest edge 96: lowered
    ("mask2former", 64, (64, 64), True),  # default 96 x 96: lowered
]


@pytest.mark.parametrize("name, size, expected_hw, check_hf", PARITY, ids=[p[0] for p in PARITY])
def test_export_runs_at_the_new_size_like_pytorch(name, size, expected_hw, check_hf, exported, tiny_model):
    import torch
    from livevision.testing.tiny_models import auto_model_class
    from transformers import AutoImageProcessor

    entry = exported(name)
    processor_config, config = entry.read_json(PROCESSOR_FILE), entry.read_json(CONFIG_FILE)
    new = with_input_size(processor_config, config, size)
    image, frame = _frame()
    pixel_values = build_preprocessor(new)(frame).pixel_values
    assert pixel_values.shape[2:] == expected_hw
    if check_hf:  # our preprocessing at the new size is still HF's at that size
        hf = AutoImageProcessor.from_pretrained(tiny_model(name), size=new["size"], use_fast=False)
        np.testing.assert_allclose(pixel_values, hf(image, return_tensors="np")["pixel_values"], atol=1e-5)

    session = ort.InferenceSession(str(entry.onnx_path), providers=["CPUExecutionProvider"])
    require_dynamic_input(session.get_inputs()[0].shape, name)
    names = [o.name for o in session.get_outputs()]
    actual = session.run(names, {session.get_inputs()[0].name: pixel_values})
    model = auto_model_class(name).from_pretrained(tiny_model(name)).eval()
    with torch.no_grad():
        out = model(pixel_values=torch.from_numpy(pixel_values))
    for key, value in zip(names, actual):
        expected = getattr(out, key).numpy()
        assert value.shape == expected.shape, f"{name} {key}: ONNX {value.shape} != PyTorch {expected.shape}"
        pearson = float(np.corrcoef(value.ravel(), expected.ravel())[0, 1])
        assert pearson >= 0.999, f"{name} {key} at {expected_hw}: Pearson {pearson}"
        assert np.abs(value - expected).max() <= 1e-3 * max(1.0, float(np.abs(expected).max()))


def test_rule_of_a_tiny_swin_segmenter(exported):
    entry = exported("maskformer")
    rule = input_size_rule(entry.read_json(PROCESSOR_FILE), entry.read_json(CONFIG_FILE))
    assert (rule.kind, rule.default, rule.multiple, rule.minimum) == ("shortest_edge", 96, 32, 64)


def test_swin_with_shifted_windows_matches_pytorch_below_its_window(tmp_path, monkeypatch):
    # The tiny Swin has one block per stage, so no shifted windows. Two blocks per stage and window 4:
    # the export traces at 160 x 192 (every stage larger than the window); at 64 px the last stages are
    # 4x4 and 2x2, where PyTorch drops the shift / shrinks the window. The export must still match.
    torch = pytest.importorskip("torch")
    from livevision.testing import tiny_segmentation
    from livevision.testing.tiny_models import auto_model_class, build_tiny_model

    from livevision.models.export import export_model

    plain = tiny_segmentation._swin_backbone
    monkeypatch.setattr(tiny_segmentation, "_swin_backbone", lambda window_size=2: {**plain(4), "depths": [2, 2, 2, 2]})
    folder = build_tiny_model("mask2former", tmp_path / "mask2former-w4")
    entry = export_model(folder, "segmentation", cache_dir=tmp_path / "cache")
    new = with_input_size(entry.read_json(PROCESSOR_FILE), entry.read_json(CONFIG_FILE), 64)
    pixel_values = build_preprocessor(new)(_frame()[1]).pixel_values
    assert pixel_values.shape[2:] == (64, 64)
    session = ort.InferenceSession(str(entry.onnx_path), providers=["CPUExecutionProvider"])
    (actual,) = session.run(["masks_queries_logits"], {"pixel_values": pixel_values})
    with torch.no_grad():
        expected = auto_model_class("mask2former").from_pretrained(folder).eval()(
            pixel_values=torch.from_numpy(pixel_values)).masks_queries_logits.numpy()
    assert actual.shape == expected.shape
    assert float(np.corrcoef(actual.ravel(), expected.ravel())[0, 1]) >= 0.999
    assert np.abs(actual - expected).max() <= 1e-3 * max(1.0, float(np.abs(expected).max()))


def test_every_architecture_row_names_a_known_rule_or_is_a_classifier():
    from livevision.models.registry import ARCHITECTURES
    from livevision.preprocessing import input_size
    from livevision.types import Task

    heads = {Task.CLASSIFICATION: "ForImageClassification", Task.SEGMENTATION: "ForSemanticSegmentation",
             Task.DEPTH: "ForDepthEstimation", Task.DETECTION: "ForObjectDetection"}
    for (model_type, task), spec in ARCHITECTURES.items():
        assert spec.task is task, model_type
        if spec.input_size is None:
            assert task is Task.CLASSIFICATION or spec.fixed_size, model_type
            config = {"model_type": model_type, "image_size": 224, "architectures": [f"Model{heads[task]}"]}
            with pytest.raises(UsageError, match="fixed|classifier|sized"):
                input_size.input_size_rule({}, config)
        else:
            assert spec.input_size in input_size._RULES, model_type
