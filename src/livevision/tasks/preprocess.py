"""Per-frame preprocessing in numpy/OpenCV that reproduces Hugging Face's slow image processors.

``build_preprocessor(processor_config)`` reads the dict saved as ``preprocessor_config.json`` and
returns a ``Preprocessor``: call it on an (H, W, 3) uint8 BGR frame (OpenCV order) to get a
``PreparedInput`` whose ``pixel_values`` is what the HF processor (transformers 4.57, the Pillow
based "slow" classes) returns for the same frame given as an RGB PIL image.

Steps, in HF's order: resize -> center crop -> rescale -> normalize -> pad, RGB channels (BGR for
MobileViT's ``do_flip_channel_order``), channels first, float32, C-contiguous. Rescale and normalize
act on uint8 values, so they are one lookup table per channel built with HF's own float64 -> float32
arithmetic: bit-identical to HF whenever the resized uint8 image is.

``resize="exact"`` reproduces Pillow's resampling bit for bit (see ``resample.ExactResizer``), so
``pixel_values`` equal HF's exactly (ZoeDepth: within ~2e-6, see below), with the Pillow release our
tests run against (13.0; see ExactResizer about older releases).
``resize="fast"`` uses ``cv2.resize`` (INTER_AREA when shrinking): antialiased differently from
Pillow, so values differ by a few uint8 levels at edges and in fine texture.

Measured per frame, 1280x720 BGR frame -> pixel_values, best of 60, one BLAS thread, on the 2-core
CPU VM used for development (noisy; two BLAS threads were no faster). HF = the slow processor on
the same frame as a PIL image:

    ==========================================  ========  =======  =====
    model input (checkpoint settings)           exact ms  fast ms  HF ms
    ==========================================  ========  =======  =====
    224x224  ViT (bilinear)                        3.5      3.2     5.5
    518x924  Depth Anything (DPT, bicubic)        10.1      4.2    19.5
    512x512  SegFormer (bilinear)                  6.6      2.6     9.7
    224x224  ResNet-50 (shortest edge 256, crop)   2.2      2.0    10.1
    384x672  ZoeDepth (reflect pad, align)         6.6      2.0    12.4
    512x928  MaskFormer (bilinear)                 8.9      4.0    16.1
    ==========================================  ========  =======  =====

The resize alone (exact / cv2 / Pillow): ->224x224 bicubic 3.0 / 3.2 / 5.6 ms, ->518x924 bicubic
8.1 / 6.2 / 11.4 ms, ->512x512 bilinear 6.6 / 2.1 / 5.0 ms. So "exact" costs about what Pillow
costs; "fast" saves 0-6 ms per frame at the price of a mean difference of ~0.002-0.025 (up to ~1.0
at single pixels on hard edges) in normalized units. Timings are not asserted anywhere.

Geometry reported in ``PreparedInput`` (the invariant: ``pixel_values`` row ``i`` shows row
``i - top`` of the resized image, so ``H_in = top + resized_h + bottom`` and likewise for width):

- ``resized_hw``: the size the frame was resized to, before any crop or pad.
- ``padding_tblr``: rows/cols added around the resized image. Negative values mean rows/cols were
  cut off by a center crop (ConvNext/ResNet, MobileNet, MobileViT, BiT/DINOv2, DeiT, BEiT,
  EfficientNet with ``do_center_crop``). A crop larger than the resized image pads instead (with
  the value a black pixel normalizes to, as HF does).
- DPT ``do_pad``: zeros (after normalization) split around the image, extra row/col at the
  bottom/right. MaskFormer/Mask2Former: their ``size_divisor`` rounds the *resize target* up to a
  multiple (the image is stretched, not padded); a single image is never padded unless
  ``pad_size`` is set, in which case zeros go to the bottom/right. ``pixel_mask`` is not produced:
  Optimum's ONNX export takes ``pixel_values`` only, and it would be all ones.
- ZoeDepth pads the ORIGINAL frame (reflect, ``p_h = int(sqrt(H / 2) * 3)`` rows above and below,
  ``p_w = int(sqrt(W / 2) * 3)`` cols left and right) and then resizes the padded frame to the model
  size. ``padding_tblr`` gives that padding in model-input pixels, rounded:
  top = bottom = ``round(p_h * H_in / (H + 2 p_h))``, left = right = ``round(p_w * W_in / (W + 2 p_w))``,
  and ``resized_hw`` is what is left in between. Cropping a prediction by ``padding_tblr`` and resizing
  it to ``original_hw`` is therefore off by at most half a model-input pixel at the borders. For
  HF's exact removal (``post_process_depth_estimation``): resize the whole prediction to
  ``(H + 2 p_h, W + 2 p_w)`` and drop ``p_h`` rows / ``p_w`` cols per side; ``zoedepth_padding``
  returns ``(p_h, p_w)`` for a frame size. ZoeDepth's resize is torch's bilinear
  ``align_corners=True`` interpolation in float32 (not Pillow): "exact" matches it to ~1e-6.
"""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import cv2
import numpy as np

