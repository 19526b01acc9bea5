"""The zero-shot detectors' image processors (transformers 4.57, the slow classes), for ``build_preprocessor``.

- OwlViTImageProcessor (OWL-ViT): resize to {height, width} (768x768 by default), bicubic, center crop off
  by default (crop_size 768), rescale, normalize with OpenAI CLIP's mean/std: a standard Recipe.
- Owlv2ImageProcessor (OWLv2) works in float, not on uint8 pixels, so it has its own Preprocessor here:
  rescale to float32, pad to a square at the bottom and right with 0.5 (grey), then resize to {height,
  width} (960x960) as scikit-image does -- a Gaussian blur first when shrinking (sigma (factor - 1) / 2
  per axis, scipy's gaussian_filter, mirror edges, truncate 4), then scipy's ndimage.zoom(order=1,
  grid_mode=True, mode="mirror"): linear interpolation at (i + 0.5) * in / out - 0.5 -- clipped to the
  padded image's value range, then normalize (float32). Reproduced in numpy (float64 sums, float32 results,
  as scipy's), no scipy needed: within ~1e-6 of HF. ``resize`` ("fast") does not change this path.
"""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from ..types import PreparedInput
from .processor_common import Config, Recipe, size_dict, size_hw, standard_ops, value_lut
from .resample import Filter, parse_filter

_OPENAI_CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
_TRUNCATE = 4.0  # scipy.ndimage.gaussian_filter's default


def owlvit_recipe(cfg: Config) -> Recipe:
    """OwlViTImageProcessor: resize to (height, width) [+ center crop], CLIP statistics."""
    size = size_dict(cfg.get("size", None), {"height": 768, "width": 768}, square=True)
    crop = None
    if cfg.flag("do_center_crop", False):
        crop = size_hw(size_dict(cfg.get("crop_size", None), {"height": 768, "width": 768}, square=True,
                                 name="crop_size"), "crop_size")
    return Recipe(
        processor_type="OwlViTImageProcessor",
        size_rule=(lambda h, w, hw=size_hw(size, "size"): hw) if cfg.flag("do_resize", True) else None,
        filter=parse_filter(cfg.get("resample", Filter.BICUBIC)),
        crop_hw=crop,
        lut=value_lut(standard_ops(cfg, _OPENAI_CLIP)),
        flip_channels=False,
        pad=None,
    )


def _mirror(index: np.ndarray, length: int) -> np.ndarray:
    """scipy's "mirror" boundary (d c b | a b c d | c b a) for integer indices."""
    if length == 1:
        return np.zeros_like(index)
    period = 2 * length - 2
    index = np.abs(index) % period
    return np.where(index >= length, period - index, index)


def _gaussian_1d(image: np.ndarray, sigma: float, axis: int) -> np.ndarray:
    """scipy.ndimage.gaussian_filter1d along `axis` (0: rows, 1: columns) of an (H, W, 3) float32 image, mirror
    edges (OpenCV's BORDER_REFLECT_101), summed in float64, float32 back -- as scipy does."""
    radius = int(_TRUNCATE * sigma + 0.5)
    taps = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 / (sigma * sigma) * taps ** 2)
    weights /= weights.sum()
    one = np.ones(1, np.float64)
    kernel_x, kernel_y = (one, weights) if axis == 0 else (weights, one)
    filtered = cv2.sepFilter2D(image.astype(np.float64), cv2.CV_64F, kernel_x, kernel_y,
                               borderType=cv2.BORDER_REFLECT_101)
    return filtered.astype(np.float32)


def _zoom_1d(image: np.ndarray, size: int, axis: int) -> np.ndarray:
    """Linear interpolation at scipy's grid_mode=True coordinates (i + 0.5) * in / out - 0.5, mirror edges;
    float64 (scipy interpolates both axes in double, then stores float32: the caller casts once)."""
    length = image.shape[axis]
    coords = (np.arange(size) + 0.5) * (length / size) - 0.5
    low = np.floor(coords)
    frac = coords - low
    low = low.astype(np.int64)
    shape = [1] * image.ndim
    shape[axis] = size
    frac = frac.reshape(shape)
    below = np.take(image, _mirror(low, length), axis=axis).astype(np.float64)
    above = np.take(image, _mirror(low + 1, length), axis=axis).astype(np.float64)
    return below * (1.0 - frac) + above * frac


