"""Model outputs upsampled to frame size, as torch.nn.functional.interpolate does, and their argmax.

What we do differently from HF, on purpose (results agree, cost does not):
- Semantic argmax at frame size without the (C, H, W) float tensor HF builds (553 MB for
  150 classes at 1280x720): decided at model resolution where one class wins a whole cell, and
  interpolated only in the other cells (cell_argmax).

Padding: if `prepared.padding_tblr` (model-input pixels) is non-zero, we map the frame onto the
image part of the output (crop_padding=True, default), which is what the padding means; negative
padding (a center crop) maps the frame beyond the model's view, replicating the edge.
crop_padding=False stretches the whole output over the frame, as HF does. With zero padding the two
are the same.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from ...types import PreparedInput
from .cell_argmax import Region, cell_argmax
from .host_split import host_parts, run_parts
from ..region_resize import warp_region


# --------------------------------------------------------------------------------------------
# upsampled argmax


def upsampled_argmax(scores: np.ndarray, out_hw: tuple[int, int], region: Region | None) -> np.ndarray:
    """argmax over C of bilinear-upsampled (C, h, w) scores at out_hw, as HF computes it, without
    (C, H, W): see cell_argmax. int32 labels."""
    return cell_argmax(np.ascontiguousarray(scores, dtype=np.float32), out_hw, region).astype(np.int32, copy=False)


class ArgmaxScratch:
    """Per-frame buffers of the running argmax (value under test, its > mask, the index to write)."""

    def __init__(self, out_hw: tuple[int, int], index_dtype: np.dtype) -> None:
        self.value = np.empty(out_hw, dtype=np.float32)
        self.above = np.empty(out_hw, dtype=np.uint8)
        self.index = np.empty(out_hw, dtype=index_dtype)


def update_argmax(best: np.ndarray, winner: np.ndarray, scratch: ArgmaxScratch, k: int) -> None:
    """Where scratch.value > best (strictly: the first maximum wins, like torch.argmax): best = value,
    winner = k. k must exceed every index already in `winner` (channels are visited in order)."""
    cv2.compare(scratch.value, best, cv2.CMP_GT, dst=scratch.above)
    if winner.dtype == np.uint8:
        # above is 255 or 0, so (above & k) is k or 0, and k beats every earlier index: max() writes k
        # exactly where above. Two byte passes instead of a fill and a masked copy.
        cv2.bitwise_and(scratch.above, k, dst=scratch.index)
        cv2.max(winner, scratch.index, dst=winner)
    else:
        scratch.index.fill(k)  # OpenCV's masked copy: far faster than numpy's boolean assignment (BENCHMARKS.md)
        cv2.copyTo(scratch.index, scratch.above, dst=winner)
    cv2.max(scratch.value, best, dst=best)


def candidate_channels(upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """Channels that can win somewhere: upper[c] >= max_c' lower[c'] at some position. (C, ...) inputs."""
    c = upper.shape[0]
    upper = upper.reshape(c, -1)
    floor = lower.reshape(c, -1).max(axis=0)
    floor -= np.float32(1e-5) * (np.abs(floor) + np.float32(1.0))  # room for float rounding
    return np.flatnonzero((upper >= floor).any(axis=1))


def window_max_min(a: np.ndarray, lengths: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Max and min of (C, h, w) over forward windows [i, i + ly) x [j, j + lx), edges replicated.

    The C planes go through OpenCV's morphology stacked as one tall image (one call per host part
    instead of one per plane). Only each plane's last ly - 1 rows see the next plane there; they are
    redone from a stack of those rows with the bottom edge replicated."""
    c, h, w = a.shape
    ly, lx = lengths
    kernel = np.ones(lengths, dtype=np.uint8)
    tall = np.ascontiguousarray(a).reshape(c * h, w)
    upper, lower = np.empty_like(tall), np.empty_like(tall)

    def planes(lo: int, hi: int) -> None:
        # anchor (0, 0) makes the window start at the pixel; the image's own edges replicate
        rows = slice(lo * h, hi * h)
        cv2.dilate(tall[rows], kernel, dst=upper[rows], anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
        cv2.erode(tall[rows], kernel, dst=lower[rows], anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)

    bounds = np.linspace(0, c, min(host_parts(), c) + 1).astype(int)
    run_parts([functools.partial(planes, lo, hi) for lo, hi in zip(bounds[:-1], bounds[1:])])
    upper, lower = upper.reshape(c, h, w), lower.reshape(c, h, w)
    seam = min(ly - 1, h)
    if seam and c > 1:
        tail = np.empty((c, seam + ly - 1, w), dtype=a.dtype)
        tail[:, :seam] = a[:, h - seam :]
        tail[:, seam:] = a[:, h - 1 : h]
        flat = tail.reshape(-1, w)
        upper[:, h - seam :] = cv2.dilate(flat, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE).reshape(
            c, -1, w)[:, :seam]
        lower[:, h - seam :] = cv2.erode(flat, kernel, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE).reshape(
            c, -1, w)[:, :seam]
    return upper, lower


def two_stage_window(n_in: int, n_mid: int) -> int:
    """How many consecutive source pixels one output pixel can depend on through a bilinear resize to
    n_mid then a bilinear resize (2 taps) to any size."""
    if n_in == 1 or n_mid == 1:
        return 1 if n_in == 1 else n_in
    x = np.maximum((np.arange(n_mid) + 0.5) * (n_in / n_mid) - 0.5, 0.0)
    first = np.minimum(np.floor(x).astype(np.int64), n_in - 1)
    return int(np.max(np.diff(first))) + 2


# --------------------------------------------------------------------------------------------
# resizing (torch.nn.functional.interpolate equivalents)


def resize_linear(
    src: np.ndarray, out_hw: tuple[int, int], region: Region | None = None, dst: np.ndarray | None = None
) -> np.ndarray:
    """Bilinear, align_corners=False, of a 2-D float32 map; `region` maps out_hw onto part of src."""
    size = (out_hw[1], out_hw[0])
    if region is None:
        if src.shape == tuple(out_hw):  # torch: identity
            if dst is None:
                return src.copy()
            np.copyto(dst, src)
            return dst
        return cv2.resize(src, size, dst=dst, interpolation=cv2.INTER_LINEAR)
    h, w = src.shape
    pixels = (region[0] * h, region[1] * h, region[2] * w, region[3] * w)
    return warp_region(src, pixels, out_hw, cv2.INTER_LINEAR, dst=dst)


def resize_stack(stack: np.ndarray, out_hw: tuple[int, int]) -> np.ndarray:
    """resize_linear of every (h, w) plane of a (N, h, w) stack."""
    out = np.empty((stack.shape[0], *out_hw), dtype=np.float32)
    for i in range(stack.shape[0]):
        resize_linear(stack[i], out_hw, dst=out[i])
    return out


def resize_nearest_stack(stack: np.ndarray, out_hw: tuple[int, int], region: Region | None) -> np.ndarray:
    """torch mode="nearest" of a (N, h, w) stack: source index floor(dst * in / out) in float32."""
    h, w = stack.shape[1:]
    rows = _nearest_index(h, out_hw[0], None if region is None else (region[0], region[1]))
    cols = _nearest_index(w, out_hw[1], None if region is None else (region[2], region[3]))
    return stack.take(rows, axis=1).take(cols, axis=2)


def _nearest_index(n_in: int, n_out: int, span: tuple[float, float] | None) -> np.ndarray:
    if span is None:
        if n_in == n_out:
            return np.arange(n_out, dtype=np.intp)
        scale = np.float32(n_in) / np.float32(n_out)
        index = np.floor(np.arange(n_out, dtype=np.float32) * scale)
    else:
        start, stop = span[0] * n_in, span[1] * n_in
        index = np.floor(start + np.arange(n_out, dtype=np.float64) * ((stop - start) / n_out))
    return np.clip(index.astype(np.intp), 0, n_in - 1)


# --------------------------------------------------------------------------------------------
# model outputs and regions


def as_float32(array: np.ndarray, name: str, expected: str, *, ndim: int) -> np.ndarray:
    """A model output of batch size one, checked against `expected` (its shape, for the message), as
    contiguous float32."""
    arr = np.asarray(array)
    if arr.ndim != ndim or arr.shape[0] != 1 or min(arr.shape) < 1:
        raise ValueError(f"{name} must have shape {expected}, got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be a float array, got {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def content_region(prepared: PreparedInput, crop_padding: bool) -> Region | None:
    """The image part of the model input as fractions (y0, y1, x0, x1), or None for all of it.

    Negative padding (a center crop cut the resized image) gives fractions outside [0, 1].
    """
    top, bottom, left, right = (int(p) for p in prepared.padding_tblr)
    if not crop_padding or not (top or bottom or left or right):
        return None
    in_h, in_w = prepared.pixel_values.shape[2:]
    if top + bottom >= in_h or left + right >= in_w:
        raise ValueError(f"prepared.padding_tblr {prepared.padding_tblr} leaves no image in {in_h}x{in_w}")
    return (top / in_h, (in_h - bottom) / in_h, left / in_w, (in_w - right) / in_w)
