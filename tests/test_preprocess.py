"""Parity of livevision's numpy/OpenCV preprocessing with Hugging Face's slow image processors.

Each case instantiates the HF class with the settings of a real checkpoint (written from memory of
its preprocessor_config.json; nothing is downloaded), runs it on synthetic frames given as RGB PIL
images, and compares with our Preprocessor on the same frames given as BGR numpy arrays.

Bounds: resize="exact" gives pixel_values bit-identical to HF's (both resize with Pillow); ZoeDepth,
which resizes with torch in float32, within 1e-5.
resize="fast" (cv2) has the same shapes and a mean absolute difference below 0.05 (about 3 uint8
levels after ImageNet normalization; measured values are printed with -s).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys

import numpy as np
import pytest

from livevision.errors import UnsupportedModelError
from livevision.preprocessing.align_corners import AlignCornersResizer
from livevision.preprocessing.preprocess import SUPPORTED_PROCESSORS, build_preprocessor, zoedepth_padding
from livevision.preprocessing.resample import Filter, pil_vertical_first, pil_weight_matrix, resize_fast, resize_pillow

PIL = pytest.importorskip("PIL")
transformers = pytest.importorskip("transformers")
from PIL import Image  # noqa: E402

IMAGENET_DEFAULT = {"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}
HALF = {"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}

# (case id, HF class, constructor kwargs)
CASES = [
    ("depth-anything-small", "DPTImageProcessor", dict(
        size={"height": 518, "width": 518}, keep_aspect_ratio=True, ensure_multiple_of=14, resample=3,
        **IMAGENET_DEFAULT)),
    ("dpt-large", "DPTImageProcessor", dict(size={"height": 384, "width": 384}, resample=3, **HALF)),
    ("dpt-hybrid-midas", "DPTImageProcessor", dict(
        size={"height": 384, "width": 384}, keep_aspect_ratio=True, ensure_multiple_of=32, resample=3, **HALF)),
    ("dpt-dinov2-pad", "DPTImageProcessor", dict(
        size={"height": 480, "width": 640}, keep_aspect_ratio=True, do_pad=True, size_divisor=14, resample=3,
        **IMAGENET_DEFAULT)),
    ("zoedepth-nyu-kitti", "ZoeDepthImageProcessor", dict(
        size={"height": 384, "width": 512}, keep_aspect_ratio=True, ensure_multiple_of=32, resample=2,
        do_pad=True, **HALF)),
    ("glpn-kitti", "GLPNImageProcessor", dict(size_divisor=32, resample=2)),
    ("vit-base-patch16-224", "ViTImageProcessor", dict(size={"height": 224, "width": 224}, resample=2, **HALF)),
    ("resnet-50", "ConvNextImageProcessor", dict(
        size={"shortest_edge": 224}, crop_pct=0.875, resample=3, **IMAGENET_DEFAULT)),
    ("efficientnet-b0", "EfficientNetImageProcessor", dict(
        size={"height": 224, "width": 224}, resample=0, do_center_crop=False, rescale_offset=False,
        include_top=True, image_mean=[0.485, 0.456, 0.406], image_std=[0.47853944, 0.4732864, 0.47434163])),
    ("mobilenet_v2_1.0_224", "MobileNetV2ImageProcessor", dict(
        size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}, resample=2, **HALF)),
    ("mobilevit-small", "MobileViTImageProcessor", dict(
        size={"shortest_edge": 288}, crop_size={"height": 256, "width": 256}, resample=2,
        do_flip_channel_order=True)),
    ("dinov2-small-imagenet1k-1-layer", "BitImageProcessor", dict(
        size={"shortest_edge": 256}, crop_size={"height": 224, "width": 224}, resample=3, **IMAGENET_DEFAULT)),
    ("segformer-b0-ade-512", "SegformerImageProcessor", dict(
        size={"height": 512, "width": 512}, resample=2, do_reduce_labels=True, **IMAGENET_DEFAULT)),
    ("maskformer-swin-tiny-ade", "MaskFormerImageProcessor", dict(
        size={"shortest_edge": 512, "longest_edge": 2048}, size_divisor=32, resample=2, ignore_index=255,
        do_reduce_labels=True, **IMAGENET_DEFAULT)),
    ("mask2former-swin-tiny-coco-instance", "Mask2FormerImageProcessor", dict(
        size={"shortest_edge": 384, "longest_edge": 1333}, size_divisor=32, resample=2, ignore_index=255,
        **IMAGENET_DEFAULT)),
    ("deit-base-distilled-224", "DeiTImageProcessor", dict(
        size={"height": 256, "width": 256}, crop_size={"height": 224, "width": 224}, resample=3,
        **IMAGENET_DEFAULT)),
    ("beit-base-patch16-224", "BeitImageProcessor", dict(
        size={"height": 224, "width": 224}, do_center_crop=False, resample=2, **HALF)),
    ("levit-128S", "LevitImageProcessor", dict(size=224, crop_size=224, resample=3, **IMAGENET_DEFAULT)),
    ("poolformer_s12", "PoolFormerImageProcessor", dict(size=224, crop_pct=0.9, resample=3, **IMAGENET_DEFAULT)),
    ("pvt-tiny-224", "PvtImageProcessor", dict(size={"height": 224, "width": 224}, resample=2, **IMAGENET_DEFAULT)),
    ("clip-vit-base-patch32", "CLIPImageProcessor", dict(
        size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224}, resample=3, do_convert_rgb=True)),
    # object detection
    ("detr-resnet-50", "DetrImageProcessor", dict(
        size={"shortest_edge": 800, "longest_edge": 1333}, resample=2, **IMAGENET_DEFAULT)),
    ("conditional-detr-resnet-50", "ConditionalDetrImageProcessor", dict(
        size={"shortest_edge": 800, "longest_edge": 1333}, resample=2, **IMAGENET_DEFAULT)),
    ("deformable-detr", "DeformableDetrImageProcessor", dict(
        size={"shortest_edge": 800, "longest_edge": 1333}, resample=2, **IMAGENET_DEFAULT)),
    ("yolos-small", "YolosImageProcessor", dict(
        size={"shortest_edge": 800, "longest_edge": 1333}, resample=2, **IMAGENET_DEFAULT)),
    ("table-transformer-detection", "DetrImageProcessor", dict(size=800, max_size=800, **IMAGENET_DEFAULT)),
    ("rtdetr_r18vd", "RTDetrImageProcessor", dict(size={"height": 640, "width": 640}, resample=2)),
    # Not real checkpoints: settings that exercise paths the ones above do not.
    ("detr-max-height-width", "DetrImageProcessor", dict(size={"max_height": 300, "max_width": 400})),
    ("yolos-shrunk-rounding", "YolosImageProcessor", dict(size={"shortest_edge": 90, "longest_edge": 150})),
    ("detr-shrunk-int-size", "DetrImageProcessor", dict(size=100, do_pad=False)),
    ("maskformer-pad-size", "MaskFormerImageProcessor", dict(
        size={"shortest_edge": 256, "longest_edge": 512}, size_divisor=32, pad_size={"height": 512, "width": 544},
        **IMAGENET_DEFAULT)),
    ("crop-larger-than-image", "MobileNetV2ImageProcessor", dict(
        size={"shortest_edge": 200}, crop_size={"height": 256, "width": 256}, resample=3, **HALF)),
    ("zoedepth-bicubic-no-pad", "ZoeDepthImageProcessor", dict(resample=3, do_pad=False)),
    ("efficientnet-offset-crop-lanczos", "EfficientNetImageProcessor", dict(
        size={"height": 260, "width": 300}, resample=1, do_center_crop=True, crop_size={"height": 240, "width": 240},
        rescale_offset=True)),
    ("levit-height-width", "LevitImageProcessor", dict(size={"height": 250, "width": 300}, resample=2)),
    # PoolFormer's crop_pct: a square height/width size is a shortest-edge resize to int(200 / 0.875) ...
    ("poolformer-crop-pct-square", "PoolFormerImageProcessor", dict(
        size={"height": 200, "width": 200}, crop_pct=0.875)),
    # ... a non-square one a fixed 222x333 resize (then the 224x224 crop pads rows) ...
    ("poolformer-crop-pct-height-width", "PoolFormerImageProcessor", dict(
        size={"height": 200, "width": 300}, crop_pct=0.9, resample=2, **HALF)),
    # ... and crop_pct null (kept as None by HF, unlike a missing key: 0.9) a plain shortest-edge resize.
    ("poolformer-no-crop-pct", "PoolFormerImageProcessor", dict(
        size={"shortest_edge": 240}, crop_pct=None, crop_size={"height": 224, "width": 256})),
]
CASE_IDS = [case[0] for case in CASES]

# (height, width): landscape HD, VGA, portrait, and one smaller than every model input (upscaling).
FRAME_SIZES = [(720, 1280), (480, 640), (640, 360), (90, 120)]


def make_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A BGR uint8 frame: smooth gradients, hard-edged shapes and noise (deterministic)."""
    import cv2

    rng = np.random.default_rng(seed + height * 7 + width)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frame = np.stack(
        [255 * xx / max(width - 1, 1), 255 * yy / max(height - 1, 1), 127.5 + 127.5 * np.sin(xx / 17.0 + yy / 29.0)],
        axis=-1,
    )
    frame += rng.normal(0, 12, frame.shape)
    frame = np.clip(frame, 0, 255).astype(np.uint8)
    cv2.rectangle(frame, (width // 8, height // 6), (width // 3, height // 2), (255, 40, 0), -1)
    cv2.circle(frame, (2 * width // 3, height // 2), max(2, min(height, width) // 5), (10, 220, 250), -1)
    cv2.line(frame, (0, height - 1), (width - 1, 0), (0, 0, 0), max(1, width // 100))
    return frame


@functools.lru_cache(maxsize=None)
def frame_for(size: tuple[int, int]) -> np.ndarray:
    frame = make_frame(*size)
    frame.setflags(write=False)
    return frame


def hf_processor(class_name: str, kwargs: dict):
    return getattr(transformers, class_name)(**kwargs)


@functools.lru_cache(maxsize=None)
def reference(case_id: str, size: tuple[int, int]) -> np.ndarray:
    _, class_name, kwargs = CASES[CASE_IDS.index(case_id)]
    rgb = np.ascontiguousarray(frame_for(size)[:, :, ::-1])
    out = hf_processor(class_name, kwargs)(images=Image.fromarray(rgb), return_tensors="np")
    return np.asarray(out["pixel_values"])


def config_for(case_id: str) -> dict:
    """The case's preprocessor_config.json content, as save_pretrained writes it."""
    _, class_name, kwargs = CASES[CASE_IDS.index(case_id)]
    return json.loads(hf_processor(class_name, kwargs).to_json_string())


@functools.lru_cache(maxsize=None)
def ours(case_id: str, resize: str):
    return build_preprocessor(config_for(case_id), resize=resize)


@pytest.mark.parametrize("size", FRAME_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_exact_matches_hugging_face(case_id: str, size: tuple[int, int]) -> None:
    expected = reference(case_id, size)
    prepared = ours(case_id, "exact")(frame_for(size))
    got = prepared.pixel_values
    assert got.shape == expected.shape
    assert got.dtype == np.float32 and got.flags.c_contiguous
    assert prepared.original_hw == size
    top, bottom, left, right = prepared.padding_tblr
    assert top + prepared.resized_hw[0] + bottom == got.shape[2]
    assert left + prepared.resized_hw[1] + right == got.shape[3]
    if "zoedepth" in case_id:  # torch float32 interpolation, summed in another order
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    else:
        np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("size", FRAME_SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("case_id", CASE_IDS)
def test_fast_is_close_to_hugging_face(case_id: str, size: tuple[int, int]) -> None:
    expected = reference(case_id, size)
    got = ours(case_id, "fast")(frame_for(size)).pixel_values
    assert got.shape == expected.shape
    assert got.dtype == np.float32 and got.flags.c_contiguous
    diff = np.abs(got - expected)
    print(f"fast {case_id} {size}: mean {diff.mean():.4f} max {diff.max():.3f}")
    assert diff.mean() < 0.05


# --- geometry --------------------------------------------------------------------------------------


def _prepare(case_id: str, size: tuple[int, int], resize: str = "exact"):
    return ours(case_id, resize)(frame_for(size))


@pytest.mark.parametrize("resize", ["exact", "fast"])
def test_geometry_values(resize: str) -> None:
    p = _prepare("depth-anything-small", (720, 1280), resize)
    assert (p.original_hw, p.resized_hw, p.padding_tblr) == ((720, 1280), (518, 924), (0, 0, 0, 0))
    assert p.pixel_values.shape == (1, 3, 518, 924)
    # ResNet-50: shortest edge to 256 (455 wide), then a 224 center crop: negative padding.
    p = _prepare("resnet-50", (720, 1280), resize)
    assert (p.resized_hw, p.padding_tblr) == ((256, 455), (-16, -16, -115, -116))
    # Portrait frame: the crop cuts rows.
    p = _prepare("resnet-50", (640, 360), resize)
    assert (p.resized_hw, p.padding_tblr) == ((455, 256), (-115, -116, -16, -16))
    # LeViT: shortest edge to int(256 / 224 * 224) = 256, then the 224 crop, as ResNet-50.
    p = _prepare("levit-128S", (720, 1280), resize)
    assert (p.resized_hw, p.padding_tblr) == ((256, 455), (-16, -16, -115, -116))
    # PoolFormer: shortest edge to int(224 / 0.9) = 248 (440 wide), then the 224 crop.
    p = _prepare("poolformer_s12", (720, 1280), resize)
    assert (p.resized_hw, p.padding_tblr) == ((248, 440), (-12, -12, -108, -108))
    p = _prepare("poolformer-crop-pct-height-width", (720, 1280), resize)
    assert (p.resized_hw, p.padding_tblr) == ((222, 333), (1, 1, -54, -55))
    p = _prepare("poolformer-no-crop-pct", (720, 1280), resize)
    assert (p.resized_hw, p.padding_tblr) == ((240, 426), (-8, -8, -85, -85))
    # A crop larger than the resized image pads: 200x355 resized, 256x256 crop.
    p = _prepare("crop-larger-than-image", (720, 1280), resize)
    assert (p.resized_hw, p.padding_tblr) == ((200, 355), (28, 28, -49, -50))
    # DPT do_pad: 480x853 (keep aspect, fit height) padded to multiples of 14, centred.
    p = _prepare("dpt-dinov2-pad", (720, 1280), resize)
    assert p.resized_hw == (480, 853)
    assert p.padding_tblr == (5, 5, 0, 1)  # 490 = 35 * 14, 854 = 61 * 14
    assert p.pixel_values.shape == (1, 3, 490, 854)
    assert np.all(p.pixel_values[..., :5, :] == 0) and np.all(p.pixel_values[..., -5:, :] == 0)
    assert np.all(p.pixel_values[..., -1] == 0) and not np.all(p.pixel_values[..., 0] == 0)
    # MaskFormer: size_divisor rounds the resize target up (512x910 -> 512x928): stretched, not padded ...
    p = _prepare("maskformer-swin-tiny-ade", (720, 1280), resize)
    assert (p.resized_hw, p.padding_tblr) == ((512, 928), (0, 0, 0, 0))
    p = _prepare("mask2former-swin-tiny-coco-instance", (480, 640), resize)
    assert (p.resized_hw, p.padding_tblr) == ((384, 512), (0, 0, 0, 0))
    # ... unless pad_size is set: zeros at the bottom and right.
    p = _prepare("maskformer-pad-size", (720, 1280), resize)
    assert (p.resized_hw, p.padding_tblr) == ((256, 480), (0, 256, 0, 64))  # 256x455 -> 256x480
    assert np.all(p.pixel_values[..., 256:, :] == 0) and np.all(p.pixel_values[..., :, 480:] == 0)


@pytest.mark.parametrize("resize", ["exact", "fast"])
def test_zoedepth_padding_convention(resize: str) -> None:
    height, width = 720, 1280
    pad_h, pad_w = zoedepth_padding((height, width))
    assert (pad_h, pad_w) == (int(np.sqrt(360) * 3), int(np.sqrt(640) * 3)) == (56, 75)
    p = _prepare("zoedepth-nyu-kitti", (height, width), resize)
    in_h, in_w = p.pixel_values.shape[2:]
    assert (in_h, in_w) == (384, 672)  # the padded 832x1430 frame, keep-aspect, multiples of 32
    top, left = round(pad_h * in_h / (height + 2 * pad_h)), round(pad_w * in_w / (width + 2 * pad_w))
    assert p.padding_tblr == (top, top, left, left) == (26, 26, 35, 35)
    assert p.resized_hw == (in_h - 2 * top, in_w - 2 * left)
    p = _prepare("zoedepth-bicubic-no-pad", (height, width), resize)
    assert p.padding_tblr == (0, 0, 0, 0) and p.resized_hw == p.pixel_values.shape[2:]


def test_mobilevit_output_is_bgr() -> None:
    p = _prepare("mobilevit-small", (480, 640))
    frame = frame_for((480, 640))
    # 640x480 -> 384x288 shortest edge, 256x256 center crop; no normalization: channel 0 is blue.
    blue = resize_pillow(frame, (288, 384), Filter.BILINEAR)[16:272, 64:320, 0]
    np.testing.assert_array_equal(p.pixel_values[0, 0], (blue.astype(np.float64) / 255).astype(np.float32))


# --- config handling -------------------------------------------------------------------------------


@pytest.mark.parametrize("class_name", SUPPORTED_PROCESSORS)
def test_missing_keys_take_the_hf_class_defaults(class_name: str) -> None:
    size = (90, 120)
    rgb = np.ascontiguousarray(frame_for(size)[:, :, ::-1])
    expected = hf_processor(class_name, {})(images=Image.fromarray(rgb), return_tensors="np")["pixel_values"]
    got = build_preprocessor({"image_processor_type": class_name})(frame_for(size)).pixel_values
    if class_name == "ZoeDepthImageProcessor":
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-5)
    else:
        np.testing.assert_array_equal(got, expected)


def test_legacy_and_fast_names_map_to_the_slow_class() -> None:
    frame = frame_for((90, 120))
    base = build_preprocessor({"image_processor_type": "ViTImageProcessor", "size": 160})(frame).pixel_values
    assert base.shape == (1, 3, 160, 160)  # an int size is square for ViT, as get_size_dict does
    legacy = [("feature_extractor_type", "ViTFeatureExtractor"), ("image_processor_type", "ViTImageProcessorFast")]
    for key, name in legacy:
        got = build_preprocessor({key: name, "size": 160})(frame).pixel_values
        np.testing.assert_array_equal(got, base)
    # Legacy MaskFormer configs: int size + max_size.
    legacy_config = {"size": 64, "max_size": 100}
    p = build_preprocessor({"image_processor_type": "MaskFormerImageProcessor", **legacy_config})(frame)
    assert p.resized_hw == (64, 96)  # 64x85 -> multiples of 32
    rgb = Image.fromarray(np.ascontiguousarray(frame[:, :, ::-1]))
    expected = hf_processor("MaskFormerImageProcessor", legacy_config)(images=rgb, return_tensors="np")["pixel_values"]
    np.testing.assert_array_equal(p.pixel_values, expected)


@pytest.mark.parametrize("config", [
    # facebook/levit-128S and sail/poolformer_s12 as saved by their (legacy) feature extractors: int sizes.
    {"feature_extractor_type": "LevitFeatureExtractor", "size": 224, "crop_size": 224, "do_center_crop": True,
     "resample": 3, **IMAGENET_DEFAULT},
    {"feature_extractor_type": "PoolFormerFeatureExtractor", "size": 224, "crop_pct": 0.9, "do_center_crop": True,
     "resample": 3, **IMAGENET_DEFAULT},
], ids=["levit-128S", "poolformer_s12"])
def test_legacy_checkpoint_configs(config: dict) -> None:
    frame = frame_for((480, 640))
    class_name = config["feature_extractor_type"].replace("FeatureExtractor", "ImageProcessor")
    kwargs = {k: v for k, v in config.items() if k != "feature_extractor_type"}
    rgb = Image.fromarray(np.ascontiguousarray(frame[:, :, ::-1]))
    expected = hf_processor(class_name, kwargs)(images=rgb, return_tensors="np")["pixel_values"]
    prepared = build_preprocessor(config)(frame)
    resized = {"LevitImageProcessor": (256, 341), "PoolFormerImageProcessor": (248, 330)}[class_name]
    assert prepared.resized_hw == resized
    np.testing.assert_array_equal(prepared.pixel_values, expected)


def test_unknown_processor_names_the_supported_ones() -> None:
    with pytest.raises(UnsupportedModelError) as info:
        build_preprocessor({"image_processor_type": "SamImageProcessor"})
    assert "SamImageProcessor" in str(info.value)
    for name in SUPPORTED_PROCESSORS:
        assert name in str(info.value)
    with pytest.raises(UnsupportedModelError, match="DPTImageProcessor"):
        build_preprocessor({"do_resize": True})


def test_invalid_arguments_raise_value_error_naming_them() -> None:
    config = {"image_processor_type": "ViTImageProcessor"}
    with pytest.raises(ValueError, match="resize"):
        build_preprocessor(config, resize="bilinear")
    with pytest.raises(ValueError, match="processor_config"):
        build_preprocessor([("image_processor_type", "ViTImageProcessor")])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="resample"):
        build_preprocessor({**config, "resample": 9})
    with pytest.raises(ValueError, match="crop_pct"):
        build_preprocessor({"image_processor_type": "PoolFormerImageProcessor", "crop_pct": 0})
    with pytest.raises(UnsupportedModelError, match="BILINEAR"):
        build_preprocessor({"image_processor_type": "ZoeDepthImageProcessor", "resample": 0})
    preprocess = build_preprocessor(config)
    frame = frame_for((90, 120))
    bad_frames = [
        frame.astype(np.float32),
        frame.astype(np.uint16),
        frame[:, :, 0],
        np.zeros((90, 120, 4), np.uint8),
        np.zeros((0, 120, 3), np.uint8),
        frame.tolist(),
    ]
    for bad in bad_frames:
        with pytest.raises(ValueError, match="frame"):
            preprocess(bad)  # type: ignore[arg-type]


def test_non_contiguous_frames_are_accepted() -> None:
    frame = frame_for((480, 640))
    preprocess = ours("vit-base-patch16-224", "exact")
    view = np.zeros((480, 1280, 3), np.uint8)
    view[:, ::2] = frame
    np.testing.assert_array_equal(preprocess(view[:, ::2]).pixel_values, reference("vit-base-patch16-224", (480, 640)))


@pytest.mark.timeout(60)
def test_one_preprocessor_serves_several_threads() -> None:
    import threading

    preprocess = build_preprocessor(config_for("depth-anything-small"))  # fresh: no cached sizes
    sizes = FRAME_SIZES * 3
    expected = {size: reference("depth-anything-small", size) for size in FRAME_SIZES}
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for size in sizes[offset:] + sizes[:offset]:
                np.testing.assert_array_equal(preprocess(frame_for(size)).pixel_values, expected[size])
        except BaseException as error:  # re-raised in the test thread below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=50)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, errors[0]


def test_runtime_import_does_not_load_torch_or_transformers() -> None:
    code = (
        "import sys, numpy as np\n"
        "from livevision.preprocessing.preprocess import build_preprocessor\n"
        "for name in ('DPTImageProcessor', 'ZoeDepthImageProcessor', 'ViTImageProcessor'):\n"
        "    for resize in ('exact', 'fast'):\n"
        "        build_preprocessor({'image_processor_type': name}, resize=resize)(np.zeros((48, 64, 3), np.uint8))\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- the resamplers on their own -------------------------------------------------------------------


def _pass(x: np.ndarray, size: int, flt: Filter) -> np.ndarray:
    """Axis 0 resampled to `size` with pil_weight_matrix in float64, rounded half up, clipped."""
    return np.clip(np.floor(np.tensordot(pil_weight_matrix(x.shape[0], size, flt), x, axes=1) + 0.5), 0, 255)


def _two_passes(image: np.ndarray, out_hw: tuple[int, int], flt: Filter) -> np.ndarray:
    """Pillow's resize from pil_weight_matrix and pil_vertical_first, as the device graphs compute it."""
    def vertical(x):
        return _pass(x, out_hw[0], flt)

    def horizontal(x):
        return np.swapaxes(_pass(np.swapaxes(x, 0, 1), out_hw[1], flt), 0, 1)

    x = image.astype(np.float64)
    if pil_vertical_first(image.shape[:2], out_hw):
        return horizontal(vertical(x)).astype(np.uint8)
    return vertical(horizontal(x)).astype(np.uint8)


def test_pillow_weights_and_pass_order_reproduce_pillow_for_every_filter() -> None:
    """The device pre-processing graphs resize with these weights: they must be Pillow's."""
    rng = np.random.default_rng(3)
    for trial in range(60):
        in_h, in_w, out_h, out_w = (int(v) for v in rng.integers(1, 160, 4))
        if trial % 5 == 0:
            out_h = in_h  # one axis unchanged: Pillow skips that pass
        flt = Filter(trial % 6)
        image = rng.integers(0, 256, (in_h, in_w, 3), dtype=np.uint8)
        expected = np.asarray(Image.fromarray(image).resize((out_w, out_h), int(flt)))
        message = f"{image.shape} -> {(out_h, out_w)} {flt!r}"
        np.testing.assert_array_equal(_two_passes(image, (out_h, out_w), flt), expected, err_msg=message)
        window = (int(rng.integers(0, out_h)), out_h, 0, int(rng.integers(1, out_w + 1)))
        np.testing.assert_array_equal(resize_pillow(image, (out_h, out_w), flt, window),
                                      expected[window[0]:, : window[3]], err_msg=message)


def test_fast_resizer_is_close_to_pillow() -> None:
    frame = frame_for((720, 1280))
    for out_hw, flt in [((224, 224), Filter.BILINEAR), ((518, 924), Filter.BICUBIC), ((200, 1500), Filter.BICUBIC)]:
        expected = np.asarray(Image.fromarray(frame).resize(out_hw[::-1], int(flt)), dtype=np.float64)
        got = resize_fast(frame, out_hw, flt)
        assert got.shape == expected.shape
        assert np.abs(got - expected).mean() < 4.0  # uint8 levels


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_align_corners_resizer_matches_torch(mode: str) -> None:
    torch = pytest.importorskip("torch")
    frame = frame_for((480, 640))
    lut = (np.arange(256) / 255).astype(np.float32)
    pad = zoedepth_padding((480, 640))
    padded = np.pad(lut[frame], ((pad[0], pad[0]), (pad[1], pad[1]), (0, 0)), mode="reflect")
    tensor = torch.from_numpy(np.ascontiguousarray(padded.transpose(2, 0, 1)))[None]
    expected = torch.nn.functional.interpolate(tensor, (384, 512), mode=mode, align_corners=True)[0].numpy()
    got = AlignCornersResizer((480, 640), pad, (384, 512), mode)(frame, lut)
    np.testing.assert_allclose(got.transpose(2, 0, 1), expected, rtol=0, atol=2e-6)