from ..errors import UnsupportedModelError
from ..types import PreparedInput
from .resample import (
    AlignCornersResizer,
    ExactResizer,
    Filter,
    parse_filter,
    resize_align_corners_fast,
    resize_fast,
)

__all__ = [
    "Preprocessor",
    "SUPPORTED_PROCESSORS",
    "build_preprocessor",
    "zoedepth_padding",
]

logger = logging.getLogger(__name__)

_IMAGENET_STANDARD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
_IMAGENET_DEFAULT = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_OPENAI_CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))

SizeRule = Callable[[int, int], "tuple[int, int]"]
_MAX_SIZES = 8  # frame sizes whose resize plans and buffers a Preprocessor keeps


# --- output-size rules, as in transformers' image processors -------------------------------------


def _shortest_edge_size(height: int, width: int, size: int, max_size: int | None = None) -> tuple[int, int]:
    """transformers.image_transforms.get_resize_output_image_size with default_to_square=False."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    if max_size is not None:
        if max_size <= size:
            raise ValueError(f"max_size = {max_size} must be greater than the shortest edge size = {size}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if width <= height else (new_short, new_long)


def _fit_size(
    height: int, width: int, target_hw: tuple[int, int], keep_aspect_ratio: bool, multiple: int
) -> tuple[int, int]:
    """DPT's and ZoeDepth's get_resize_output_image_size (both round half to even)."""
    scale_h, scale_w = target_hw[0] / height, target_hw[1] / width
    if keep_aspect_ratio:
        if abs(1 - scale_w) < abs(1 - scale_h):
            scale_h = scale_w
        else:
            scale_w = scale_h

    def constrain(value: float) -> int:
        return int(round(value / multiple) * multiple)

    return constrain(scale_h * height), constrain(scale_w * width)


def zoedepth_padding(original_hw: tuple[int, int]) -> tuple[int, int]:
    """ZoeDepth's reflect padding of a frame, (rows per side, cols per side): int(sqrt(n / 2) * 3)."""
    height, width = original_hw
    return int(np.sqrt(height / 2) * 3), int(np.sqrt(width / 2) * 3)


# --- reading the config ----------------------------------------------------------------------------


def _size_dict(value: Any, default: dict, *, square: bool, max_size: int | None = None, name: str = "size") -> dict:
    """transformers' get_size_dict: ints and (h, w) sequences become dicts."""
    if value is None:
        return dict(default)
    if isinstance(value, dict):
        return {k: int(v) for k, v in value.items() if v is not None}
    if isinstance(value, (int, float)):
        if square:
            return {"height": int(value), "width": int(value)}
        out = {"shortest_edge": int(value)}
        if max_size is not None:
            out["longest_edge"] = int(max_size)
        return out
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return {"height": int(value[0]), "width": int(value[1])}
    raise ValueError(f"processor_config {name!r} must be an int, (height, width) or a dict, got {value!r}")


def _hw(size: dict, name: str) -> tuple[int, int]:
    if "height" not in size or "width" not in size:
        raise ValueError(f"processor_config {name!r} must have 'height' and 'width', got {size}")
    return int(size["height"]), int(size["width"])


def _channel_values(value: Any, name: str) -> tuple[float, float, float]:
    if isinstance(value, (int, float)):
        return (float(value),) * 3
    values = tuple(float(v) for v in value)
    if len(values) != 3:
        raise ValueError(f"processor_config {name!r} must have 3 values (one per channel), got {value!r}")
    return values  # type: ignore[return-value]


class _Config:
    """Reads keys, treating a missing key or null like HF does: the class's default."""

    def __init__(self, raw: dict) -> None:
        self.raw = raw

    def get(self, key: str, default: Any) -> Any:
        value = self.raw.get(key)
        return default if value is None else value

    def flag(self, key: str, default: bool) -> bool:
        return bool(self.get(key, default))

    def mean_std(self, default: tuple) -> tuple[tuple[float, ...], tuple[float, ...]]:
        mean = _channel_values(self.get("image_mean", default[0]), "image_mean")
        std = _channel_values(self.get("image_std", default[1]), "image_std")
        return mean, std


# --- the recipe: what to do to every frame ------------------------------------------------------


class _ZoeSettings(NamedTuple):
    do_pad: bool
    mode: str  # torch interpolate mode: "bilinear" or "bicubic"
    rescale_lut: np.ndarray  # (256,) float32: uint8 value -> rescaled value (before the resize)
    mean: np.ndarray  # (3,) float32, RGB
    std: np.ndarray  # (3,) float32, RGB
    do_normalize: bool


