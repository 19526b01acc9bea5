"""Pillow's image resampling for preprocessing: the exact resize, a cv2 fast path, and Pillow's weights.

Hugging Face's slow image processors resize a uint8 image with Pillow (``Image.resize``), which
antialiases when shrinking (the filter support grows with the scale factor) and rounds to uint8
after each of its two passes. ``cv2.resize`` does neither, so the two disagree by several uint8
levels at edges and in fine texture. This module offers:

- ``resize_pillow``: ``PIL.Image.resize`` itself, the call HF makes: exact for every filter and
  Pillow version, on one thread (a float64 matrix-product reproduction split over the cores, used
  before, was slower in a live stream, where its parts waited on cores busy with decoding and
  inference: BENCHMARKS.md, "Measurements behind design choices").
- ``resize_fast``: ``cv2.resize`` with INTER_AREA on a shrinking axis and the filter's own
  interpolation on a growing one: a few uint8 levels from Pillow (mean well under one), faster.
- ``pil_taps`` / ``pil_vertical_first``: Pillow's integer fixed-point taps (indices and int32
  coefficients) and pass order, for the device pre-processing graphs (livevision.graphs), which
  resize as Pillow does: gathered taps, integer sums; ``pil_weight_matrix``: the same as a dense
  float64 matrix (exact too), for tests.

ZoeDepth's processor resizes with torch instead: see ``align_corners``.
"""

from __future__ import annotations

import enum
import math

import cv2
import numpy as np

__all__ = [
    "Filter",
    "parse_filter",
    "PRECISION_BITS",
    "pil_taps",
    "pil_vertical_first",
    "pil_weight_matrix",
    "resize_pillow",
    "resize_fast",
]

PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed-point precision for 8-bit images (Resample.c)


class Filter(enum.IntEnum):
    """Pillow's resampling filters, with Pillow's (and ``PILImageResampling``'s) integer values."""

    NEAREST = 0
    LANCZOS = 1
    BILINEAR = 2
    BICUBIC = 3
    BOX = 4
    HAMMING = 5


