"""Per-frame preprocessing in numpy/OpenCV that reproduces Hugging Face's slow image processors.

``build_preprocessor(processor_config)`` reads the dict saved as ``preprocessor_config.json`` and
returns a ``Preprocessor``: call it on an (H, W, 3) uint8 BGR frame (OpenCV order) to get a
``PreparedInput`` whose ``pixel_values`` is what the HF processor (transformers 4.57, the Pillow
based "slow" classes) returns for the same frame given as an RGB PIL image.

The per-class rules (resize rule, crop, filter and defaults of each HF class) live in
``processor_recipes``; this module turns them into per-frame work.

Steps, in HF's order: resize -> center crop -> rescale -> normalize -> pad, RGB channels (BGR for
MobileViT's ``do_flip_channel_order``), channels first, float32, C-contiguous. Rescale and normalize
act on uint8 values, so they are one lookup table per channel built with HF's own float64 -> float32
arithmetic: bit-identical to HF whenever the resized uint8 image is.

``resize="exact"`` resizes with Pillow, as HF does (``resample.resize_pillow``), so ``pixel_values``
equal HF's exactly (ZoeDepth: within ~2e-6, see below).
``resize="fast"`` uses ``cv2.resize`` (INTER_AREA when shrinking): antialiased differently from
Pillow, so values differ by a few uint8 levels at edges and in fine texture.

"exact" is Pillow's resize (one thread) plus the lookup tables; "fast" saves a few ms per frame at the
price of a mean difference of ~0.002-0.025 (up to ~1.0 at single pixels on hard edges) in normalized
units. Per-model timings against HF's processor: BENCHMARKS.md, "Measurements behind design choices".

Geometry reported in ``PreparedInput`` (the invariant: ``pixel_values`` row ``i`` shows row
``i - top`` of the resized image, so ``H_in = top + resized_h + bottom`` and likewise for width):

- ``resized_hw``: the size the frame was resized to, before any crop or pad.
- ``padding_tblr``: rows/cols added around the resized image. Negative values mean rows/cols were
  cut off by a center crop (ConvNext/ResNet, MobileNet, MobileViT, BiT/DINOv2, DeiT, BEiT, LeViT,
  PoolFormer, EfficientNet with ``do_center_crop``). A crop larger than the resized image pads
  instead (with the value a black pixel normalizes to, as HF does).
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

import math
import threading
from dataclasses import dataclass
from typing import Callable

import cv2
import numpy as np

from ..types import PreparedInput, ResizeMode
from .align_corners import AlignCornersResizer, resize_align_corners_fast
from .processor_recipes import SUPPORTED_PROCESSORS, Recipe, recipe_for
from .resample import resize_fast, resize_pillow
from .zero_shot_recipes import zero_shot_preprocessor

__all__ = [
    "Preprocessor",
    "SUPPORTED_PROCESSORS",
    "build_preprocessor",
    "check_frame",
    "zoedepth_padding",
]

_MAX_SIZES = 8  # frame sizes whose resize plans and buffers a Preprocessor keeps


def zoedepth_padding(original_hw: tuple[int, int]) -> tuple[int, int]:
    """ZoeDepth's reflect padding of a frame, (rows per side, cols per side): int(sqrt(n / 2) * 3)."""
    height, width = original_hw
    return int(np.sqrt(height / 2) * 3), int(np.sqrt(width / 2) * 3)


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


def check_frame(frame: np.ndarray) -> np.ndarray:
    """The frame as a C-contiguous (H, W, 3) uint8 array; ValueError naming what is wrong otherwise."""
    if not isinstance(frame, np.ndarray):
        raise ValueError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.shape[0] < 1 or frame.shape[1] < 1:
        raise ValueError(f"frame must have shape (H, W, 3) (BGR), got {frame.shape}")
    if frame.dtype != np.uint8:
        raise ValueError(f"frame must be uint8, got {frame.dtype}")
    return frame if frame.flags.c_contiguous else np.ascontiguousarray(frame)


class Preprocessor:
    """A frame -> model input transform reproducing one Hugging Face image processor.

    Call it with an (H, W, 3) uint8 BGR frame; returns a ``PreparedInput`` with (1, 3, H_in, W_in)
    float32 C-contiguous ``pixel_values``. See the module docstring for ``resized_hw`` and
    ``padding_tblr`` (center crops give negative padding; ZoeDepth's padding is in model-input
    pixels, rounded). Work that depends only on the frame size is cached (for the last 8 sizes), so
    the first frame of a new size is slower. Thread-safe: one Preprocessor may serve several
    threads.

    processor_type: the HF class reproduced. resize: "exact" (Pillow-exact) or "fast" (cv2).
    """

    def __init__(self, recipe: Recipe, resize: str) -> None:
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
        frame = check_frame(frame)
        hw = (int(frame.shape[0]), int(frame.shape[1]))
        geometry = self.geometry(hw)
        pixel_values = self._zoe(frame, geometry) if self._recipe.zoe else self._standard(frame, geometry)
        return PreparedInput(
            pixel_values=pixel_values,
            original_hw=hw,
            resized_hw=geometry.resized_hw,
            padding_tblr=geometry.padding_tblr,
        )

    # -- geometry ---------------------------------------------------------------------------------

    @property
    def recipe(self) -> Recipe:
        return self._recipe

    def geometry(self, hw: tuple[int, int]) -> _Geometry:
        """What the frame size decides (resize target, crop, padding), computed once per size."""
        geometry = self._geometry.get(hw)
        if geometry is None:
            with self._lock:
                geometry = self._geometry.get(hw) or self._make_geometry(hw)
                while len(self._geometry) >= _MAX_SIZES:  # e.g. a folder of photos: forget the oldest
                    self._geometry.pop(next(iter(self._geometry)))
                self._geometry[hw] = geometry
        return geometry

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
            flt = self._recipe.filter
            return lambda frame: resize_pillow(frame, resized, flt, window)
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
    if resize not in {m.value for m in ResizeMode}:
        raise ValueError(f"resize must be one of {', '.join(m.value for m in ResizeMode)}, got {resize!r}")
    zero_shot = zero_shot_preprocessor(processor_config, ResizeMode(resize).value)  # OWL-ViT, OWLv2
    if zero_shot is not None:
        return zero_shot if not isinstance(zero_shot, Recipe) else Preprocessor(zero_shot, ResizeMode(resize).value)
    return Preprocessor(recipe_for(processor_config), ResizeMode(resize).value)
