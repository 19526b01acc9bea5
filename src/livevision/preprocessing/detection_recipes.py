"""Recipes (see ``processor_recipes``) of the object-detection image processors: DETR, Conditional DETR,
Deformable DETR, YOLOS and RT-DETR (which D-FINE uses too), transformers 4.57's slow classes.

They resize by ``size``: ``{"shortest_edge", "longest_edge"}`` (the DETR family: aspect kept, the long side
capped), ``{"max_height", "max_width"}`` (aspect kept, fit inside) or ``{"height", "width"}`` (RT-DETR's
640x640: stretched). YOLOS rounds its shortest-edge sizes differently and down to multiples of 16. Then
rescale and normalize (RT-DETR: no normalisation by default). ``do_pad`` pads a batch to its largest image:
a single image is left as it is, so the pixel mask the models take is all ones and the exports read
``pixel_values`` alone; a fixed ``pad_size`` would need the mask, and is refused.
"""

from __future__ import annotations

from typing import Callable

from ..errors import UnsupportedModelError
from .processor_common import Config, Recipe, SizeRule, size_dict, standard_ops, value_lut
from .resample import Filter, parse_filter

__all__ = ["DETECTION_RECIPES", "detr_aspect_size", "yolos_aspect_size"]

_IMAGENET_DEFAULT = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))


def _capped_short_side(height: int, width: int, size: int, max_size: int | None) -> tuple[int, float | None]:
    """The short side asked for, lowered where the long side would pass max_size: (size, the unrounded
    size it was lowered to, or None), as both processors' get_size_with_aspect_ratio compute them."""
    if max_size is not None:
        short, long = float(min(height, width)), float(max(height, width))
        if long / short * size > max_size:
            raw_size = max_size * short / long
            return int(round(raw_size)), raw_size
    return size, None


def detr_aspect_size(height: int, width: int, size: int, max_size: int | None) -> tuple[int, int]:
    """transformers.models.detr.image_processing_detr.get_size_with_aspect_ratio."""
    size, raw_size = _capped_short_side(height, width, size, max_size)
    if (height <= width and height == size) or (width <= height and width == size):
        return height, width
    if width < height:
        return int((raw_size if raw_size is not None else size) * height / width), size
    return size, int((raw_size if raw_size is not None else size) * width / height)


def yolos_aspect_size(height: int, width: int, size: int, max_size: int | None, mod: int = 16) -> tuple[int, int]:
    """transformers.models.yolos.image_processing_yolos.get_size_with_aspect_ratio: the portrait branch
    first, then both sides rounded down to a multiple of 16."""
    size, raw_size = _capped_short_side(height, width, size, max_size)
    if width < height:
        out_h, out_w = int((raw_size if raw_size is not None else size) * height / width), size
    elif (height <= width and height == size) or (width <= height and width == size):
        out_h, out_w = height, width
    else:
        out_h, out_w = size, int((raw_size if raw_size is not None else size) * width / height)
    return out_h - out_h % mod, out_w - out_w % mod


def _max_height_width_size(height: int, width: int, max_height: int, max_width: int) -> tuple[int, int]:
    """transformers.models.detr.image_processing_detr.get_image_size_for_max_height_width."""
    scale = min(max_height / height, max_width / width)
    return int(height * scale), int(width * scale)


def _size_rule(size: dict, aspect: Callable[..., tuple[int, int]]) -> SizeRule:
    if "shortest_edge" in size and "longest_edge" in size:
        edge, longest = int(size["shortest_edge"]), int(size["longest_edge"])
        return lambda h, w: aspect(h, w, edge, longest)
    if "max_height" in size and "max_width" in size:
        max_h, max_w = int(size["max_height"]), int(size["max_width"])
        return lambda h, w: _max_height_width_size(h, w, max_h, max_w)
    if "height" in size and "width" in size:
        hw = (int(size["height"]), int(size["width"]))
        return lambda h, w: hw
    raise ValueError(
        "processor_config 'size' must have 'shortest_edge' and 'longest_edge', 'max_height' and 'max_width', "
        f"or 'height' and 'width', got {size}"
    )


def _recipe_detection(name: str, default_size: dict, normalize_default: bool,
                      aspect: Callable[..., tuple[int, int]]) -> Callable[[Config], Recipe]:
    def make(cfg: Config) -> Recipe:
        max_size = cfg.get("max_size", None)  # legacy key: an int size's longest edge
        if max_size is None and isinstance(cfg.raw.get("size"), (int, float)) and default_size.get("longest_edge"):
            max_size = 1333  # DETR's __init__: an int size without max_size caps at 1333
        size = size_dict(cfg.get("size", None), default_size, square=False, max_size=max_size)
        if cfg.flag("do_pad", True) and cfg.get("pad_size", None):
            raise UnsupportedModelError(f"{name} with pad_size pads every image, which needs a pixel mask; "
                                        "the ONNX export takes pixel_values only")
        ops = standard_ops(Config({**cfg.raw, "do_normalize": cfg.flag("do_normalize", normalize_default)}),
                           _IMAGENET_DEFAULT)
        return Recipe(
            processor_type=name,
            size_rule=_size_rule(size, aspect) if cfg.flag("do_resize", True) else None,
            filter=parse_filter(cfg.get("resample", Filter.BILINEAR)),
            crop_hw=None,
            lut=value_lut(ops),
            flip_channels=False,
            pad=None,
        )

    return make


_DETR_SIZE = {"shortest_edge": 800, "longest_edge": 1333}

DETECTION_RECIPES: dict[str, Callable[[Config], Recipe]] = {
    "DetrImageProcessor": _recipe_detection("DetrImageProcessor", _DETR_SIZE, True, detr_aspect_size),
    "ConditionalDetrImageProcessor": _recipe_detection("ConditionalDetrImageProcessor", _DETR_SIZE, True,
                                                       detr_aspect_size),
    "DeformableDetrImageProcessor": _recipe_detection("DeformableDetrImageProcessor", _DETR_SIZE, True,
                                                      detr_aspect_size),
    "YolosImageProcessor": _recipe_detection("YolosImageProcessor", _DETR_SIZE, True, yolos_aspect_size),
    "RTDetrImageProcessor": _recipe_detection("RTDetrImageProcessor", {"height": 640, "width": 640}, False,
                                              detr_aspect_size),
}
