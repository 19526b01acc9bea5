"""Per-class rules of the Hugging Face image processors that ``preprocess`` reproduces.

Each supported class (transformers 4.57, the Pillow based "slow" ones) has a recipe maker in
``_RECIPES``: it reads the class's keys from ``preprocessor_config.json`` -- a missing key or null takes
the class's ``__init__`` default, as HF does -- and returns a ``Recipe``: the resize rule (frame
size -> resized size), resampling filter, center crop, one value lookup table per channel (rescale
and normalize with HF's dtypes), channel order and padding. ``recipe_for(config)`` picks the class.
``preprocess.Preprocessor`` turns a Recipe into per-frame work; nothing here touches pixels.
What the classes share (reading the config, transformers' size rules, the value tables) is in
``processor_common``; the object-detection classes' recipes are in ``detection_recipes``.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Callable

import numpy as np

from ..errors import UnsupportedModelError
from .detection_recipes import DETECTION_RECIPES
from .processor_common import (
    Config,
    Recipe,
    SizeRule,
    ZoeSettings,
    fit_size,
    shortest_edge_size,
    size_dict,
    size_hw,
    standard_ops,
    value_lut,
)
from .resample import Filter, parse_filter

__all__ = ["Recipe", "SUPPORTED_PROCESSORS", "SizeRule", "ZoeSettings", "recipe_for"]
logger = logging.getLogger(__name__)

_IMAGENET_STANDARD = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
_IMAGENET_DEFAULT = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
_OPENAI_CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))

def _fixed_rule(hw: tuple[int, int]) -> SizeRule:
    return lambda h, w: hw


def _hw_or_shortest_rule(size: dict, name: str = "size") -> SizeRule:
    """MobileNet / MobileViT / BiT resize: {"shortest_edge"} or {"height", "width"}."""
    if "shortest_edge" in size:
        edge = int(size["shortest_edge"])
        return lambda h, w: shortest_edge_size(h, w, edge)
    return _fixed_rule(size_hw(size, name))


def _resize_or_none(cfg: Config, rule: SizeRule) -> SizeRule | None:
    return rule if cfg.flag("do_resize", True) else None


def _crop_or_none(cfg: Config, default_flag: bool, default_crop: dict) -> tuple[int, int] | None:
    if not cfg.flag("do_center_crop", default_flag):
        return None
    return size_hw(size_dict(cfg.get("crop_size", None), default_crop, square=True, name="crop_size"), "crop_size")


def _recipe_fixed(name: str, size_default: dict, filter_default: Filter, mean_std: tuple,
                  crop: tuple[bool, dict] | None = None) -> Callable[[Config], Recipe]:
    """ViT, DeiT, BEiT, SegFormer: resize to (height, width) [+ center crop]."""

    def make(cfg: Config) -> Recipe:
        size = size_dict(cfg.get("size", None), size_default, square=True)
        crop_hw = _crop_or_none(cfg, *crop) if crop else None
        return Recipe(
            processor_type=name,
            size_rule=_resize_or_none(cfg, _fixed_rule(size_hw(size, "size"))),
            filter=parse_filter(cfg.get("resample", filter_default)),
            crop_hw=crop_hw,
            lut=value_lut(standard_ops(cfg, mean_std)),
            flip_channels=False,
            pad=None,
        )

    return make


def _recipe_shortest(name: str, size_default: dict, filter_default: Filter, mean_std: tuple,
                     crop_default: dict) -> Callable[[Config], Recipe]:
    """MobileNetV1/V2, BiT (DINOv2): shortest edge (or height/width) + center crop."""

    def make(cfg: Config) -> Recipe:
        size = size_dict(cfg.get("size", None), size_default, square=False)
        return Recipe(
            processor_type=name,
            size_rule=_resize_or_none(cfg, _hw_or_shortest_rule(size)),
            filter=parse_filter(cfg.get("resample", filter_default)),
            crop_hw=_crop_or_none(cfg, True, crop_default),
            lut=value_lut(standard_ops(cfg, mean_std)),
            flip_channels=False,
            pad=None,
        )

    return make


def _recipe_mobilevit(cfg: Config) -> Recipe:
    size = size_dict(cfg.get("size", None), {"shortest_edge": 224}, square=False)
    ops = [("rescale", float(cfg.get("rescale_factor", 1 / 255)))] if cfg.flag("do_rescale", True) else []
    return Recipe(
        processor_type="MobileViTImageProcessor",
        size_rule=_resize_or_none(cfg, _hw_or_shortest_rule(size)),
        filter=parse_filter(cfg.get("resample", Filter.BILINEAR)),
        crop_hw=_crop_or_none(cfg, True, {"height": 256, "width": 256}),
        lut=value_lut(ops),
        flip_channels=cfg.flag("do_flip_channel_order", True),
        pad=None,
    )


def _recipe_convnext(cfg: Config) -> Recipe:
    size = size_dict(cfg.get("size", None), {"shortest_edge": 384}, square=False)
    if "shortest_edge" not in size:
        raise ValueError(f"processor_config 'size' must have 'shortest_edge' for ConvNext, got {size}")
    edge = int(size["shortest_edge"])
    crop_pct = float(cfg.get("crop_pct", 224 / 256))
    if edge < 384:  # resize the shortest edge to edge / crop_pct, then center-crop edge x edge
        resize_edge = int(edge / crop_pct)
        rule: SizeRule = lambda h, w: shortest_edge_size(h, w, resize_edge)  # noqa: E731
        crop_hw: tuple[int, int] | None = (edge, edge)
    else:
        rule, crop_hw = _fixed_rule((edge, edge)), None
    do_resize = cfg.flag("do_resize", True)
    return Recipe(
        processor_type="ConvNextImageProcessor",
        size_rule=rule if do_resize else None,
        filter=parse_filter(cfg.get("resample", Filter.BILINEAR)),
        crop_hw=crop_hw if do_resize else None,  # the crop is part of ConvNext's resize step
        lut=value_lut(standard_ops(cfg, _IMAGENET_STANDARD)),
        flip_channels=False,
        pad=None,
    )


def _recipe_levit(cfg: Config) -> Recipe:
    size = size_dict(cfg.get("size", None), {"shortest_edge": 224}, square=False)
    if "shortest_edge" in size:  # LeViT resizes the shortest edge to int(256/224 * shortest_edge)
        edge = int((256 / 224) * size["shortest_edge"])
        rule: SizeRule = lambda h, w: shortest_edge_size(h, w, edge)  # noqa: E731
    else:
        rule = _fixed_rule(size_hw(size, "size"))
    return Recipe(
        processor_type="LevitImageProcessor",
        size_rule=_resize_or_none(cfg, rule),
        filter=parse_filter(cfg.get("resample", Filter.BICUBIC)),
        crop_hw=_crop_or_none(cfg, True, {"height": 224, "width": 224}),
        lut=value_lut(standard_ops(cfg, _IMAGENET_DEFAULT)),
        flip_channels=False,
        pad=None,
    )


def _recipe_poolformer(cfg: Config) -> Recipe:
    size = size_dict(cfg.get("size", None), {"shortest_edge": 224}, square=False)
    crop_pct = cfg.get_or_null("crop_pct", 0.9)  # a null crop_pct stays None in HF: plain resize
    if crop_pct is not None:
        crop_pct = float(crop_pct)
        if crop_pct <= 0:
            raise ValueError(f"processor_config 'crop_pct' must be positive, got {crop_pct!r}")
    if crop_pct is None:
        rule = _hw_or_shortest_rule(size)
    elif "shortest_edge" in size:  # shortest edge to int(edge / crop_pct)
        edge = int(size["shortest_edge"] / crop_pct)
        rule = lambda h, w: shortest_edge_size(h, w, edge)  # noqa: E731
    else:
        height, width = size_hw(size, "size")
        if height == width:  # a square size becomes a shortest-edge resize to int(height / crop_pct)
            edge = int(height / crop_pct)
            rule = lambda h, w: shortest_edge_size(h, w, edge)  # noqa: E731
        else:  # ... a non-square one a fixed (int(height / crop_pct), int(width / crop_pct))
            rule = _fixed_rule((int(height / crop_pct), int(width / crop_pct)))
    return Recipe(
        processor_type="PoolFormerImageProcessor",
        size_rule=_resize_or_none(cfg, rule),
        filter=parse_filter(cfg.get("resample", Filter.BICUBIC)),
        crop_hw=_crop_or_none(cfg, True, {"height": 224, "width": 224}),
        lut=value_lut(standard_ops(cfg, _IMAGENET_DEFAULT)),
        flip_channels=False,
        pad=None,
    )


def _recipe_efficientnet(cfg: Config) -> Recipe:
    size = size_dict(cfg.get("size", None), {"height": 346, "width": 346}, square=True)
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
        size_rule=_resize_or_none(cfg, _fixed_rule(size_hw(size, "size"))),
        filter=parse_filter(cfg.get("resample", Filter.NEAREST)),
        crop_hw=_crop_or_none(cfg, False, {"height": 289, "width": 289}),
        lut=value_lut(ops),
        flip_channels=False,
        pad=None,
    )


def _recipe_glpn(cfg: Config) -> Recipe:
    divisor = int(cfg.get("size_divisor", 32))
    ops = [("rescale", 1 / 255)] if cfg.flag("do_rescale", True) else []  # GLPN ignores rescale_factor
    return Recipe(
        processor_type="GLPNImageProcessor",
        size_rule=_resize_or_none(cfg, lambda h, w: (h // divisor * divisor, w // divisor * divisor)),
        filter=parse_filter(cfg.get("resample", Filter.BILINEAR)),
        crop_hw=None,
        lut=value_lut(ops),
        flip_channels=False,
        pad=None,
    )


def _recipe_dpt(cfg: Config) -> Recipe:
    target = size_hw(size_dict(cfg.get("size", None), {"height": 384, "width": 384}, square=True), "size")
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
        size_rule=_resize_or_none(cfg, lambda h, w: fit_size(h, w, target, keep, multiple)),
        filter=parse_filter(cfg.get("resample", Filter.BICUBIC)),
        crop_hw=None,
        lut=value_lut(standard_ops(cfg, _IMAGENET_STANDARD)),
        flip_channels=False,
        pad=pad,
        pad_value=divisor,
    )


def _recipe_zoedepth(cfg: Config) -> Recipe:
    target = size_hw(size_dict(cfg.get("size", None), {"height": 384, "width": 512}, square=True), "size")
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
        size_rule=_resize_or_none(cfg, lambda h, w: fit_size(h, w, target, keep, multiple)),
        filter=flt,
        crop_hw=None,
        lut=value_lut(ops),
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


def _recipe_maskformer(name: str) -> Callable[[Config], Recipe]:
    def make(cfg: Config) -> Recipe:
        max_size = cfg.get("max_size", None)  # legacy key, kept by old configs
        default = {"shortest_edge": 800, "longest_edge": int(max_size) if max_size is not None else 1333}
        size = size_dict(cfg.get("size", None), default, square=False, max_size=max_size or 1333)
        divisor = int(cfg.get("size_divisor", 32))
        if "shortest_edge" in size and "longest_edge" in size:
            edge, longest = int(size["shortest_edge"]), int(size["longest_edge"])
            base: SizeRule = lambda h, w: shortest_edge_size(h, w, edge, longest)  # noqa: E731
        elif "height" in size and "width" in size:
            base = _fixed_rule(size_hw(size, "size"))
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
            lut=value_lut(standard_ops(cfg, _IMAGENET_DEFAULT)),
            flip_channels=False,
            pad="bottom_right" if pad_size else None,
            pad_value=size_hw(size_dict(pad_size, {}, square=True, name="pad_size"), "pad_size") if pad_size else None,
        )

    return make


_RECIPES: dict[str, Callable[[Config], Recipe]] = {
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
    "PvtImageProcessor": _recipe_fixed("PvtImageProcessor", {"height": 224, "width": 224}, Filter.BILINEAR,
                                       _IMAGENET_DEFAULT),  # ViT's rules, ImageNet statistics
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
    "CLIPImageProcessor": _recipe_shortest(  # BiT's rules and defaults
        "CLIPImageProcessor", {"shortest_edge": 224}, Filter.BICUBIC, _OPENAI_CLIP, {"height": 224, "width": 224}
    ),
    "MaskFormerImageProcessor": _recipe_maskformer("MaskFormerImageProcessor"),
    "Mask2FormerImageProcessor": _recipe_maskformer("Mask2FormerImageProcessor"),
    **DETECTION_RECIPES,  # DETR family, YOLOS, RT-DETR (and D-FINE)
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
    return _RECIPES[name](Config(processor_config))
