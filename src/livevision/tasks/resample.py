"""Pillow's image resampling for preprocessing: a Pillow-exact resizer and a cv2 fast path.

Hugging Face's slow image processors resize a uint8 image with Pillow (``Image.resize``), which
antialiases when shrinking (the filter support grows with the scale factor) and rounds to uint8
after each of its two passes. ``cv2.resize`` does neither, so the two disagree by several uint8
levels at edges and in fine texture. This module offers:

- ``ExactResizer`` / ``resize_exact``: ``PIL.Image.resize`` for NEAREST, BOX, BILINEAR, HAMMING,
  BICUBIC and LANCZOS on uint8 images, bit for bit (Pillow's 22-bit fixed-point weights, rounding,
  clipping and pass order). Weights are computed once per (input size, output size, filter, output
  window) because video frames keep their size. Each pass is a series of small banded matrix
  products in float64 (blocks of ``_BLOCK`` output pixels): every product and partial sum is an
  exact multiple of 2**-22 below 2**9, so BLAS reproduces Pillow's int32 sums exactly whatever
  its summation order. Cost is about Pillow's own (1280x720 -> 224x224 bicubic: ~4-6 ms on one
  core; -> 518x924: ~8 ms, where Pillow takes ~12 ms).
- ``resize_fast``: ``cv2.resize`` with INTER_AREA on a shrinking axis and the filter's own
  interpolation on a growing one: ~1-6 ms, a few uint8 levels from Pillow (mean well under one).

ZoeDepth's processor resizes with torch instead: see ``align_corners``.
"""

from __future__ import annotations

import contextlib
import enum
import functools
import math
import queue
from dataclasses import dataclass

import cv2
import numpy as np

from .host_split import host_parts, run_parts

__all__ = [
    "Filter",
    "parse_filter",
    "ExactResizer",
    "resize_exact",
    "resize_fast",
]

_PRECISION_BITS = 32 - 8 - 2  # Pillow's fixed-point precision for 8-bit images (Resample.c)
_BLOCK = 8  # output pixels per banded matrix block (4-16 all within ~10% on 1280x720 frames)
_WORK_BYTES = 8 << 20  # default float64 work buffer per pass and thread (ExactResizer(work_bytes=...))


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


@dataclass(frozen=True)
class _AxisPlan:
    """How to resample one axis from ``in_size`` to the output window ``[start, stop)``.

    identity: the axis keeps its size: no pass (Pillow skips it); callers slice their window first.
    nearest: for NEAREST, the source index of each output pixel.
    first, last: the input range [first, last) the window reads.
    blocks: (out_lo, out_hi, in_lo, in_hi, weights) with out_* relative to ``start`` and in_* to
        ``first``; weights is (out_hi - out_lo, in_hi - in_lo) float64 holding Pillow's fixed-point
        coefficients times 2**-22 (exact in float64).
    """

    in_size: int
    start: int
    stop: int
    identity: bool
    nearest: np.ndarray | None
    first: int
    last: int
    blocks: tuple[tuple[int, int, int, int, np.ndarray], ...]


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
    scaled = w * float(1 << _PRECISION_BITS)
    k = np.where(w < 0, np.trunc(-0.5 + scaled), np.trunc(0.5 + scaled)).astype(np.int64)
    return np.stack([xmin, xmax], axis=1), k


def _nearest_indices(in_size: int, out_size: int) -> np.ndarray:
    """Pillow's NEAREST (ImagingScaleAffine): x_in = int(x0), x0 = scale/2, x_{i+1} = x_i + scale."""
    scale = in_size / out_size
    steps = np.full(out_size, scale, dtype=np.float64)
    steps[0] = scale * 0.5
    xo = np.cumsum(steps)  # sequential accumulation, like the C loop
    return np.minimum(xo.astype(np.int64), in_size - 1)