def parse_filter(value: object) -> Filter:
    """Turn a ``resample`` value from a preprocessor config (int, enum or name) into a Filter."""
    if isinstance(value, Filter):
        return value
    if isinstance(value, str):
        name = value.strip().upper().rsplit(".", 1)[-1]
        if name in Filter.__members__:
            return Filter[name]
        if name == "ANTIALIAS":  # old Pillow alias of LANCZOS
            return Filter.LANCZOS
    try:
        return Filter(int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        names = ", ".join(f"{f.name} ({f.value})" for f in Filter)
        raise ValueError(f"resample must be one of {names}; got {value!r}") from None


# --- Pillow's filters (libImaging/Resample.c), evaluated in float64 like the C code -------------


def _box(x: np.ndarray) -> np.ndarray:
    return ((x > -0.5) & (x <= 0.5)).astype(np.float64)


def _bilinear(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    return np.where(x < 1.0, 1.0 - x, 0.0)


def _hamming(x: np.ndarray) -> np.ndarray:
    x = np.abs(x)
    with np.errstate(divide="ignore", invalid="ignore"):
        px = x * math.pi
        w = np.sin(px) / px * (_HAMMING_A + _HAMMING_B * np.cos(px))
    return np.where(x == 0.0, 1.0, np.where(x >= 1.0, 0.0, w))


_HAMMING_A = float(np.float32(0.54))  # Pillow writes 0.54f and 0.46f: float32 constants
_HAMMING_B = float(np.float32(0.46))


def _bicubic(x: np.ndarray) -> np.ndarray:
    a = -0.5
    x = np.abs(x)
    inner = ((a + 2.0) * x - (a + 3.0)) * x * x + 1
    outer = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1.0, inner, np.where(x < 2.0, outer, 0.0))


def _sinc(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        px = x * math.pi
        s = np.sin(px) / px
    return np.where(x == 0.0, 1.0, s)


def _lanczos(x: np.ndarray) -> np.ndarray:
    return np.where((-3.0 <= x) & (x < 3.0), _sinc(x) * _sinc(x / 3), 0.0)


_FILTERS = {
    Filter.BOX: (0.5, _box),
    Filter.BILINEAR: (1.0, _bilinear),
    Filter.HAMMING: (1.0, _hamming),
    Filter.BICUBIC: (2.0, _bicubic),
    Filter.LANCZOS: (3.0, _lanczos),
}


def _pil_coefficients(in_size: int, out_size: int, flt: Filter) -> tuple[np.ndarray, np.ndarray]:
    """Pillow's precompute_coeffs + normalize_coeffs_8bpc: (bounds (out, 2) [xmin, n], int64 (out, k))."""
    support_1, fn = _FILTERS[flt]
    scale = in_size / out_size
    filterscale = max(scale, 1.0)
    support = support_1 * filterscale
    ksize = int(math.ceil(support)) * 2 + 1
    center = (np.arange(out_size, dtype=np.float64) + 0.5) * scale
    xmin = np.maximum(np.trunc(center - support + 0.5), 0).astype(np.int64)
    xmax = np.minimum(np.trunc(center + support + 0.5).astype(np.int64), in_size) - xmin
    taps = np.arange(ksize, dtype=np.int64)
    valid = taps[None, :] < xmax[:, None]
    # Same expression and order as the C code: (x + xmin - center + 0.5) * ss
    arg = ((taps[None, :] + xmin[:, None]).astype(np.float64) - center[:, None] + 0.5) * (1.0 / filterscale)
    w = np.where(valid, fn(arg), 0.0)
    ww = np.cumsum(w, axis=1)[:, -1:]  # sequential sum, in the C loop's order
    w = np.where(ww != 0.0, w / np.where(ww != 0.0, ww, 1.0), w)
    scaled = w * float(1 << PRECISION_BITS)
    k = np.where(w < 0, np.trunc(-0.5 + scaled), np.trunc(0.5 + scaled)).astype(np.int64)
    return np.stack([xmin, xmax], axis=1), k


def _nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """Pillow's NEAREST (ImagingScaleAffine): x_in = int(x0), x0 = scale/2, x_{i+1} = x_i + scale."""
    scale = in_size / out_size
    steps = np.full(out_size, scale, dtype=np.float64)
    steps[0] = scale * 0.5
    xo = np.cumsum(steps)  # sequential accumulation, like the C loop
    return np.minimum(xo.astype(np.int64), in_size - 1)


def pil_vertical_first(in_hw: tuple[int, int], out_hw: tuple[int, int]) -> bool:
    """Whether Pillow (13.0) resizes this size change vertically first. Pillow rounds (and clips) to
    uint8 between its two passes, so their order matters: vertical first when the height shrinks and
    ``2 * (out_w - in_w) > out_h - in_h``, found by testing and held to by tests/test_preprocess.py
    against the installed Pillow."""
    (in_h, in_w), (out_h, out_w) = in_hw, out_hw
    return out_h < in_h and out_w != in_w and 2 * (out_w - in_w) > out_h - in_h


def pil_taps(in_size: int, out_size: int, flt: Filter, start: int = 0, stop: int | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Pillow's resampling of one axis as taps: (indices int64 (n, K), coefficients int32 (n, K)) for
    output pixels [start, stop) of the resize to out_size, n = stop - start. Output j is, as in
    Pillow's Resample.c (8 bits per channel),
        clip8((2**21 + sum_t in[indices[j, t]] * coefficients[j, t]) >> 22)
    with Pillow's own integer coefficients; K is the most taps any of these outputs reads (shorter
    rows are padded with coefficient 0 on their first tap). The sums fit in int32 for every filter
    (the worst, LANCZOS, reaches 1.29 * 255 * 2**22 < 2**31). An axis that keeps its size is the
    identity (Pillow skips the pass); NEAREST picks one pixel: one tap of coefficient 2**22."""
    stop = out_size if stop is None else stop
    if not 0 <= start <= stop <= out_size:
        raise ValueError(f"output window [{start}, {stop}) is not inside 0..{out_size}")
    if in_size == out_size or flt is Filter.NEAREST:
        picked = np.arange(start, stop) if in_size == out_size else _nearest_indices(in_size, out_size)[start:stop]
        one = np.full((stop - start, 1), 1 << PRECISION_BITS, dtype=np.int32)
        return picked.astype(np.int64).reshape(-1, 1), one
    bounds, k = _pil_coefficients(in_size, out_size, flt)
    bounds, k = bounds[start:stop], k[start:stop]
    width = max(int(bounds[:, 1].max(initial=1)), 1)
    taps = np.arange(width, dtype=np.int64)
    valid = taps[None, :] < bounds[:, 1:2]
    indices = np.where(valid, bounds[:, :1] + taps[None, :], bounds[:, :1])
    coefficients = np.where(valid, k[:, :width], 0)
    return indices, coefficients.astype(np.int32)


def pil_weight_matrix(in_size: int, out_size: int, flt: Filter, start: int = 0, stop: int | None = None) -> np.ndarray:
    """``pil_taps`` as a dense (stop - start, in_size) float64 matrix, each row Pillow's fixed-point
    coefficients times 2**-22 (exact in float64), so `floor(matrix @ x + 1/2)` clipped to 0..255 is
    Pillow's pass bit for bit. Tests use it; the device graphs gather taps instead."""
    indices, coefficients = pil_taps(in_size, out_size, flt, start, stop)
    matrix = np.zeros((indices.shape[0], in_size), dtype=np.float64)
    np.add.at(matrix, (np.arange(indices.shape[0])[:, None], indices), coefficients * 2.0**-PRECISION_BITS)
    return matrix


def resize_pillow(
    image: np.ndarray,
    out_hw: tuple[int, int],
    flt: Filter,
    window: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """``PIL.Image.resize`` of an (H, W, 3) uint8 image: the call the HF processors make, so exact by
    construction. Channels are resampled independently, so a BGR frame goes in as it is. window:
    (top, bottom, left, right), the part of the output to return (a crop)."""
    from PIL import Image  # lazily: importing livevision must not load Pillow

    out_h, out_w = (int(v) for v in out_hw)
    if (out_h, out_w) == image.shape[:2]:
        resized = image  # Pillow would return a copy
    else:
        resized = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize((out_w, out_h), resample=int(flt)))
    if window is None:
        return resized
    top, bottom, left, right = window
    return resized[top:bottom, left:right]


# --- fast path ------------------------------------------------------------------------------------

_CV2_UPSCALE = {
    Filter.NEAREST: cv2.INTER_NEAREST_EXACT,  # same pixel-centre rule as Pillow: exact, not approximate
    Filter.BILINEAR: cv2.INTER_LINEAR,
    Filter.BICUBIC: cv2.INTER_CUBIC,
    Filter.LANCZOS: cv2.INTER_LANCZOS4,
    Filter.BOX: cv2.INTER_NEAREST_EXACT,  # a box no wider than a pixel picks the nearest pixel
    Filter.HAMMING: cv2.INTER_LINEAR,
}


def _cv2_axis_flag(in_size: int, out_size: int, flt: Filter) -> int:
    if flt is Filter.NEAREST or out_size >= in_size:
        return _CV2_UPSCALE[flt]
    return cv2.INTER_AREA  # antialiased, like Pillow's widened filter when shrinking


def resize_fast(image: np.ndarray, out_hw: tuple[int, int], flt: Filter) -> np.ndarray:
    """Approximate ``PIL.Image.resize`` with ``cv2.resize``; (H, W, C) uint8 in, (out_h, out_w, C) out.

    INTER_AREA on a shrinking axis (antialiased, as Pillow is), the filter's own cv2 interpolation
    on a growing one; an image that shrinks along one axis and grows along the other is resized in
    two cv2 calls so each axis gets its own rule. NEAREST is exact (INTER_NEAREST_EXACT).
    """
    in_h, in_w = image.shape[:2]
    out_h, out_w = (int(v) for v in out_hw)
    if (in_h, in_w) == (out_h, out_w):
        return image
    flag_y = _cv2_axis_flag(in_h, out_h, flt)
    flag_x = _cv2_axis_flag(in_w, out_w, flt)
    if flag_x == flag_y or in_h == out_h or in_w == out_w:
        flag = flag_x if in_w != out_w else flag_y
        return cv2.resize(image, (out_w, out_h), interpolation=flag)
    image = cv2.resize(image, (out_w, in_h), interpolation=flag_x)
    return cv2.resize(image, (out_w, out_h), interpolation=flag_y)