@dataclass(frozen=True)
class _Recipe:
    processor_type: str
    size_rule: SizeRule | None  # (h, w) -> resized (h, w); None: no resize
    filter: Filter
    crop_hw: tuple[int, int] | None
    lut: np.ndarray  # (3, 256) float32 per RGB channel: uint8 value -> final value (rescale+normalize)
    flip_channels: bool  # MobileViT: output BGR
    pad: str | None  # None, "center_multiple" (DPT), "bottom_right" (MaskFormer pad_size)
    pad_value: Any = None  # size_divisor for DPT, (h, w) for MaskFormer
    zoe: _ZoeSettings | None = None  # ZoeDepth: pad, resize and normalize in float32


def _value_lut(ops: list[tuple[str, Any]]) -> np.ndarray:
    """Apply HF's elementwise ops to every uint8 value, with HF's dtypes; returns (3, 256) float32.

    ops: ("rescale", factor) -> float64 multiply then float32 (image_transforms.rescale);
    ("offset", 1) -> subtract (EfficientNet); ("normalize", (mean, std)) -> float32 (x - mean) / std.
    """
    x = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)  # HWC-like: (256, 3)
    for op, arg in ops:
        if op == "rescale":
            x = (x.astype(np.float64) * arg).astype(np.float32)
        elif op == "offset":
            x = x - arg
        elif op == "normalize":
            if not np.issubdtype(x.dtype, np.floating):
                x = x.astype(np.float32)
            mean = np.array(arg[0], dtype=x.dtype)
            std = np.array(arg[1], dtype=x.dtype)
            x = (x - mean) / std
        else:  # pragma: no cover - internal
            raise AssertionError(op)
    return np.ascontiguousarray(x.astype(np.float32).T)


def _standard_ops(cfg: _Config, mean_std_default: tuple) -> list[tuple[str, Any]]:
    ops: list[tuple[str, Any]] = []
    if cfg.flag("do_rescale", True):
        ops.append(("rescale", float(cfg.get("rescale_factor", 1 / 255))))
    if cfg.flag("do_normalize", True):
        ops.append(("normalize", cfg.mean_std(mean_std_default)))
    return ops


def _fixed_rule(hw: tuple[int, int]) -> SizeRule:
    return lambda h, w: hw


def _hw_or_shortest_rule(size: dict, name: str = "size") -> SizeRule:
    """MobileNet / MobileViT / BiT resize: {"shortest_edge"} or {"height", "width"}."""
    if "shortest_edge" in size:
        edge = int(size["shortest_edge"])
        return lambda h, w: _shortest_edge_size(h, w, edge)
    return _fixed_rule(_hw(size, name))


def _resize_or_none(cfg: _Config, rule: SizeRule) -> SizeRule | None:
    return rule if cfg.flag("do_resize", True) else None


def _crop_or_none(cfg: _Config, default_flag: bool, default_crop: dict) -> tuple[int, int] | None:
    if not cfg.flag("do_center_crop", default_flag):
        return None
    return _hw(_size_dict(cfg.get("crop_size", None), default_crop, square=True, name="crop_size"), "crop_size")


def _recipe_fixed(name: str, size_default: dict, filter_default: Filter, mean_std: tuple,
                  crop: tuple[bool, dict] | None = None) -> Callable[[_Config], _Recipe]:
    """ViT, DeiT, BEiT, SegFormer: resize to (height, width) [+ center crop]."""

    def make(cfg: _Config) -> _Recipe:
        size = _size_dict(cfg.get("size", None), size_default, square=True)
        crop_hw = _crop_or_none(cfg, *crop) if crop else None
        return _Recipe(
            processor_type=name,
            size_rule=_resize_or_none(cfg, _fixed_rule(_hw(size, "size"))),
            filter=parse_filter(cfg.get("resample", filter_default)),
            crop_hw=crop_hw,
            lut=_value_lut(_standard_ops(cfg, mean_std)),
            flip_channels=False,
            pad=None,
        )

    return make


def _recipe_shortest(name: str, size_default: dict, filter_default: Filter, mean_std: tuple,
                     crop_default: dict) -> Callable[[_Config], _Recipe]:
    """MobileNetV1/V2, BiT (DINOv2): shortest edge (or height/width) + center crop."""

    def make(cfg: _Config) -> _Recipe:
        size = _size_dict(cfg.get("size", None), size_default, square=False)
        return _Recipe(
            processor_type=name,
            size_rule=_resize_or_none(cfg, _hw_or_shortest_rule(size)),
            filter=parse_filter(cfg.get("resample", filter_default)),
            crop_hw=_crop_or_none(cfg, True, crop_default),
            lut=_value_lut(_standard_ops(cfg, mean_std)),
            flip_channels=False,
            pad=None,
        )

    return make