@functools.lru_cache(maxsize=128)
def _axis_plan(in_size: int, out_size: int, flt: Filter, start: int, stop: int) -> _AxisPlan:
    if in_size == out_size:
        # Pillow skips the pass for an axis whose size does not change; callers slice windows first.
        return _AxisPlan(in_size, 0, in_size, True, None, 0, in_size, ())
    if flt is Filter.NEAREST:
        idx = _nearest_indices(in_size, out_size)[start:stop].copy()
        idx.setflags(write=False)
        return _AxisPlan(in_size, start, stop, False, idx, int(idx.min()), int(idx.max()) + 1, ())
    bounds, k = _pil_coefficients(in_size, out_size, flt)
    bounds, k = bounds[start:stop], k[start:stop]
    first = int(bounds[:, 0].min())
    last = int((bounds[:, 0] + bounds[:, 1]).max())
    blocks = []
    unit = 2.0**-_PRECISION_BITS
    for lo in range(0, stop - start, _BLOCK):
        hi = min(stop - start, lo + _BLOCK)
        in_lo = int(bounds[lo:hi, 0].min())
        in_hi = int((bounds[lo:hi, 0] + bounds[lo:hi, 1]).max())
        m = np.zeros((hi - lo, in_hi - in_lo), dtype=np.float64)
        for j in range(hi - lo):
            x0, n = bounds[lo + j]
            m[j, x0 - in_lo : x0 - in_lo + n] = k[lo + j, :n] * unit
        m.setflags(write=False)
        blocks.append((lo, hi, in_lo - first, in_hi - first, m))
    return _AxisPlan(in_size, start, stop, False, None, first, last, tuple(blocks))


_HALF_UNIT = 2.0 ** -(_PRECISION_BITS + 1)