class Owlv2Preprocessor:
    """A frame -> model input transform reproducing Owlv2ImageProcessor (see the module docstring); the
    ``Preprocessor`` interface (call it on an (H, W, 3) uint8 BGR frame)."""

    processor_type = "Owlv2ImageProcessor"
    recipe = None  # no Recipe: no device pre-processing graph (text-query models run theirs on the host)

    def __init__(self, config: dict, resize: str) -> None:
        cfg = Config(config)
        self.resize = resize
        self._rescale = float(cfg.get("rescale_factor", 1 / 255)) if cfg.flag("do_rescale", True) else None
        self._pad = cfg.flag("do_pad", True)
        size = size_dict(cfg.get("size", None), {"height": 960, "width": 960}, square=True)
        self._size = size_hw(size, "size") if cfg.flag("do_resize", True) else None
        mean, std = cfg.mean_std(_OPENAI_CLIP)
        self._normalize = (np.array(mean, np.float32), np.array(std, np.float32)) \
            if cfg.flag("do_normalize", True) else None

    def __repr__(self) -> str:
        return f"Owlv2Preprocessor(resize={self.resize!r})"

    def _resized(self, image: np.ndarray) -> np.ndarray:
        out_h, out_w = self._size
        factors = (image.shape[0] / out_h, image.shape[1] / out_w)
        filtered = image
        for axis, factor in enumerate(factors):
            sigma = max(0.0, (factor - 1) / 2)
            if sigma > 1e-15:  # scipy skips an axis whose sigma is ~0
                filtered = _gaussian_1d(filtered, sigma, axis)
        zoomed = _zoom_1d(_zoom_1d(filtered, out_h, 0), out_w, 1).astype(np.float32)
        return np.clip(zoomed, image.min(), image.max())

    def __call__(self, frame: np.ndarray) -> PreparedInput:
        from .preprocess import check_frame

        frame = check_frame(frame)
        height, width = frame.shape[:2]
        image: Any = np.ascontiguousarray(frame[:, :, ::-1])  # RGB
        if self._rescale is not None:
            image = (image.astype(np.float64) * self._rescale).astype(np.float32)
        side = max(height, width) if self._pad else None
        if side is not None:
            image = np.pad(image, ((0, side - height), (0, side - width), (0, 0)), constant_values=0.5)
        if self._size is not None:
            image = self._resized(image.astype(np.float32, copy=False))
        if self._normalize is not None:
            image = (image.astype(np.float32, copy=False) - self._normalize[0]) / self._normalize[1]
        out_h, out_w = image.shape[:2]
        scale_h, scale_w = out_h / (side or height), out_w / (side or width)
        resized = (max(1, math.floor(height * scale_h + 0.5)), max(1, math.floor(width * scale_w + 0.5)))
        pixel_values = np.ascontiguousarray(image.transpose(2, 0, 1)[None], dtype=np.float32)
        return PreparedInput(pixel_values=pixel_values, original_hw=(height, width), resized_hw=resized,
                             padding_tblr=(0, out_h - resized[0], 0, out_w - resized[1]))


def zero_shot_preprocessor(processor_config: dict, resize: str):
    """build_preprocessor's answer for the zero-shot detectors' processors: a Recipe for OWL-ViT (the
    standard Preprocessor runs it), an Owlv2Preprocessor for OWLv2; None for other processors."""
    name = str(processor_config.get("image_processor_type") or processor_config.get("feature_extractor_type") or "")
    name = name.removesuffix("Fast").replace("FeatureExtractor", "ImageProcessor")
    if name == "OwlViTImageProcessor":
        return owlvit_recipe(Config(processor_config))
    if name == "Owlv2ImageProcessor":
        return Owlv2Preprocessor(processor_config, resize)
    return None