def _recipe_mobilevit(cfg: _Config) -> _Recipe:
    size = _size_dict(cfg.get("size", None), {"shortest_edge": 224}, square=False)
    ops = [("rescale", float(cfg.get("rescale_factor", 1 / 255)))] if cfg.flag("do_rescale", True) else []
    return _Recipe(
        processor_type="MobileViTImageProcessor",
        size_rule=_resize_or_none(cfg, _hw_or_shortest_rule(size)),
        filter=parse_filter(cfg.get("resample", Filter.BILINEAR)),
        crop_hw=_crop_or_none(cfg, True, {"height": 256, "width": 256}),
        lut=_value_lut(ops),
        flip_channels=cfg.flag("do_flip_channel_order", True),
        pad=None,
    )


def _recipe_convnext(cfg: _Config) -> _Recipe:
    size = _size_dict(cfg.get("size", None), {"shortest_edge": 384}, square=False)
    if "shortest_edge" not in size:
        raise ValueError(f"processor_config 'size' must have 'shortest_edge' for ConvNext, got {size}")
    edge = int(size["shortest_edge"])
    crop_pct = float(cfg.get("crop_pct", 224 / 256))
    if edge < 384:  # resize the shortest edge to edge / crop_pct, then center-crop edge x edge
        resize_edge = int(edge / crop_pct)
        rule: SizeRule = lambda h, w: _shortest_edge_size(h, w, resize_edge)  # noqa: E731
        crop_hw: tuple[int, int] | None = (edge, edge)
    else:
        rule, crop_hw = _fixed_rule((edge, edge)), None
    do_resize = cfg.flag("do_resize", True)
    return _Recipe(
        processor_type="ConvNextImageProcessor",
        size_rule=rule if do_resize else None,
        filter=parse_filter(cfg.get("resample", Filter.BILINEAR)),
        crop_hw=crop_hw if do_resize else None,  # the crop is part of ConvNext's resize step
        lut=_value_lut(_standard_ops(cfg, _IMAGENET_STANDARD)),
        flip_channels=False,
        pad=None,
    )


def _recipe_efficientnet(cfg: _Config) -> _Recipe:
    size = _size_dict(cfg.get("size", None), {"height": 346, "width": 346}, square=True)
    ops: list[tuple[str, Any]] = []
    if cfg.flag("do_rescale", True):
        ops.append(("rescale", float(cfg.get("rescale_factor", 1 / 255))))
        if cfg.flag("rescale_offset", False):
            ops.append(("offset", 1))
    mean, std = cfg.mean_std(_IMAGENET_STANDARD)
    if cfg.flag("do_normalize", True):
        ops.append(("normalize", (mean, std)))
    if cfg.flag("include_top", True):  # HF divides by image_std a second time
        ops.append(("normalize", ((0.0, 0.0, 0.0), std)))
    return _Recipe(
        processor_type="EfficientNetImageProcessor",
        size_rule=_resize_or_none(cfg, _fixed_rule(_hw(size, "size"))),
        filter=parse_filter(cfg.get("resample", Filter.NEAREST)),
        crop_hw=_crop_or_none(cfg, False, {"height": 289, "width": 289}),
        lut=_value_lut(ops),
        flip_channels=False,
        pad=None,
    )