def _round_to_u8(a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Pillow's clip8 on a 2-D float64 array of exact multiples of 2**-22: floor(v + 1/2), clipped.

    cv2 rounds half to even while Pillow rounds half up; adding half a fixed-point unit first makes
    every value fall strictly between two integers' midpoints, so both roundings agree. One pass,
    saturating to uint8.
    """
    if out is None:
        return cv2.add(a, _HALF_UNIT, dtype=cv2.CV_8U)
    return cv2.add(a, _HALF_UNIT, dst=out, dtype=cv2.CV_8U)


def _check_window(out_hw: tuple[int, int], window: tuple[int, int, int, int] | None) -> tuple[int, int, int, int]:
    out_h, out_w = out_hw
    if out_h < 1 or out_w < 1:
        raise ValueError(f"out_hw must be positive, got {out_hw}")
    if window is None:
        return 0, out_h, 0, out_w
    top, bottom, left, right = window
    if not (0 <= top < bottom <= out_h and 0 <= left < right <= out_w):
        raise ValueError(f"window {window} is not a non-empty part of an output of size {out_hw}")
    return top, bottom, left, right


def pil_vertical_first(in_hw: tuple[int, int], out_hw: tuple[int, int]) -> bool:
    """Whether Pillow (13.0) resizes this size change vertically first (see ExactResizer)."""
    (in_h, in_w), (out_h, out_w) = in_hw, out_hw
    return out_h < in_h and out_w != in_w and 2 * (out_w - in_w) > out_h - in_h


def pil_weight_matrix(in_size: int, out_size: int, flt: Filter, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Pillow's resampling of one axis as a (stop - start, in_size) float64 matrix: output pixels
    [start, stop) of the resize to out_size, each row Pillow's fixed-point coefficients times 2**-22
    (exact in float64), so `floor(matrix @ x + 1/2)` clipped to 0..255 is Pillow's pass bit for bit.
    An axis that keeps its size is the identity (Pillow skips the pass); NEAREST rows are one-hot."""
    stop = out_size if stop is None else stop
    matrix = np.zeros((stop - start, in_size), dtype=np.float64)
    rows = np.arange(stop - start)
    if in_size == out_size:
        matrix[rows, np.arange(start, stop)] = 1.0
    elif flt is Filter.NEAREST:
        matrix[rows, _nearest_indices(in_size, out_size)[start:stop]] = 1.0
    else:
        bounds, k = _pil_coefficients(in_size, out_size, flt)
        for j in rows:
            x0, n = bounds[start + j]
            matrix[j, x0 : x0 + n] = k[start + j, :n] * 2.0**-_PRECISION_BITS
    return matrix


class ExactResizer:
    """``PIL.Image.resize`` of uint8 (H, W, C) images of one size to one output size, bit for bit.

    Build once per (input size, output size, filter, window) and call per frame; the weights and the
    float64 work buffers (one set per part running at once) are reused across calls. Each pass is
    split into one part per physical core (host_split), run in parallel.

    in_hw, out_hw: (height, width). window: (top, bottom, left, right), the rows and columns of the
    full output to compute (a crop), default all of it. work_bytes: about how much float64 scratch
    each pass may use per part; frames are processed in chunks to stay near it (8 MiB: a 720p
    frame in ~3 chunks, 4K in ~25). __call__ returns (rows, cols, C) uint8.

    Pass order: Pillow rounds (and clips) to uint8 between its two passes, so their order matters.
    The Pillow in our venv (13.0) does the vertical pass first when the height shrinks and
    ``2 * (out_w - in_w) > out_h - in_h``, else the horizontal pass first: found by testing, and held
    to by tests/test_preprocess.py, bit for bit against the installed Pillow on landscape, portrait
    and upscaled frames for every processor. Other Pillow versions are not claimed. Where the orders
    differ, about 20% of pixels move by 1 level (bilinear) or up to ~10 levels at hard edges (bicubic
    overshoot clipped differently). Typical landscape frames to model sizes take the horizontal-first
    branch; portrait frames to square inputs take the vertical-first one.
    """

    def __init__(
        self,
        in_hw: tuple[int, int],
        out_hw: tuple[int, int],
        flt: Filter,
        window: tuple[int, int, int, int] | None = None,
        *,
        work_bytes: int = _WORK_BYTES,
    ) -> None:
        in_h, in_w = (int(v) for v in in_hw)
        out_h, out_w = (int(v) for v in out_hw)
        if in_h < 1 or in_w < 1:
            raise ValueError(f"in_hw must be positive, got {in_hw}")
        top, bottom, left, right = _check_window((out_h, out_w), window)
        self.in_hw = (in_h, in_w)
        self.out_hw = (bottom - top, right - left)
        self.filter = Filter(flt)
        self._vertical_first = pil_vertical_first((in_h, in_w), (out_h, out_w))
        if self._vertical_first:  # run on the transposed image, transpose the result back
            in_h, in_w, out_h, out_w = in_w, in_h, out_w, out_h
            top, bottom, left, right = left, right, top, bottom
        # An axis that keeps its size is not resampled (Pillow skips its pass): a plain slice.
        self._rows = slice(top, bottom) if in_h == out_h else slice(None)
        self._cols = slice(left, right) if in_w == out_w else slice(None)
        if in_h == out_h:
            in_h = out_h = bottom - top
            top, bottom = 0, out_h
        if in_w == out_w:
            in_w = out_w = right - left
            left, right = 0, out_w
        self._plan_x = _axis_plan(in_w, out_w, self.filter, left, right)
        self._plan_y = _axis_plan(in_h, out_h, self.filter, top, bottom)
        self._work_bytes = max(1, int(work_bytes))
        self._scratch: queue.SimpleQueue = queue.SimpleQueue()  # idle scratch sets, reused across calls

    @contextlib.contextmanager
    def _scratch_set(self):
        """A set of scratch arrays for one part of one call; storage is kept and reused across calls."""
        try:
            buffers = self._scratch.get_nowait()
        except queue.Empty:
            buffers = {}
        try:
            yield functools.partial(_buffer, buffers)
        finally:
            self._scratch.put(buffers)

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if image.ndim != 3 or image.shape[:2] != self.in_hw or image.dtype != np.uint8:
            raise ValueError(
                f"image must be uint8 with shape ({self.in_hw[0]}, {self.in_hw[1]}, C), "
                f"got {image.dtype} {image.shape}"
            )
        if self._vertical_first:
            image = cv2.transpose(np.ascontiguousarray(image))
        out = self._h_then_v(image[self._rows, self._cols])
        return cv2.transpose(out) if self._vertical_first else out

    def _h_then_v(self, image: np.ndarray) -> np.ndarray:
        plan_x, plan_y = self._plan_x, self._plan_y
        channels = image.shape[2]
        if plan_x.nearest is not None or plan_y.nearest is not None or (plan_x.identity and plan_y.identity):
            sub = image if plan_y.nearest is None else image[plan_y.nearest]
            return np.ascontiguousarray(sub if plan_x.nearest is None else sub[:, plan_x.nearest])
        # Both passes are (output pixels x taps) @ (taps x everything else); putting the resampled
        # axis first gives BLAS long rows. The horizontal pass therefore runs on the transposed
        # image, and only on the rows the vertical pass reads (as Pillow does). Both passes go in
        # chunks so the float64 work buffers stay near work_bytes whatever the frame size.
        rows = image[plan_y.first : plan_y.last]
        n_rows = rows.shape[0]
        if not plan_x.identity:
            n_in, n_out = plan_x.last - plan_x.first, plan_x.stop - plan_x.start
            rows = rows[:, plan_x.first : plan_x.last]
            horizontal = np.empty((n_rows, n_out, channels), dtype=np.uint8)
            step = max(1, self._work_bytes // (8 * channels * n_in))
            run_parts([functools.partial(self._horizontal, rows, horizontal, part, plan_x.blocks)
                       for part in _parts(n_rows, step, 1)])
            rows = horizontal
        if plan_y.identity:
            return np.array(rows)
        n_cols = rows.shape[1]
        flat = rows.reshape(n_rows, n_cols * channels) if rows.flags.c_contiguous else None
        if flat is None:
            flat = np.ascontiguousarray(rows).reshape(n_rows, n_cols * channels)
        n_out = plan_y.stop - plan_y.start
        out = np.empty((n_out, n_cols * channels), dtype=np.uint8)
        step = max(channels, self._work_bytes // (8 * n_rows) // channels * channels)
        run_parts([functools.partial(self._vertical, flat, out, part, plan_y.blocks)
                   for part in _parts(n_cols * channels, step, channels)])
        return out.reshape(n_out, n_cols, channels)

    def _horizontal(self, rows: np.ndarray, out: np.ndarray, chunks, blocks) -> None:
        """The horizontal pass of `rows` (rows, in, C) uint8 into `out` (rows, out, C), chunk by chunk."""
        n_in, channels = rows.shape[1], rows.shape[2]
        n_out = out.shape[1]
        with self._scratch_set() as buffer:
            for r0, r1 in chunks:
                width = (r1 - r0) * channels
                transposed = cv2.transpose(np.ascontiguousarray(rows[r0:r1]),
                                           dst=buffer("h_t", (n_in, r1 - r0, channels), np.uint8))
                src = buffer("h_src", (n_in, width), np.float64)
                np.copyto(src, transposed.reshape(n_in, width))
                acc = buffer("h_acc", (n_out, width), np.float64)
                for lo, hi, in_lo, in_hi, m in blocks:
                    np.matmul(m, src[in_lo:in_hi], out=acc[lo:hi])
                rounded = _round_to_u8(acc, buffer("h_u8", (n_out, width), np.uint8))
                out[r0:r1] = cv2.transpose(rounded.reshape(n_out, r1 - r0, channels))

    def _vertical(self, flat: np.ndarray, out: np.ndarray, chunks, blocks) -> None:
        """The vertical pass of `flat` (rows, cols * C) uint8 into `out` (out rows, cols * C), chunk by chunk."""
        n_rows, n_out = flat.shape[0], out.shape[0]
        with self._scratch_set() as buffer:
            for c0, c1 in chunks:
                src = buffer("v_src", (n_rows, c1 - c0), np.float64)
                np.copyto(src, flat[:, c0:c1])
                acc = buffer("v_acc", (n_out, c1 - c0), np.float64)
                for lo, hi, in_lo, in_hi, m in blocks:
                    np.matmul(m, src[in_lo:in_hi], out=acc[lo:hi])
                out[:, c0:c1] = _round_to_u8(acc, buffer("v_u8", (n_out, c1 - c0), np.uint8))


def _buffer(buffers: dict, name: str, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """A contiguous scratch array `name` of `buffers`, grown when a larger one is asked for."""
    size = math.prod(shape)
    flat = buffers.get(name)
    if flat is None or flat.size < size:
        flat = buffers[name] = np.empty(size, dtype=dtype)
    return flat[:size].reshape(shape)


def _parts(n: int, step: int, unit: int) -> list[list[tuple[int, int]]]:
    """[0, n) in chunks of at most `step` (multiples of `unit`), dealt into one list per host part;
    smaller chunks when there are fewer chunks than parts."""
    parts = host_parts()
    step = max(unit, min(step, -(-n // parts) // unit * unit or unit))
    chunks = [(lo, min(n, lo + step)) for lo in range(0, n, step)]
    return [chunks[i::parts] for i in range(min(parts, len(chunks)))]


def resize_exact(
    image: np.ndarray,
    out_hw: tuple[int, int],
    flt: Filter,
    window: tuple[int, int, int, int] | None = None,
) -> np.ndarray:
    """One-off ``PIL.Image.resize`` of an (H, W, C) uint8 image: see ExactResizer. Returns (rows, cols, C)."""
    return _cached_resizer(image.shape[:2], tuple(out_hw), Filter(flt), window)(image)


@functools.lru_cache(maxsize=4)  # each holds its scratch buffers
def _cached_resizer(
    in_hw: tuple[int, int], out_hw: tuple[int, int], flt: Filter, window: tuple[int, int, int, int] | None
) -> ExactResizer:
    return ExactResizer(in_hw, out_hw, flt, window)


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
