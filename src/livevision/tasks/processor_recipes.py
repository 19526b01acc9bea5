"""Per-class rules of the Hugging Face image processors that ``preprocess`` reproduces.

Each supported class (transformers 4.57, the Pillow based "slow" ones) has a recipe maker in
``_RECIPES``: it reads the class's keys from ``preprocessor_config.json`` -- a missing key or null takes
the class's ``__init__`` default, as HF does -- and returns a ``Recipe``: the resize rule (frame
size -> resized size), resampling filter, center crop, one value lookup table per channel (rescale
and normalize with HF's dtypes), channel order and padding. ``recipe_for(config)`` picks the class.
``preprocess.Preprocessor`` turns a Recipe into per-frame work; nothing here touches pixels.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import numpy as np

from ..errors import UnsupportedModelError
from .resample import Filter, parse_filter

__all__ = ["Recipe", "SUPPORTED_PROCESSORS", "SizeRule", "ZoeSettings", "recipe_for"]

logger = logging.getLogger(__name__)

_IMAGENET_STANDARD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
_IMAGENET_DEFAULT = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_OPENAI_CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))

SizeRule = Callable[[int, int], "tuple[int, int]"]


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

    def get_or_null(self, key: str, default: Any) -> Any:
        """For keys whose null HF keeps (``__init__`` has no ``if None`` fallback): only a missing key
        takes the default."""
        return self.raw[key] if key in self.raw else default

    def flag(self, key: str, default: bool) -> bool:
        return bool(self.get(key, default))

    def mean_std(self, default: tuple) -> tuple[tuple[float, ...], tuple[float, ...]]:
        mean = _channel_values(self.get("image_mean", default[0]), "image_mean")
        std = _channel_values(self.get("image_std", default[1]), "image_std")
        return mean, std


# --- the recipe: what to do to every frame ------------------------------------------------------


class ZoeSettings(NamedTuple):
    do_pad: bool
    mode: str  # torch interpolate mode: "bilinear" or "bicubic"
    rescale_lut: np.ndarray  # (256,) float32: uint8 value -> rescaled value (before the resize)
    mean: np.ndarray  # (3,) float32, RGB
    std: np.ndarray  # (3,) float32, RGB
    do_normalize: bool


@dataclass(frozen=True)
class Recipe:
    processor_type: str
    size_rule: SizeRule | None  # (h, w) -> resized (h, w); None: no resize
    filter: Filter
    crop_hw: tuple[int, int] | None
    lut: np.ndarray  # (3, 256) float32 per RGB channel: uint8 value -> final value (rescale+normalize)
    flip_channels: bool  # MobileViT: output BGR
    pad: str | None  # None, "center_multiple" (DPT), "bottom_right" (MaskFormer pad_size)
    pad_value: Any = None  # size_divisor for DPT, (h, w) for MaskFormer
    zoe: ZoeSettings | None = None  # ZoeDepth: pad, resize and normalize in float32


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
                  crop: tuple[bool, dict] | None = None) -> Callable[[_Config], Recipe]:
    """ViT, DeiT, BEiT, SegFormer: resize to (height, width) [+ center crop]."""

    def make(cfg: _Config) -> Recipe:
        size = _size_dict(cfg.get("size", None), size_default, square=True)
        crop_hw = _crop_or_none(cfg, *crop) if crop else None
        return Recipe(
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
                     crop_default: dict) -> Callable[[_Config], Recipe]:
    """MobileNetV1/V2, BiT (DINOv2): shortest edge (or height/width) + center crop."""

    def make(cfg: _Config) -> Recipe:
        size = _size_dict(cfg.get("size", None), size_default, square=False)
        return Recipe(
            processor_type=name,
            size_rule=_resize_or_none(cfg, _hw_or_shortest_rule(size)),
            filter=parse_filter(cfg.get("resample", filter_default)),
            crop_hw=_crop_or_none(cfg, True, crop_default),
            lut=_value_lut(_standard_ops(cfg, mean_std)),
            flip_channels=False,
            pad=None,
        )

    return make


def _recipe_mobilevit(cfg: _Config) -> Recipe:
    size = _size_dict(cfg.get("size", None), {"shortest_edge": 224}, square=False)
    ops = [("rescale", float(cfg.get("rescale_factor", 1 / 255)))] if cfg.flag("do_rescale", True) else []
    return Recipe(
        processor_type="MobileViTImageProcessor",
        size_rule=_resize_or_none(cfg, _hw_or_shortest_rule(size)),
        filter=parse_filter(cfg.get("resample", Filter.BILINEAR)),
        crop_hw=_crop_or_none(cfg, True, {"height": 256, "width": 256}),
        lut=_value_lut(ops),
        flip_channels=cfg.flag("do_flip_channel_order", True),
        pad=None,
    )


def _recipe_convnext(cfg: _Config) -> Recipe:
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
    return Recipe(
        processor_type="ConvNextImageProcessor",
        size_rule=rule if do_resize else None,
        filter=parse_filter(cfg.get("resample", Filter.BILINEAR)),
        crop_hw=crop_hw if do_resize else None,  # the crop is part of ConvNext's resize step
        lut=_value_lut(_standard_ops(cfg, _IMAGENET_STANDARD)),
        flip_channels=False,
        pad=None,
    )


def _recipe_levit(cfg: _Config) -> Recipe:
    size = _size_dict(cfg.get("size", None), {"shortest_edge": 224}, square=False)
    if "shortest_edge" in size:  # LeViT resizes the shortest edge to int(256/224 * shortest_edge)
        edge = int((256 / 224) * size["shortest_edge"])
        rule: SizeRule = lambda h, w: _shortest_edge_size(h, w, edge)  # noqa: E731
    else:
        rule = _fixed_rule(_hw(size, "size"))
    return Recipe(
        processor_type="LevitImageProcessor",
        size_rule=_resize_or_none(cfg, rule),
        filter=parse_filter(cfg.get("resample", Filter.BICUBIC)),
        crop_hw=_crop_or_none(cfg, True, {"height": 224, "width": 224}),
        lut=_value_lut(_standard_ops(cfg, _IMAGENET_DEFAULT)),
        flip_channels=False,
        pad=None,
    )


def _recipe_poolformer(cfg: _Config) -> Recipe:
    size = _size_dict(cfg.get("size", None), {"shortest_edge": 224}, square=False)
    crop_pct = cfg.get_or_null("crop_pct", 0.9)  # a null crop_pct stays None in HF: plain resize
    if crop_pct is not None:
        crop_pct = float(crop_pct)
        if crop_pct <= 0:
            raise ValueError(f"processor_config 'crop_pct' must be positive, got {crop_pct!r}")
    if crop_pct is None:
        rule = _hw_or_shortest_rule(size)
    elif "shortest_edge" in size:  # shortest edge to int(edge / crop_pct)
        edge = int(size["shortest_edge"] / crop_pct)
        rule = lambda h, w: _shortest_edge_size(h, w, edge)  # noqa: E731
    else:
        height, width = _hw(size, "size")
        if height == width:  # a square size becomes a shortest-edge resize to int(height / crop_pct)
            edge = int(height / crop_pct)
            rule = lambda h, w: _shortest_edge_size(h, w, edge)  # noqa: E731
        else:  # ... a non-square one a fixed (int(height / crop_pct), int(width / crop_pct))
            rule = _fixed_rule((int(height / crop_pct), int(width / crop_pct)))
    return Recipe(
        processor_type="PoolFormerImageProcessor",
        size_rule=_resize_or_none(cfg, rule),
        filter=parse_filter(cfg.get("resample", Filter.BICUBIC)),
        crop_hw=_crop_or_none(cfg, True, {"height": 224, "width": 224}),
        lut=_value_lut(_standard_ops(cfg, _IMAGENET_DEFAULT)),
        flip_channels=False,
        pad=None,
    )


def _recipe_efficientnet(cfg: _Config) -> Recipe:
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
    return Recipe(
        processor_type="EfficientNetImageProcessor",
        size_rule=_resize_or_none(cfg, _fixed_rule(_hw(size, "size"))),
        filter=parse_filter(cfg.get("resample", Filter.NEAREST)),
        crop_hw=_crop_or_none(cfg, False, {"height": 289, "width": 289}),
        lut=_value_lut(ops),
        flip_channels=False,
        pad=None,
    )


def _recipe_glpn(cfg: _Config) -> Recipe:
    divisor = int(cfg.get("size_divisor", 32))
    ops = [("rescale", 1 / 255)] if cfg.flag("do_rescale", True) else []  # GLPN ignores rescale_factor
    return Recipe(
        processor_type="GLPNImageProcessor",
        size_rule=_resize_or_none(cfg, lambda h, w: (h // divisor * divisor, w // divisor * divisor)),
        filter=parse_filter(cfg.get("resample", Filter.BILINEAR)),
        crop_hw=None,
        lut=_value_lut(ops),
        flip_channels=False,
        pad=None,
    )


def _recipe_dpt(cfg: _Config) -> Recipe:
    target = _hw(_size_dict(cfg.get("size", None), {"height": 384, "width": 384}, square=True), "size")
    keep = cfg.flag("keep_aspect_ratio", False)
    multiple = int(cfg.get("ensure_multiple_of", 1))
    pad, divisor = None, None
    if cfg.flag("do_pad", False):
        divisor = cfg.get("size_divisor", None)
        if divisor is None:
            raise ValueError("processor_config has do_pad but no size_divisor (DPTImageProcessor needs both)")
        pad, divisor = "center_multiple", int(divisor)
    return Recipe(
        processor_type="DPTImageProcessor",
        size_rule=_resize_or_none(cfg, lambda h, w: _fit_size(h, w, target, keep, multiple)),
        filter=parse_filter(cfg.get("resample", Filter.BICUBIC)),
        crop_hw=None,
        lut=_value_lut(_standard_ops(cfg, _IMAGENET_STANDARD)),
        flip_channels=False,
        pad=pad,
        pad_value=divisor,
    )


def _recipe_zoedepth(cfg: _Config) -> Recipe:
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
    return Recipe(
        processor_type="ZoeDepthImageProcessor",
        size_rule=_resize_or_none(cfg, lambda h, w: _fit_size(h, w, target, keep, multiple)),
        filter=flt,
        crop_hw=None,
        lut=_value_lut(ops),
        flip_channels=False,
        pad=None,
        zoe=ZoeSettings(
            do_pad=cfg.flag("do_pad", True),
            mode=modes[flt],
            rescale_lut=rescale_lut,
            mean=np.array(mean, dtype=np.float32),
            std=np.array(std, dtype=np.float32),
            do_normalize=do_normalize,
        ),
    )


def _recipe_maskformer(name: str) -> Callable[[_Config], Recipe]:
    def make(cfg: _Config) -> Recipe:
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
        return Recipe(
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


_RECIPES: dict[str, Callable[[_Config], Recipe]] = {
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
    "LevitImageProcessor": _recipe_levit,
    "PoolFormerImageProcessor": _recipe_poolformer,
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



def recipe_for(processor_config: dict) -> Recipe:
    """The Recipe of the HF image processor a ``preprocessor_config.json`` dict describes.

    Raises UnsupportedModelError for a class not in SUPPORTED_PROCESSORS, ValueError for an invalid value.
    """
    name = _processor_type(processor_config)
    return _RECIPES[name](_Config(processor_config))