def _recipe_glpn(cfg: _Config) -> _Recipe:
    divisor = int(cfg.get("size_divisor", 32))
    ops = [("rescale", 1 / 255)] if cfg.flag("do_rescale", True) else []  # GLPN ignores rescale_factor
    return _Recipe(
        processor_type="GLPNImageProcessor",
        size_rule=_resize_or_none(cfg, lambda h, w: (h // divisor * divisor, w // divisor * divisor)),
        filter=parse_filter(cfg.get("resample", Filter.BILINEAR)),
        crop_hw=None,
        lut=_value_lut(ops),
        flip_channels=False,
        pad=None,
    )


def _recipe_dpt(cfg: _Config) -> _Recipe:
    target = _hw(_size_dict(cfg.get("size", None), {"height": 384, "width": 384}, square=True), "size")
    keep = cfg.flag("keep_aspect_ratio", False)
    multiple = int(cfg.get("ensure_multiple_of", 1))
    pad, divisor = None, None
    if cfg.flag("do_pad", False):
        divisor = cfg.get("size_divisor", None)
        if divisor is None:
            raise ValueError("processor_config has do_pad but no size_divisor (DPTImageProcessor needs both)")
        pad, divisor = "center_multiple", int(divisor)
    return _Recipe(
        processor_type="DPTImageProcessor",
        size_rule=_resize_or_none(cfg, lambda h, w: _fit_size(h, w, target, keep, multiple)),
        filter=parse_filter(cfg.get("resample", Filter.BICUBIC)),
        crop_hw=None,
        lut=_value_lut(_standard_ops(cfg, _IMAGENET_STANDARD)),
        flip_channels=False,
        pad=pad,
        pad_value=divisor,
    )


def _recipe_zoedepth(cfg: _Config) -> _Recipe:
    target = _hw(_size_dict(cfg.get("size", None), {"height": 384, "width": 512}, square=True), "size")
    keep = cfg.flag("keep_aspect_ratio", True)
    multiple = int(cfg.get("ensure_multiple_of", 32))
    flt = parse_filter(cfg.get("resample", Filter.BILINEAR))
    modes = {Filter.BILINEAR: "bilinear", Filter.BICUBIC: "bicubic"}
    if flt not in modes:
        raise UnsupportedModelError(
            f"ZoeDepthImageProcessor resizes with torch interpolate: resample must be BILINEAR (2) or "
            f"BICUBIC (3), got {flt.name} ({flt.value})"
        )
    scale = float(cfg.get("rescale_factor", 1 / 255)) if cfg.flag("do_rescale", True) else 1.0
    rescale_lut = (np.arange(256, dtype=np.float64) * scale).astype(np.float32)
    do_normalize = cfg.flag("do_normalize", True)
    mean, std = cfg.mean_std(_IMAGENET_STANDARD)
    # The fast path resizes in uint8, so rescale and normalize become one table again.
    ops: list[tuple[str, Any]] = [("rescale", scale)] if cfg.flag("do_rescale", True) else []
    if do_normalize:
        ops.append(("normalize", (mean, std)))
    return _Recipe(
        processor_type="ZoeDepthImageProcessor",
        size_rule=_resize_or_none(cfg, lambda h, w: _fit_size(h, w, target, keep, multiple)),
        filter=flt,
        crop_hw=None,
        lut=_value_lut(ops),
        flip_channels=False,
        pad=None,
        zoe=_ZoeSettings(
            do_pad=cfg.flag("do_pad", True),
            mode=modes[flt],
            rescale_lut=rescale_lut,
            mean=np.array(mean, dtype=np.float32),
            std=np.array(std, dtype=np.float32),
            do_normalize=do_normalize,
        ),
    )


def _recipe_maskformer(name: str) -> Callable[[_Config], _Recipe]:
    def make(cfg: _Config) -> _Recipe:
        max_size = cfg.get("max_size", None)  # legacy key, kept by old configs
        default = {"shortest_edge": 800, "longest_edge": int(max_size) if max_size is not None else 1333}
        size = _size_dict(cfg.get("size", None), default, square=False, max_size=max_size or 1333)
        divisor = int(cfg.get("size_divisor", 32))
        if "shortest_edge" in size and "longest_edge" in size:
            edge, longest = int(size["shortest_edge"]), int(size["longest_edge"])
            base: SizeRule = lambda h, w: _shortest_edge_size(h, w, edge, longest)  # noqa: E731
        elif "height" in size and "width" in size:
            base = _fixed_rule(_hw(size, "size"))
        else:
            raise ValueError(
                f"processor_config 'size' must have 'shortest_edge' and 'longest_edge', or 'height' and "
                f"'width', got {size}"
            )

        def rule(h: int, w: int) -> tuple[int, int]:
            out_h, out_w = base(h, w)
            if divisor > 0:  # rounds the resize target up: the image is stretched, not padded
                out_h, out_w = math.ceil(out_h / divisor) * divisor, math.ceil(out_w / divisor) * divisor
            return int(out_h), int(out_w)

        pad_size = cfg.get("pad_size", None)
        return _Recipe(
            processor_type=name,
            size_rule=_resize_or_none(cfg, rule),
            filter=parse_filter(cfg.get("resample", Filter.BILINEAR)),
            crop_hw=None,
            lut=_value_lut(_standard_ops(cfg, _IMAGENET_DEFAULT)),
            flip_channels=False,
            pad="bottom_right" if pad_size else None,
            pad_value=_hw(_size_dict(pad_size, {}, square=True, name="pad_size"), "pad_size") if pad_size else None,
        )

    return make


_RECIPES: dict[str, Callable[[_Config], _Recipe]] = {
    "DPTImageProcessor": _recipe_dpt,
    "ZoeDepthImageProcessor": _recipe_zoedepth,
    "GLPNImageProcessor": _recipe_glpn,
    "ViTImageProcessor": _recipe_fixed(
        "ViTImageProcessor", {"height": 224, "width": 224}, Filter.BILINEAR, _IMAGENET_STANDARD
    ),
    "DeiTImageProcessor": _recipe_fixed(
        "DeiTImageProcessor", {"height": 256, "width": 256}, Filter.BICUBIC, _IMAGENET_STANDARD,
        crop=(True, {"height": 224, "width": 224}),
    ),
    "BeitImageProcessor": _recipe_fixed(
        "BeitImageProcessor", {"height": 256, "width": 256}, Filter.BICUBIC, _IMAGENET_STANDARD,
        crop=(True, {"height": 224, "width": 224}),
    ),
    "SegformerImageProcessor": _recipe_fixed(
        "SegformerImageProcessor", {"height": 512, "width": 512}, Filter.BILINEAR, _IMAGENET_DEFAULT
    ),
    "ConvNextImageProcessor": _recipe_convnext,
    "EfficientNetImageProcessor": _recipe_efficientnet,
    "MobileNetV1ImageProcessor": _recipe_shortest(
        "MobileNetV1ImageProcessor", {"shortest_edge": 256}, Filter.BILINEAR, _IMAGENET_STANDARD,
        {"height": 224, "width": 224},
    ),
    "MobileNetV2ImageProcessor": _recipe_shortest(
        "MobileNetV2ImageProcessor", {"shortest_edge": 256}, Filter.BILINEAR, _IMAGENET_STANDARD,
        {"height": 224, "width": 224},
    ),
    "MobileViTImageProcessor": _recipe_mobilevit,
    "BitImageProcessor": _recipe_shortest(
        "BitImageProcessor", {"shortest_edge": 224}, Filter.BICUBIC, _OPENAI_CLIP, {"height": 224, "width": 224}
    ),
    "MaskFormerImageProcessor": _recipe_maskformer("MaskFormerImageProcessor"),
    "Mask2FormerImageProcessor": _recipe_maskformer("Mask2FormerImageProcessor"),
}

SUPPORTED_PROCESSORS: tuple[str, ...] = tuple(sorted(_RECIPES))


def _processor_type(config: dict) -> str:
    name = config.get("image_processor_type") or config.get("feature_extractor_type")
    if not name:
        raise UnsupportedModelError(
            "processor_config has no 'image_processor_type' (or legacy 'feature_extractor_type'); "
            f"supported image processors: {', '.join(SUPPORTED_PROCESSORS)}"
        )
    name = str(name)
    if name.endswith("FeatureExtractor"):  # legacy names of the same classes
        name = name[: -len("FeatureExtractor")] + "ImageProcessor"
    if name.endswith("ImageProcessorFast") and name[: -len("Fast")] in _RECIPES:
        logger.info("%s: reproducing the slow (Pillow) %s; the fast one differs slightly", name, name[:-4])
        name = name[: -len("Fast")]
    if name not in _RECIPES:
        raise UnsupportedModelError(
            f"image processor {name!r} is not supported; supported image processors: "
            f"{', '.join(SUPPORTED_PROCESSORS)}"
        )
    return name


# --- per-frame work ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Geometry:
    """Everything that depends only on the frame size, computed once per size."""

    resized_hw: tuple[int, int]
    out_hw: tuple[int, int]  # pixel_values (H_in, W_in)
    padding_tblr: tuple[int, int, int, int]
    window: tuple[int, int, int, int]  # rows/cols of the resized image that land in the output
    place: tuple[int, int]  # where window's top-left goes in the output
    crop_box: tuple[int, int, int, int] | None  # output region a crop larger than the image pads
    zero_fill: bool  # DPT / MaskFormer padding: zeros after normalization
    resize: Callable[[np.ndarray], np.ndarray] | None  # frame -> (window rows, cols, 3) uint8 / float32


def _crop_axis(size: int, crop: int) -> tuple[int, int, int, int]:
    """HF center_crop along one axis: (window start, window stop, placed at, pad before)."""
    offset = (size - crop) // 2  # negative when the crop is larger: the image is centred in zeros
    start, stop = max(0, offset), min(size, offset + crop)
    return start, stop, max(0, -offset), -offset


class Preprocessor:
    """A frame -> model input transform reproducing one Hugging Face image processor.

    Call it with an (H, W, 3) uint8 BGR frame; returns a ``PreparedInput`` with (1, 3, H_in, W_in)
    float32 C-contiguous ``pixel_values``. See the module docstring for ``resized_hw`` and
    ``padding_tblr`` (center crops give negative padding; ZoeDepth's padding is in model-input
    pixels, rounded). Work that depends only on the frame size is cached (for the last 8 sizes), so
    the first frame of a new size is slower. Thread-safe: one Preprocessor may serve several
    threads; "exact" keeps ~30 MiB of scratch per thread and frame size.

    processor_type: the HF class reproduced. resize: "exact" (Pillow-exact) or "fast" (cv2).
    """

    def __init__(self, recipe: _Recipe, resize: str) -> None:
        self._recipe = recipe
        self.processor_type = recipe.processor_type
        self.resize = resize
        self._geometry: dict[tuple[int, int], _Geometry] = {}
        self._lock = threading.Lock()
        # Output channel c comes from BGR plane src[c] through lut[lut_row[c]].
        self._src_plane = (0, 1, 2) if recipe.flip_channels else (2, 1, 0)
        self._lut_row = (2, 1, 0) if recipe.flip_channels else (0, 1, 2)
        self._tables = tuple(np.ascontiguousarray(recipe.lut[row][None, :]) for row in self._lut_row)

    def __repr__(self) -> str:
        return f"Preprocessor({self.processor_type}, resize={self.resize!r})"

    def __call__(self, frame: np.ndarray) -> PreparedInput:
        if not isinstance(frame, np.ndarray):
            raise ValueError(f"frame must be a numpy array, got {type(frame).__name__}")
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
            raise ValueError(f"frame must have shape (H, W, 3) (BGR), got {frame.shape}")
        if frame.dtype != np.uint8:
            raise ValueError(f"frame must be uint8, got {frame.dtype}")
        if not frame.flags.c_contiguous:
            frame = np.ascontiguousarray(frame)
        hw = (int(frame.shape[0]), int(frame.shape[1]))
        geometry = self._geometry.get(hw)
        if geometry is None:
            with self._lock:
                geometry = self._geometry.get(hw) or self._make_geometry(hw)
                while len(self._geometry) >= _MAX_SIZES:  # e.g. a folder of photos: forget the oldest
                    self._geometry.pop(next(iter(self._geometry)))
                self._geometry[hw] = geometry
        pixel_values = self._zoe(frame, geometry) if self._recipe.zoe else self._standard(frame, geometry)
        return PreparedInput(
            pixel_values=pixel_values,
            original_hw=hw,
            resized_hw=geometry.resized_hw,
            padding_tblr=geometry.padding_tblr,
        )

    # -- geometry ---------------------------------------------------------------------------------

    def _make_geometry(self, hw: tuple[int, int]) -> _Geometry:
        recipe = self._recipe
        if recipe.zoe:
            return self._zoe_geometry(hw)
        resized = recipe.size_rule(*hw) if recipe.size_rule else hw
        if resized[0] < 1 or resized[1] < 1:
            raise ValueError(f"{recipe.processor_type} resizes a {hw[0]}x{hw[1]} frame to nothing ({resized})")
        crop_h, crop_w = recipe.crop_hw or resized
        r0, r1, place_r, top = _crop_axis(resized[0], crop_h)
        c0, c1, place_c, left = _crop_axis(resized[1], crop_w)
        bottom, right = crop_h - resized[0] - top, crop_w - resized[1] - left
        crop_box = (0, crop_h, 0, crop_w) if (top > 0 or bottom > 0 or left > 0 or right > 0) else None
        out_h, out_w = crop_h, crop_w
        pad_t = pad_b = pad_l = pad_r = 0
        if recipe.pad == "center_multiple":
            d = int(recipe.pad_value)
            extra_h, extra_w = math.ceil(out_h / d) * d - out_h, math.ceil(out_w / d) * d - out_w
            pad_t, pad_b, pad_l, pad_r = extra_h // 2, extra_h - extra_h // 2, extra_w // 2, extra_w - extra_w // 2
        elif recipe.pad == "bottom_right":
            target_h, target_w = recipe.pad_value
            if target_h < out_h or target_w < out_w:
                raise ValueError(f"pad_size {recipe.pad_value} is smaller than the resized frame {(out_h, out_w)}")
            pad_b, pad_r = target_h - out_h, target_w - out_w
        if crop_box is not None:
            crop_box = (crop_box[0] + pad_t, crop_box[1] + pad_t, crop_box[2] + pad_l, crop_box[3] + pad_l)
        window = (r0, r1, c0, c1)
        return _Geometry(
            resized_hw=(int(resized[0]), int(resized[1])),
            out_hw=(out_h + pad_t + pad_b, out_w + pad_l + pad_r),
            padding_tblr=(top + pad_t, bottom + pad_b, left + pad_l, right + pad_r),
            window=window,
            place=(place_r + pad_t, place_c + pad_l),
            crop_box=crop_box,
            zero_fill=pad_t + pad_b + pad_l + pad_r > 0,
            resize=self._make_resizer(hw, resized, window),
        )

    def _make_resizer(
        self, hw: tuple[int, int], resized: tuple[int, int], window: tuple[int, int, int, int]
    ) -> Callable[[np.ndarray], np.ndarray] | None:
        r0, r1, c0, c1 = window
        if self.resize == "exact":
            if hw == resized:
                return lambda frame: frame[r0:r1, c0:c1]
            return ExactResizer(hw, resized, self._recipe.filter, window)
        flt = self._recipe.filter
        return lambda frame: resize_fast(frame, resized, flt)[r0:r1, c0:c1]

    def _zoe_geometry(self, hw: tuple[int, int]) -> _Geometry:
        zoe = self._recipe.zoe
        do_pad, mode = zoe.do_pad, zoe.mode
        pad_h, pad_w = zoedepth_padding(hw) if do_pad else (0, 0)
        padded = (hw[0] + 2 * pad_h, hw[1] + 2 * pad_w)
        out_h, out_w = self._recipe.size_rule(*padded) if self._recipe.size_rule else padded
        if out_h < 1 or out_w < 1:
            raise ValueError(f"ZoeDepthImageProcessor resizes a {hw[0]}x{hw[1]} frame to nothing ({out_h, out_w})")
        top, left = round(pad_h * out_h / padded[0]), round(pad_w * out_w / padded[1])
        if self.resize == "exact":
            resizer = AlignCornersResizer(hw, (pad_h, pad_w), (out_h, out_w), mode)
            resize = lambda frame: resizer(frame, zoe.rescale_lut)  # noqa: E731
        else:
            resize = lambda frame: resize_align_corners_fast(frame, (pad_h, pad_w), (out_h, out_w), mode)  # noqa: E731
        return _Geometry(
            resized_hw=(out_h - 2 * top, out_w - 2 * left),
            out_hw=(out_h, out_w),
            padding_tblr=(top, top, left, left),
            window=(0, out_h, 0, out_w),
            place=(0, 0),
            crop_box=None,
            zero_fill=False,
            resize=resize,
        )

    # -- pixels -----------------------------------------------------------------------------------

    def _standard(self, frame: np.ndarray, g: _Geometry) -> np.ndarray:
        image = g.resize(frame) if g.resize is not None else frame
        out = (np.zeros if g.zero_fill else np.empty)((1, 3, *g.out_hw), np.float32)
        if g.crop_box is not None:  # a crop larger than the image: HF pads with uint8 zeros first
            b0, b1, b2, b3 = g.crop_box
            for channel in range(3):
                out[0, channel, b0:b1, b2:b3] = self._tables[channel][0, 0]
        self._lookup(image, out, g.place)
        return out

    def _lookup(self, image: np.ndarray, out: np.ndarray, place: tuple[int, int]) -> None:
        """out[0, c] at ``place`` <- table c applied to image's plane for output channel c."""
        planes = cv2.split(image)
        r, c = place
        rows, cols = image.shape[:2]
        full = (r, c) == (0, 0) and (rows, cols) == out.shape[2:]
        for channel in range(3):
            plane, table = planes[self._src_plane[channel]], self._tables[channel]
            if full:  # out[0, channel] is contiguous: cv2 writes straight into it
                cv2.LUT(plane, table, dst=out[0, channel])
            else:
                out[0, channel, r : r + rows, c : c + cols] = cv2.LUT(plane, table)

    def _zoe(self, frame: np.ndarray, g: _Geometry) -> np.ndarray:
        zoe = self._recipe.zoe
        image = g.resize(frame)
        out = np.empty((1, 3, *g.out_hw), np.float32)
        if image.dtype == np.uint8:  # fast path: rescale and normalize through the lookup table
            self._lookup(image, out, (0, 0))
            return out
        for channel in range(3):
            plane = image[:, :, self._src_plane[channel]]
            rgb = self._lut_row[channel]
            if zoe.do_normalize:  # HF: (x - mean) / std in float32
                np.subtract(plane, zoe.mean[rgb], out=out[0, channel])
                np.divide(out[0, channel], zoe.std[rgb], out=out[0, channel])
            else:
                out[0, channel] = plane
        return out


def build_preprocessor(processor_config: dict, *, resize: str = "exact") -> Preprocessor:
    """A Preprocessor reproducing the HF image processor described by ``processor_config``.

    processor_config: the dict of ``preprocessor_config.json`` (``image_processor.to_dict()``);
    missing keys take the HF class's defaults. resize: "exact" (Pillow-exact resampling, HF parity)
    or "fast" (cv2.resize). Raises UnsupportedModelError for an image processor class not in
    SUPPORTED_PROCESSORS, ValueError for an invalid config value or ``resize``.
    """
    if not isinstance(processor_config, dict):
        raise ValueError(f"processor_config must be a dict, got {type(processor_config).__name__}")
    if resize not in ("exact", "fast"):
        raise ValueError(f"resize must be 'exact' or 'fast', got {resize!r}")
    name = _processor_type(processor_config)
    recipe = _RECIPES[name](_Config(processor_config))
    return Preprocessor(recipe, resize)
