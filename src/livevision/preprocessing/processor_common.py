"""What the Hugging Face image processors share, for the per-class recipes in ``processor_recipes``.

- Reading ``preprocessor_config.json``: ``Config`` gives a missing key or null the class's
  ``__init__`` default, as HF does; ``size_dict`` is transformers' get_size_dict.
- transformers' output-size rules: ``shortest_edge_size`` and ``fit_size`` (DPT / ZoeDepth).
- Rescale and normalize with HF's dtypes, as one value lookup table per channel (``value_lut``).
- ``Recipe``: what a class does to every frame, as the recipes in ``processor_recipes`` describe it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

import numpy as np

from .resample import Filter


# --- the recipe: what to do to every frame ------------------------------------------------------

SizeRule = Callable[[int, int], "tuple[int, int]"]


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



# --- output-size rules, as in transformers' image processors -------------------------------------


def shortest_edge_size(height: int, width: int, size: int, max_size: int | None = None) -> tuple[int, int]:
    """transformers.image_transforms.get_resize_output_image_size with default_to_square=False."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    if max_size is not None:
        if max_size <= size:
            raise ValueError(f"max_size = {max_size} must be greater than the shortest edge size = {size}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if width <= height else (new_short, new_long)


def fit_size(
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


def size_dict(value: Any, default: dict, *, square: bool, max_size: int | None = None, name: str = "size") -> dict:
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


def size_hw(size: dict, name: str) -> tuple[int, int]:
    """The (height, width) of a size dict; `name` is the key it came from, for the message."""
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


class Config:
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


# --- rescale and normalize: one value table per channel --------------------------------------------


def value_lut(ops: list[tuple[str, Any]]) -> np.ndarray:
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


def standard_ops(cfg: Config, mean_std_default: tuple) -> list[tuple[str, Any]]:
    """value_lut's ops from the usual keys: do_rescale / rescale_factor, do_normalize / image_mean / image_std."""
    ops: list[tuple[str, Any]] = []
    if cfg.flag("do_rescale", True):
        ops.append(("rescale", float(cfg.get("rescale_factor", 1 / 255))))
    if cfg.flag("do_normalize", True):
        ops.append(("normalize", cfg.mean_std(mean_std_default)))
    return ops
